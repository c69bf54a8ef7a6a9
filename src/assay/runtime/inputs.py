"""Inputs by URI → files in ``inputs/<name>/``, each one a datum, placed read-only by link.

Accepted URIs: a local path (relative to the project; globs with ``*``, ``?``, ``**``; a
folder means every file under it), ``file://``, ``http(s)://`` (cached in
``.assay/cache/http`` and revalidated on every use: runtime/downloads.py), ``datum://<id>``,
``datum://<alias>``, and the files of a model or
dataset version: ``model://NAME/VERSION|ALIAS|latest``, ``dataset://NAME/VERSION|ALIAS|latest``
(recorded under the version they resolved to, never the alias). ``{parameter:NAME}`` inside
a URI is replaced by that parameter's value.

Resolution runs in three phases so that bad input changes nothing:

1. ``plan_inputs`` checks everything that can be checked without side effects — unknown or
   missing inputs, unknown parameters in URIs, paths that do not exist, unknown datums,
   file names that would escape their folder — and reports every problem at once;
2. ``fetch_inputs`` downloads, stores and verifies the bytes; ``arriving_files`` hands them to
   the catalog, which records their datums as the execution starts (``catalog/lifecycle.py``);
3. ``place_inputs`` links the verified blobs into the execution's folder.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from assay.artifacts import ArtifactStore, Blob
from assay.catalog import Catalog
from assay.catalog.input_refs import SCHEMES, ResolvedRef, resolve_input_refs
from assay.catalog.lifecycle import ArrivingFile
from assay.errors import AssayError, InvalidRequest, NotFound
from assay.project import STATE_DIR
from assay.runtime import downloads
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
    #: how an http(s) file was fetched (``downloads.Fetched``), set by ``fetch_inputs``
    http: Mapping[str, Any] | None = None


def command_line_uri(name: str, uri: str, cwd: Path) -> str:
    """The URI of ``--input NAME=URI`` as typed: a relative path is relative to ``cwd``.

    An empty one is refused: it would name ``cwd`` itself, and so every file under it.
    """
    if not uri.strip():
        raise InvalidRequest(
            f"--input {name}= names no file",
            hint=f"give --input {name}=PATH (or a URI), or leave --input {name} out for its default",
        )
    if "://" in uri or Path(uri).is_absolute():
        return uri
    return str(cwd / uri)


def plan_inputs(
    step: Step,
    given: Mapping[str, Sequence[str]],
    parameters: Mapping[str, Any],
    *,
    base_dir: Path,
    catalog: Catalog,
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
    found = resolve_input_refs(catalog, project_id, _catalog_refs(step, given, parameters))
    for name, spec_input in step.inputs.items():
        uris = list(given[name]) if name in given else list(spec_input.default)
        sources: list[Source] = []
        for uri in uris:
            try:
                resolved = _substitute(uri, parameters)
                sources.extend(_sources(resolved, spec_input, base_dir, found))
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


def _catalog_refs(
    step: Step, given: Mapping[str, Sequence[str]], parameters: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """The (scheme, reference) of every URI that names the catalog, to look them up in one read."""
    refs = []
    for name, spec_input in step.inputs.items():
        for uri in given.get(name, spec_input.default):
            try:
                resolved = _substitute(uri, parameters)
            except AssayError:
                continue  # reported when the input is planned
            scheme = _scheme(resolved)
            if scheme in SCHEMES:
                refs.append((scheme, resolved))
    return refs


def _scheme(uri: str) -> str:
    found = _SCHEME.match(uri)
    return found.group(1).lower() if found else ""


def _substitute(uri: str, parameters: Mapping[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in parameters:
            raise InvalidRequest(f"{uri!r} names parameter {name!r}, which has no value")
        found = parameters[name]
        return ",".join(map(str, found)) if isinstance(found, list) else str(found)

    return _PARAMETER.sub(value, uri)


def _sources(
    uri: str, spec_input: Input, base_dir: Path, found: Mapping[str, ResolvedRef | AssayError]
) -> list[Source]:
    scheme = _scheme(uri)
    if scheme in ("http", "https"):
        return [Source(uri=uri, name=_url_name(uri, spec_input.keep_directories), url=uri)]
    if scheme == "datum":
        looked_up = found[uri]
        if isinstance(looked_up, NotFound):
            raise InvalidRequest(looked_up.message) from looked_up
        if isinstance(looked_up, AssayError):
            raise looked_up
        datum_name, datum = looked_up.files[0]
        name = datum_name if spec_input.keep_directories != "none" else PurePosixPath(datum_name).name
        return [
            Source(uri=looked_up.uri, name=name, datum_id=datum.id, sha256=datum.sha256,
                   metadata=dict(datum.metadata))
        ]  # fmt: skip
    if scheme in ("model", "dataset"):
        return _catalog_sources(uri, spec_input, found[uri])
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


def _catalog_sources(uri: str, spec_input: Input, looked_up: ResolvedRef | AssayError) -> list[Source]:
    """The files of the model or dataset version ``uri`` names now, under its resolved URI."""
    if isinstance(looked_up, NotFound):
        message = f"{looked_up.message} ({looked_up.hint})" if looked_up.hint else looked_up.message
        raise InvalidRequest(message) from looked_up
    if isinstance(looked_up, AssayError):
        raise looked_up
    resolved, files = looked_up.uri, looked_up.files
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
            metadata=dict(datum.metadata),
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
        _check_local(uri, matches, base_dir)
        root = base / _wildcard_root(Path(pattern))
        return [_local_source(str(m), m, root, spec_input, base_dir) for m in matches]
    if path.is_dir():
        state = (base_dir / STATE_DIR).resolve()
        if state.is_dir() and state.is_relative_to(path.resolve()):
            raise InvalidRequest(
                f"{uri!r} holds Assay's own state ({STATE_DIR}/): name the folders or files in it "
                "to give instead, or a glob (a glob leaves hidden folders out)"
            )
        files = sorted(p for p in path.rglob("*") if p.is_file())
        if not files:
            raise InvalidRequest(f"{uri!r} is an empty folder")
        _check_local(uri, files, base_dir)
        return [_local_source(str(f), f, path, spec_input, base_dir) for f in files]
    if path.is_file():
        _check_local(uri, [path], base_dir)
        return [_local_source(uri, path, path.parent, spec_input, base_dir)]
    raise InvalidRequest(f"{uri!r}: no such file or folder ({path})")


def not_utf8_name(text: str) -> str | None:
    """``None`` if ``text`` (a file name, as ``os`` decodes it) is UTF-8; else ``text`` with its
    other bytes shown as escapes (``b"caf\\xe9.txt"`` → ``caf\\xe9.txt``), to name the file.

    Such a name cannot be recorded (the catalog and every JSON file Assay writes hold text)."""
    try:
        text.encode("utf-8")
        return None
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that no byte decoded to
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _check_local(uri: str, files: Sequence[Path], base_dir: Path) -> None:
    """Refuse files whose names cannot be recorded, and files of Assay's own state."""
    bad = [shown for shown in map(not_utf8_name, map(str, files)) if shown is not None]
    if bad:
        more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
        raise InvalidRequest(
            f"{uri!r}: these file names are not UTF-8, and names are recorded as text: "
            f"{', '.join(bad[:10])}{more}; rename them (or leave them out with a glob)"
        )
    state = (base_dir / STATE_DIR).resolve()
    if any(f.resolve().is_relative_to(state) for f in files):
        raise InvalidRequest(
            f"{uri!r} names files of Assay's own state ({STATE_DIR}/); give an execution's "
            "outputs as datum://ID (`assay executions outputs N` lists them)"
        )


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
    plan: Mapping[str, list[Source]],
    *,
    store: ArtifactStore,
    cache_dir: Path,
    on_warning: Callable[[str], None] | None = None,
) -> dict[str, list[tuple[Source, Blob]]]:
    """Download, store and verify every planned file. Bytes only: no database writes.

    An http(s) file comes back with how it was fetched in its ``Source.http``; ``on_warning``
    hears when a cached copy is used because its server could not be reached."""
    fetched: dict[str, list[tuple[Source, Blob]]] = {}
    for input_name, sources in plan.items():
        files = fetched.setdefault(input_name, [])
        for source in sources:
            if source.sha256 is not None:
                path = store.verify(source.sha256)
                files.append((source, Blob(source.sha256, path.stat().st_size)))
                continue
            if source.path is not None:
                files.append((source, store.put(source.path)))
                continue
            blob, fetched_now = downloads.fetch_url(
                str(source.url), store=store, cache_dir=cache_dir, on_warning=on_warning
            )
            files.append((dataclasses.replace(source, http=fetched_now.as_json()), blob))
    return fetched


def arriving_files(fetched: Mapping[str, list[tuple[Source, Blob]]]) -> dict[str, list[ArrivingFile]]:
    """Every fetched file, by input, for the catalog to give each its datum as the execution starts."""
    return {
        input_name: [
            ArrivingFile(
                source.name,
                source.uri,
                blob.sha256,
                blob.size,
                source=source.url or str(source.path),
                datum_id=source.datum_id,
                metadata=source.metadata,
                http=source.http,
            )
            for source, blob in files
        ]
        for input_name, files in fetched.items()
    }


def place_inputs(
    files: Mapping[str, Sequence[tuple[str, str]]],
    inputs_dir: Path,
    store: ArtifactStore,
    *,
    link: bool = True,
) -> None:
    """Link every fetched file — (name, sha256) per input — into ``inputs_dir/<input>/<name>``
    (its bytes were verified in ``fetch_inputs``). ``link=False`` without a sandbox, where
    nothing keeps a step from writing to its inputs: each is a reflink or a copy then."""
    for input_name, found in files.items():
        folder = inputs_dir / input_name
        folder.mkdir(exist_ok=True)
        for name, sha256 in found:
            store.materialize(sha256, folder / name, verify=False, link=link)
