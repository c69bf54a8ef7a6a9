"""The model catalog: models, their immutable versions, status, tags, files and cards.

A reference ``model://NAME/X`` resolves, in order: a version named ``X`` (``v3``, or any
name given at creation), the version alias ``X`` holds (``production``), and ``latest`` —
the newest *approved* version (Valohai's "latest approved version").
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Select, bindparam, func, insert, select, update
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from assay.catalog import aliases, edges
from assay.catalog.events import record_event
from assay.catalog.registry_tables import (
    Alias,
    CardEntry,
    Model,
    ModelVersion,
    ModelVersionFile,
    ModelVersionTag,
)
from assay.catalog.states import EventKind, VersionStatus
from assay.catalog.tables import Datum, new_id, utcnow
from assay.catalog.uris import LATEST, NUMBERED, Ref, check_version_name, did_you_mean, parse_ref
from assay.errors import Conflict, InvalidRequest, NotFound

PENDING, APPROVED, REJECTED = VersionStatus.PENDING, VersionStatus.APPROVED, VersionStatus.REJECTED
STATUSES = (PENDING, APPROVED, REJECTED)
KIND = "model"


def ensure_model(session: Session, project_id: str, name: str, actor: str) -> Model:
    model = session.scalar(select(Model).where(Model.project_id == project_id, Model.name == name))
    if model is None:
        model = Model(project_id=project_id, name=name, created_by=actor, created_at=utcnow())
        session.add(model)
        session.flush()
        record_event(session, project_id, EventKind.MODEL_CREATED, f"model://{name}", actor, {"model": name})
    return model


def get_model(session: Session, project_id: str, name: str) -> Model:
    model = session.scalar(select(Model).where(Model.project_id == project_id, Model.name == name))
    if model is None:
        known = list(session.scalars(select(Model.name).where(Model.project_id == project_id)))
        raise NotFound(f"no model {name!r} in this project", hint=_hint(name, known, "assay models list"))
    return model


def list_models(session: Session, project_id: str) -> list[Model]:
    return list(session.scalars(select(Model).where(Model.project_id == project_id).order_by(Model.name)))


def create_version(
    session: Session,
    *,
    model: Model,
    name: str | None,
    files: Iterable[tuple[str, str]],
    actor: str,
    metrics: Mapping[str, Any] | None = None,
    properties: Mapping[str, Any] | None = None,
    tags: Iterable[str] = (),
    release_note: str | None = None,
    source_execution_id: str | None = None,
    pipeline_run_id: str | None = None,
) -> ModelVersion:
    """A new version (``name`` None: the next number, ``v<N>``); ``Conflict`` if the name is taken."""
    if name:
        check_version_name(KIND, name)
    numbered = NUMBERED.match(name or "")
    # NOTE: allocating locks the model's row, so the name check below sees every version a
    # concurrent creator committed: two writers of the same name get one version and a Conflict.
    counter = _allocate(session, model, int(numbered.group(1)) if numbered else None)
    if name and session.scalar(_VERSION_NAMED, {"model_id": model.id, "name": name}) is not None:
        raise Conflict(
            f"model://{model.name}/{name} exists already, and versions are immutable",
            hint=f"write model://{model.name}/ for the next version number",
        )
    if name and aliases.target(session, KIND, model.id, name) is not None:
        raise Conflict(
            f"model://{model.name}/{name} cannot be a version: an alias has that name",
            hint=f"write model://{model.name}/ for the next version number",
        )
    # The id and every column default are given here, so that the version, its files and the
    # event need one flush, not two (the unit of work inserts them in foreign-key order); it
    # leaves the version persistent on return, as before. The tag rows, which nothing reads
    # back as objects, are one Core INSERT after it.
    version = ModelVersion(
        id=new_id(), model_id=model.id, counter=counter, name=name or f"v{counter}", status=PENDING,
        metrics=dict(metrics or {}), properties=dict(properties or {}), tags=sorted(set(tags)),
        release_note=release_note, description="", source_execution_id=source_execution_id,
        pipeline_run_id=pipeline_run_id, created_by=actor, created_at=utcnow(),
    )  # fmt: skip
    session.add(version)
    listed = list(files)
    session.add_all(ModelVersionFile(version_id=version.id, datum_id=d, name=n) for n, d in listed)
    record_event(
        session, model.project_id, EventKind.MODEL_VERSION_CREATED, uri(model, version), actor,
        {"model": model.name, "version": version.name, "counter": counter, "tags": version.tags,
         "metrics": version.metrics, "execution_id": source_execution_id},
    )  # fmt: skip
    session.flush()
    node = (edges.MODEL_VERSION, version.id)
    found: list[tuple[str, edges.Node, edges.Node, str | None]] = [
        (edges.CONTAINS, (edges.DATUM, d), node, n) for n, d in listed
    ]
    if source_execution_id is not None:
        found.append((edges.BUILT_FROM, (edges.EXECUTION, source_execution_id), node, None))
    edges.record_edges(session, model.project_id, found)
    if version.tags:
        rows = [{"version_id": version.id, "tag": t, "model_id": model.id} for t in version.tags]
        session.connection().execute(_INSERT_TAG, rows)
    return version


_INSERT_TAG = insert(ModelVersionTag)
_VERSION_NAMED = select(ModelVersion.id).where(
    ModelVersion.model_id == bindparam("model_id"), ModelVersion.name == bindparam("name")
)
_NEXT_COUNTER = (
    update(Model)
    .where(Model.id == bindparam("model_id"))
    .values(version_counter=Model.version_counter + 1)
    .returning(Model.version_counter)
)


def _allocate(session: Session, model: Model, wanted: int | None) -> int:
    """The next counter, or ``wanted`` (a ``vN`` name) if free; the row lock serializes creators."""
    if wanted is None:
        # A Core UPDATE on the session's connection: the ORM's bulk-update path costs more than
        # the statement. What it did besides is done here: flush first, and give a Model
        # loaded in this session the new counter.
        if session.autoflush:
            session.flush()
        counter = int(session.connection().execute(_NEXT_COUNTER, {"model_id": model.id}).scalar_one())
        loaded = session.identity_map.get(identity_key(Model, model.id))
        if loaded is not None:
            set_committed_value(loaded, "version_counter", counter)
        return counter
    session.execute(
        update(Model)
        .where(Model.id == model.id)
        .values(version_counter=func.max(Model.version_counter, wanted))
        if session.get_bind().dialect.name == "sqlite"
        else update(Model)
        .where(Model.id == model.id)
        .values(version_counter=func.greatest(Model.version_counter, wanted))
    )
    taken = session.scalar(
        select(ModelVersion.name).where(ModelVersion.model_id == model.id, ModelVersion.counter == wanted)
    )
    if taken is not None:
        said = "exists already" if taken == f"v{wanted}" else f"cannot be made: number {wanted} is {taken!r}"
        raise Conflict(
            f"model://{model.name}/v{wanted} {said}, and versions are immutable",
            hint=f"write model://{model.name}/ for the next version number",
        )
    return wanted


def uri(model: Model, version: ModelVersion) -> str:
    return f"model://{model.name}/{version.name}"


def resolve(session: Session, project_id: str, ref: str | Ref) -> tuple[Model, ModelVersion]:
    """The version a reference names now (see the module's docstring for the order)."""
    parsed = ref if isinstance(ref, Ref) else parse_ref(ref, KIND)
    if not parsed.version:
        model = get_model(session, project_id, parsed.name)
        raise InvalidRequest(
            f"{parsed} names no version",
            hint=f"add a version or alias: model://{model.name}/v1, …/production or …/latest",
        )
    key = parsed.version
    # One query: the model by name, and the version by name, else by alias (or, for `latest`,
    # the newest approved one).
    row = session.execute(
        _RESOLVE_LATEST if key == LATEST else _RESOLVE,
        {"project_id": project_id, "name": parsed.name, "key": key},
    ).one_or_none()
    version: ModelVersion | None
    if row is None:  # no such model: get_model raises NotFound, with a hint
        model, version = get_model(session, project_id, parsed.name), None
    else:
        model, version = row
    if version is None and key == LATEST:
        raise NotFound(
            f"model://{model.name}/latest names the newest approved version, and none is approved",
            hint=f"`assay models versions {model.name}` lists them; approve one or name it (…/v1)",
        )
    if version is None:
        names = [v.name for v in versions_of(session, model.id)]
        names += list(aliases.current(session, KIND, model.id))
        raise NotFound(
            f"model://{model.name} has no version or alias {key!r}",
            hint=_hint(key, names, f"assay models versions {model.name}"),
        )
    return model, version


def _resolve_statement(latest: bool) -> Select[Model, ModelVersion]:
    """Model by (project, name) with the version ``key`` names, outer-joined (None: no such)."""
    other = aliased(ModelVersion)
    named = (
        select(other.id)
        .where(other.model_id == Model.id, other.name == bindparam("key"))
        .correlate(Model)
        .scalar_subquery()
    )
    if latest:
        fallback = (
            select(other.id)
            .where(other.model_id == Model.id, other.status == APPROVED)
            .order_by(other.counter.desc())
            .limit(1)
            .correlate(Model)
            .scalar_subquery()
        )
    else:
        fallback = (
            select(Alias.version_id)
            .where(Alias.kind == KIND, Alias.owner_id == Model.id, Alias.name == bindparam("key"))
            .correlate(Model)
            .scalar_subquery()
        )
    return (
        select(Model, ModelVersion)
        .outerjoin(ModelVersion, ModelVersion.id == func.coalesce(named, fallback))
        .where(Model.project_id == bindparam("project_id"), Model.name == bindparam("name"))
    )


# Built once: building a statement costs more than running it on an indexed lookup.
_RESOLVE = _resolve_statement(latest=False)
_RESOLVE_LATEST = _resolve_statement(latest=True)


def version_at(session: Session, model: Model, alias: str, when: datetime) -> ModelVersion | None:
    found = aliases.target_at(session, KIND, model.id, alias, when)
    return None if found is None else session.get(ModelVersion, found)


def versions_of(
    session: Session, model_id: str, *, status: str | None = None, tag: str | None = None,
    limit: int | None = None,
) -> list[ModelVersion]:  # fmt: skip
    """Newest first."""
    query = _versions_statement(status is not None, tag is not None, bool(limit))
    params = {"model_id": model_id, "status": status, "tag": tag, "limit": limit}
    return list(session.scalars(query, params))


@functools.cache
def _versions_statement(status: bool, tag: bool, limit: bool) -> Select[ModelVersion]:
    query = select(ModelVersion).where(ModelVersion.model_id == bindparam("model_id"))
    if status:
        query = query.where(ModelVersion.status == bindparam("status"))
    if tag:
        query = query.join(ModelVersionTag, ModelVersionTag.version_id == ModelVersion.id).where(
            ModelVersionTag.model_id == bindparam("model_id"), ModelVersionTag.tag == bindparam("tag")
        )
    query = query.order_by(ModelVersion.counter.desc())
    return query.limit(bindparam("limit", type_=Integer)) if limit else query


def files_of(session: Session, version_id: str) -> list[ModelVersionFile]:
    query = select(ModelVersionFile).where(ModelVersionFile.version_id == version_id)
    return list(session.scalars(query.order_by(ModelVersionFile.name)))


def files_with_datums(session: Session, version_id: str) -> list[tuple[ModelVersionFile, Datum]]:
    rows = session.execute(
        select(ModelVersionFile, Datum)
        .join(Datum, Datum.id == ModelVersionFile.datum_id)
        .where(ModelVersionFile.version_id == version_id)
        .order_by(ModelVersionFile.name)
    )
    return [(f, d) for f, d in rows]


def versions_of_run(session: Session, run_id: str) -> list[ModelVersion]:
    query = select(ModelVersion).where(ModelVersion.pipeline_run_id == run_id)
    return list(session.scalars(query.order_by(ModelVersion.created_at)))


def by_execution(session: Session, execution_id: str) -> list[ModelVersion]:
    return list(session.scalars(select(ModelVersion).where(ModelVersion.source_execution_id == execution_id)))


def set_status(
    session: Session,
    model: Model,
    version: ModelVersion,
    status: str,
    actor: str,
    comment: str | None,
    *,
    facts: Mapping[str, Any] | None = None,
    only_from: tuple[str, ...] | None = None,
) -> ModelVersion:
    """Approve or reject; a version may change its mind (recorded), never to the same status.

    ``only_from``: the statuses the decision was judged on (catalog/governance.py); one
    compare-and-set, so a status changed a moment ago by someone else is a ``Conflict``.
    ``facts`` go on the card entry and the event beside the comment.
    """
    if status not in (APPROVED, REJECTED):
        raise InvalidRequest(f"a version is approved or rejected, not {status!r}")
    condition = ModelVersion.status != status
    if only_from is not None:
        condition = ModelVersion.status.in_([s for s in only_from if s != status])
    changed = session.execute(  # type: ignore[attr-defined]
        update(ModelVersion)
        .where(ModelVersion.id == version.id, condition)
        .values(status=status, status_by=actor, status_at=utcnow(), status_comment=comment)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.refresh(version)
    if changed != 1:
        when = version.status_at.isoformat() if version.status_at else "?"
        said = "is already" if version.status == status else "was made"
        raise Conflict(
            f"{uri(model, version)} {said} {version.status} (by {version.status_by} at {when})",
            hint=f"`assay models show {model.name}/{version.name}` shows its card",
        )
    extra = dict(facts or {})
    add_card_entry(session, version, "status", actor, {"status": status, "comment": comment, **extra})
    record_event(session, model.project_id, EventKind.of("model.version", status), uri(model, version), actor,
                 {"comment": comment, "version_id": version.id, **extra})  # fmt: skip
    return version


def add_card_entry(
    session: Session, version: ModelVersion, kind: str, author: str, body: dict[str, Any]
) -> CardEntry:
    entry = CardEntry(version_id=version.id, kind=kind, author=author, created_at=utcnow(), body=body)
    session.add(entry)
    return entry


def card_of(session: Session, version_id: str) -> list[CardEntry]:
    query = select(CardEntry).where(CardEntry.version_id == version_id)
    return list(session.scalars(query.order_by(CardEntry.created_at, CardEntry.id)))


def search(
    session: Session, project_id: str, tag: str, *, limit: int = 50
) -> list[tuple[Model, ModelVersion]]:
    """Versions of any model carrying ``tag``, newest first."""
    rows = session.execute(_SEARCH, {"project_id": project_id, "tag": tag, "limit": limit})
    return [(m, v) for m, v in rows]


def _search_statement() -> Select[Model, ModelVersion]:
    # From the tag rows of the project's models, through the covering (model_id, tag, version_id)
    # index: both planners then start there, rather than from every version of a model. A tag
    # row's model_id is its version's (create_version writes both); the join checks it anyway.
    owned = aliased(Model)
    return (
        select(Model, ModelVersion)
        .select_from(ModelVersionTag)
        .join(
            ModelVersion,
            (ModelVersion.id == ModelVersionTag.version_id)
            & (ModelVersion.model_id == ModelVersionTag.model_id),
        )
        .join(Model, Model.id == ModelVersion.model_id)
        .where(
            ModelVersionTag.model_id.in_(select(owned.id).where(owned.project_id == bindparam("project_id"))),
            ModelVersionTag.tag == bindparam("tag"),
            Model.project_id == bindparam("project_id"),
        )
        .order_by(ModelVersion.created_at.desc())
        .limit(bindparam("limit", type_=Integer))
    )


_SEARCH = _search_statement()


def _hint(wanted: str, known: list[str], listing: str) -> str:
    return did_you_mean(wanted, known) + f"`{listing}` lists them"
