"""A private ``/valohai`` for each execution, so scripts that hard-code ``/valohai/…`` work.

Three ways, chosen by ``ASSAY_SANDBOX`` (``auto`` by default):

* ``bwrap`` — bubblewrap builds a new mount namespace that sees the host plus ``/valohai``
  bound to the execution's folder, with ``inputs/`` read-only: the host's root is bound whole
  where an empty ``/valohai`` mount point exists (Assay makes it when it may), else its
  top-level folders one by one. Works without root where user namespaces are allowed.
* ``unshare`` — as root without bubblewrap: ``unshare --mount`` and bind mounts onto the
  host's (empty) ``/valohai`` mount point, visible only inside the namespace.
* ``none`` — no namespace: the ``VH_*_DIR`` variables point at the execution's folder, which
  is all that valohai-utils needs; hard-coded ``/valohai`` paths fail. One warning says so.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from assay.errors import InvalidRequest

VALOHAI = "/valohai"
MODES = ("auto", "bwrap", "unshare", "none")

NO_SANDBOX_WARNING = (
    "no private /valohai on this machine (install bubblewrap: `apt-get install bubblewrap`); "
    "executions see their folders through the VH_* variables only, so scripts that "
    "hard-code /valohai/... will not find them"
)

# Binds one read-write and one read-only tree, makes each further folder before `--` read-only
# where it is, then runs the command (argv after `--`).
_UNSHARE_SCRIPT = (
    'mount --bind "$1" /valohai && '
    'mount --bind "$2" /valohai/inputs && '
    "mount -o remount,bind,ro /valohai/inputs && "
    "shift 2 && "
    'while [ "$1" != -- ]; do mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift; done && '
    'shift && cd /valohai/repository && exec "$@"'
)


@dataclass(frozen=True)
class Sandbox:
    mode: str  # "bwrap" | "unshare" | "none"

    @property
    def private(self) -> bool:
        return self.mode != "none"

    def wrap(self, argv: list[str], valohai_dir: Path, read_only: tuple[Path, ...] = ()) -> list[str]:
        """``argv`` run with ``valohai_dir`` seen at ``/valohai`` (and as cwd its repository).

        Folders in ``read_only`` (the image's built environment) stay where they are but cannot
        be written from inside; without a sandbox nothing is enforced.
        """
        if self.mode == "bwrap":
            protected = [arg for folder in read_only for arg in ("--ro-bind", str(folder), str(folder))]
            return [*_bwrap_prefix(str(valohai_dir)), *protected, "--", *argv]
        if self.mode == "unshare":
            return [
                "unshare", "--mount", "--propagation", "private", "--",
                "/bin/sh", "-c", _UNSHARE_SCRIPT, "assay-sandbox",
                str(valohai_dir), str(valohai_dir / "inputs"), *map(str, read_only), "--", *argv,
            ]  # fmt: skip
        return argv


def choose_sandbox(requested: str | None = None) -> Sandbox:
    mode = (requested or os.environ.get("ASSAY_SANDBOX") or "auto").strip().lower()
    if mode not in MODES:
        raise InvalidRequest(f"unknown sandbox {mode!r}", hint=f"use one of: {', '.join(MODES)}")
    if mode == "none":
        return Sandbox("none")
    if mode in ("auto", "bwrap") and _bwrap_works():
        return Sandbox("bwrap")
    if mode in ("auto", "unshare") and _unshare_works():
        return Sandbox("unshare")
    if mode != "auto":
        raise InvalidRequest(
            f"sandbox {mode!r} is not available here",
            hint="install bubblewrap, run as root for unshare, or use ASSAY_SANDBOX=none",
        )
    return Sandbox("none")


def _bwrap_prefix(valohai_dir: str) -> list[str]:
    argv = ["bwrap", "--die-with-parent"]
    if _mount_point():
        # NOTE: one bind of the whole host is half the cost of one per top-level folder (4 ms
        # less per execution), and needs only the empty /valohai mount point to exist.
        argv += ["--dev-bind", "/", "/"]
    else:
        for name, target in _root_entries():
            if target is not None:
                argv += ["--symlink", target, f"/{name}"]
            else:
                argv += ["--dev-bind", f"/{name}", f"/{name}"]
    argv += [
        "--bind", valohai_dir, VALOHAI,
        "--ro-bind", f"{valohai_dir}/inputs", f"{VALOHAI}/inputs",
        "--chdir", f"{VALOHAI}/repository",
    ]  # fmt: skip
    return argv


@functools.cache
def _mount_point() -> bool:
    """Whether the host has an empty ``/valohai`` to mount onto (made here when we may)."""
    try:
        os.makedirs(VALOHAI, exist_ok=True)  # an empty mount point; nothing is ever written into it
    except OSError:
        return False
    return os.path.isdir(VALOHAI) and not os.listdir(VALOHAI)


@functools.cache
def _root_entries() -> tuple[tuple[str, str | None], ...]:
    """The host's top-level folders (and symlinks such as /bin → usr/bin), except /valohai."""
    entries: list[tuple[str, str | None]] = []
    for entry in sorted(os.scandir("/"), key=lambda e: e.name):
        if entry.name == "valohai":
            continue
        if entry.is_symlink():
            entries.append((entry.name, os.readlink(entry.path)))
        elif entry.is_dir(follow_symlinks=False):
            entries.append((entry.name, None))
    return tuple(entries)


@functools.cache
def _bwrap_works() -> bool:
    if shutil.which("bwrap") is None:
        return False
    probe = Path("/tmp") if Path("/tmp").is_dir() else Path.home()  # noqa: S108 - a mount point only
    try:
        result = subprocess.run(
            ["bwrap", "--die-with-parent", "--dev-bind", "/", "/", "--chdir", str(probe), "true"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@functools.cache
def _unshare_works() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    try:
        os.makedirs(VALOHAI, exist_ok=True)  # an empty mount point; nothing is ever written into it
        result = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "true"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0
