"""Reuse within pipeline runs: which earlier execution a node may stand for, and the claim on it.

A node of a run never stands for an execution made earlier in the same run, and no two nodes
(or task children) of one run stand for the same execution: the claim is a row with a unique
(run, execution) key, so two nodes racing for one execution get one winner, even across
processes. An execution is preferred for the node it stood for in earlier runs of the same
pipeline, whether it ran there or was reused there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assay.catalog import datums, executions
from assay.catalog.datums import DatumFile
from assay.catalog.states import ExecutionStatus
from assay.catalog.tables import Execution, PipelineReuse, PipelineRun

if TYPE_CHECKING:
    from assay.catalog.db import Catalog

#: identical executions looked at for one decision, newest first
CANDIDATES = 50


@dataclass(frozen=True)
class Place:
    """A node (or task child) of a pipeline run that is looking for an execution to reuse."""

    run_id: str
    pipeline: str
    node: str
    index: int = 0


@dataclass(frozen=True)
class Candidate:
    """A completed execution with the reuse key looked for."""

    id: str
    counter: int
    pipeline_run_id: str | None
    pipeline_node: str | None


@dataclass(frozen=True)
class Previous:
    """The newest completed execution of a step that had a reuse key: what a miss differs from."""

    counter: int
    reuse_facts: Mapping[str, Any]


@dataclass(frozen=True)
class Evidence:
    """What the catalog knows for one reuse decision (``runtime/reuse.py`` decides), in one read."""

    candidates: tuple[Candidate, ...]  # newest first
    #: in a pipeline run: execution id → the (node, index) of the run that stands for it
    claimed: Mapping[str, tuple[str, int]]
    #: in a pipeline run: the candidates that stood for the same node of the same pipeline before
    stood_for: frozenset[str]
    previous: Previous | None


def evidence(catalog: Catalog, project_id: str, step: str, reuse_key: str, place: Place | None) -> Evidence:
    """The candidates with ``reuse_key``, and (in a run at ``place``) who holds them and where
    they stood before; the newest reusable execution of ``step``, to explain a miss."""
    with catalog.read() as session:
        found = [
            Candidate(e.id, e.counter, e.pipeline_run_id, e.pipeline_node)
            for e in candidates(session, project_id, reuse_key)
        ]
        held: dict[str, tuple[str, int]] = {}
        before: set[str] = set()
        if place is not None:
            held = claimed(session, place.run_id)
            before = stood_for(session, place, [c.id for c in found])
        previous = executions.latest_reusable_of_step(session, project_id, step)
        return Evidence(
            tuple(found), held, frozenset(before),
            None if previous is None else Previous(previous.counter, dict(previous.reuse_facts)),
        )  # fmt: skip


def candidates(session: Session, project_id: str, reuse_key: str) -> list[Execution]:
    """Completed executions with this reuse key, newest first."""
    query = (
        select(Execution)
        .where(Execution.project_id == project_id, Execution.reuse_key == reuse_key)
        .where(Execution.status == ExecutionStatus.COMPLETED)
        .order_by(Execution.counter.desc())
        .limit(CANDIDATES)
    )
    return list(session.scalars(query))


def claimed(session: Session, run_id: str) -> dict[str, tuple[str, int]]:
    """Executions that nodes of this run stand for by reuse: execution id → (node, index)."""
    rows = session.execute(
        select(PipelineReuse.execution_id, PipelineReuse.node, PipelineReuse.pipeline_index).where(
            PipelineReuse.run_id == run_id
        )
    )
    return {execution: (node, index) for execution, node, index in rows}


def stood_for(session: Session, place: Place, execution_ids: Sequence[str]) -> set[str]:
    """Which of ``execution_ids`` stood for the same node of the same pipeline in an earlier run."""
    if not execution_ids:
        return set()
    ran = session.scalars(
        select(Execution.id)
        .join(PipelineRun, PipelineRun.id == Execution.pipeline_run_id)
        .where(Execution.id.in_(execution_ids), Execution.pipeline_node == place.node)
        .where(PipelineRun.pipeline == place.pipeline, PipelineRun.id != place.run_id)
    )
    reused = session.scalars(
        select(PipelineReuse.execution_id)
        .join(PipelineRun, PipelineRun.id == PipelineReuse.run_id)
        .where(PipelineReuse.execution_id.in_(execution_ids), PipelineReuse.node == place.node)
        .where(PipelineRun.pipeline == place.pipeline, PipelineRun.id != place.run_id)
    )
    return {*ran, *reused}


def claim(session: Session, place: Place, execution_id: str) -> bool:
    """Make ``place`` stand for the execution; False when another node of the run holds it."""
    held = session.execute(
        select(PipelineReuse.node, PipelineReuse.pipeline_index).where(
            PipelineReuse.run_id == place.run_id, PipelineReuse.execution_id == execution_id
        )
    ).first()
    if held is not None:
        return tuple(held) == (place.node, place.index)  # the same node again (a resume): still its own
    try:
        with session.begin_nested():
            session.add(PipelineReuse(run_id=place.run_id, node=place.node, pipeline_index=place.index,
                                      execution_id=execution_id))  # fmt: skip
    except IntegrityError:
        return False  # another node of this run claimed it a moment ago
    return True


@dataclass(frozen=True)
class ReusedExecution:
    """An earlier execution handed back instead of running again: what its result holds."""

    id: str
    counter: int
    status: str
    exit_code: int | None
    message: str | None
    problems: tuple[str, ...]
    log_path: str
    parameters: Mapping[str, Any]
    variables: Mapping[str, str]  # its environment variables as recorded (secrets masked)
    outputs: tuple[DatumFile, ...]  # by name
    #: (input name, file name, datum id) of every file it received, in order
    inputs: tuple[tuple[str, str, str], ...]
    metadata: Mapping[str, Any]  # the latest value of each key


def claim_and_read(catalog: Catalog, place: Place | None, execution_id: str) -> ReusedExecution | None:
    """In one transaction: claim the execution for ``place`` (in a pipeline run), and read it.

    None when another node of the run holds it.
    """
    with catalog.transaction() as session:
        if place is not None and not claim(session, place, execution_id):
            return None
        execution = session.get_one(Execution, execution_id)
        return ReusedExecution(
            id=execution.id, counter=execution.counter, status=execution.status,
            exit_code=execution.exit_code, message=execution.message, problems=tuple(execution.problems),
            log_path=execution.log_path, parameters=dict(execution.parameters),
            variables=dict(execution.environment.get("variables", {})),
            outputs=tuple(datums.datum_file(d) for d in datums.outputs_of(session, execution_id)),
            inputs=tuple(
                (row.input_name, row.name, row.datum_id)
                for row in executions.execution_inputs(session, execution_id)
            ),
            metadata=executions.latest_metadata(session, execution_id),
        )  # fmt: skip
