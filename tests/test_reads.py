"""Reads do not wait for writes, and ``executions show`` reads one row a metadata key.

The lock is real: another process holds a write transaction on the catalog (SQLite:
``BEGIN IMMEDIATE``; PostgreSQL: the row lock every new execution needs on its project), and
the read commands run as real ``assay`` subprocesses with a deadline.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from assay.catalog import Catalog
from assay.catalog.executions import latest_metadata
from assay.catalog.tables import ExecutionMetadata, ExecutionMetadataLatest
from tests.conftest import ProjectFactory

ASSAY = str(Path(sys.executable).with_name("assay"))
#: below SQLite's busy timeout (30 s) and the lock holder's 120 s, so a read that waits for the
#: write lock cannot make it; far above a cold CLI start even on a loaded machine
DEADLINE = 25.0

SPEC = """\
- step:
    name: train
    image: python:3.11
    command: python train.py
- pipeline:
    name: one
    nodes:
      - {name: train, type: execution, step: train}
    edges: []
"""
TRAIN = """\
import json, os
for step in range(1, 301):
    print(json.dumps({"step": step, "loss": round(1 / step, 6)}))
    if step % 100 == 0:
        print(json.dumps({"checkpoint": f"ckpt-{step}", "nested": {"at": step}}))
print(json.dumps({"accuracy": 0.91, "note": None}))
out = os.environ["VH_OUTPUTS_DIR"]
open(os.path.join(out, "model.bin"), "w").write("weights")
with open(os.path.join(out, "model.bin.metadata.json"), "w") as sidecar:
    json.dump({"valohai.model-versions": ["model://reader/"]}, sidecar)
