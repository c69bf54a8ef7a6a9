"""Datasets: named, immutable versions of sets of datums.

``dataset://NAME/X`` resolves to the version named ``X``, else the version alias ``X`` holds
(``targeting_aliases`` set them), else, for ``latest``, the newest version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from assay.catalog import aliases, datums, edges
from assay.catalog.events import record_event
from assay.catalog.registry_tables import Alias, Dataset, DatasetVersion, DatasetVersionFile
from assay.catalog.states import EventKind
from assay.catalog.tables import Datum, utcnow
from assay.catalog.uris import LATEST, NUMBERED, Ref, check_version_name, did_you_mean, parse_ref
from assay.errors import Conflict, InvalidRequest, NotFound

if TYPE_CHECKING:
    from assay.catalog.db import Catalog

KIND = "dataset"


def ensure_dataset(session: Session, project_id: str, name: str, actor: str) -> Dataset:
    dataset = session.scalar(select(Dataset).where(Dataset.project_id == project_id, Dataset.name == name))
    if dataset is None:
        dataset = Dataset(project_id=project_id, name=name, created_by=actor, created_at=utcnow())
        session.add(dataset)
        session.flush()
        record_event(
            session, project_id, EventKind.DATASET_CREATED, f"dataset://{name}", actor, {"dataset": name}
        )
    return dataset


def get_dataset(session: Session, project_id: str, name: str) -> Dataset:
    dataset = session.scalar(select(Dataset).where(Dataset.project_id == project_id, Dataset.name == name))
    if dataset is None:
        known = list(session.scalars(select(Dataset.name).where(Dataset.project_id == project_id)))
        raise NotFound(
            f"no dataset {name!r} in this project",
            hint=did_you_mean(name, known) + "`assay datasets list` lists them",
        )
    return dataset


def list_datasets(session: Session, project_id: str) -> list[Dataset]:
    query = select(Dataset).where(Dataset.project_id == project_id).order_by(Dataset.name)
    return list(session.scalars(query))


def create_version(
    session: Session,
    *,
    dataset: Dataset,
    name: str | None,
    files: Iterable[tuple[str, str]],
    actor: str,
    tags: Iterable[str] = (),
    properties: Mapping[str, Any] | None = None,
    source_execution_id: str | None = None,
    from_version: DatasetVersion | None = None,
) -> DatasetVersion:
    """A new immutable version holding ``files`` (name, datum id); ``name`` None: ``v<next>``.

    Numbering follows models: ``vN`` takes number N, other names and ``None`` the next one.
    The dataset's row is locked first, so the name checks see every version a concurrent
    writer committed: of two writers of one name, one gets the version and one a Conflict.
    """
    if name:
        check_version_name(KIND, name)
    listed = dict(files)
    if not listed:
        raise InvalidRequest(f"dataset://{dataset.name}/{name or ''} would hold no file")
    numbered = NUMBERED.match(name or "")
    wanted = int(numbered.group(1)) if numbered else None
    counter = session.execute(
        update(Dataset)
        .where(Dataset.id == dataset.id)
        .values(version_counter=Dataset.version_counter + (0 if wanted else 1))
        .returning(Dataset.version_counter)
    ).scalar_one()
    if wanted is not None:
        if wanted > counter:
            session.execute(update(Dataset).where(Dataset.id == dataset.id).values(version_counter=wanted))
        counter = wanted
    final = name or f"v{counter}"
    taken = session.scalar(
        select(DatasetVersion.name).where(
            DatasetVersion.dataset_id == dataset.id,
            (DatasetVersion.name == final) | (DatasetVersion.counter == counter),
        )
    )
    if taken is not None or final in aliases.current(session, KIND, dataset.id):
        what = "exists already" if taken in (final, None) else f"cannot be made: its number is {taken!r}'s"
        if taken is None:
            what = "cannot be made: an alias has that name"
        raise Conflict(
            f"dataset://{dataset.name}/{final} {what}, and versions are immutable", hint="name a new version"
        )
    version = DatasetVersion(
        dataset_id=dataset.id, counter=counter, name=final, tags=sorted(set(tags)),
        properties=dict(properties or {}), source_execution_id=source_execution_id,
        from_version_id=from_version.id if from_version else None, created_by=actor, created_at=utcnow(),
    )  # fmt: skip
    session.add(version)
    session.flush()
    session.add_all(DatasetVersionFile(version_id=version.id, datum_id=d, name=n) for n, d in listed.items())
    node = (edges.DATASET_VERSION, version.id)
    edges.record_edges(
        session, dataset.project_id, [(edges.CONTAINS, (edges.DATUM, d), node, n) for n, d in listed.items()]
    )
    record_event(
        session, dataset.project_id, EventKind.DATASET_VERSION_CREATED, uri(dataset, version), actor,
        {"dataset": dataset.name, "version": version.name, "files": len(listed),
         "execution_id": source_execution_id},
    )  # fmt: skip
    return version


@dataclass(frozen=True)
class UploadedFile:
    """A file from this machine, stored, that a new version holds."""

    name: str  # in the version
    source_uri: str  # where it was read from: its datum is one per (content, source)
    sha256: str
    size: int


def check_new_version(catalog: Catalog, project_id: str, name: str, version: str, base: Ref | None) -> None:
    """Before any byte is stored: ``Conflict`` if ``dataset://name/version`` exists (versions are
    immutable), ``NotFound`` if the version it starts from does not."""
    with catalog.read() as session:
        check_version_free(session, project_id, name, version)
        if base is not None:
            resolve(session, project_id, base)


def check_version_free(session: Session, project_id: str, name: str, version: str) -> None:
    """``Conflict`` if ``dataset://name/version`` exists: versions are immutable."""
    try:
        dataset = get_dataset(session, project_id, name)
    except NotFound:
        return
    taken = select(DatasetVersion.id).where(
        DatasetVersion.dataset_id == dataset.id, DatasetVersion.name == version
    )
    if session.scalar(taken) is not None:
        raise Conflict(
            f"dataset://{name}/{version} exists already, and versions are immutable; nothing was stored",
            hint=f"name a new version; `assay datasets show {name}` lists the existing ones",
        )


