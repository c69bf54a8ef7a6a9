"""Executions and pipeline runs whose driver cannot settle them itself.

A driver (``assay run``, the process driving a pipeline run) records how each execution it runs
ends, also when a signal ends it (``errors.Interrupted``). What it cannot handle is its own
sudden end — ``kill -9``, a crash, a reboot — and a request from another terminal. So:

* ``stop_execution`` asks the driver of a running execution to stop it (a request stored in the
  catalog that the driver polls) and waits until it has; when the driver is gone, it ends the
  execution's processes and records it ``stopped`` itself;
* ``settle`` ends every unfinished execution of the project whose driver is gone: its leftover
  processes are killed (found by ``VH_EXECUTION_ID``), and it is recorded ``error``,
  "interrupted: …" — so a resume of its pipeline run runs its node again;
* ``run_driver`` says whether anything drives a pipeline run, for ``pipeline show``.

Whether a driver lives is the lease's rule (``engine/lease.py``): a live process on this host
since its last boot, with the start time it had. Processes run on the host that drives them,
so an execution driven on another host is left to that host (its stop request still reaches it).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from assay.catalog import Catalog, drivers, executions, pipelines
from assay.catalog.drivers import DrivenExecution
from assay.engine import lease
from assay.errors import AssayError, Conflict
from assay.runtime import leftovers
from assay.runtime.layout import ExecutionLayout

#: how long ``stop_execution`` waits for a live driver to record the stop (its grace is 5 s)
STOP_WAIT_SECONDS = 30.0
ALIVE, GONE, ELSEWHERE, NONE = "alive", "gone", "elsewhere", "none"


@dataclass(frozen=True)
class DriverState:
    """Whether a process drives an execution or a run: ``alive``, ``gone`` (it ended without
    letting go), ``elsewhere`` (another host: not ours to judge) or ``none`` (nothing holds it)."""

    state: str
    pid: int | None = None
    host: str | None = None

    @property
    def who(self) -> str:
        return f"pid {self.pid} on {self.host}" if self.pid is not None else "no process"

    def as_json(self) -> dict[str, Any]:
        return {"state": self.state, "pid": self.pid, "host": self.host}


@dataclass(frozen=True)
class RunDriver:
    """What ``pipeline show`` says about who drives a run, and what continues it when nothing does."""

    driver: DriverState
    #: nothing drives a run that is not finished and not waiting for a person
    stranded: bool
    resume: str | None  # the command that continues it, when stranded

    def as_json(self) -> dict[str, Any]:
        return {**self.driver.as_json(), "stranded": self.stranded, "resume": self.resume}


@dataclass(frozen=True)
class Settled:
    counter: int
    step: str
    status: str
    message: str
    processes: int  # leftover processes that were ended
    pipeline_run: int | None  # the run it belongs to (resume continues it)


@dataclass(frozen=True)
class Left:
    """An unfinished execution ``settle`` left alone, and why."""

    counter: int
    step: str
    why: str


@dataclass(frozen=True)
class SettleReport:
    settled: tuple[Settled, ...]
    left: tuple[Left, ...]


class _Run(Protocol):
    """What ``run_driver`` reads of a pipeline run (the catalog's record, or a view of it)."""

    @property
    def counter(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def driver(self) -> Mapping[str, Any]: ...


def run_driver(run: _Run) -> RunDriver:
    driver = _state(run.driver or None, lease.identity())
    stranded = run.status in (pipelines.RUNNING, pipelines.STOPPING, pipelines.FAILING) and driver.state in (
        GONE,
        NONE,
    )
    return RunDriver(driver, stranded, f"assay pipeline resume {run.counter}" if stranded else None)


def stop_execution(
    catalog: Catalog,
    project_id: str,
    ref: str,
    actor: str,
    *,
    wait: float = STOP_WAIT_SECONDS,
    on_event: Callable[[str], None] = lambda message: None,
) -> Settled:
    """Stop a running execution; returns how it is recorded after."""
    execution = drivers.driven_execution(catalog, project_id, ref)
    driver = _state(execution.driver, lease.identity())
    run = execution.pipeline_run
    if execution.status in executions.FINAL_STATUSES:
        raise Conflict(
            f"execution #{execution.counter} is already {execution.status}",
            hint=f"`assay executions show {execution.counter}` shows how it ended",
        )
    if driver.state in (GONE, NONE):
        ended = _end_processes(execution)
        message = f"stopped by {actor} ({_gone(driver)})"
        drivers.settle_execution(
            catalog, execution.id, status=executions.STOPPED, message=message, actor=actor
        )
        on_event(f"execution #{execution.counter} had no driver: recorded it stopped" + _processes(ended))
        return _settled(_reread(catalog, execution), ended, run)
    drivers.request_execution_stop(catalog, execution.id, actor)
    on_event(f"asked {driver.who}, which runs execution #{execution.counter}, to stop it")
    if wait <= 0:  # the server's stop answers 202 at once: as recorded now, its driver asked
        return _settled(_reread(catalog, execution), 0, run)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        found = _reread(catalog, execution)
        if found.status in executions.FINAL_STATUSES:
            return _settled(found, 0, run)
        time.sleep(0.2)
    raise AssayError(
        f"execution #{execution.counter} has not stopped within {wait:g} s; {driver.who} was asked to",
        hint=f"`assay executions show {execution.counter}` shows when it has",
    )


def settle(catalog: Catalog, project_id: str, actor: str) -> SettleReport:
    """Record the end of every unfinished execution whose driver is gone, ending what it left."""
    me = lease.identity()
    found = [(e, _state(e.driver, me)) for e in drivers.unfinished_driven(catalog, project_id)]
    settled: list[Settled] = []
    left: list[Left] = []
    for execution, driver in found:
        if driver.state == ALIVE:
            left.append(Left(execution.counter, execution.step, f"running under {driver.who}"))
            continue
        if driver.state == ELSEWHERE:
            left.append(Left(execution.counter, execution.step, f"driven on {driver.host}: settle it there"))
            continue
        ended = _end_processes(execution)
        message = f"interrupted: {_gone(driver)}, without recording how it ended; settled by {actor}"
        recorded = drivers.settle_execution(
            catalog, execution.id, status=executions.ERROR, message=message, actor=actor
        )
        if recorded:
            settled.append(
                Settled(execution.counter, execution.step, executions.ERROR, message, ended,
                        execution.pipeline_run)
            )  # fmt: skip
    return SettleReport(tuple(settled), tuple(left))


def _state(driver: Mapping[str, Any] | None, me: Mapping[str, Any]) -> DriverState:
    if not driver:
        return DriverState(NONE)
    pid, host = driver.get("pid"), driver.get("host")
    if host != me["host"]:
        # NOTE: a heartbeat (pipeline drivers) says a driver elsewhere lives; its silence does
        # not say that its processes are gone, and they are not ours to end.
        return DriverState(ALIVE if lease.alive(driver, me) else ELSEWHERE, pid, host)
    return DriverState(ALIVE if lease.alive(driver, me) else GONE, pid, host)


def _end_processes(execution: DrivenExecution) -> int:
    """Kill what the execution left running; drop what it needed only while running."""
    count = len(leftovers.find([execution.id]))
    leftovers.end([execution.id])
    if execution.execution_dir:
        ExecutionLayout(Path(execution.execution_dir)).clean_up()  # its log and outputs stay
    return count


def _settled(execution: DrivenExecution, processes: int, run: int | None) -> Settled:
    return Settled(
        execution.counter, execution.step, execution.status, execution.message or "", processes, run
    )


def _reread(catalog: Catalog, execution: DrivenExecution) -> DrivenExecution:
    return drivers.driven_execution(catalog, execution.project_id, execution.id)


def _gone(driver: DriverState) -> str:
    if driver.state == GONE:
        return f"its driver, {driver.who}, ended"
    return "no driver is recorded for it"


def _processes(count: int) -> str:
    return f"; ended {count} leftover process{'es' if count != 1 else ''}" if count else ""
