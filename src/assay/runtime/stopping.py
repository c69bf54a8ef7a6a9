"""Whether a running execution should stop, as ``run_process`` polls it.

Two things stop one: its executor (a pipeline run that stops or fails, a driver interrupted by a
signal: ``ExecutionRequest.should_stop``, which may say why), and ``assay executions stop N``
from another process, which records a request in the catalog (``catalog/drivers.py``).
"""

from __future__ import annotations

import time

from assay.catalog import Catalog, drivers
from assay.catalog.lifecycle import StartedExecution
from assay.runtime.process import StopCheck

#: how often a running execution asks the catalog whether someone asked it to stop
POLL_SECONDS = 0.5


class ExecutionStop:
    """``Limits.should_stop`` for one execution: its executor's stop, or a stored request.

    NOTE: the catalog is asked at most every ``POLL_SECONDS``, the first time only after that
    long: a short execution never asks, and a chatty one does not ask for every line.
    """

    def __init__(self, catalog: Catalog, execution: StartedExecution, outer: StopCheck | None) -> None:
        self.catalog = catalog
        self.execution = execution
        self.outer = outer
        self._next = time.monotonic() + POLL_SECONDS

    def __call__(self) -> bool | str:
        if self.outer is not None and (asked := self.outer()):
            return asked
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + POLL_SECONDS
        try:
            actor = drivers.stop_requester(self.catalog, self.execution.project_id, self.execution.id)
        except Exception:  # noqa: BLE001 - a catalog that cannot answer now must not end the step
            return False
        return f"stopped by {actor}" if actor else False
