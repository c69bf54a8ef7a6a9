"""Crash safety: SIGKILL the process driving a 20-node pipeline at a random moment, resume, and
check that every node ran to completion exactly once and that no node's outputs exist twice.

``bench/crash.py`` runs the same trial many more times.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from assay.catalog import Catalog
from assay.catalog.pipelines import list_runs, nodes_of
from assay.catalog.projects import ensure_project
from assay.catalog.tables import Datum, Execution
from tests.conftest import ProjectFactory

ASSAY = str(Path(sys.executable).with_name("assay"))
TRIALS = 20


def twenty_nodes() -> str:
    """Four chains of five nodes; every chain's third node also waits for the first chain's second."""
    lines = [
        "- step:",
        "    name: work",
        "    image: python:3.11",
        "    command:",
        "      - cat $VH_INPUTS_DIR/upstream/* > /dev/null 2>&1 || true",
        "      - sleep 0.02",
        '      - echo "$VH_JOB_ID" > $VH_OUTPUTS_DIR/out.txt',
        "    inputs:",
        "      - {name: upstream, optional: true}",
        "- pipeline:",
        "    name: big",
        "    nodes:",
    ]
    names = [f"c{chain}n{step}" for chain in range(4) for step in range(5)]
    lines += [f"      - {{name: {name}, type: execution, step: work}}" for name in names]
    lines.append("    edges:")
    for chain in range(4):
        for step in range(4):
            lines.append(f"      - [c{chain}n{step}.output.*, c{chain}n{step + 1}.input.upstream]")
        if chain:
            lines.append(f"      - [c0n1.dependency.*, c{chain}n2.dependency.*]")
    return "\n".join(lines) + "\n"


def check_exactly_once(catalog: Catalog, project: str, counter: int) -> None:
    project_id = _project_id(catalog, project)
    with catalog.read() as session:
        run = next(r for r in list_runs(session, project_id) if r.counter == counter)
        assert run.status == "completed", run.message
        nodes = nodes_of(session, run.id)
        assert len(nodes) == 20
        executions = list(session.scalars(select(Execution).where(Execution.pipeline_run_id == run.id)))
        for name, node in nodes.items():
            mine = [e for e in executions if e.pipeline_node == name]
            completed = [e for e in mine if e.status == "completed"]
            assert len(completed) == 1, f"{name} completed {len(completed)} times"
            assert node.status == "completed"
            assert node.executions == [completed[0].id]
            others = [e for e in mine if e.status != "completed"]
            assert all(e.message and e.message.startswith("interrupted") for e in others), others
        produced = list(
            session.scalars(select(Datum).where(Datum.output_execution_id.in_([e.id for e in executions])))
        )
        owners = [d.output_execution_id for d in produced]
        assert sorted(owners) == sorted(e.id for e in executions if e.status == "completed")


def calibrate(root: Path, env: dict[str, str], catalog: Catalog) -> float:
    """Seconds a whole run takes once it is recorded (a first, uninterrupted run)."""
    before = _run_count(catalog, root.name)
    driver = subprocess.Popen([ASSAY, "pipeline", "run", "big", "-q"], cwd=root, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    _wait_for_run(catalog, root.name, before, driver)
    started = time.monotonic()
    assert driver.wait(timeout=300) == 0
    return time.monotonic() - started


def crash_and_resume(
    root: Path, env: dict[str, str], rng: random.Random, catalog: Catalog, span: float
) -> str:
    """One trial; returns where the kill landed (for the benchmark's tally)."""
    before = _run_count(catalog, root.name)
    errors = root / "driver-stderr.txt"
    with open(errors, "w") as stderr:
        driver = subprocess.Popen([ASSAY, "pipeline", "run", "big", "-q"], cwd=root, env=env,
                                  stdout=subprocess.DEVNULL, stderr=stderr)  # fmt: skip
        if rng.random() < 0.1:
            time.sleep(rng.uniform(0.0, 0.5))  # now and then, while the driver is still starting
        else:
            _wait_for_run(catalog, root.name, before, driver)
            time.sleep(rng.uniform(0.0, span))
        driver.kill()
        driver.wait()
    # A driver that ended by itself, other than by finishing the run, is a failure to look at.
    assert driver.returncode in (0, -9), errors.read_text()
    if _run_count(catalog, root.name) == before:
        return "before the run was recorded"
    with catalog.read() as session:
        run = list_runs(session, _project_id(catalog, root.name), limit=1)[0]
        status, counter = run.status, run.counter
    if status != "completed":
        resumed = subprocess.run([ASSAY, "pipeline", "resume", str(counter), "-q"], cwd=root, env=env,
                                 capture_output=True, text=True, check=False, timeout=300)  # fmt: skip
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    check_exactly_once(catalog, root.name, counter)
    return "after the run finished" if status == "completed" else "while the run was going"


def _wait_for_run(catalog: Catalog, project: str, before: int, driver: subprocess.Popen[bytes]) -> None:
    while _run_count(catalog, project) == before and driver.poll() is None:
        time.sleep(0.01)


def _run_count(catalog: Catalog, project: str) -> int:
    project_id = _project_id(catalog, project)
    with catalog.read() as session:
        return len(list_runs(session, project_id))


_PROJECT_IDS: dict[tuple[str, str], str] = {}


def _project_id(catalog: Catalog, project: str) -> str:
    key = (catalog.url, project)
    if key not in _PROJECT_IDS:
        with catalog.transaction() as session:
            _PROJECT_IDS[key] = ensure_project(session, project).id
    return _PROJECT_IDS[key]


def test_killed_driver_resumes_without_repeating_work(
    make_project: ProjectFactory, database_url: str
) -> None:
    project = make_project(twenty_nodes())
    env = {**os.environ, "ASSAY_DATABASE_URL": database_url}
    rng = random.Random(20261127)
    with Catalog.open(database_url) as catalog:
        span = calibrate(project.root, env, catalog)
        landed = [crash_and_resume(project.root, env, rng, catalog, span) for _ in range(TRIALS)]
    # The kill lands at random; most trials must interrupt a run that is going.
    assert landed.count("while the run was going") >= TRIALS // 4, landed
