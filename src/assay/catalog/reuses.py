"""Reuse within pipeline runs: which earlier execution a node may stand for, and the claim on it.

A node of a run never stands for an execution made earlier in the same run, and no two nodes
(or task children) of one run stand for the same execution: the claim is a row with a unique
(run, execution) key, so two nodes racing for one execution get one winner, even across
processes. An execution is preferred for the node it stood for in earlier runs of the same
pipeline, whether it ran there or was reused there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assay.catalog.states import ExecutionStatus
from assay.catalog.tables import Execution, PipelineReuse, PipelineRun

#: identical executions looked at for one decision, newest first
CANDIDATES = 50


@dataclass(frozen=True)
class Place:
    """A node (or task child) of a pipeline run that is looking for an execution to reuse."""

    run_id: str
    pipeline: str
    node: str
    index: int = 0


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
