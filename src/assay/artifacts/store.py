"""Content-addressed storage: the same bytes are stored once, under their sha256.

Storage comes in layers: ``Backend`` moves raw bytes; ``ArtifactStore`` hashes, verifies and
places them; the catalog gives them meaning (datums). A blob whose bytes no longer match its
digest is never handed to an execution.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from assay.artifacts.backend import Backend, LocalBackend, place_link
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

        ``adopt`` says the file belongs to Assay (an execution's output): it may be linked
        into the store instead of copied, and it becomes read-only.
        """
        blob = hash_file(path)
        if not self.backend.has(blob.sha256) or not self._intact(blob.sha256):
            # NOTE: a stored blob whose bytes changed is replaced by the good bytes in hand.
            self.backend.put_file(path, blob.sha256, adopt=adopt)
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

    def materialize(self, digest: str, destination: Path, *, verify: bool = True) -> str:
        """Place a blob at ``destination`` read-only; returns how (hardlink/reflink/copy).

        ``verify=False`` is for callers that verified the blob moments before.
        """
        source = self.verify(digest) if verify else self.backend.local_path(digest)
        if source is None:
            raise StorageError(f"blob sha256:{digest} is not on this host", hint="fetch it first")
        destination.parent.mkdir(parents=True, exist_ok=True)
        return place_link(source, destination)

    def read_bytes(self, digest: str) -> bytes:
        self.verify(digest)
        with self.backend.open(digest) as handle:
            return handle.read()
