"""Every exit path settles the execution and ends its processes.

Real ``assay`` processes in a project folder: a step that starts a ``setsid`` grandchild (out of
its session, so only the execution's ``VH_EXECUTION_ID`` finds it) and sleeps. Then SIGINT,
SIGTERM or SIGHUP to the CLI, ``assay executions stop N`` from another process, or ``kill -9``
and ``assay executions settle`` — with and without a sandbox — and the checks: the CLI says what
it stopped and what continues it, no process of the execution is left, the execution is
recorded, and a pipeline run is resumable (and resumes).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ProjectFactory

ASSAY = str(Path(sys.executable).with_name("assay"))
SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
SANDBOXES = ["none", "auto"]  # auto: bubblewrap where it works (CI), else none


def spec(trial: str) -> str:
    """A step that sleeps with a daemon beside it, unless a file `fast` is in its code."""
    return f"""\
- step:
    name: sleepy
    image: python:3.11
    command:
      - if [ -e fast ]; then echo quick; exit 0; fi
      - setsid sleep 300 &
      - echo ready
      - sleep 300
    environment-variables:
      - {{name: SIGNAL_TRIAL, default: {trial}}}
- pipeline:
    name: pair
    nodes:
      - {{name: left, type: execution, step: sleepy}}
      - {{name: right, type: execution, step: sleepy}}
    edges: []
