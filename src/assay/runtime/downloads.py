"""http(s) inputs: downloaded into the artifact store, and asked for again on every use.

    blob, fetched = fetch_url("https://example.org/weights.bin", store=store, cache_dir=cache)
    fetched.as_json()  # {"fetch": "not-modified", "validator": "etag", "etag": '"v1"', …}

The cache maps a URL to the bytes last downloaded from it: ``<cache>/http/<sha256 of the
URL>.json`` names their sha256 (the bytes themselves are in the artifact store), when they
were downloaded, and the validators the server sent with them (``ETag``, ``Last-Modified``).
Every use asks the server again, with a conditional request when there is a validator, and
says what happened (``Fetched.fetch``, recorded with the execution's input):

    downloaded     no cached copy could be validated (the first use, or no validator): a GET
    not-modified   the server answered 304 to If-None-Match / If-Modified-Since: the cached bytes
    changed        the server answered the conditional request with new bytes
    unreachable    the server could not be reached: the cached copy, unvalidated, and a warning

A ``Last-Modified`` less than a second older than the response's ``Date`` is kept in the
record but not used (RFC 9110 §8.8.2.2: the resource may have changed again within that
second). A cache entry whose blob is missing from the store, or damaged, is downloaded again.
An error status (404, 500…) is an error whether or not a copy is cached: the server answered.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from assay.artifacts import ArtifactStore, Blob
from assay.errors import InvalidRequest, StorageError

DOWNLOADED, NOT_MODIFIED, CHANGED, UNREACHABLE = "downloaded", "not-modified", "changed", "unreachable"


@dataclass(frozen=True)
class Fetched:
    """How the bytes of one http(s) input were obtained this time."""

    fetch: str  # DOWNLOADED, NOT_MODIFIED, CHANGED or UNREACHABLE
    #: what the conditional request asked with ("etag", "last-modified"), or None: it asked nothing
    validator: str | None
    etag: str | None
    last_modified: str | None
    downloaded_at: str  # ISO 8601 (UTC): when the bytes used were downloaded
    error: str | None = None  # why the server could not be asked (UNREACHABLE)

    def as_json(self) -> dict[str, Any]:
        record = asdict(self)
        if self.error is None:
            del record["error"]
        return record


@dataclass(frozen=True)
class _Entry:
    """The cache's record of the bytes last downloaded from a URL (its ``.json`` file)."""

    sha256: str
    size: int
    etag: str | None
    last_modified: str | None
    #: the Last-Modified was at least a second older than the response: it may validate
    last_modified_usable: bool
    downloaded_at: str


def fetch_url(
    url: str, *, store: ArtifactStore, cache_dir: Path, on_warning: Callable[[str], None] | None = None
) -> tuple[Blob, Fetched]:
    """The bytes ``url`` gives now (stored), and how they were obtained; ``InvalidRequest`` if none."""
    import httpx

    folder = cache_dir / "http"
    folder.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(url.encode()).hexdigest()
    entry_path = folder / f"{key}.json"
    # One fetch per URL at a time: parallel executions of a run may want the same file.
    with open(folder / f"{key}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entry = _read_entry(entry_path, store)
        headers, validator = _conditions(entry)
        try:
            with httpx.stream("GET", url, headers=headers, follow_redirects=True, timeout=60.0) as response:
                if entry is not None and validator is not None and response.status_code == 304:
                    return Blob(entry.sha256, entry.size), Fetched(
                        NOT_MODIFIED, validator, entry.etag, entry.last_modified, entry.downloaded_at
                    )
                response.raise_for_status()
                fresh = _save(response, folder, store)
        except httpx.TransportError as exc:
            if entry is None:
                raise _failed(url, exc) from exc
            reason = str(exc) or type(exc).__name__
            if on_warning is not None:
                on_warning(
                    f"{url} could not be revalidated ({reason}); the copy downloaded at "
                    f"{entry.downloaded_at} is used, as the execution's record says"
                )
            return Blob(entry.sha256, entry.size), Fetched(
                UNREACHABLE, None, entry.etag, entry.last_modified, entry.downloaded_at, reason
            )
        except httpx.HTTPError as exc:
            raise _failed(url, exc) from exc
        _write_entry(entry_path, fresh)
        (folder / key).unlink(missing_ok=True)  # the bytes an older Assay cached under the URL
    how = CHANGED if validator is not None else DOWNLOADED
    return Blob(fresh.sha256, fresh.size), Fetched(
        how, validator, fresh.etag, fresh.last_modified, fresh.downloaded_at
    )


def _failed(url: str, exc: Exception) -> InvalidRequest:
    return InvalidRequest(f"downloading {url} failed: {exc}", hint="check the URL, or give a local copy")


def _conditions(entry: _Entry | None) -> tuple[dict[str, str], str | None]:
    """The headers of a conditional request for the cached copy, and the validator that decides."""
    if entry is None:
        return {}, None
    headers = {}
    if entry.last_modified is not None and entry.last_modified_usable:
        headers["If-Modified-Since"] = entry.last_modified
    if entry.etag is not None:
        headers["If-None-Match"] = entry.etag  # RFC 9110 §13.2.2: it wins over If-Modified-Since
        return headers, "etag"
    return headers, "last-modified" if headers else None


def _save(response: Any, folder: Path, store: ArtifactStore) -> _Entry:
    """Stream a 200 response into the store; the cache entry describing its bytes."""
    handle, name = tempfile.mkstemp(dir=folder, suffix=".part")
    partial = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in response.iter_bytes(1 << 20):
                out.write(chunk)
        blob = store.put(partial, adopt=True)  # the file is ours alone: moved, not copied
    finally:
        partial.unlink(missing_ok=True)
    now = datetime.now(UTC)
    etag = response.headers.get("ETag")
    last_modified = response.headers.get("Last-Modified")
    return _Entry(
        sha256=blob.sha256,
        size=blob.size,
        etag=etag,
        last_modified=last_modified,
        last_modified_usable=_usable(last_modified, response.headers.get("Date"), now),
        downloaded_at=now.isoformat(timespec="seconds"),
    )


def _usable(last_modified: str | None, date: str | None, now: datetime) -> bool:
    """A Last-Modified at least one second older than the response (RFC 9110 §8.8.2.2)."""
    if last_modified is None:
        return False
    try:
        modified = parsedate_to_datetime(last_modified)
        answered = parsedate_to_datetime(date) if date else now
        return (answered - modified).total_seconds() >= 1
    except (TypeError, ValueError):
        return False


def _read_entry(path: Path, store: ArtifactStore) -> _Entry | None:
    """The cached copy, if its record reads and its bytes are intact in the store."""
    try:
        entry = _Entry(**json.loads(path.read_text(encoding="utf-8")))
        store.verify(entry.sha256)
    except (OSError, ValueError, TypeError, StorageError):
        return None
    return entry


def _write_entry(path: Path, entry: _Entry) -> None:
    partial = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(asdict(entry)), encoding="utf-8")
    partial.replace(path)
