"""Inputs by URI → files in ``inputs/<name>/``, each one a datum, placed read-only by link.

Accepted URIs: a local path (relative to the project; globs with ``*``, ``?``, ``**``; a
folder means every file under it), ``file://``, ``http(s)://`` (downloaded once into
``.assay/cache/http``), ``datum://<id>``, ``datum://<alias>``, and the files of a model or
dataset version: ``model://NAME/VERSION|ALIAS|latest``, ``dataset://NAME/VERSION|ALIAS|latest``
(recorded under the version they resolved to, never the alias). ``{parameter:NAME}`` inside
a URI is replaced by that parameter's value.

Resolution runs in three phases so that bad input changes nothing:

1. ``plan_inputs`` checks everything that can be checked without side effects — unknown or
   missing inputs, unknown parameters in URIs, paths that do not exist, unknown datums,
   file names that would escape their folder — and reports every problem at once;
2. ``fetch_inputs`` downloads, stores and verifies the bytes; ``record_input_datums`` records
   their datums in one short transaction;
3. ``place_inputs`` links the verified blobs into the execution's folder.
"""

from __future__ import annotations

import dataclasses
import fcntl
import glob
import hashlib
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session

from assay.artifacts import ArtifactStore, Blob
from assay.catalog import datasets, datums, models
from assay.errors import AssayError, InvalidRequest, NotFound
from assay.spec.model import Input, Step

_PARAMETER = re.compile(r"\{parameter:([^{}]+)\}")
_WILDCARD = re.compile(r"[*?\[]")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
NOT_YET = {"s3", "gs", "azure", "swift"}


@dataclass(frozen=True)
class Source:
    """One file an input will receive, known before any bytes move."""

    uri: str
    name: str  # relative path inside inputs/<input>/
    path: Path | None = None  # a local file
    url: str | None = None  # an http(s) URL
    datum_id: str | None = None
    sha256: str | None = None
    #: the datum's file metadata, when the datum was looked up already
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class StagedFile:
    input_name: str
    name: str
    uri: str
    sha256: str
    size: int
    datum_id: str
    metadata: dict[str, Any] = field(default_factory=dict)


def plan_inputs(
    step: Step,
    given: Mapping[str, Sequence[str]],
    parameters: Mapping[str, Any],
    *,
    base_dir: Path,
    session: Session,
    project_id: str,
) -> dict[str, list[Source]]:
    problems: list[str] = []
    for name in sorted(set(given) - set(step.inputs)):
        known = ", ".join(step.inputs) or "none"
        problems.append(f"step {step.name!r} has no input {name!r} (its inputs: {known})")
    plan: dict[str, list[Source]] = {}
    for name in step.inputs:
        if not _inside(name) or "/" in name:
            problems.append(f"input name {name!r} must be a plain folder name (no '/', '..' or '\\')")
    if problems:
        raise InvalidRequest("; ".join(problems), hint="nothing was run; fix the inputs and run again")
    for name, spec_input in step.inputs.items():
        uris = list(given[name]) if name in given else list(spec_input.default)
        sources: list[Source] = []
        for uri in uris:
            try:
                resolved = _substitute(uri, parameters)
                sources.extend(_sources(resolved, spec_input, base_dir, session, project_id))
            except AssayError as exc:
                problems.append(f"input {name!r}: {exc.message}")
        if not uris and not spec_input.optional:
            problems.append(f"input {name!r} is required and has no default: give --input {name}=URI")
        sources = _distinct(sources)
        problems.extend(f"input {name!r}: {p}" for p in _check_names(spec_input, sources))
        plan[name] = _apply_filename(spec_input, sources)
    if problems:
        raise InvalidRequest("; ".join(problems), hint="nothing was run; fix the inputs and run again")
    return plan


