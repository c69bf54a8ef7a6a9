"""Every status and event kind the catalog stores, declared once.

``StrEnum``: a member is the string stored today (``ExecutionStatus.COMPLETED == "completed"``),
so rows, events and JSON read the same as before, and rows read back as plain strings compare
equal to the members.
"""

from __future__ import annotations

from enum import StrEnum


class ExecutionStatus(StrEnum):
    """As Valohai names them; the last three are final."""

    CREATED = "created"
    STARTED = "started"
    COMPLETED = "completed"
    ERROR = "error"
    STOPPED = "stopped"


FINAL_EXECUTION_STATUSES = frozenset(
    {ExecutionStatus.COMPLETED, ExecutionStatus.ERROR, ExecutionStatus.STOPPED}
)


class RunStatus(StrEnum):
    """A pipeline run's; the last three are final."""

    RUNNING = "running"
    WAITING = "waiting-approval"
    STOPPING = "stopping"
    FAILING = "failing"
    COMPLETED = "completed"
    ERROR = "error"
    STOPPED = "stopped"


FINAL_RUN_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.ERROR, RunStatus.STOPPED})


class NodeStatus(StrEnum):
    """A pipeline node's: pending → (waiting-approval →) running → completed | error, or
    skipped / stopped."""

    PENDING = "pending"
    WAITING = "waiting-approval"
    RUNNING = "running"
    COMPLETED = "completed"
    ERROR = "error"
    SKIPPED = "skipped"
    STOPPED = "stopped"


FINAL_NODE_STATUSES = frozenset(
    {NodeStatus.COMPLETED, NodeStatus.ERROR, NodeStatus.STOPPED, NodeStatus.SKIPPED}
)


class GateStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class VersionStatus(StrEnum):
    """A model version's approval."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Outcome(StrEnum):
    """A regression verdict's."""

    PASS = "pass"  # noqa: S105 - an outcome, not a password
    FAIL = "fail"
    NO_BASELINE = "no-baseline"


class EventKind(StrEnum):
    """Every kind of event the log holds."""

    EXECUTION_CREATED = "execution.created"
    EXECUTION_STARTED = "execution.started"
    EXECUTION_COMPLETED = "execution.completed"
    EXECUTION_ERROR = "execution.error"
    EXECUTION_STOPPED = "execution.stopped"
    EXECUTION_DRIVER = "execution.driver"
    EXECUTION_STOP_REQUESTED = "execution.stop-requested"
    PIPELINE_STARTED = "pipeline.started"
    PIPELINE_NODE = "pipeline.node"
    PIPELINE_WARNING = "pipeline.warning"
    PIPELINE_INTERRUPTED = "pipeline.interrupted"
    PIPELINE_RESUMED = "pipeline.resumed"
    PIPELINE_RUNNING = "pipeline.running"
    PIPELINE_WAITING = "pipeline.waiting-approval"
    PIPELINE_STOPPING = "pipeline.stopping"
    PIPELINE_FAILING = "pipeline.failing"
    PIPELINE_COMPLETED = "pipeline.completed"
    PIPELINE_ERROR = "pipeline.error"
    PIPELINE_STOPPED = "pipeline.stopped"
    GATE_REQUESTED = "gate.requested"
    GATE_APPROVED = "gate.approved"
    GATE_REJECTED = "gate.rejected"
    GATE_APPROVAL = "gate.approval"  # one approval of a gate that needs more than one
    VERDICT_RECORDED = "verdict.recorded"
    MODEL_CREATED = "model.created"
    MODEL_DESCRIBED = "model.described"
    MODEL_ALIAS_MOVED = "model.alias.moved"
    MODEL_VERSION_CREATED = "model.version.created"
    MODEL_VERSION_DESCRIBED = "model.version.described"
    MODEL_VERSION_COMMENTED = "model.version.commented"
    MODEL_VERSION_SCORED = "model.version.scored"
    MODEL_VERSION_FLAGGED = "model.version.flagged"
    MODEL_VERSION_APPROVED = "model.version.approved"
    MODEL_VERSION_REJECTED = "model.version.rejected"
    DATUM_ALIAS_MOVED = "datum.alias.moved"
    DATASET_CREATED = "dataset.created"
    DATASET_ALIAS_MOVED = "dataset.alias.moved"
    DATASET_VERSION_CREATED = "dataset.version.created"
    DATASET_FLAGGED = "dataset.flagged"
    DATASET_UNFLAGGED = "dataset.unflagged"

    @classmethod
    def of(cls, prefix: str, status: str) -> EventKind:
        """The event of a status change (``of("gate", "approved")``); ``ValueError`` for one not declared."""
        return cls(f"{prefix}.{status}")
