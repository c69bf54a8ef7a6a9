"""Run one command: stream stdout/stderr to a log file and a callback, parse metadata lines.

Any stdout line that is a JSON object is a metadata event (Valohai's contract), stamped with
the time it was read. The process runs in its own session so that a time limit or a stop
ends it and everything it started. Lines longer than ``MAX_LINE`` bytes are cut there.

Ending it (a limit, a stop, a signal to Assay) is TERM, a grace of ``GRACE`` seconds, then KILL,
to its whole tree: its process group and every process that left it (``setsid``, a daemon) but
still carries the execution's ``VH_EXECUTION_ID`` (``runtime/leftovers.py``). A second signal
to Assay (``hurry``) cuts the grace short.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from assay.errors import Interrupted
from assay.runtime import leftovers

_POLL = 0.25  # seconds between checks that the command is still running
_PIPE_GRACE = 2.0  # seconds to keep reading after the command ended (others may hold its pipes)
MAX_LINE = 1 << 20
GRACE = 5.0  # seconds between TERM and KILL when a command is ended
_HURRY = threading.Event()  # set by a second signal to Assay: no more grace for anyone

LogCallback = Callable[[str, str], None]  # (stream: "stdout" | "stderr", line without newline)
StopCondition = Callable[[dict[str, Any]], bool]  # latest metadata → stop now?
Redact = Callable[[str], str]  # a log line → the line as kept and shown
StopCheck = Callable[[], bool | str]  # stop now? True, or why (the execution records it)


@dataclass
class ProcessOutcome:
    exit_code: int
    metadata: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    timed_out: bool = False
    interrupted: bool = False
    stopped: bool = False
    #: why it was stopped or interrupted ("stopped by alice", "interrupted by SIGTERM"), when known
    stop_reason: str | None = None
    #: the signal (or Ctrl-C) that interrupted it, to be raised again once it is recorded
    interruption: Interrupted | None = None
    tail: list[str] = field(default_factory=list)
    silent_for: float | None = None  # set when no-output-timeout ended it
    condition_met: bool = False  # set when the step's stop-condition ended it


def parse_metadata_line(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        value = json.loads(text, parse_constant=_not_json)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _not_json(name: str) -> Any:
    """NaN and Infinity are not JSON (PostgreSQL refuses them): such a line is a log line."""
    raise ValueError(f"{name} is not a JSON value")


class _LogSink:
    """Lines from both streams into one log file, one callback, metadata and a short tail."""

    def __init__(
        self, log: IO[str], on_line: LogCallback | None, tail_size: int = 40, redact: Redact | None = None
    ) -> None:
        self.log = log
        self.on_line = on_line
        self.redact = redact
        self.tail: deque[str] = deque(maxlen=tail_size)
        self.metadata: list[tuple[datetime, dict[str, Any]]] = []
        self.latest: dict[str, Any] = {}
        self.partial: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
        self.partial_size = {"stdout": 0, "stderr": 0}
        self.last_output = time.monotonic()
        self.new_metadata = False

    def feed(self, name: str, chunk: bytes) -> None:
        """Take bytes read from a stream; an empty chunk means the stream ended."""
        self.last_output = time.monotonic()
        if not chunk:
            self._flush(name)
            return
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            self.partial[name].append(chunk[start:end])
            self._flush(name)
            start = end + 1
        if start < len(chunk):
            self.partial[name].append(chunk[start:])
            self.partial_size[name] += len(chunk) - start
            if self.partial_size[name] >= MAX_LINE:
                self._flush(name)  # NOTE: an endless line (binary, progress bars) is cut, not hoarded

    def _flush(self, name: str) -> None:
        if self.partial[name]:
            self._line(name, b"".join(self.partial[name]))
        self.partial[name] = []
        self.partial_size[name] = 0

    def _line(self, name: str, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        if self.redact is not None:
            line = self.redact(line)  # a secret's value printed by the step is kept as ***
        self.log.write(line + "\n")
        self.tail.append(line)
        if name == "stdout":
            data = parse_metadata_line(line)
            if data is not None:
                self.metadata.append((datetime.now(UTC), data))
                self.latest.update(data)
                self.new_metadata = True
        if self.on_line is not None:
            self.on_line(name, line)


@dataclass(frozen=True)
class Limits:
    time_limit: float | None = None
    no_output_timeout: float | None = None
    should_stop: StopCheck | None = None
    stop_condition: StopCondition | None = None


def run_process(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    on_line: LogCallback | None = None,
    limits: Limits = Limits(),
    redact: Redact | None = None,
) -> ProcessOutcome:
    """Run ``argv`` to the end, reading both pipes in this thread (no reader threads).

    ``redact`` rewrites each line before it is logged, shown or parsed (secret values → ***).
    """
    with open(log_path, "a", encoding="utf-8", buffering=1) as log:
        sink = _LogSink(log, on_line, redact=redact)
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        outcome = ProcessOutcome(-1)
        # NOTE: every process of an execution inherits its id, even one that left the session.
        marker = env.get("VH_EXECUTION_ID")
        try:
            _pump(process, sink, limits, outcome, marker)
        except KeyboardInterrupt as exc:
            outcome.interrupted = True
            outcome.interruption = Interrupted.of(exc)
            outcome.stop_reason = outcome.interruption.reason
        finally:
            # Whatever happened here (Ctrl-C, a full disk, a closed terminal), the command and
            # everything it started end with it, and its pipes are closed.
            if process.poll() is None or outcome.interrupted:
                _terminate(process, marker)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
            process.wait()
        outcome.exit_code = process.returncode if process.returncode is not None else -1
        outcome.metadata = sink.metadata
        outcome.tail = list(sink.tail)
        return outcome


def _pump(
    process: subprocess.Popen[bytes],
    sink: _LogSink,
    limits: Limits,
    outcome: ProcessOutcome,
    marker: str | None,
) -> None:
    """Read until both pipes close (or briefly after the command ended), enforcing the limits."""
    assert process.stdout is not None
    assert process.stderr is not None
    started = time.monotonic()
    ended_at: float | None = None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, "stdout")
        selector.register(process.stderr, selectors.EVENT_READ, "stderr")
        while selector.get_map():
            for key, _ in selector.select(_POLL):
                chunk = os.read(key.fd, 1 << 16)
                sink.feed(key.data, chunk)
                if not chunk:
                    selector.unregister(key.fileobj)
            now = time.monotonic()
            if ended_at is None:
                reason = _limit_reached(limits, sink, started, now, outcome)
                if reason:
                    _terminate(process, marker)
                if process.poll() is not None:
                    ended_at = now
                    _kill_leftovers(process)  # once: what it left running ends too, as in a container
            elif now - ended_at > _PIPE_GRACE:
                break  # a process in a session of its own still holds the pipes: stop listening
    # Both pipes closed, but the command may not have exited yet (it is about to, or it closed
    # its output and works on): wait for it, the limits still holding.
    delay = 0.0005
    while ended_at is None and process.poll() is None:
        if _limit_reached(limits, sink, started, time.monotonic(), outcome):
            _terminate(process, marker)
            break
        try:
            process.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            delay = min(delay * 2, _POLL)
    if ended_at is None:
        _kill_leftovers(process)


def _limit_reached(
    limits: Limits, sink: _LogSink, started: float, now: float, outcome: ProcessOutcome
) -> bool:
    if limits.time_limit is not None and now - started >= limits.time_limit:
        outcome.timed_out = True
        return True
    if limits.no_output_timeout is not None and now - sink.last_output >= limits.no_output_timeout:
        outcome.silent_for = now - sink.last_output
        return True
    if limits.should_stop is not None and (asked := limits.should_stop()):
        outcome.stopped = True
        outcome.stop_reason = asked if isinstance(asked, str) else None
        return True
    if limits.stop_condition is not None and sink.new_metadata:
        sink.new_metadata = False
        if limits.stop_condition(dict(sink.latest)):
            outcome.condition_met = True
            return True
    return False


def _kill_leftovers(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _terminate(process: subprocess.Popen[bytes], marker: str | None = None, grace: float = GRACE) -> None:
    """SIGTERM the whole tree (the process group, and by ``marker`` what left it), then SIGKILL
    what is left after ``grace`` seconds (or at once after ``hurry``)."""
    _signal_tree(process, marker, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _still_running(process, marker) and time.monotonic() < deadline and not _HURRY.is_set():
        time.sleep(0.05)
    _signal_tree(process, marker, signal.SIGKILL)  # what ignored TERM, and what is left in the group
    process.wait()


def _signal_tree(process: subprocess.Popen[bytes], marker: str | None, sig: int) -> None:
    """Send ``sig`` to the command's process group and to its processes outside it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
    for pid in leftovers.find([marker]) if marker else ():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _still_running(process: subprocess.Popen[bytes], marker: str | None) -> bool:
    """Whether anything of the command runs (by its marker; without one, its process group)."""
    if process.poll() is None:
        return True
    if marker:
        return bool(leftovers.find([marker]))
    try:
        os.killpg(process.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def hurry() -> None:
    """No more grace: commands being ended get SIGKILL now (a second Ctrl-C, SIGTERM…)."""
    _HURRY.set()


def alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
