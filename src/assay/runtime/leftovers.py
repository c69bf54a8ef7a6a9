"""Processes an execution left behind, found by the ``VH_EXECUTION_ID`` in their environment.

In a sandbox the PID namespace ends every process of an execution with its command; without
one, a process that left the command's session (``setsid``, a daemon) is found here. This is
also the check that nothing of an execution still runs before its outputs are recorded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable


def find(execution_ids: Iterable[str]) -> list[int]:
    """Running processes (not zombies) whose environment names one of these executions."""
    wanted = {f"VH_EXECUTION_ID={i}".encode() for i in execution_ids}
    if not wanted:
        return []
    me = os.getpid()
    found = []
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me]
    except OSError:
        return []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                environ = handle.read()
        except OSError:
            continue
        if wanted.intersection(environ.split(b"\0")):
            found.append(pid)
    return found


def end(execution_ids: Iterable[str], wait: float = 2.0) -> list[int]:
    """SIGKILL what these executions left running; returns what still runs after ``wait`` s."""
    ids = list(execution_ids)
    found = find(ids)
    deadline = time.monotonic() + wait
    while found:
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() >= deadline:
            break
        time.sleep(0.02)
        found = find(ids)
    return found
