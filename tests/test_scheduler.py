"""The server's scheduler: runs driven in background threads, gates that hold no thread, and a
``kill -9`` of the process that drives a run, after which a new scheduler completes it with no
node run twice."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from assay.catalog import Catalog
from assay.catalog.projects import resolve_project
from assay.catalog.tables import Execution
from assay.engine.wiring import RunRequest
from assay.operations import gates as gate_ops
from assay.operations import pipeline_runs
from assay.operations.actor import Actor, Auth, Role
from assay.operations.workspace import Workspace
from assay.project import Project
from assay.server.scheduler import Scheduler
from tests.conftest import ProjectFactory
from tests.test_approvals import GATED
from tests.test_crash_safety import check_exactly_once, twenty_nodes

TRIALS = 3
DRIVER = """\
import sys, time
from pathlib import Path
from assay.catalog import open_catalog
from assay.catalog.projects import resolve_project
from assay.engine.wiring import RunRequest
from assay.operations import gates as gate_ops
from assay.operations import pipeline_runs
from assay.operations.actor import Actor
from assay.operations.workspace import Workspace
from assay.project import Project
from assay.server.scheduler import Scheduler

project = Project(Path(sys.argv[1]), Path(sys.argv[1]).name)
catalog = open_catalog(project.database_url)
workspace = Workspace(catalog, project, resolve_project(catalog, project).id)
scheduler = Scheduler(lambda: [workspace], slots=2)
scheduler.start()
pipeline_runs.start(workspace, Actor.local(), "big", RunRequest(), background=scheduler.submit)
while True:
    time.sleep(1)
"""


@pytest.fixture
def serve(catalog: Catalog) -> Iterator[Callable[[Project], tuple[Workspace, Scheduler]]]:
    started: list[Scheduler] = []

    def make(project: Project) -> tuple[Workspace, Scheduler]:
        workspace = Workspace(catalog, project, resolve_project(catalog, project).id)
        scheduler = Scheduler(lambda: [workspace], slots=2)
        scheduler.start()
        started.append(scheduler)
        return workspace, scheduler

    yield make
    for scheduler in started:
        assert scheduler.drain(timeout=30)


def _until(workspace: Workspace, counter: int, statuses: set[str], timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = pipeline_runs.show(workspace, Actor.system(), counter).status
        if status in statuses:
            return status
        time.sleep(0.05)
    raise AssertionError(f"run #{counter} is still {status}, not {statuses}")


def test_a_background_start_returns_at_once_and_the_run_finishes(
    make_project: ProjectFactory, serve: Callable[[Project], tuple[Workspace, Scheduler]]
) -> None:
    workspace, scheduler = serve(make_project(twenty_nodes()))
    began = time.monotonic()
    view = pipeline_runs.start(workspace, Actor.local(), "big", RunRequest(), background=scheduler.submit)
    assert time.monotonic() - began < 2.0
    assert view.status == "running"
    assert _until(workspace, view.counter, {"completed", "error", "stopped"}) == "completed"
    _idle(scheduler)


def test_a_gate_holds_no_thread_and_an_approval_continues_in_the_background(
    make_project: ProjectFactory, serve: Callable[[Project], tuple[Workspace, Scheduler]]
) -> None:
    workspace, scheduler = serve(make_project(GATED))
    member = Actor("carol", Auth.TOKEN, {workspace.project_id: Role.MEMBER})
    view = pipeline_runs.start(workspace, member, "shape", RunRequest(), background=scheduler.submit)
    assert _until(workspace, view.counter, {"waiting-approval", "error"}) == "waiting-approval"
    _idle(scheduler)  # the driver let go of the waiting run: no thread waits at the gate
    time.sleep(0.3)
    status = scheduler.status()
    assert (status.running, status.queued, status.slots) == (0, 0, 2)
    approver = Actor("alice", Auth.TOKEN, {workspace.project_id: Role.APPROVER})
    decided = gate_ops.approve(
        workspace, approver, view.counter, "promote", comment="fine", background=scheduler.submit
    )
    assert decided.opened
    assert decided.run.status in ("waiting-approval", "running")  # answered before the run goes on
    assert _until(workspace, view.counter, {"completed", "error", "stopped"}) == "completed"


def test_draining_starts_nothing_new_and_leaves_the_run_for_resume(
    make_project: ProjectFactory, catalog: Catalog
) -> None:
    project = make_project(twenty_nodes())
    workspace = Workspace(catalog, project, resolve_project(catalog, project).id)
    first = Scheduler(lambda: [workspace], slots=1)
    first.start()
    view = pipeline_runs.start(workspace, Actor.local(), "big", RunRequest(), background=first.submit)
    _until_executions(catalog, view.id, 2)
    assert first.drain(timeout=60)
    after = pipeline_runs.show(workspace, Actor.system(), view.counter)
    assert after.status == "running"
    assert (after.message or "").startswith("interrupted by SIGTERM")
    with catalog.read() as session:
        unfinished = session.scalar(
            select(func.count()).where(Execution.pipeline_run_id == view.id, Execution.status == "started")
        )
    assert unfinished == 0  # what ran when the drain began finished and was recorded
    second = Scheduler(lambda: [workspace], slots=1)
    second.start()
    assert _until(workspace, view.counter, {"completed", "error", "stopped"}) == "completed"
    assert second.drain(timeout=30)
    check_exactly_once(catalog, project.root.name, view.counter)


def test_a_killed_server_process_resumes_its_run_without_repeating_a_node(
    make_project: ProjectFactory, catalog: Catalog, database_url: str, tmp_path: Path
) -> None:
    project = make_project(twenty_nodes())
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    env = {**os.environ, "ASSAY_DATABASE_URL": database_url}
    workspace = Workspace(catalog, project, resolve_project(catalog, project).id)
    rng = random.Random(20261202)
    for trial in range(TRIALS):
        errors = tmp_path / f"driver-{trial}.txt"
        with open(errors, "wb") as stderr:
            driver = subprocess.Popen([sys.executable, str(script), str(project.root)], env=env,
                                      stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
            try:
                run_id = _until_run(workspace, trial + 1, driver, errors)
                _until_executions(catalog, run_id, rng.randint(1, 12))
            finally:
                driver.kill()
                driver.wait()  # reaped: a zombie would still look like a live driver
        assert pipeline_runs.show(workspace, Actor.system(), trial + 1).status == "running"
        scheduler = Scheduler(lambda: [workspace], slots=2)
        scheduler.start()
        try:
            assert _until(workspace, trial + 1, {"completed", "error", "stopped"}, 120) == "completed"
        finally:
            assert scheduler.drain(timeout=30)
        check_exactly_once(catalog, project.root.name, trial + 1)


def _idle(scheduler: Scheduler) -> None:
    deadline = time.monotonic() + 10
    while scheduler.status().running and time.monotonic() < deadline:
        time.sleep(0.02)
    assert scheduler.status().running == 0


def _until_run(workspace: Workspace, counter: int, driver: subprocess.Popen[bytes], errors: Path) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert driver.poll() is None, errors.read_text()
        found = [r for r in pipeline_runs.list_runs(workspace, Actor.system()) if r.counter == counter]
        if found:
            return found[0].id
        time.sleep(0.02)
    raise AssertionError("the run was not started")


def _until_executions(catalog: Catalog, run_id: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with catalog.read() as session:
            done = session.scalar(
                select(func.count()).where(
                    Execution.pipeline_run_id == run_id, Execution.status == "completed"
                )
            )
        if (done or 0) >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} executions completed")
