"""Run one command: stream stdout/stderr to a log file and a callback, parse metadata lines.

Any stdout line that is a JSON object is a metadata event (Valohai's contract), stamped with
the time it was read. The process runs in its own session so that a time limit or a stop
ends it and everything it started. Lines longer than ``MAX_LINE`` bytes are cut there.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

_POLL = 0.25  # seconds between checks that the command is still running
_PIPE_GRACE = 2.0  # seconds to keep reading after the command ended (others may hold its pipes)
MAX_LINE = 1 << 20

LogCallback = Callable[[str, str], None]  # (stream: "stdout" | "stderr", line without newline)
StopCondition = Callable[[dict[str, Any]], bool]  # latest metadata → stop now?


@dataclass
class ProcessOutcome:
    exit_code: int
    metadata: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    timed_out: bool = False
    interrupted: bool = False
    stopped: bool = False
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

    def __init__(self, log: IO[str], on_line: LogCallback | None, tail_size: int = 40) -> None:
        self.log = log
        self.on_line = on_line
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
    should_stop: Callable[[], bool] | None = None
    stop_condition: StopCondition | None = None


def run_process(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    on_line: LogCallback | None = None,
    limits: Limits = Limits(),
) -> ProcessOutcome:
    """Run ``argv`` to the end, reading both pipes in this thread (no reader threads)."""
    with open(log_path, "a", encoding="utf-8", buffering=1) as log:
        sink = _LogSink(log, on_line)
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
        try:
            _pump(process, sink, limits, outcome)
        except KeyboardInterrupt:
            outcome.interrupted = True
        finally:
            # Whatever happened here (Ctrl-C, a full disk, a closed terminal), the command and
            # everything it started end with it, and its pipes are closed.
            if process.poll() is None:
                _terminate(process)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()
            process.wait()
        outcome.exit_code = process.returncode if process.returncode is not None else -1
        outcome.metadata = sink.metadata
        outcome.tail = list(sink.tail)
        return outcome


def _pump(process: subprocess.Popen[bytes], sink: _LogSink, limits: Limits, outcome: ProcessOutcome) -> None:
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
                    _terminate(process)
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
            _terminate(process)
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
    if limits.should_stop is not None and limits.should_stop():
        outcome.stopped = True
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


def _terminate(process: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the whole process group, then SIGKILL what is left after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        if process.poll() is not None:
            break
    process.wait()


def alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
