"""Run one command: stream stdout/stderr to a log file and a callback, parse metadata lines.

Any stdout line that is a JSON object is a metadata event (Valohai's contract), stamped with
the time it was read. The process runs in its own session so that a time limit or a stop
ends it and everything it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

LogCallback = Callable[[str, str], None]  # (stream: "stdout" | "stderr", line without newline)


@dataclass
class ProcessOutcome:
    exit_code: int
    metadata: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    timed_out: bool = False
    interrupted: bool = False
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
    """Serializes lines from both streams into one log file, one callback and a short tail."""

    def __init__(self, log: IO[str], on_line: LogCallback | None, tail_size: int = 40) -> None:
        self.log = log
        self.on_line = on_line
        self.tail: list[str] = []
        self.tail_size = tail_size
        self.metadata: list[tuple[datetime, dict[str, Any]]] = []
        self.lock = threading.Lock()

    def pump(self, stream: IO[bytes], name: str) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self.lock:
                self.log.write(line + "\n")
                self.tail.append(line)
                if len(self.tail) > self.tail_size:
                    del self.tail[0]
                if name == "stdout":
                    data = parse_metadata_line(line)
                    if data is not None:
                        self.metadata.append((datetime.now(UTC), data))
                if self.on_line is not None:
                    self.on_line(name, line)
        stream.close()


def run_process(
    argv: list[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    on_line: LogCallback | None = None,
    time_limit: float | None = None,
) -> ProcessOutcome:
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
        assert process.stdout is not None
        assert process.stderr is not None
        readers = [
            threading.Thread(target=sink.pump, args=(process.stdout, "stdout"), daemon=True),
            threading.Thread(target=sink.pump, args=(process.stderr, "stderr"), daemon=True),
        ]
        for reader in readers:
            reader.start()
        timed_out = interrupted = False
        try:
            process.wait(timeout=time_limit)
            _kill_leftovers(process)
        except subprocess.TimeoutExpired:
            timed_out = True
            _terminate(process)
        except KeyboardInterrupt:
            interrupted = True
            _terminate(process)
        for reader in readers:
            reader.join()
        exit_code = process.returncode if process.returncode is not None else -1
        return ProcessOutcome(exit_code, sink.metadata, timed_out, interrupted, list(sink.tail))


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
