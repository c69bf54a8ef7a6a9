"""The content-addressed store: stored once, placed by link, read-only, corruption refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from assay.artifacts import ArtifactStore, hash_file
from assay.errors import StorageError


def test_same_bytes_are_stored_once(tmp_path: Path) -> None:
    store = ArtifactStore.local(tmp_path / "store")
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(b"identical")
    first = store.put(tmp_path / "a")
    second = store.put(tmp_path / "b")
    assert first == second
    assert first.sha256 == hash_file(tmp_path / "a").sha256
    assert len([p for p in (tmp_path / "store").rglob("*") if p.is_file()]) == 1
    # an outside file is copied, never linked: the user's file stays theirs and writable
    assert (tmp_path / "a").stat().st_nlink == 1
    assert (tmp_path / "a").stat().st_mode & stat.S_IWUSR


def test_adopted_outputs_are_moved_into_the_store_and_made_read_only(tmp_path: Path) -> None:
    store = ArtifactStore.local(tmp_path / "store")
    output = tmp_path / "model.bin"
    output.write_bytes(b"weights")
    blob = store.put(output, adopt=True)
    assert not output.exists()  # moved: no path outside the store shares the blob's inode
    stored = store.verify(blob.sha256)
    assert stored.stat().st_nlink == 1
    assert stat.S_IMODE(stored.stat().st_mode) == 0o444
    placed = tmp_path / "exec" / "inputs" / "model" / "model.bin"
    assert store.materialize(blob.sha256, placed) == "hardlink"
    assert placed.read_bytes() == b"weights"
    assert stat.S_IMODE(placed.stat().st_mode) == 0o444
    copied = tmp_path / "unsandboxed" / "model.bin"
    assert store.materialize(blob.sha256, copied, link=False) in ("reflink", "copy")
    assert copied.stat().st_ino != stored.stat().st_ino


def test_a_file_still_being_written_is_stored_as_copied(tmp_path: Path) -> None:
    store = ArtifactStore.local(tmp_path / "store")
    output = tmp_path / "log.bin"
    output.write_bytes(b"first")
    blob = store.put(output)  # not adopted: copied, hashed after copying
    with open(output, "r+b") as handle:
        handle.write(b"EVIL!")
    assert store.read_bytes(blob.sha256) == b"first"
    assert output.stat().st_nlink == 1


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="needs a second filesystem (/dev/shm)")
def test_across_filesystems_blobs_are_copied(tmp_path: Path) -> None:
    store = ArtifactStore.local(tmp_path / "store")
    (tmp_path / "f").write_bytes(b"data")
    blob = store.put(tmp_path / "f")
    other = Path("/dev/shm") / f"assay-test-{os.getpid()}-{tmp_path.name}"
    try:
        method = store.materialize(blob.sha256, other / "f")
        assert method in ("copy", "reflink")
        assert (other / "f").read_bytes() == b"data"
        assert stat.S_IMODE((other / "f").stat().st_mode) == 0o444
    finally:
        (other / "f").unlink(missing_ok=True)
        other.rmdir()


def test_a_changed_blob_is_refused(tmp_path: Path) -> None:
    store = ArtifactStore.local(tmp_path / "store")
    (tmp_path / "f").write_bytes(b"original")
    blob = store.put(tmp_path / "f")
    path = tmp_path / "store" / "sha256" / blob.sha256[:2] / blob.sha256[2:]
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    with pytest.raises(StorageError, match="is corrupt") as raised:
        store.materialize(blob.sha256, tmp_path / "out")
    assert raised.value.hint
    assert "re-run" in raised.value.hint
    assert not (tmp_path / "out").exists()


def test_a_missing_blob_is_refused(tmp_path: Path) -> None:
    store = ArtifactStore.local(tmp_path / "store")
    with pytest.raises(StorageError, match="missing"):
        store.verify("0" * 64)
