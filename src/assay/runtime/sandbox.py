"""A private ``/valohai`` for each execution, and nothing of Assay's state within its reach.

Three ways, chosen by ``ASSAY_SANDBOX`` (``auto`` by default):

* ``bwrap`` — bubblewrap builds new mount and PID namespaces. The execution sees the host
  read-only, its own folder at ``/valohai`` (``inputs/`` read-only), its own scratch space at
  ``/tmp``, and its image's environment and Python layer; Assay's state (the project's
  ``.assay/``, the store, other environments, a catalog file) is hidden behind empty folders.
  When its command ends, the PID namespace ends and every process it started ends with it.
* ``unshare`` — as root without bubblewrap: ``unshare`` with the same namespaces, and mounts
  made by a small shell script to the same effect.
* ``none`` — no namespace: the ``VH_*_DIR`` variables point at the execution's folder, which
  is all that valohai-utils needs; hard-coded ``/valohai`` paths fail, nothing is hidden or
  read-only, and leftover processes are found by their environment. One warning says so.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from assay.errors import InvalidRequest

VALOHAI = "/valohai"
MODES = ("auto", "bwrap", "unshare", "none")

NO_SANDBOX_WARNING = (
    "executions run without a sandbox (ASSAY_SANDBOX=none, or no bubblewrap: `apt-get install "
    "bubblewrap`): a step can read and write Assay's catalog and store, and sees no private "
    "/valohai (scripts that hard-code /valohai/... fail)"
)


@dataclass(frozen=True)
class Confinement:
    """What an execution sees of the host besides the read-only rest and its ``/valohai``."""

    hidden: tuple[Path, ...] = ()  # folders shown empty: Assay's state, other environments
    hidden_files: tuple[Path, ...] = ()  # files shown empty: a catalog database kept elsewhere
    read_only: tuple[Path, ...] = ()  # shown again, read-only (the image's environment)
    writable: tuple[Path, ...] = ()  # shown again, writable (the execution's own Python layer)
    scratch: Path | None = None  # seen as /tmp


@dataclass(frozen=True)
class Sandbox:
    mode: str  # "bwrap" | "unshare" | "none"

    @property
    def private(self) -> bool:
        """Whether executions get the namespaces: a private /valohai, the host read-only, their
        processes ended with their command."""
        return self.mode != "none"

    def wrap(self, argv: list[str], valohai_dir: Path, confinement: Confinement = Confinement()) -> list[str]:
        """``argv`` run with ``valohai_dir`` seen at ``/valohai`` (and as cwd its repository)."""
        if self.mode == "bwrap":
            return [*_bwrap_prefix(valohai_dir, confinement), "--", *argv]
        if self.mode == "unshare":
            return [
                "unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private",
                "--", "/bin/sh", "-c", _unshare_script(valohai_dir, confinement), "assay-sandbox", *argv,
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


def _existing(paths: tuple[Path, ...], kind: str) -> list[str]:
    check = os.path.isdir if kind == "dir" else os.path.isfile
    return [str(p) for p in paths if check(p)]


def _bwrap_prefix(valohai_dir: Path, confinement: Confinement) -> list[str]:
    argv = ["bwrap", "--die-with-parent", "--unshare-pid"]
    whole_root = _mount_point()
    if whole_root:
        # NOTE: one bind of the whole host is half the cost of one per top-level folder (4 ms
        # less per execution), and needs only the empty /valohai mount point to exist.
        argv += ["--ro-bind", "/", "/"]
    else:
        argv += ["--tmpfs", "/"]
        for name, target in _root_entries():
            if target is not None:
                argv += ["--symlink", target, f"/{name}"]
            else:
                argv += ["--ro-bind", f"/{name}", f"/{name}"]
    argv += ["--dev-bind", "/dev", "/dev", "--proc", "/proc"]
    if confinement.scratch is not None:
        argv += ["--bind", str(confinement.scratch), "/tmp"]  # noqa: S108 - the execution's own
    hidden = _existing(confinement.hidden, "dir")
    for folder in hidden:
        argv += ["--tmpfs", folder]
    for file in _existing(confinement.hidden_files, "file"):
        argv += ["--ro-bind", "/dev/null", file]
    for folder in _existing(confinement.read_only, "dir"):
        argv += ["--ro-bind", folder, folder]
    for folder in _existing(confinement.writable, "dir"):
        argv += ["--bind", folder, folder]
    for folder in hidden:
        argv += ["--remount-ro", folder]
    argv += [
        "--bind", str(valohai_dir), VALOHAI,
        "--ro-bind", f"{valohai_dir}/inputs", f"{VALOHAI}/inputs",
        "--chdir", f"{VALOHAI}/repository",
    ]  # fmt: skip
    if not whole_root:
        argv += ["--remount-ro", "/"]
    return argv


def _unshare_script(valohai_dir: Path, confinement: Confinement) -> str:
    """Mounts that give, in ``unshare``'s new namespaces, what ``_bwrap_prefix`` gives.

    Whatever must show through a hidden folder (or is itself inside one) is first bound into
    a staging tmpfs on the empty ``/valohai``; then every mount is made read-only, the hidden
    folders are covered, and the staged trees are bound where they belong.
    """
    q = shlex.quote
    staged: list[tuple[str, str, bool]] = [(str(valohai_dir), VALOHAI, True)]  # (source, target, writable)
    if confinement.scratch is not None:
        staged.append((str(confinement.scratch), "/tmp", True))  # noqa: S108 - the execution's own
    staged += [(p, p, False) for p in _existing(confinement.read_only, "dir")]
    staged += [(p, p, True) for p in _existing(confinement.writable, "dir")]
    lines = ["set -e", "mount -t tmpfs -o size=64k,mode=700 assay-stage /valohai"]
    for number, (source, _, _) in enumerate(staged):
        lines += [f"mkdir /valohai/.s{number}", f"mount --bind {q(source)} /valohai/.s{number}"]
    # every mount but the kernel's and the staging ones becomes read-only (per mount, not the
    # file system: the host is not affected)
    lines.append(
        "awk '{print $5}' /proc/self/mountinfo | while read -r m; do m=$(printf '%b' \"$m\"); "
        'case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|/valohai|/valohai/*) ;; '
        '*) mount -o remount,bind,ro "$m" 2>/dev/null || true ;; esac; done'
    )
    moved = staged[1:]
    if confinement.scratch is not None:
        lines.append("mount --bind /valohai/.s1 /tmp")  # first: what is below /tmp is bound over it
    hidden = _existing(confinement.hidden, "dir")
    lines += [f"mkdir -p {q(h)} && mount -t tmpfs -o size=64k assay-hidden {q(h)}" for h in hidden]
    files = _existing(confinement.hidden_files, "file")
    lines += [f"if [ -f {q(f)} ]; then mount --bind /dev/null {q(f)}; fi" for f in files]
    for number, (_, target, writable) in enumerate(moved, 1):
        if target == "/tmp":  # noqa: S108 - bound above
            continue
        lines += [f"mkdir -p {q(target)}", f"mount --bind /valohai/.s{number} {q(target)}"]
        if not writable:
            lines.append(f"mount -o remount,bind,ro {q(target)}")
    lines += [f"mount -o remount,ro {q(folder)}" for folder in hidden]
    lines += [
        "mount --bind /valohai/.s0 /valohai",
        "mount --bind /valohai/inputs /valohai/inputs",
        "mount -o remount,bind,ro /valohai/inputs",
        "set +e",
        'cd /valohai/repository && exec "$@"',
    ]
    return "\n".join(lines)


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
        if entry.name in ("valohai", "proc", "dev"):
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
            ["bwrap", "--die-with-parent", "--unshare-pid", "--ro-bind", "/", "/", "--proc", "/proc",
             "--chdir", str(probe), "true"],
            capture_output=True,
            timeout=10,
            check=False,
        )  # fmt: skip
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
            ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private", "true"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0
