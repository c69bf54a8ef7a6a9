"""What an execution ran on: code commit and dirty flag, image, Python, host, Assay version."""

from __future__ import annotations

import functools
import platform
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from assay import __version__
from assay.runtime.images import Environment


class GitProbe:
    """The two questions Assay asks git, started at once in the background, answered on demand.

    ``files()``: what a snapshot of the work tree holds (tracked plus untracked-not-ignored
    files, as ``git add -A`` would see them), or None outside a git work tree.
    ``state()``: ``{"commit": sha | None, "dirty": bool | None}``; dirty means a tracked file
    differs from the commit (untracked files do not count).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._outputs: dict[str, bytes | None] = {"files": None, "state": None}
        self._thread: threading.Thread | None = None
        if any((folder / ".git").exists() for folder in (root, *root.parents)):
            # NOTE: a thread, because spawning a process blocks the spawning thread until
            # the child has exec'd; this way both git calls overlap the caller's own work.
            self._thread = threading.Thread(target=self._ask, daemon=True)
            self._thread.start()

    def _ask(self) -> None:
        git = ["git", "-C", str(self.root)]
        try:
            listing = _start(
                [*git, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--exclude=/.assay/"]
            )
            status = _start(
                [*git, "--no-optional-locks", "status", "--porcelain=v2", "--branch", "--untracked-files=no"]
            )
        except OSError:  # no git on this host
            return
        self._outputs = {"files": _finish(listing), "state": _finish(status)}

    def _answer(self, key: str) -> bytes | None:
        if self._thread is not None:
            self._thread.join()
        return self._outputs[key]

    def files(self) -> list[str] | None:
        output = self._answer("files")
        if output is None:
            return None
        names = [n for n in output.decode("utf-8", "surrogateescape").split("\0") if n]
        return [n for n in names if not n.startswith(".assay/")]

    def state(self) -> dict[str, Any]:
        output = self._answer("state")
        if output is None:
            return {"commit": None, "dirty": None}
        commit = None
        dirty = False
        for line in output.decode("utf-8", "replace").splitlines():
            if line.startswith("# branch.oid "):
                oid = line.removeprefix("# branch.oid ").strip()
                commit = None if oid == "(initial)" else oid
            elif line and not line.startswith("#"):
                dirty = True
        return {"commit": commit, "dirty": dirty}


def _start(argv: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _finish(process: subprocess.Popen[bytes] | None) -> bytes | None:
    if process is None:
        return None
    output, _ = process.communicate(timeout=300)
    return output if process.returncode == 0 else None


def environment_record(
    *, project_root: Path, git: dict[str, Any], image: str, sandbox: str, environment: Environment
) -> dict[str, Any]:
    return {
        "git_commit": git.get("commit"),
        "git_dirty": git.get("dirty"),
        "image": image,
        "python_environment": str(environment.path),
        "image_environment": {
            "key": environment.key,
            "python": environment.python_version,
            "requested_python": environment.requested,
        },
        **_host(),
        "sandbox": sandbox,
        "project_root": str(project_root),
    }


@functools.cache
def _host() -> dict[str, str]:
    """What does not change while this process runs."""
    return {
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "assay_version": __version__,
    }
