"""The pure planner: (graph, run state, node parameters) → what to do next. No I/O.

The scheduler calls ``plan`` in a loop, records each action in the catalog, then carries it
out. Node statuses: pending → (waiting-approval →) running → completed | error, or skipped /
stopped. Run statuses: running, waiting-approval, stopping / failing (cancelling what runs),
then completed | error | stopped.

Rules:

* A node is *ready* when every upstream node is completed (or errored with
  ``on-error: continue``).
* A pending node whose upstream was skipped, stopped, or errored without ``continue`` is
  skipped.
* A ready node's ``node-starting`` actions fire first: ``stop-pipeline`` and
  ``error-pipeline`` end the run; ``require-approval`` asks for a gate and waits for its
  decision (rejected → the run stops); a condition that cannot be decided fires its action,
  and the action carries the warning that says so.
* When nothing runs and nothing can start, the run waits for approval if a gate is pending,
  else finishes: ``error`` if a node errored (without ``continue``), else ``completed``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from assay.catalog.states import FINAL_NODE_STATUSES, NodeStatus, RunStatus
from assay.engine.conditions import fire
from assay.engine.graph import Graph

# Node and run statuses share their names (catalog/states.py declares both).
PENDING, WAITING, RUNNING = NodeStatus.PENDING, NodeStatus.WAITING, NodeStatus.RUNNING
COMPLETED, ERROR, SKIPPED, STOPPED = (
    NodeStatus.COMPLETED,
    NodeStatus.ERROR,
    NodeStatus.SKIPPED,
    NodeStatus.STOPPED,
)
STOPPING, FAILING = RunStatus.STOPPING, RunStatus.FAILING
FINAL = FINAL_NODE_STATUSES


@dataclass(frozen=True)
class NodeState:
    status: str = PENDING
    attempts: int = 0
    gate: str | None = None  # None | "pending" | "approved" | "rejected"


@dataclass(frozen=True)
class RunState:
    status: str
    nodes: Mapping[str, NodeState] = field(default_factory=dict)


@dataclass(frozen=True)
class Start:
    node: str
    warnings: tuple[str, ...] = ()  # node-starting conditions that could not be decided


@dataclass(frozen=True)
class RequestApproval:
    node: str
    warnings: tuple[str, ...] = ()  # node-starting conditions that could not be decided


@dataclass(frozen=True)
class Skip:
    node: str
    reason: str


@dataclass(frozen=True)
class StopRun:
    reason: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class FailRun:
    reason: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class AwaitApproval:
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class Finish:
    status: str
    reason: str | None = None


Action = Start | RequestApproval | Skip | StopRun | FailRun | AwaitApproval | Finish
ParametersOf = Callable[[str], Mapping[str, Any]]


def plan(graph: Graph, run: RunState, parameters_of: ParametersOf) -> list[Action]:
    """What to do now. An empty list means: wait for a running node to finish."""
    nodes = run.nodes
    running = [n for n in graph.order if nodes[n].status == RUNNING]
    if run.status in (STOPPING, FAILING):
        actions: list[Action] = [
            Skip(n, "the run was stopped") for n in graph.order if nodes[n].status in (PENDING, WAITING)
        ]
        if not running:
            actions.append(Finish(STOPPED if run.status == STOPPING else ERROR))
        return actions
    if run.status in (COMPLETED, ERROR, STOPPED):
        return []

    actions = []
    for name in graph.order:
        state = nodes[name]
        if state.status not in (PENDING, WAITING):
            continue
        blocked = [u for u in sorted(graph.upstream[name]) if _blocks(graph, u, nodes[u].status)]
        if blocked:
            actions.append(Skip(name, f"upstream node {blocked[0]!r} is {nodes[blocked[0]].status}"))
            continue
        if not all(_done(graph, u, nodes[u].status) for u in graph.upstream[name]):
            continue
        decided = _starting(graph, name, state, parameters_of)
        if isinstance(decided, StopRun | FailRun):
            return [*(a for a in actions if not isinstance(a, Start)), decided]
        if decided is not None:
            actions.append(decided)
    if actions or running:
        return actions

    waiting = tuple(n for n in graph.order if nodes[n].status == WAITING and nodes[n].gate == "pending")
    if waiting:
        return [AwaitApproval(waiting)]
    unfinished = [n for n in graph.order if nodes[n].status not in FINAL]
    if unfinished:  # cannot happen for a DAG; say so rather than loop forever
        return [FailRun(f"nodes {unfinished} can never start")]
    failed = [n for n in graph.order if nodes[n].status == ERROR and graph.node(n).on_error != "continue"]
    if failed:
        return [Finish(ERROR, f"node {failed[0]!r} failed")]
    return [Finish(COMPLETED)]


def _done(graph: Graph, name: str, status: str) -> bool:
    return status == COMPLETED or (status == ERROR and graph.node(name).on_error == "continue")


def _blocks(graph: Graph, name: str, status: str) -> bool:
    return status in (SKIPPED, STOPPED) or (status == ERROR and graph.node(name).on_error != "continue")


def _starting(graph: Graph, name: str, state: NodeState, parameters_of: ParametersOf) -> Action | None:
    node = graph.node(name)
    parameters = parameters_of(name) if any("node-starting" in a.when for a in node.actions) else {}
    fired = fire(node.actions, "node-starting", node=name, metadata={}, parameters=parameters)
    warnings = fired.warnings
    if fired.problem:
        return FailRun(fired.problem)
    if "stop-pipeline" in fired.thens:
        return StopRun(f"node {name!r}: {fired.reason}", warnings)
    if "error-pipeline" in fired.thens:
        return FailRun(f"node {name!r}: {fired.reason}", warnings)
    if "require-approval" in fired.thens:
        if state.gate is None:
            return RequestApproval(name, warnings)
        if state.gate == "rejected":
            return StopRun(f"node {name!r} was rejected")
        if state.gate != "approved":
            return None
    return Start(name, warnings)
