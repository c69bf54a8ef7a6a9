"""Content-addressed storage: the same bytes are stored once, under their sha256.

Storage comes in layers: ``Backend`` moves raw bytes; ``ArtifactStore`` hashes, verifies and
places them; the catalog gives them meaning (datums). A blob whose bytes no longer match its
digest is never handed to an execution.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from assay.artifacts.backend import READ_ONLY, Backend, LocalBackend, place_copy, place_link
from assay.errors import StorageError


@dataclass(frozen=True)
class Blob:
    sha256: str
    size: int


def hash_file(path: Path) -> Blob:
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return Blob(digest, path.stat().st_size)


class ArtifactStore:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    @classmethod
    def local(cls, root: Path) -> ArtifactStore:
        return cls(LocalBackend(root))

    def put(self, path: Path, *, adopt: bool = False) -> Blob:
        """Hash ``path`` and store it unless those bytes are stored already.

        ``adopt`` says the file belongs to Assay and no process can write it any more (an
        output of an execution whose processes have all ended): it is moved into the store.
        Otherwise the bytes stored are a copy, hashed after copying: whatever writes to
        ``path`` meanwhile or later, the blob holds exactly the bytes of its digest.
        """
        blob = hash_file(path)
        if self.backend.has(blob.sha256) and self._intact(blob.sha256):
            return blob
        # NOTE: a stored blob whose bytes changed is replaced by the good bytes in hand.
        if adopt:
            self.backend.put_file(path, blob.sha256, adopt=True)
            return blob
        staging = getattr(self.backend, "root", None)
        if staging is not None:
            Path(staging).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=staging, prefix=".put-") as folder:
            copy = Path(folder) / "blob"
            place_copy(path, copy)
            blob = hash_file(copy)
            if not (self.backend.has(blob.sha256) and self._intact(blob.sha256)):
                self.backend.put_file(copy, blob.sha256, adopt=True)
        return blob

    def put_stream(self, reader: BinaryIO, *, chunk: int = 1 << 20) -> Blob:
        """Store the bytes ``reader`` gives up to its end, hashed as they stream past.

        For an upload: at most one ``chunk`` is in memory at a time, whatever the size. The
        bytes go to a staging file beside the store, and are moved in under their digest.
        """
        staging = Path(getattr(self.backend, "root", None) or tempfile.gettempdir())
        staging.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=staging, prefix=".put-") as folder:
            copy = Path(folder) / "blob"
            digest, size = hashlib.sha256(), 0
            with open(copy, "xb") as writer:
                while block := reader.read(chunk):
                    digest.update(block)
                    writer.write(block)
                    size += len(block)
            blob = Blob(digest.hexdigest(), size)
            if not (self.backend.has(blob.sha256) and self._intact(blob.sha256)):
                self.backend.put_file(copy, blob.sha256, adopt=True)
        return blob

    def _intact(self, digest: str) -> bool:
        path = self.backend.local_path(digest)
        return path is None or hash_file(path).sha256 == digest

    def verify(self, digest: str) -> Path:
        """The blob's local path after re-hashing it; ``StorageError`` if missing or altered."""
        path = self.backend.local_path(digest)
        if path is None or not path.exists():
            raise StorageError(
                f"blob sha256:{digest} is missing from the artifact store",
                hint="re-run the execution that produced it, or restore the store folder",
            )
        actual = hash_file(path).sha256
        if actual != digest:
            raise StorageError(
                f"blob sha256:{digest} at {path} is corrupt: its bytes now hash to sha256:{actual}. "
                "It was changed after it was stored, so it is not handed to any execution",
                hint=f"delete {path} and re-run the execution that produced it (or re-add the file)",
            )
        return path

    def materialize(self, digest: str, destination: Path, *, verify: bool = True, link: bool = True) -> str:
        """Place a blob at ``destination`` read-only; returns how (hardlink/reflink/copy).

        ``verify=False`` is for callers that verified the blob moments before. ``link=False``
        when something may write to ``destination`` (an execution without a sandbox): a reflink
        or a copy then, never the blob's own inode.
        """
        source = self.verify(digest) if verify else self.backend.local_path(digest)
        if source is None:
            raise StorageError(f"blob sha256:{digest} is not on this host", hint="fetch it first")
        destination.parent.mkdir(parents=True, exist_ok=True)
        if not link:
            method = place_copy(source, destination)
            destination.chmod(READ_ONLY)
            return method
        return place_link(source, destination)

    def read_bytes(self, digest: str) -> bytes:
        self.verify(digest)
        with self.backend.open(digest) as handle:
            return handle.read()
