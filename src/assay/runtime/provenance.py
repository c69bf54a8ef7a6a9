"""What an execution ran on: code commit and dirty flag, image, Python, host, Assay version."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from assay import __version__


def git_state(project_root: Path) -> dict[str, Any]:
    """``{"commit": sha | None, "dirty": bool | None}`` from one ``git status`` call."""
    try:
        result = subprocess.run(
            ["git", "-C", str(project_root), "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if result.returncode != 0:
        return {"commit": None, "dirty": None}
    commit = None
    dirty = False
    for line in result.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("# branch.oid "):
            oid = line.removeprefix("# branch.oid ").strip()
            commit = None if oid == "(initial)" else oid
        elif line and not line.startswith("#"):
            dirty = True
    return {"commit": commit, "dirty": dirty}


def environment_record(
    *, project_root: Path, git: dict[str, Any], image: str, sandbox: str, python_env: Path
) -> dict[str, Any]:
    return {
        "git_commit": git.get("commit"),
        "git_dirty": git.get("dirty"),
        "image": image,
        "python_environment": str(python_env),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "sandbox": sandbox,
        "assay_version": __version__,
        "project_root": str(project_root),
    }
