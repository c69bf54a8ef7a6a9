"""An execution's folder: the Valohai tree plus Assay's own files beside it.

::

    .assay/executions/<execution-id>/
        valohai/                 seen as /valohai inside the sandbox
            repository/          a snapshot of the project's files: the working directory
            inputs/<name>/...    input files, linked read-only from the store
            outputs/             everything written here is stored and recorded
            config/              parameters.json, inputs.json, execution.json, runtime.json
        env/                     the execution's own Python layer over its image's environment
        command.sh               the step's command lines as one script
        log.txt                  stdout and stderr, as they came

After the run, ``repository/``, ``inputs/`` and ``env/`` are removed (copies and links of
things recorded elsewhere, and what the step installed for itself); ``outputs/`` stays, its
files hard-linked to the store's blobs.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    def env(self) -> Path:
        return self.root / "env"

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

    def clean_up(self) -> None:
        """Drop what is only needed while running: the repository snapshot, the input links, the layer."""
        for folder in (self.repository, self.inputs, self.env):
            shutil.rmtree(folder, ignore_errors=True)


def snapshot_repository(project_root: Path, destination: Path, git_files: list[str] | None) -> int:
    """Copy the project's files into ``destination``; returns how many were copied.

    In a git work tree the files are the tracked and untracked-but-not-ignored ones (what
    ``git add -A`` would commit); elsewhere every file outside ``SKIPPED_FOLDERS``.
    """
    relative = git_files if git_files is not None else list(_walk(project_root))
    copied = 0
    for name in relative:
        source = project_root / name
        if not source.is_file() or (source.is_symlink() and not _inside(source, project_root)):
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        shutil.copymode(source, target)  # scripts stay executable; times need not survive
        copied += 1
    return copied


def _walk(root: Path) -> list[str]:
    found: list[str] = []
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if d not in SKIPPED_FOLDERS)
        base = Path(folder).relative_to(root)
        found.extend(str(base / f) for f in sorted(files))
    return found


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())
