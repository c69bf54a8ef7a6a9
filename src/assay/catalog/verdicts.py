"""Regression verdicts: the side-by-side table of a candidate against the baseline, stored as
evidence on the pipeline run, the evaluated execution and the model version the run produces."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from assay.catalog.events import record_event
from assay.catalog.registry_tables import ModelVersion, Verdict
from assay.catalog.states import EventKind, Outcome
from assay.catalog.tables import utcnow

PASS, FAIL, NO_BASELINE = Outcome.PASS, Outcome.FAIL, Outcome.NO_BASELINE


def record_verdict(
    session: Session,
    *,
    project_id: str,
    run_id: str | None,
    node: str | None,
    execution_id: str | None,
    baseline_version_id: str | None,
    baseline: str | None,
    outcome: str,
    rows: list[dict[str, Any]],
    actor: str,
) -> Verdict:
    version_id = None
    if run_id is not None:  # the run already made its model version: the verdict is on it
        version_id = session.scalar(
            select(ModelVersion.id)
            .where(ModelVersion.pipeline_run_id == run_id)
            .order_by(ModelVersion.created_at.desc())
            .limit(1)
        )
    verdict = Verdict(
        project_id=project_id, pipeline_run_id=run_id, node=node, execution_id=execution_id,
        model_version_id=version_id, baseline_version_id=baseline_version_id, baseline=baseline,
        outcome=outcome, rows=rows, created_at=utcnow(),
    )  # fmt: skip
    session.add(verdict)
    session.flush()
    record_event(session, project_id, EventKind.VERDICT_RECORDED, f"verdict:{verdict.id}", actor,
                 {"outcome": outcome, "node": node, "baseline": baseline, "rows": rows})  # fmt: skip
    return verdict


def link_run(session: Session, run_id: str, version_id: str) -> None:
    """Verdicts of a run that made no version yet now belong to ``version_id``."""
    session.execute(
        update(Verdict)
        .where(Verdict.pipeline_run_id == run_id, Verdict.model_version_id.is_(None))
        .values(model_version_id=version_id)
        .execution_options(synchronize_session=False)
    )


def of_run(session: Session, run_id: str) -> list[Verdict]:
    query = select(Verdict).where(Verdict.pipeline_run_id == run_id)
    return list(session.scalars(query.order_by(Verdict.created_at)))


def of_version(session: Session, version_id: str, run_id: str | None = None) -> list[Verdict]:
    """The verdicts on a version: linked to it, and every verdict of the run that made it."""
    condition = Verdict.model_version_id == version_id
    if run_id is not None:
        condition = condition | (Verdict.pipeline_run_id == run_id)
    return list(session.scalars(select(Verdict).where(condition).order_by(Verdict.created_at)))


def of_execution(session: Session, execution_id: str) -> list[Verdict]:
    query = select(Verdict).where(Verdict.execution_id == execution_id)
    return list(session.scalars(query.order_by(Verdict.created_at)))


def as_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "id": verdict.id,
        "outcome": verdict.outcome,
        "node": verdict.node,
        "baseline": verdict.baseline,
        "rows": verdict.rows,
        "created_at": verdict.created_at.isoformat(),
    }