def _substitute(uri: str, parameters: Mapping[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in parameters:
            raise InvalidRequest(f"{uri!r} names parameter {name!r}, which has no value")
        found = parameters[name]
        return ",".join(map(str, found)) if isinstance(found, list) else str(found)

    return _PARAMETER.sub(value, uri)


def _sources(uri: str, spec_input: Input, base_dir: Path, session: Session, project_id: str) -> list[Source]:
    scheme_match = _SCHEME.match(uri)
    scheme = scheme_match.group(1).lower() if scheme_match else ""
    if scheme in ("http", "https"):
        return [Source(uri=uri, name=_url_name(uri, spec_input.keep_directories), url=uri)]
    if scheme == "datum":
        try:
            datum = datums.get_datum(session, project_id, uri)
        except NotFound as exc:
            raise InvalidRequest(exc.message) from exc
        name = datum.name if spec_input.keep_directories != "none" else PurePosixPath(datum.name).name
        return [
            Source(uri=f"datum://{datum.id}", name=name, datum_id=datum.id, sha256=datum.sha256,
                   metadata=dict(datum.file_metadata))
        ]  # fmt: skip
    if scheme in ("model", "dataset"):
        return _catalog_sources(uri, scheme, spec_input, session, project_id)
    if scheme == "file":
        parts = urlsplit(uri)
        if parts.netloc not in ("", "localhost"):
            raise InvalidRequest(f"{uri!r}: a file:// URI takes an absolute path (file:///data/x.csv)")
        return _local(unquote(parts.path), uri, spec_input, base_dir)
    if scheme:
        later = " yet" if scheme in NOT_YET else ""
        raise InvalidRequest(
            f"{uri!r}: {scheme}:// inputs are not supported{later}; "
            "point the input at a local copy with --input NAME=PATH"
        )
    if not uri.strip():
        raise InvalidRequest("an empty URI names no file; leave the input out instead")
    return _local(uri, uri, spec_input, base_dir)


def _catalog_sources(
    uri: str, kind: str, spec_input: Input, session: Session, project_id: str
) -> list[Source]:
    """The files of the model or dataset version ``uri`` names now, under its resolved URI."""
    try:
        if kind == "model":
            model, version = models.resolve(session, project_id, uri)
            resolved = models.uri(model, version)
            files = [(f.name, d) for f, d in models.files_with_datums(session, version.id)]
        else:
            dataset, dataset_version = datasets.resolve(session, project_id, uri)
            resolved = datasets.uri(dataset, dataset_version)
            files = [(f.name, d) for f, d in datasets.files_of(session, dataset_version.id)]
    except NotFound as exc:
        raise InvalidRequest(f"{exc.message} ({exc.hint})" if exc.hint else exc.message) from exc
    if not files:
        raise InvalidRequest(f"{uri!r} ({resolved}) holds no file")
    root = _common_folder([name for name, _ in files])
    mode = spec_input.keep_directories
    return [
        Source(
            uri=resolved,
            name=name
            if mode == "full"
            else name[len(root) :]
            if mode == "suffix"
            else PurePosixPath(name).name,
            datum_id=datum.id,
            sha256=datum.sha256,
            metadata=dict(datum.file_metadata),
        )
        for name, datum in files
    ]


def _common_folder(names: list[str]) -> str:
    """The folder (with a trailing slash) all ``names`` share, or ''."""
    folders = [PurePosixPath(n).parent.parts for n in names]
    common: list[str] = []
    for parts in zip(*folders, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/".join(common) + "/" if common else ""


def _local(path_text: str, uri: str, spec_input: Input, base_dir: Path) -> list[Source]:
    path = Path(path_text).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    if _WILDCARD.search(path_text):
        # NOTE: only the URI is a pattern; the folder it is relative to may contain [ or *.
        anchor = Path(path_text).expanduser()
        base = Path("/") if anchor.is_absolute() else base_dir
        pattern = str(anchor.relative_to("/")) if anchor.is_absolute() else path_text
        matches = sorted(
            base / p for p in glob.glob(pattern, root_dir=base, recursive=True) if (base / p).is_file()
        )
        if not matches:
            raise InvalidRequest(f"{uri!r} matches no file")
        root = base / _wildcard_root(Path(pattern))
        return [_local_source(str(m), m, root, spec_input, base_dir) for m in matches]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if not files:
            raise InvalidRequest(f"{uri!r} is an empty folder")
        return [_local_source(str(f), f, path, spec_input, base_dir) for f in files]
    if path.is_file():
        return [_local_source(uri, path, path.parent, spec_input, base_dir)]
    raise InvalidRequest(f"{uri!r}: no such file or folder ({path})")


def _wildcard_root(path: Path) -> Path:
    parts: list[str] = []
    for part in path.parts:
        if _WILDCARD.search(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path()


def _local_source(uri: str, path: Path, root: Path, spec_input: Input, base_dir: Path) -> Source:
    mode = spec_input.keep_directories
    if mode == "suffix":
        name = path.relative_to(root).as_posix()
    elif mode == "full":
        resolved = Path(os.path.abspath(path))
        base = Path(os.path.abspath(base_dir))
        name = resolved.relative_to(base).as_posix() if resolved.is_relative_to(base) else resolved.as_posix()
        name = name.lstrip("/")
    else:
        name = path.name
    return Source(uri=uri, name=name, path=path)


def _url_name(url: str, mode: str) -> str:
    parts = urlsplit(url)
    path = unquote(parts.path).strip("/")
    if mode == "full":
        return f"{parts.hostname}/{path}" if path else str(parts.hostname)
    return PurePosixPath(path).name or str(parts.hostname) or "download"


def _apply_filename(spec_input: Input, sources: list[Source]) -> list[Source]:
    if spec_input.filename and len(sources) == 1:
        only = sources[0]
        return [dataclasses.replace(only, name=spec_input.filename)]
    return sources


def _distinct(sources: list[Source]) -> list[Source]:
    """One source per file: the same datum (or the same bytes, or path, or URL) under the same
    name arrives once, however many URIs or edges named it."""
    kept: dict[tuple[str, str], Source] = {}
    for source in sources:
        what = source.sha256 or source.datum_id or source.url or str(source.path)
        kept.setdefault((source.name, what), source)
    return list(kept.values())


def _check_names(spec_input: Input, sources: list[Source]) -> list[str]:
    problems = []
    names = [spec_input.filename] if spec_input.filename and len(sources) == 1 else [s.name for s in sources]
    for name in names:
        if name is None or not _inside(name):
            problems.append(f"file name {name!r} would escape inputs/{spec_input.name}/")
    seen: dict[str, Source] = {}
    for source in sources:
        other = seen.setdefault(source.name, source)
        if other is not source:
            problems.append(
                f"two different files would both be {source.name!r} ({other.uri} and {source.uri}); "
                "keep-directories: suffix (or full) keeps files apart when they come from different "
                "folders, otherwise give them different names"
            )
    return problems


def _inside(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name


def fetch_inputs(
    plan: Mapping[str, list[Source]], *, store: ArtifactStore, cache_dir: Path
) -> dict[str, list[tuple[Source, Blob]]]:
    """Download, store and verify every planned file. Bytes only: no database writes."""
    fetched: dict[str, list[tuple[Source, Blob]]] = {}
    for input_name, sources in plan.items():
        files = fetched.setdefault(input_name, [])
        for source in sources:
            if source.sha256 is not None:
                path = store.verify(source.sha256)
                files.append((source, Blob(source.sha256, path.stat().st_size)))
                continue
            local = source.path if source.path is not None else _download(str(source.url), cache_dir)
            files.append((source, store.put(local)))
    return fetched


def record_input_datums(
    session: Session, fetched: Mapping[str, list[tuple[Source, Blob]]], project_id: str
) -> dict[str, list[StagedFile]]:
    """The datum of every fetched file; files from outside get one on first use."""
    staged: dict[str, list[StagedFile]] = {}
    for input_name, files in fetched.items():
        rows = staged.setdefault(input_name, [])
        for source, blob in files:
            if source.datum_id is not None and source.metadata is not None:
                datum_id, metadata = source.datum_id, dict(source.metadata)  # looked up when planned
            else:
                if source.datum_id is not None:
                    datum = datums.get_datum(session, project_id, source.datum_id)
                else:
                    datum = datums.external_datum(
                        session,
                        project_id=project_id,
                        sha256=blob.sha256,
                        size=blob.size,
                        name=PurePosixPath(source.name).name,
                        source_uri=source.url or str(source.path),
                    )
                datum_id, metadata = datum.id, dict(datum.file_metadata)
            rows.append(
                StagedFile(input_name, source.name, source.uri, blob.sha256, blob.size, datum_id, metadata)
            )
    return staged


def _download(url: str, cache_dir: Path) -> Path:
    import httpx

    folder = cache_dir / "http"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / hashlib.sha256(url.encode()).hexdigest()
    if target.is_file():
        return target
    # One download per URL at a time (parallel executions may want the same file), each into
    # a file of its own that becomes the cache entry only when complete.
    with open(target.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():
            return target
        handle, name = tempfile.mkstemp(dir=folder, suffix=".part")
        partial = Path(name)
        try:
            with (
                os.fdopen(handle, "wb") as out,
                httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as r,
            ):
                r.raise_for_status()
                for chunk in r.iter_bytes(1 << 20):
                    out.write(chunk)
        except httpx.HTTPError as exc:
            partial.unlink(missing_ok=True)
            raise InvalidRequest(
                f"downloading {url} failed: {exc}", hint="check the URL, or give a local copy"
            ) from exc
        partial.replace(target)
    return target


def place_inputs(
    files: Mapping[str, Sequence[tuple[str, str]]], inputs_dir: Path, store: ArtifactStore
) -> None:
    """Link every fetched file — (name, sha256) per input — into ``inputs_dir/<input>/<name>``
    (its bytes were verified in ``fetch_inputs``)."""
    for input_name, found in files.items():
        folder = inputs_dir / input_name
        folder.mkdir(exist_ok=True)
        for name, sha256 in found:
            store.materialize(sha256, folder / name, verify=False)
