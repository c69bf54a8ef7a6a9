"""Who drives an execution, a request to stop it, and the end of one whose driver is gone.

An execution runs under one process, its *driver*: ``assay run``, or the process driving its
pipeline run. Its identity (PID, host, boot, start time: ``engine/lease.py``) is an
``execution.driver`` event recorded with the execution. Another process asks the driver to stop
the execution with an ``execution.stop-requested`` event, which the driver polls while the
command runs (``runtime/stopping.py``). When the driver is gone (``kill -9``, a reboot),
``settle`` records the end in its place — a compare-and-set, so an execution whose driver did
record its end meanwhile keeps that end.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from assay.catalog import executions
from assay.catalog.db import Catalog
from assay.catalog.events import record_event
from assay.catalog.states import EventKind
from assay.catalog.tables import Event, Execution, PipelineRun, utcnow

DRIVER, STOP_REQUESTED = EventKind.EXECUTION_DRIVER, EventKind.EXECUTION_STOP_REQUESTED
_UNFINISHED = ("created", "started")


@dataclass(frozen=True)
class DrivenExecution:
    """An execution with the process recorded as its driver (``executors/orphans.py`` judges
    whether it lives)."""

    id: str
    project_id: str
    counter: int
    step: str
    status: str
    message: str | None
    execution_dir: str
    #: its driver's identity: its own, else (recorded before executions had one) its pipeline
    #: run's; None when neither is recorded
    driver: Mapping[str, Any] | None
    pipeline_run: int | None  # the counter of the run it belongs to


def record_driver(session: Session, execution: Execution, driver: dict[str, Any], actor: str) -> None:
    """Say which process drives ``execution`` (in the transaction that records it)."""
    record_event(session, execution.project_id, DRIVER, _subject(execution.id), actor, driver)


def driver_of(session: Session, execution: Execution) -> dict[str, Any] | None:
    """The identity of the process that drives ``execution``; None for one recorded before."""
    query = (
        select(Event.payload)
        .where(Event.project_id == execution.project_id, Event.kind == DRIVER,
               Event.subject == _subject(execution.id))
        .order_by(Event.id.desc())
        .limit(1)
    )  # fmt: skip
    found = session.scalar(query)
    return dict(found) if found is not None else None


def driven_execution(catalog: Catalog, project_id: str, ref: str | int) -> DrivenExecution:
    """An execution by counter, id or ``latest`` (``executions.get_execution``), with its driver."""
    with catalog.read() as session:
        execution = executions.get_execution(session, project_id, ref)
        return _driven(session, execution)


def unfinished_driven(catalog: Catalog, project_id: str) -> list[DrivenExecution]:
    """``unfinished`` with their drivers, oldest first."""
    with catalog.read() as session:
        return [_driven(session, execution) for execution in unfinished(session, project_id)]


def _driven(session: Session, execution: Execution) -> DrivenExecution:
    driver = driver_of(session, execution)
    run = session.get(PipelineRun, execution.pipeline_run_id) if execution.pipeline_run_id else None
    if driver is None and run is not None:
        driver = run.driver or None
    return DrivenExecution(
        id=execution.id, project_id=execution.project_id, counter=execution.counter, step=execution.step,
        status=execution.status, message=execution.message, execution_dir=execution.execution_dir,
        driver=MappingProxyType(dict(driver)) if driver is not None else None,
        pipeline_run=run.counter if run is not None else None,
    )  # fmt: skip


def request_execution_stop(catalog: Catalog, execution_id: str, actor: str) -> None:
    """``request_stop`` in a transaction of its own."""
    with catalog.transaction() as session:
        request_stop(session, _detached(session, execution_id), actor)


def request_stop(session: Session, execution: Execution, actor: str) -> None:
    """Ask the driver of ``execution`` to stop it (it polls ``stop_requested_by``)."""
    record_event(session, execution.project_id, STOP_REQUESTED, _subject(execution.id), actor,
                 {"counter": execution.counter})  # fmt: skip


def stop_requested_by(session: Session, project_id: str, execution_id: str) -> str | None:
    """Who asked for ``execution_id`` to stop, or None: one indexed read, cheap to poll."""
    query = (
        select(Event.actor)
        .where(Event.project_id == project_id, Event.kind == STOP_REQUESTED,
               Event.subject == _subject(execution_id))
        .order_by(Event.id)
        .limit(1)
    )  # fmt: skip
    return session.scalar(query)


def stop_requester(catalog: Catalog, project_id: str, execution_id: str) -> str | None:
    """``stop_requested_by`` in a read of its own (what a running execution polls)."""
    with catalog.read() as session:
        return stop_requested_by(session, project_id, execution_id)


def unfinished(session: Session, project_id: str) -> list[Execution]:
    """Executions of the project not yet ended (``created`` or ``started``), oldest first."""
    query = select(Execution).where(Execution.project_id == project_id, Execution.status.in_(_UNFINISHED))
    return list(session.scalars(query.order_by(Execution.counter)))


def settle_execution(catalog: Catalog, execution_id: str, *, status: str, message: str, actor: str) -> bool:
    """``settle`` in a transaction of its own; whether it was recorded here."""
    with catalog.transaction() as session:
        return settle(session, _detached(session, execution_id), status=status, message=message, actor=actor)


def _detached(session: Session, execution_id: str) -> Execution:
    """The execution, detached: ``settle`` writes by UPDATE and notes the values on it, which
    must not be flushed a second time."""
    execution = session.get_one(Execution, execution_id)
    session.expunge(execution)
    return execution


def settle(session: Session, execution: Execution, *, status: str, message: str, actor: str) -> bool:
    """Record the end of an execution whose driver is gone, unless it ended meanwhile.

    Returns whether it was recorded here.
    """
    changed = session.execute(
        update(Execution)
        .where(Execution.id == execution.id, Execution.status.in_(_UNFINISHED))
        .values(status=status, message=message, ended_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    execution.status, execution.message = status, message
    record_event(session, execution.project_id, EventKind.of("execution", status), _subject(execution.id),
                 actor, {"counter": execution.counter, "message": message, "settled": True})  # fmt: skip
    return True


def _subject(execution_id: str) -> str:
    return f"execution:{execution_id}"
