"""What ``/metrics`` reads from the catalog: executions running, pipeline runs by status, and
how long gates waited (decided) or have been waiting (pending), over every project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assay.catalog.tables import Execution, Gate, PipelineRun, utcnow

if TYPE_CHECKING:
    from assay.catalog.db import Catalog


@dataclass(frozen=True)
class CatalogGauges:
    executions_running: int
    runs_by_status: tuple[tuple[str, int], ...]
    #: seconds from request to decision, of every decided gate
    gate_waits: tuple[float, ...]
    #: seconds each pending gate has waited so far
    gates_waiting: tuple[float, ...]


def read_gauges(catalog: Catalog) -> CatalogGauges:
    with catalog.read() as session:
        return _read(session)


def _read(session: Session) -> CatalogGauges:
    running = session.scalar(select(func.count()).select_from(Execution).where(Execution.status == "running"))
    by_status = session.execute(
        select(PipelineRun.status, func.count()).group_by(PipelineRun.status).order_by(PipelineRun.status)
    )
    now = utcnow()
    waits: list[float] = []
    waiting: list[float] = []
    for requested_at, decided_at in session.execute(select(Gate.requested_at, Gate.decided_at)):
        if decided_at is None:
            waiting.append(max(0.0, (now - requested_at).total_seconds()))
        else:
            waits.append(max(0.0, (decided_at - requested_at).total_seconds()))
    return CatalogGauges(
        executions_running=int(running or 0),
        runs_by_status=tuple((str(status), int(count)) for status, count in by_status),
        gate_waits=tuple(waits),
        gates_waiting=tuple(waiting),
    )