"""


@dataclass
class Cli:
    """One ``assay`` process, its output read as it comes (stdout and stderr together)."""

    process: subprocess.Popen[str]
    lines: list[str]
    reader: threading.Thread

    def wait_for(self, text: str, count: int = 1, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.lines) < count:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"never saw {text!r} x{count}:\n" + "".join(self.lines))
            time.sleep(0.05)

    def ended(self, timeout: float = 30.0) -> tuple[int, str]:
        code = self.process.wait(timeout=timeout)
        self.close()
        return code, "".join(self.lines)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@dataclass
class Trial:
    root: Path
    env: dict[str, str]
    trial: str
    sandbox: str
    clis: list[Cli] = field(default_factory=list)

    def start(self, *args: str) -> Cli:
        process = subprocess.Popen([ASSAY, *args], cwd=self.root, env=self.env, text=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
        reader.start()
        cli = Cli(process, lines, reader)
        self.clis.append(cli)
        return cli

    def run(self, *args: str) -> tuple[int, str]:
        done = subprocess.run([ASSAY, *args], cwd=self.root, env=self.env, capture_output=True, text=True,
                              check=False, timeout=120)  # fmt: skip
        return done.returncode, done.stdout + done.stderr

    def json(self, *args: str) -> Any:
        done = subprocess.run([ASSAY, *args, "--json"], cwd=self.root, env=self.env, capture_output=True,
                              text=True, check=False, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout)

    def processes(self) -> list[int]:
        """Processes of this trial's executions still running (zombies are not)."""
        wanted = f"SIGNAL_TRIAL={self.trial}".encode()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if wanted in environ:
                found.append(int(entry))
        return found

    def wait_for_daemons(self, count: int) -> None:
        """Until ``count`` grandchildren left their execution's session (``setsid``)."""
        deadline = time.monotonic() + 30
        while len([p for p in self.processes() if _session_leader(p) and _command(p) == "sleep 300"]) < count:
            assert time.monotonic() < deadline, "the steps' daemons never started"
            time.sleep(0.05)

    def kill_all(self) -> None:
        for cli in self.clis:
            cli.close()
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(params=SANDBOXES)
def trial(request: pytest.FixtureRequest, make_project: ProjectFactory, database_url: str) -> Iterator[Trial]:
    token = uuid.uuid4().hex
    project = make_project(spec(token))
    env = {**os.environ, "ASSAY_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    if request.param == "none":
        env["ASSAY_SANDBOX"] = "none"
    found = Trial(project.root, env, token, request.param)
    try:
        yield found
    finally:
        found.kill_all()  # whatever a failing test left


def _session_leader(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return False
    return fields[0] != "Z" and int(fields[3]) == pid  # state, …, session


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _executions(trial: Trial) -> list[dict[str, Any]]:
    return sorted(trial.json("executions", "list"), key=lambda e: e["counter"])


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_signal_to_assay_run_stops_the_step_and_records_it(trial: Trial, sig: signal.Signals) -> None:
    cli = trial.start("run", "sleepy")
    cli.wait_for("ready")
    trial.wait_for_daemons(1)
    signalled = time.monotonic()
    cli.process.send_signal(sig)
    code, output = cli.ended()
    assert time.monotonic() - signalled < 15, "the CLI did not exit promptly"
    assert code == 128 + sig, output
    assert f"stopped execution #1 (sleepy): interrupted by {sig.name}" in output
    assert "`assay run sleepy` runs it again" in output
    assert trial.processes() == []  # the step, its shell and the setsid'd daemon: all gone
    [execution] = _executions(trial)
    assert execution["status"] == "stopped"
    assert execution["message"].startswith(f"interrupted by {sig.name}")
    code, output = trial.run("executions", "settle")
    assert code == 0, output
    assert "nothing to settle" in output


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_a_signal_to_a_pipeline_run_stops_its_executions_and_leaves_it_resumable(
    trial: Trial, sig: signal.Signals
) -> None:
    cli = trial.start("pipeline", "run", "pair", "--slots", "2")
    cli.wait_for("| ready", count=2)
    trial.wait_for_daemons(2)
    signalled = time.monotonic()
    cli.process.send_signal(sig)
    code, output = cli.ended()
    assert time.monotonic() - signalled < 15, "the CLI did not exit promptly"
    assert code == 128 + sig, output
    assert f"pipeline run #1 interrupted by {sig.name}" in output
    assert "stopped executions #1 (" in output
    assert "#2 (" in output
    assert "`assay pipeline resume 1`" in output
    assert trial.processes() == []
    assert [e["status"] for e in _executions(trial)] == ["stopped", "stopped"]
    shown = trial.json("pipeline", "show", "1")
    assert shown["status"] == "running"  # resumable: nothing final was decided
    assert shown["driver"]["stranded"]
    assert shown["message"].startswith(f"interrupted by {sig.name}")
    code, output = trial.run("pipeline", "show", "1")
    assert "Nothing drives pipeline run #1" in output
    assert "assay pipeline resume 1" in output
    # The resume runs both nodes again (their code now says: be quick) and the run completes.
    (trial.root / "fast").write_text("")
    code, output = trial.run("pipeline", "resume", "1", "-q")
    assert code == 0, output
    shown = trial.json("pipeline", "show", "1")
    assert shown["status"] == "completed"
    assert shown["message"] is None
    assert [e["status"] for e in _executions(trial)] == ["stopped", "stopped", "completed", "completed"]


def test_executions_stop_from_another_terminal_stops_assay_run(trial: Trial) -> None:
    cli = trial.start("run", "sleepy")
    cli.wait_for("ready")
    trial.wait_for_daemons(1)
    code, output = trial.run("executions", "stop", "1")
    assert code == 0, output
    assert "Execution #1 (sleepy) is stopped: stopped by tester" in output
    code, output = cli.ended()
    assert code == 1, output  # the step did not complete
    assert "execution #1 (sleepy) was stopped by tester" in output
    assert trial.processes() == []
    [execution] = _executions(trial)
    assert execution["status"] == "stopped"
    code, output = trial.run("executions", "stop", "1")
    assert code == 4, output
    assert "already stopped" in output


def test_executions_stop_of_a_pipeline_execution_stops_the_run(trial: Trial) -> None:
    cli = trial.start("pipeline", "run", "pair", "--slots", "2")
    cli.wait_for("| ready", count=2)
    code, output = trial.run("executions", "stop", "2")
    assert code == 0, output
    assert "Its pipeline run #1 stops with it" in output
    code, output = cli.ended()
    assert code == 0, output
    assert trial.processes() == []
    shown = trial.json("pipeline", "show", "1")
    assert shown["status"] == "stopped"
    assert "execution #2 of node" in shown["message"]
    assert "was stopped by tester" in shown["message"]
    assert [e["status"] for e in _executions(trial)] == ["stopped", "stopped"]


def test_settle_after_kill_9_of_assay_run(trial: Trial) -> None:
    cli = trial.start("run", "sleepy")
    cli.wait_for("ready")
    trial.wait_for_daemons(1)
    driver = cli.process.pid
    cli.process.kill()
    cli.ended()
    if trial.sandbox == "none":
        assert trial.processes()  # without a PID namespace, the step outlives a driver killed with -9
    code, output = trial.run("executions", "settle")
    assert code == 0, output
    assert f"Settled execution #1 (sleepy): error, interrupted: its driver, pid {driver} on" in output
    assert trial.processes() == []
    [execution] = _executions(trial)
    assert execution["status"] == "error"
    assert execution["message"].startswith("interrupted: its driver")
    code, output = trial.run("executions", "settle")
    assert "nothing to settle" in output


def test_pipeline_show_and_settle_after_kill_9_of_the_driver(trial: Trial) -> None:
    cli = trial.start("pipeline", "run", "pair", "--slots", "2")
    cli.wait_for("| ready", count=2)
    trial.wait_for_daemons(2)
    driver = cli.process.pid
    cli.process.kill()
    cli.ended()
    code, output = trial.run("pipeline", "show", "1")
    assert code == 0, output
    assert f"The process that drove pipeline run #1 (pid {driver} on" in output
    assert "is gone" in output
    assert "assay pipeline resume 1" in output
    assert trial.json("pipeline", "show", "1")["driver"]["state"] == "gone"
    code, output = trial.run("executions", "settle")
    assert code == 0, output
    assert "Settled execution #1" in output
    assert "Settled execution #2" in output
    assert "Pipeline run #1 has no driver: `assay pipeline resume 1` continues it" in output
    assert trial.processes() == []
    assert [e["status"] for e in _executions(trial)] == ["error", "error"]
    (trial.root / "fast").write_text("")
    code, output = trial.run("pipeline", "resume", "1", "-q")
    assert code == 0, output
    assert trial.json("pipeline", "show", "1")["status"] == "completed"
