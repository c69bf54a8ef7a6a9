"""The caller's working tree as a tar file, for ``assay pipeline run --adhoc`` against a server.

::

    with working_tree.archive(Path.cwd()) as tarball:
        digest = client.upload_tree(tarball)["digest"]

What goes in: in a git repository, the files git tracks plus the untracked files it does not
ignore (``git ls-files --cached --others --exclude-standard``), as they are on disk now —
uncommitted changes included, which is the point of ``--adhoc``; elsewhere, every file of the
folder. ``.git/`` and ``.assay/`` never go in (the server refuses them too).
"""

from __future__ import annotations

import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from assay.errors import InvalidRequest

_LEFT_OUT = (".git", ".assay")


@contextmanager
def archive(root: Path) -> Iterator[Path]:
    """A temporary tar file of ``root``'s tree (deleted when the block ends)."""
    root = root.resolve()
    files = tree_files(root)
    if "valohai.yaml" not in files:
        raise InvalidRequest(
            f"{root} has no valohai.yaml to upload",
            hint="run `assay pipeline run --adhoc` in the project's folder",
        )
    descriptor, name = tempfile.mkstemp(prefix="assay-tree-", suffix=".tar")
    os.close(descriptor)
    path = Path(name)
    try:
        with tarfile.open(path, "w") as tar:
            for relative in files:
                # recursive=False: a symlink goes in as a link, a folder only through its files
                tar.add(root / relative, arcname=relative, recursive=False)
        yield path
    finally:
        path.unlink(missing_ok=True)


def tree_files(root: Path) -> list[str]:
    """The tree's files, relative to ``root`` and sorted (module docstring says which)."""
    listed = _git_files(root)
    if listed is None:
        listed = []
        for folder, folders, names in os.walk(root):
            folders[:] = [name for name in folders if name not in _LEFT_OUT]  # os.walk skips them
            listed.extend((Path(folder) / name).relative_to(root).as_posix() for name in names)
    return sorted(
        relative
        for relative in listed
        if relative.split("/", 1)[0] not in _LEFT_OUT and os.path.lexists(root / relative)
    )


def _git_files(root: Path) -> list[str] | None:
    """What git lists under ``root`` (None: ``root`` is not in a git repository, or no git)."""
    try:
        found = subprocess.run(
            ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if found.returncode != 0:
        return None
    # NOTE: a tracked file deleted on disk is still listed; lexists() above leaves it out.
    return sorted({name for name in found.stdout.decode("utf-8", "surrogateescape").split("\0") if name})
