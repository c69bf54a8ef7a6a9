"""Bytes handed out of the artifact store: an execution's output, a dataset version's file.

A download is verified before it is opened: the blob is hashed again and compared with the
digest the catalog recorded, so bytes changed after they were stored are never served
(``StorageError`` instead). The stream is the caller's to read in chunks and close::

    with open_output(workspace, actor, "#12", "model.bin") as download:
        for chunk in download.chunks():
            ...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from assay.artifacts import ArtifactStore

CHUNK = 1 << 20


@dataclass(frozen=True)
class Download:
    """One stored file, open for reading: its name, digest, size and a binary stream."""

    name: str
    datum: str  # datum://<id>
    sha256: str
    size: int
    stream: BinaryIO

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        while chunk := self.stream.read(size):
            yield chunk

    def close(self) -> None:
        self.stream.close()

    def __enter__(self) -> Download:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


def open_verified(store: ArtifactStore, *, name: str, datum: str, sha256: str, size: int) -> Download:
    """Open the blob ``sha256`` after checking its bytes still hash to it."""
    path = store.verify(sha256)
    return Download(name=name, datum=datum, sha256=sha256, size=size, stream=open(path, "rb"))