def create_uploaded_version(
    catalog: Catalog,
    *,
    project_id: str,
    name: str,
    version: str,
    files: Sequence[UploadedFile],
    actor: str,
    tags: Iterable[str] = (),
    base: Ref | None = None,
    alias_names: Iterable[str] = (),
) -> str:
    """In one transaction: the dataset (made on first use), a datum per file, the version (the
    files of ``base`` first, then ``files``) and its aliases; returns its URI."""
    with catalog.transaction() as session:
        dataset = ensure_dataset(session, project_id, name, actor)
        contents: dict[str, str] = {}
        base_version: DatasetVersion | None = None
        if base is not None:
            _, base_version = resolve(session, project_id, base)
            contents = {f.name: f.datum_id for f, _ in files_of(session, base_version.id)}
        for file in files:
            datum = datums.external_datum(
                session, project_id=project_id, sha256=file.sha256, size=file.size, name=file.name,
                source_uri=file.source_uri,
            )  # fmt: skip
            contents[file.name] = datum.id
        created = create_version(
            session, dataset=dataset, name=version, files=contents.items(), actor=actor, tags=tags,
            from_version=base_version,
        )  # fmt: skip
        for alias in dict.fromkeys(alias_names):
            aliases.move_alias(
                session, project_id=project_id, kind=KIND, owner_id=dataset.id, owner_name=dataset.name,
                name=alias, version_id=created.id, actor=actor, reason="set when the version was created",
                version_name=created.name,
            )  # fmt: skip
        return uri(dataset, created)


def _named(dataset_id: str, name: str) -> Any:
    return (DatasetVersion.dataset_id == dataset_id) & (DatasetVersion.name == name)


def uri(dataset: Dataset, version: DatasetVersion) -> str:
    return f"dataset://{dataset.name}/{version.name}"


def resolve(session: Session, project_id: str, ref: str | Ref) -> tuple[Dataset, DatasetVersion]:
    parsed = ref if isinstance(ref, Ref) else parse_ref(ref, KIND)
    dataset = get_dataset(session, project_id, parsed.name)
    if not parsed.version:
        raise InvalidRequest(
            f"{parsed} names no version", hint=f"add one: dataset://{dataset.name}/v1 or …/latest"
        )
    key = parsed.version
    version = session.scalar(select(DatasetVersion).where(_named(dataset.id, key)))
    if version is None and key != LATEST:
        version = session.scalar(
            select(DatasetVersion)
            .join(Alias, Alias.version_id == DatasetVersion.id)
            .where(Alias.kind == KIND, Alias.owner_id == dataset.id, Alias.name == key)
        )
    if version is None and key == LATEST:
        version = session.scalar(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset.id)
            .order_by(DatasetVersion.counter.desc())
            .limit(1)
        )
    if version is None:
        names = [v.name for v in versions_of(session, dataset.id)]
        names += list(aliases.current(session, KIND, dataset.id))
        raise NotFound(
            f"dataset://{dataset.name} has no version or alias {key!r}",
            hint=did_you_mean(key, names) + f"its versions: {', '.join(sorted(names)) or 'none'}",
        )
    return dataset, version


def versions_of(session: Session, dataset_id: str) -> list[DatasetVersion]:
    """Newest first."""
    query = select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id)
    return list(session.scalars(query.order_by(DatasetVersion.counter.desc())))


def files_of(session: Session, version_id: str) -> list[tuple[DatasetVersionFile, Datum]]:
    rows = session.execute(
        select(DatasetVersionFile, Datum)
        .join(Datum, Datum.id == DatasetVersionFile.datum_id)
        .where(DatasetVersionFile.version_id == version_id)
        .order_by(DatasetVersionFile.name)
    )
    return [(f, d) for f, d in rows]


def by_execution(session: Session, execution_id: str) -> list[DatasetVersion]:
    query = select(DatasetVersion).where(DatasetVersion.source_execution_id == execution_id)
    return list(session.scalars(query))
