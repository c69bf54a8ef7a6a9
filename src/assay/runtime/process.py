"""Run one command: stream stdout/stderr to a log file and a callback, parse metadata lines.

Any stdout line that is a JSON object is a metadata event (Valohai's contract), stamped with
the time it was read. The process runs in its own session so that a time limit or a stop
ends it and everything it started.
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

LogCallback = Callable[[str, str], None]  # (stream: "stdout" | "stderr", line without newline)


@dataclass
class ProcessOutcome:
    exit_code: int
    metadata: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    timed_out: bool = False
    interrupted: bool = False
    stopped: bool = False
    tail: list[str] = field(default_factory=list)


def parse_metadata_line(line: str) -> dict[str, Any] | None:
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class _LogSink:
    """Lines from both streams into one log file, one callback, metadata and a short tail."""

    def __init__(self, log: IO[str], on_line: LogCallback | None, tail_size: int = 40) -> None:
        self.log = log
        self.on_line = on_line
        self.tail: deque[str] = deque(maxlen=tail_size)
        self.metadata: list[tuple[datetime, dict[str, Any]]] = []
        self.partial = {"stdout": b"", "stderr": b""}

    def feed(self, name: str, chunk: bytes) -> None:
        """Take bytes read from a stream; an empty chunk means the stream ended."""
        if not chunk:
            if self.partial[name]:
                self._line(name, self.partial[name])
            self.partial[name] = b""
            return
        *lines, self.partial[name] = (self.partial[name] + chunk).split(b"\n")
        for raw in lines:
            self._line(name, raw)

    def _line(self, name: str, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip("\r")
        self.log.write(line + "\n")
        self.tail.append(line)
        if name == "stdout":
            data = parse_metadata_line(line)
            if data is not None:
                self.metadata.append((datetime.now(UTC), data))
        if self.on_line is not None:
            self.on_line(name, line)


def run_process(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    on_line: LogCallback | None = None,
    time_limit: float | None = None,
    should_stop: Callable[[], bool] | None = None,
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
        deadline = None if time_limit is None else time.monotonic() + time_limit
        timed_out = interrupted = stopped = False
        try:
            timed_out, stopped = _pump(process, sink, deadline, should_stop)
        except KeyboardInterrupt:
            interrupted = True
            _terminate(process)
            _drain(process, sink)
        exit_code = process.returncode if process.returncode is not None else -1
        return ProcessOutcome(exit_code, sink.metadata, timed_out, interrupted, stopped, list(sink.tail))


def _pump(
    process: subprocess.Popen[bytes],
    sink: _LogSink,
    deadline: float | None,
    should_stop: Callable[[], bool] | None,
) -> tuple[bool, bool]:
    """Read until both pipes close; returns whether the time limit, or a stop, ended it."""
    assert process.stdout is not None
    assert process.stderr is not None
    timed_out = stopped = False
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, "stdout")
        selector.register(process.stderr, selectors.EVENT_READ, "stderr")
        while selector.get_map():
            wait = _POLL if deadline is None else max(0.0, min(_POLL, deadline - time.monotonic()))
            for key, _ in selector.select(wait):
                chunk = os.read(key.fd, 1 << 16)
                sink.feed(key.data, chunk)
                if not chunk:
                    selector.unregister(key.fileobj)
                    key.fileobj.close()  # type: ignore[union-attr]
            if deadline is not None and not timed_out and time.monotonic() >= deadline:
                timed_out = True
                _terminate(process)
            elif should_stop is not None and not stopped and should_stop():
                stopped = True
                _terminate(process)
            elif process.poll() is not None:
                # The command ended; whatever it left running (holding our pipes) ends too.
                _kill_leftovers(process)
    process.wait()
    return timed_out, stopped


def _drain(process: subprocess.Popen[bytes], sink: _LogSink) -> None:
    for name, stream in (("stdout", process.stdout), ("stderr", process.stderr)):
        if stream is not None and not stream.closed:
            sink.feed(name, stream.read())
            sink.feed(name, b"")
            stream.close()


def _kill_leftovers(process: subprocess.Popen[bytes]) -> None:
    """The command has ended: background processes it left behind end with it, as in a container."""
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
