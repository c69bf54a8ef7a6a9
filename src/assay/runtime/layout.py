"""An execution's folder: the Valohai tree plus Assay's own files beside it.

::

    .assay/executions/<execution-id>/
        valohai/                 seen as /valohai inside the sandbox
            repository/          a snapshot of the project's files: the working directory
            inputs/<name>/...    input files, linked read-only from the store
            outputs/             everything written here is stored and recorded
            config/              parameters.json, inputs.json, execution.json, runtime.json
        command.sh               the step's command lines as one script
        log.txt                  stdout and stderr, as they came

After the run, ``repository/`` and ``inputs/`` are removed (copies and links of things
recorded elsewhere), and so is ``tmp/`` (the execution's ``/tmp``); the output files recorded
were moved into the store (or copied, when a process of the execution might still write). The
execution's Python layer is not here: it comes from the runtime's pool (``runtime/envs.py``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.runtime import provenance
from assay.runtime.process import alive as process_alive

#: the config files every execution gets (``config/<name>.json``)
CONFIG_FILES = ("parameters", "baseline", "inputs", "execution")

#: never copied into an execution's repository snapshot of a folder that is not a git work tree
SKIPPED_FOLDERS = frozenset(
    {".assay", ".git", ".hg", ".venv", "venv", "__pycache__", "node_modules", ".mypy_cache",
     ".pytest_cache", ".ruff_cache", ".hypothesis", ".tox"}
)  # fmt: skip


@dataclass(frozen=True)
class ExecutionLayout:
    root: Path

    @property
    def valohai(self) -> Path:
        return self.root / "valohai"

    @property
    def repository(self) -> Path:
        return self.valohai / "repository"

    @property
    def inputs(self) -> Path:
        return self.valohai / "inputs"

    @property
    def outputs(self) -> Path:
        return self.valohai / "outputs"

    @property
    def config(self) -> Path:
        return self.valohai / "config"

    @property
    def scratch(self) -> Path:
        """Seen as ``/tmp`` in the sandbox (``TMPDIR`` without one); removed with the folder."""
        return self.root / "tmp"

    @property
    def log(self) -> Path:
        return self.root / "log.txt"

    @property
    def script(self) -> Path:
        return self.root / "command.sh"

    def create(self) -> None:
        # NOTE: one mkdir per folder, parents first: on slow metadata filesystems each
        # failed mkdir(parents=True) attempt costs as much as a successful one.
        try:
            self.root.mkdir()
        except FileNotFoundError:  # the project's first execution
            self.root.mkdir(parents=True)
        for folder in (self.valohai, self.repository, self.inputs, self.outputs, self.config):
            folder.mkdir()

    def write_config(self, name: str, data: Any) -> None:
        (self.config / f"{name}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")

    def remove(self) -> None:
        """Remove the whole folder (an execution that was never recorded)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def clean_up(self) -> None:
        """Drop what is only needed while running: the repository snapshot and the input links."""
        for folder in (self.repository, self.inputs, self.scratch):
            shutil.rmtree(folder, ignore_errors=True)


class CodeSnapshot:
    """The project's code as one run sees it: its files copied once, and its commit and dirty flag.

    Every execution of a run (or of one ``assay run``) gets a copy of the same snapshot, and the
    same git facts, however the work tree changes meanwhile; git is asked once, not once per
    execution. The snapshot lives in ``.assay/snapshots/`` until ``close``.
    """

    def __init__(self, project_root: Path, snapshots_dir: Path) -> None:
        self.project_root = project_root
        self.snapshots_dir = snapshots_dir
        self._probe = provenance.GitProbe(project_root)  # git works while the first request is checked
        self._lock = threading.Lock()
        self._root: Path | None = None
        self._files: list[tuple[str, int]] = []  # (relative path, mode)
        self._folders: list[str] = []
        self.git: dict[str, Any] = {}
        self.size = 0  # bytes of the files copied

    def take(self) -> None:
        """Copy the work tree (once); afterwards ``git`` holds its commit and dirty flag."""
        with self._lock:
            if self._root is not None:
                return
            listed = self._probe.files()
            relative = listed if listed is not None else list(_walk(self.project_root))
            root = self.snapshots_dir / f"{os.getpid()}-{uuid.uuid4().hex}"
            _sweep(self.snapshots_dir)
            root.mkdir(parents=True)
            files = _copy_tree(self.project_root, root, relative)
            self.git = self._probe.state()
            self._files = files
            self.size = sum((root / name).stat().st_size for name, _ in files)
            self._folders = sorted({str(Path(name).parent) for name, _ in files} - {"."}, key=len)
            self._root = root

    def copy_into(self, destination: Path) -> None:
        """Give an execution its own copy of the snapshot at ``destination`` (which exists)."""
        self.take()
        assert self._root is not None
        for folder in self._folders:
            (destination / folder).mkdir(parents=True, exist_ok=True)
        for name, mode in self._files:
            target = destination / name
            shutil.copyfile(self._root / name, target)
            if mode != 0o644:
                target.chmod(mode)  # scripts stay executable; times need not survive

    def close(self) -> None:
        with self._lock:
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None


def _copy_tree(project_root: Path, destination: Path, relative: list[str]) -> list[tuple[str, int]]:
    """Copy the project's files; in a git work tree the files are the tracked and
    untracked-but-not-ignored ones (what ``git add -A`` would commit), elsewhere every file
    outside ``SKIPPED_FOLDERS``. Returns (relative path, mode) of each file copied."""
    copied = []
    for name in relative:
        source = project_root / name
        if not source.is_file() or (source.is_symlink() and not _inside(source, project_root)):
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        mode = source.stat().st_mode & 0o777
        copied.append((name, mode))
    return copied


def _sweep(snapshots_dir: Path) -> None:
    """Remove snapshots left by processes that ended without closing theirs."""
    try:
        entries = list(os.scandir(snapshots_dir))
    except OSError:
        return
    for entry in entries:
        pid = entry.name.split("-", 1)[0]
        if not pid.isdigit() or (int(pid) != os.getpid() and not process_alive(int(pid))):
            shutil.rmtree(entry.path, ignore_errors=True)


def _walk(root: Path) -> list[str]:
    found: list[str] = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d not in SKIPPED_FOLDERS)
        base = Path(folder).relative_to(root)
        found.extend(str(base / f) for f in sorted(files))
    return found


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())
