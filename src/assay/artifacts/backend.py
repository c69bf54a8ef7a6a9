"""Where blobs live. A backend stores opaque bytes under a sha256 digest; nothing more.

``LocalBackend`` keeps them in a folder (``.assay/store`` by default). A backend for an fsspec
URL (S3, GCS, …) implements the same four methods; ``ArtifactStore`` needs nothing else.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import uuid
from pathlib import Path
from typing import BinaryIO, Protocol

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
_FICLONE = 0x40049409  # linux/fs.h: share the source's extents (btrfs, xfs); no bytes copied


class Backend(Protocol):
    def has(self, digest: str) -> bool: ...

    def put_file(self, source: Path, digest: str, *, adopt: bool) -> None:
        """Store ``source`` under ``digest``. With ``adopt`` the file is ours and nobody writes it
        any more: it is moved into the store (its path is gone afterwards), not copied."""

    def open(self, digest: str) -> BinaryIO: ...

    def local_path(self, digest: str) -> Path | None:
        """A path on this host holding the blob, for linking into executions; None if remote."""


class LocalBackend:
    """Blobs as read-only files ``<root>/sha256/ab/cdef…``, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        return self.root / "sha256" / digest[:2] / digest[2:]

    def has(self, digest: str) -> bool:
        return self.path(digest).exists()

    def local_path(self, digest: str) -> Path | None:
        return self.path(digest)

    def open(self, digest: str) -> BinaryIO:
        return open(self.path(digest), "rb")

    def put_file(self, source: Path, digest: str, *, adopt: bool) -> None:
        final = self.path(digest)
        final.parent.mkdir(parents=True, exist_ok=True)
        temporary = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        try:
            if adopt:
                try:
                    os.rename(source, temporary)  # NOTE: moved, never linked: no path shares the inode
                except OSError:
                    place_copy(source, temporary)
            else:
                place_copy(source, temporary)
            os.chmod(temporary, READ_ONLY)
            os.replace(temporary, final)  # atomic; a concurrent writer of the same digest is harmless
        finally:
            temporary.unlink(missing_ok=True)


def place_copy(source: Path, destination: Path) -> str:
    """Copy ``source`` to a new file ``destination``: reflink when the filesystem can, else bytes."""
    with open(source, "rb") as reader, open(destination, "xb") as writer:
        try:
            fcntl.ioctl(writer.fileno(), _FICLONE, reader.fileno())
            return "reflink"
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EXDEV, errno.EINVAL, errno.ENOTTY, errno.EBADF):
                raise
        shutil.copyfileobj(reader, writer, 1 << 20)
    return "copy"


def place_link(source: Path, destination: Path) -> str:
    """Put ``source`` at ``destination`` without copying bytes when possible.

    A hard link on the same filesystem; a reflink across filesystems that share extents;
    a copy only when neither works.
    """
    try:
        os.link(source, destination)
        return "hardlink"
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EACCES):
            raise
    method = place_copy(source, destination)
    os.chmod(destination, READ_ONLY)
    return method
