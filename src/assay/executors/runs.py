"""Drive a pipeline run with the local executor, in the calling thread, until it finishes or waits
for a person (no process waits at a gate).

The use cases around it — start, resume, decide a gate, stop, and who may — are in
``operations/pipeline_runs.py``; this module only knows how to drive a run that is recorded.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assay.catalog import driven_runs
from assay.catalog.pipelines import FINAL_RUN_STATUSES
from assay.engine.graph import Graph, build_graph
from assay.engine.scheduler import Driver, Launcher
from assay.engine.wiring import RunRequest
from assay.errors import SpecError
from assay.executors.local import LocalExecutor, NodeLineCallback
from assay.runtime import Runtime
from assay.spec import check_text
from assay.spec.settings import Settings


@dataclass
class RunOptions:
    slots: int | None = None
    on_event: Callable[[str], None] = lambda message: None
    on_line: NodeLineCallback | None = None
    settings: Settings = field(default_factory=Settings)
    #: wraps the local executor the driver launches through (the server's scheduler refuses new
    #: launches while it drains); None: the executor itself
    wrap_launcher: Callable[[Launcher], Launcher] | None = None


def drive(runtime: Runtime, run: Any, options: RunOptions, *, request: RunRequest | None = None) -> str:
    """Drive ``run`` (as ``catalog.pipelines.get_run`` returns it) here; returns its status after.

    ``request``: the request the run was started with, secret values included (a new run); None:
    the one recorded with it (a resume, whose secret values are masked).

    ``Conflict`` when another process drives it (the lease, ``engine/lease.py``).

    NOTE: ``run`` is typed loosely: only its attributes are read (``id``, ``counter``,
    ``request``, ``spec_text``, ``pipeline``), whatever the catalog hands out for a run.
    """
    settings = options.settings
    slots = options.slots or settings.slots or os.cpu_count() or 1
    executor = LocalExecutor(runtime, slots, options.on_line)
    launcher: Launcher = options.wrap_launcher(executor) if options.wrap_launcher else executor
    given = request or RunRequest.from_json(run.request)
    driver = Driver(
        catalog=runtime.catalog, run=driven_runs.get_run(runtime.catalog, run.id),
        graph=graph_of(run), request=given,
        launcher=launcher, actor=runtime.actor, retries=settings.retries,
        reuse=bool(run.request.get("reuse")), on_event=options.on_event,
        baseline_alias=settings.baseline_alias, baseline_model=settings.baseline_model,
        promote_alias=settings.promote_alias,
    )  # fmt: skip
    try:
        status = driver.drive()
    finally:
        if driver.run.status in FINAL_RUN_STATUSES:
            executor.stop_all()  # nothing of a finished run may still start
        executor.close()
    return status


def graph_of(run: Any) -> Graph:
    """The graph the run started with (its valohai.yaml was stored with it)."""
    check = check_text(run.spec_text)
    if check.spec is None or run.pipeline not in check.spec.pipelines:
        raise SpecError(f"the valohai.yaml stored with pipeline run #{run.counter} no longer loads",
                        list(check.errors))  # fmt: skip
    return build_graph(check.spec.pipelines[run.pipeline])
