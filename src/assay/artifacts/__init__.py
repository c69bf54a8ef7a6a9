"""Bytes addressed by hash: put / verify / materialize; local folder now, fsspec URLs beyond."""

from assay.artifacts.backend import Backend, LocalBackend
from assay.artifacts.store import ArtifactStore, Blob, hash_file

__all__ = ["ArtifactStore", "Backend", "Blob", "LocalBackend", "hash_file"]