"""
LATEST = {
    "step": 300,
    "loss": round(1 / 300, 6),
    "checkpoint": "ckpt-300",
    "nested": {"at": 300},
    "accuracy": 0.91,
    "note": None,
}

HOLD_SQLITE = """\
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
connection.execute("UPDATE projects SET execution_counter = execution_counter")
print("held", flush=True)
time.sleep(120)
"""
HOLD_POSTGRESQL = """\
import sys, time
import psycopg
connection = psycopg.connect(sys.argv[1])
connection.execute("UPDATE projects SET execution_counter = execution_counter")
print("held", flush=True)
time.sleep(120)
"""


def _env(database_url: str) -> dict[str, str]:
    return {**os.environ, "ASSAY_DATABASE_URL": database_url, "COLUMNS": "200"}


def _assay(root: Path, env: dict[str, str], *args: str, deadline: float = 120.0) -> tuple[str, float]:
    started = time.monotonic()
    done = subprocess.run(
        [ASSAY, *args], cwd=root, env=env, capture_output=True, text=True, timeout=deadline, check=False
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, f"assay {' '.join(args)}: {done.stdout}{done.stderr}"
    return done.stdout, elapsed


def _driver_url(database_url: str) -> str:
    return database_url.replace("postgresql+psycopg://", "postgresql://")


@contextmanager
def _write_lock_held(database_url: str) -> Iterator[None]:
    """Another process holding a write transaction (with the project rows locked) until the end."""
    if database_url.startswith("sqlite:///"):
        script, target = HOLD_SQLITE, database_url.removeprefix("sqlite:///")
    else:
        script, target = HOLD_POSTGRESQL, _driver_url(database_url)
    holder = subprocess.Popen(
        [sys.executable, "-c", script, target], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held", holder.stderr.read() if holder.stderr else ""
        _assert_a_write_would_wait(database_url)
        yield
    finally:
        holder.kill()
        holder.communicate()


def _assert_a_write_would_wait(database_url: str) -> None:
    """The lock is real: a writer that will not wait is refused."""
    if database_url.startswith("sqlite:///"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            connection.execute("BEGIN IMMEDIATE")
        connection.close()
        return
    import psycopg

    with psycopg.connect(_driver_url(database_url)) as connection:
        connection.execute("SET lock_timeout = '100ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            connection.execute("UPDATE projects SET execution_counter = execution_counter")


@pytest.fixture
def recorded(make_project: ProjectFactory, database_url: str) -> tuple[Path, dict[str, str]]:
    """A project with an execution (metadata, an output, a model version) and a pipeline run."""
    project = make_project(SPEC, {"train.py": TRAIN}, name="reader")
    env = _env(database_url)
    _assay(project.root, env, "run", "train")
    _assay(project.root, env, "pipeline", "run", "one", "-q")
    return project.root, env


def test_read_commands_return_while_another_process_holds_a_write_transaction(
    recorded: tuple[Path, dict[str, str]], make_project: ProjectFactory
) -> None:
    root, env = recorded
    model, _ = _assay(root, env, "models", "list", "--json")
    datum = json.loads(_assay(root, env, "executions", "outputs", "1", "--json")[0])[0]["uri"]
    newcomer = make_project(SPEC, {"train.py": TRAIN}, name="newcomer")
    with _write_lock_held(env["ASSAY_DATABASE_URL"]):
        timings: dict[str, float] = {}

        def read(*args: str, folder: Path = root) -> Any:
            out, timings[" ".join(args)] = _assay(folder, env, *args, "--json", deadline=DEADLINE)
            return json.loads(out)

        assert [e["counter"] for e in read("executions", "list")] == [2, 1]
        shown = read("executions", "show", "1")
        assert shown["metadata"] == LATEST
        assert shown["model_versions"] == ["model://reader/v1"]
        assert (
            [m["name"] for m in read("models", "list")]
            == ["reader"]
            == [m["name"] for m in json.loads(model)]
        )
        assert [r["status"] for r in read("pipeline", "list")] == ["completed"]
        assert read("pipeline", "show", "1")["nodes"][0]["status"] == "completed"
        lineage = read("lineage", "show", "model://reader/v1")
        assert "train" in json.dumps(lineage)
        assert read("lineage", "affected", datum) is not None
        # a folder the catalog has never seen reads nothing, and records nothing, without waiting
        assert read("executions", "list", folder=newcomer.root) == []
    # NOTE: a read that waited for the lock would wait until it is released (120 s) or until the
    # busy timeout (30 s) fails it: past DEADLINE either way. Within it, the time is the CLI's
    # start-up, which a loaded machine (the demo's training on the other workers) stretches.
    assert all(seconds < DEADLINE for seconds in timings.values()), timings


def test_executions_show_gives_the_latest_value_of_each_key(
    recorded: tuple[Path, dict[str, str]], database_url: str
) -> None:
    root, env = recorded
    shown = json.loads(_assay(root, env, "executions", "show", "1", "--json")[0])
    assert shown["metadata"] == LATEST
    assert list(shown["metadata"]) == list(LATEST)  # keys in the order they first appeared
    human, _ = _assay(root, env, "executions", "show", "1")
    assert "ckpt-300" in human
    assert "ckpt-200" not in human
    with Catalog.open(database_url) as catalog, catalog.read() as session:
        execution_id = shown["id"]
        events = session.scalar(
            select(func.count())
            .select_from(ExecutionMetadata)
            .where(ExecutionMetadata.execution_id == execution_id)
        )
        rows = list(
            session.scalars(
                select(ExecutionMetadataLatest)
                .where(ExecutionMetadataLatest.execution_id == execution_id)
                .order_by(ExecutionMetadataLatest.position)
            )
        )
        assert events == 300 + 3 + 1  # every event is still kept
        assert [row.key for row in rows] == list(LATEST)  # one row a key
        assert {row.key: row.seq for row in rows}["checkpoint"] == 302  # the event that set it
        assert latest_metadata(session, execution_id) == LATEST


def test_many_lines_with_repeated_keys_keep_only_the_last_value(
    make_project: ProjectFactory, database_url: str
) -> None:
    script = """\
    import json
    for i in range(20000):
        print(json.dumps({"k%d" % (i % 7): i, "i": i}))
    print(json.dumps({"k3": "last", "i": {"done": True}}))
    print("not json {")
    """
    project = make_project(
        "- step: {name: many, image: python:3.11, command: python many.py}\n", {"many.py": script}
    )
    env = _env(database_url)
    _assay(project.root, env, "run", "many")
    expected: dict[str, Any] = {}
    for i in range(20000):
        expected.update({f"k{i % 7}": i, "i": i})
    expected.update({"k3": "last", "i": {"done": True}})
    shown = json.loads(_assay(project.root, env, "executions", "show", "1", "--json")[0])
    assert shown["metadata"] == expected
    assert list(shown["metadata"]) == list(expected)
