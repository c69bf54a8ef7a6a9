"""Data arriving from outside: files on this machine become a new dataset version.

    uri = create_dataset_version(
        NewDatasetVersion("domain-news", "v3", (Path("news/"),), aliases=("candidate",)),
        catalog=catalog, store=store, project_id=project_id, actor="alice",
    )

Order of work, chosen so that bad input changes nothing: every path and name is checked
(all problems at once), the version's name is checked to be free, then the bytes go into the
artifact store, and one transaction records a datum per file, the version and its aliases.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from assay.artifacts import ArtifactStore, Blob
from assay.catalog import Catalog, datasets
from assay.catalog.uris import Ref, check_alias_name, check_version_name, parse_ref
from assay.errors import InvalidRequest
from assay.runtime.inputs import not_utf8_name


@dataclass(frozen=True)
class NewDatasetVersion:
    dataset: str  # a name, or dataset://NAME
    version: str
    #: files and folders; a folder gives every file under it, named relative to it
    paths: tuple[Path, ...]
    tags: tuple[str, ...] = ()
    #: a version whose files come first (``v2``, ``production``, ``dataset://NAME/v2``)
    from_version: str | None = None
    aliases: tuple[str, ...] = ()


def create_dataset_version(
    request: NewDatasetVersion, *, catalog: Catalog, store: ArtifactStore, project_id: str, actor: str
) -> str:
    """Store the files and record the new version; returns its URI (``dataset://NAME/v3``)."""
    name = _dataset_name(request.dataset)
    check_version_name(datasets.KIND, request.version)
    for alias in request.aliases:
        check_alias_name(datasets.KIND, alias)
    base_ref = _base_ref(name, request.from_version)
    files = collect_files(request.paths)
    datasets.check_new_version(catalog, project_id, name, request.version, base_ref)
    stored = []
    for file_name, path in files.items():
        blob = _put(store, path)
        stored.append(datasets.UploadedFile(file_name, str(path), blob.sha256, blob.size))
    return datasets.create_uploaded_version(
        catalog, project_id=project_id, name=name, version=request.version, files=stored, actor=actor,
        tags=request.tags, base=base_ref, alias_names=request.aliases,
    )  # fmt: skip


def collect_files(paths: tuple[Path, ...]) -> dict[str, Path]:
    """Name → file for every path given; ``InvalidRequest`` listing every problem at once."""
    problems: list[str] = []
    found: dict[str, Path] = {}
    for given in paths:
        path = given.expanduser().absolute()
        if path.is_dir():
            entries = [(p.relative_to(path).as_posix(), p) for p in sorted(path.rglob("*")) if p.is_file()]
            if not entries:
                problems.append(f"{given}: the folder holds no file")
        elif path.is_file():
            entries = [(path.name, path)]
        else:
            problems.append(
                f"{given}: no such file or folder" if not path.exists() else f"{given}: not a file"
            )
            continue
        for name, file in entries:
            shown = not_utf8_name(str(file))
            if shown is not None:
                problems.append(f"{shown}: the file name is not UTF-8, and names are recorded as text")
                continue
            earlier = found.setdefault(name, file)
            if earlier.resolve() != file.resolve():
                problems.append(f"{name}: named by both {earlier} and {file}")
    if not paths:
        problems.append("no file was given")
    if problems:
        raise InvalidRequest(
            "these paths cannot be added, so nothing was stored:\n"
            + "\n".join(f"  {problem}" for problem in problems),
            hint="give files or folders that exist, with UTF-8 names; a folder adds every file under it",
        )
    return found


def _dataset_name(text: str) -> str:
    ref = parse_ref(text, datasets.KIND)
    if ref.version is not None:
        raise InvalidRequest(
            f"{text!r} names a version; give the dataset's name",
            hint=f"the version is an argument of its own: {ref.name} {ref.version or 'v1'} FILES…",
        )
    return ref.name


def _base_ref(name: str, text: str | None) -> Ref | None:
    if text is None:
        return None
    ref = parse_ref(text, datasets.KIND) if "/" in text else Ref(datasets.KIND, name, text)
    if ref.name != name or not ref.version:
        raise InvalidRequest(
            f"--from {text!r} is not a version of dataset://{name}",
            hint=f"name one: --from v2, --from latest or --from dataset://{name}/v2",
        )
    return ref


def _put(store: ArtifactStore, path: Path) -> Blob:
    try:
        return store.put(path)
    except OSError as exc:
        raise InvalidRequest(f"{path}: cannot be read ({exc.strerror or exc})") from exc
