"""The server's scheduler: it drives pipeline runs in background threads, up to ``slots`` at once.

::

    scheduler = Scheduler(lambda: [workspace], slots=4)
    scheduler.start()                                  # settle and resume what dead drivers left
    pipeline_runs.start(workspace, actor, "train", RunRequest(), background=scheduler.submit)
    scheduler.status()                                 # queued, running, slots: /readyz, /metrics
    scheduler.drain(timeout=30)                        # SIGTERM

* ``submit`` queues a run; a free thread drives it (``pipeline_runs.drive_here``) until it ends
  or waits for a person — a waiting run holds no thread. A run submitted while it is being
  driven is driven once more after (a decision that raced the driver's stop at the gate).
* ``start`` first settles every execution whose driver is gone and queues every run that nothing
  drives (``pipeline_runs.recover``): the crash safety of ``assay pipeline resume``.
* ``drain``: nothing new starts — no queued run, and no new execution in a run being driven.
  Executions already running are left to finish: when a driver would start the next one, it
  waits for its running executions to end, then lets go of the run ("interrupted by SIGTERM",
  resumable). Executions still running when ``timeout`` passes are left for resume: the process
  exits, and the next ``start`` ends what they left and runs their nodes again, as after a crash.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, wait
from dataclasses import dataclass

from assay.engine.scheduler import LaunchContext, Launcher, LaunchOutcome
from assay.engine.wiring import NodeLaunch
from assay.errors import AssayError, Conflict, Interrupted
from assay.operations import pipeline_runs
from assay.operations.actor import Actor
from assay.operations.workspace import Workspace

log = logging.getLogger("assay.scheduler")


@dataclass(frozen=True)
class SchedulerStatus:
    queued: int
    running: int
    slots: int
    draining: bool
    started: bool


class Scheduler:
    def __init__(
        self, workspaces: Callable[[], Iterable[Workspace]], slots: int, *, actor: Actor | None = None
    ) -> None:
        self._workspaces = workspaces
        self.slots = max(1, slots)
        self._actor = actor or Actor.system()
        self._cond = threading.Condition()
        self._queue: deque[tuple[Workspace, str]] = deque()
        self._queued: set[str] = set()
        self._running: set[str] = set()
        self._again: dict[str, Workspace] = {}
        self._threads: list[threading.Thread] = []
        self._draining = False
        self._started = False

    # -- life cycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the threads, then queue every run a dead driver left (settled first)."""
        with self._cond:
            if self._started:
                return
            self._started = True
            # NOTE: daemon threads: after drain's timeout the process may exit with executions
            # still running; the next start settles them as after a crash (module docstring).
            self._threads = [
                threading.Thread(target=self._work, name=f"assay-run-{n}", daemon=True)
                for n in range(self.slots)
            ]
        for thread in self._threads:
            thread.start()
        for workspace in self._workspaces():
            try:
                stranded = pipeline_runs.recover(workspace, self._actor)
            except AssayError as exc:
                log.error("could not recover the runs of project %s: %s", workspace.project_id, exc.message)
                continue
            for run_id in stranded:
                log.info("resuming pipeline run %s of project %s", run_id, workspace.project_id)
                self.submit(workspace, run_id)

    def submit(self, workspace: Workspace, run_id: str) -> None:
        """Drive ``run_id`` in the background (queued while every slot is busy); returns at once."""
        with self._cond:
            if self._draining:
                log.info("draining: pipeline run %s is left for the next start", run_id)
                return
            if run_id in self._running:
                self._again[run_id] = workspace
                return
            if run_id in self._queued:
                return
            self._queue.append((workspace, run_id))
            self._queued.add(run_id)
            self._cond.notify()

    def drain(self, timeout: float) -> bool:
        """Start nothing new; wait up to ``timeout`` s for the runs being driven to let go.

        Returns whether every driver let go in time (queued runs stay recorded, for resume).
        """
        with self._cond:
            self._draining = True
            self._queue.clear()
            self._queued.clear()
            self._again.clear()
            self._cond.notify_all()
            deadline = time.monotonic() + timeout
            while self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    @property
    def draining(self) -> bool:
        return self._draining

    def status(self) -> SchedulerStatus:
        with self._cond:
            return SchedulerStatus(
                len(self._queue), len(self._running), self.slots, self._draining, self._started
            )

    # -- the threads ------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._draining:
                    self._cond.wait()
                if self._draining:
                    return
                workspace, run_id = self._queue.popleft()
                self._queued.discard(run_id)
                self._running.add(run_id)
            try:
                self._drive(workspace, run_id)
            finally:
                with self._cond:
                    self._running.discard(run_id)
                    again = self._again.pop(run_id, None)
                    if again is not None and not self._draining:
                        self._queue.append((again, run_id))
                        self._queued.add(run_id)
                    self._cond.notify_all()

    def _drive(self, workspace: Workspace, run_id: str) -> None:
        foreground = pipeline_runs.Foreground(
            on_event=lambda message: log.info("run %s: %s", run_id, message),
            wrap_launcher=lambda launcher: _Draining(launcher, self),
        )
        try:
            status = pipeline_runs.drive_here(workspace, self._actor, run_id, foreground)
            log.info("pipeline run %s: %s", run_id, status)
        except Interrupted as exc:  # drain: the run is left for resume
            log.info("pipeline run %s let go: %s", run_id, exc.reason)
        except Conflict as exc:  # another process drives it; it carries on there
            log.info("pipeline run %s: %s", run_id, exc.message)
        except Exception:
            log.exception("pipeline run %s: its driver failed; `assay pipeline resume` continues it", run_id)


class _Draining:
    """The driver's launcher, which starts nothing once the scheduler drains (module docstring)."""

    def __init__(self, inner: Launcher, scheduler: Scheduler) -> None:
        self._inner = inner
        self._scheduler = scheduler
        self._futures: list[Future[LaunchOutcome]] = []

    def submit(self, launch: NodeLaunch, context: LaunchContext) -> Future[LaunchOutcome]:
        if self._scheduler.draining:
            wait(self._futures)  # what runs finishes and is recorded; the driver then lets go
            raise Interrupted(signal.Signals.SIGTERM.name, signal.SIGTERM)
        future = self._inner.submit(launch, context)
        self._futures = [f for f in self._futures if not f.done()] + [future]
        return future

    def stop_all(self, reason: str | None = None) -> None:
        self._inner.stop_all(reason)

    def reap(self, execution_ids: list[str]) -> None:
        self._inner.reap(execution_ids)
