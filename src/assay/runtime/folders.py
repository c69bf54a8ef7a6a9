"""Execution folders made ahead of need, and cleaned up behind: off the critical path.

Creating a folder or a file is the slowest thing an execution does on some disks (a
millisecond each on the VMs Assay is tested on, a dozen of them per execution). So a
background thread keeps a few *spare* folders ready — the Valohai tree, the code copied from
the run's snapshot, empty config and log files — and an execution takes one with a single
rename. What an execution leaves behind to delete (its copy of the code, its input links) is
deleted by the same thread. ``close`` finishes that work, so when a command returns its
folders are as if everything had happened in line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections import deque
from pathlib import Path

from assay.runtime.layout import CONFIG_FILES, CodeSnapshot, ExecutionLayout
from assay.runtime.process import alive

#: spare folders kept ready (an execution or two ahead, per slot of a busy pipeline)
SPARES = 2
#: a run whose code is bigger than this gets no spares: copying it ahead could be wasted
SPARE_LIMIT_BYTES = 16 << 20


class FolderFactory:
    def __init__(self, executions_dir: Path, code: CodeSnapshot, spares: int = SPARES) -> None:
        self.executions_dir = executions_dir
        self.code = code
        self.spares = spares
        self._ready: deque[Path] = deque()
        self._garbage: deque[ExecutionLayout] = deque()
        self._made = 0
        self._taken = 0
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def take(self, execution_id: str) -> ExecutionLayout:
        """The folder of a new execution, ready to be filled: a spare if one is ready."""
        folder = ExecutionLayout(self.executions_dir / execution_id)
        with self._lock:
            self._taken += 1
            spare = self._ready.popleft() if self._ready else None
        if spare is not None:
            os.rename(spare, folder.root)
            return folder
        _make(folder, self.code)
        # NOTE: spares are made between executions (woken by ``discard``), not now: folders
        # made while a command starts slow its start more than they save.
        self._start()
        self._wake.set()
        return folder

    def discard(self, folder: ExecutionLayout) -> None:
        """Delete what the execution needed only while it ran, soon (``clean_up``)."""

        with self._lock:
            self._garbage.append(folder)
        self._start()
        self._wake.set()

    def close(self) -> None:
        """Finish every clean-up, stop the thread, remove the spares."""
        with self._lock:
            self._stopped = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        self._collect()
        with self._lock:
            spares = list(self._ready)
            self._ready.clear()
        for spare in spares:
            shutil.rmtree(spare, ignore_errors=True)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None or self._stopped:
                return
            self._thread = threading.Thread(target=self._work, name="assay-folders", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                if self._stopped:
                    return
            self._collect()
            while self._wants_spares():
                with self._lock:
                    if self._stopped or len(self._ready) >= self.spares:
                        break
                    self._made += 1
                    spare = self.executions_dir / f".spare-{os.getpid()}-{self._made}"
                with contextlib.suppress(OSError):  # a spare that cannot be made is made in line later
                    shutil.rmtree(spare, ignore_errors=True)
                    _make(ExecutionLayout(spare), self.code)
                    with self._lock:
                        self._ready.append(spare)

    def _wants_spares(self) -> bool:
        """Spares pay off from a run's second execution on, and only for code of modest size
        (a single ``assay run`` or a big repository would copy it for nothing)."""
        with self._lock:
            taken = self._taken
        return taken >= 2 and self.code.size <= SPARE_LIMIT_BYTES

    def _collect(self) -> None:
        while True:
            with self._lock:
                if not self._garbage:
                    return
                folder = self._garbage.popleft()
            folder.clean_up()


def _make(folder: ExecutionLayout, code: CodeSnapshot) -> None:
    folder.create()
    code.copy_into(folder.repository)
    for name in CONFIG_FILES:
        (folder.config / f"{name}.json").touch()
    folder.log.touch()


def sweep_spares(executions_dir: Path) -> None:
    """Remove spares of processes that are gone (they ended without closing their factory)."""
    try:
        entries = [e for e in os.scandir(executions_dir) if e.name.startswith(".spare-")]
    except OSError:
        return
    for entry in entries:
        pid = entry.name.split("-")[1]
        if pid.isdigit() and int(pid) != os.getpid() and not alive(int(pid)):
            shutil.rmtree(entry.path, ignore_errors=True)
