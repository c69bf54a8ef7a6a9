"""Datums (files addressed by content) and their aliases (``datum://<alias>``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from assay.catalog import edges
from assay.catalog.events import record_event
from assay.catalog.states import EventKind
from assay.catalog.tables import Datum, DatumAlias, new_id, utcnow
from assay.errors import InvalidRequest, NotFound

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ALIAS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$")
_INSERT = insert(Datum)


@dataclass(frozen=True)
class DatumFile:
    """A datum as the runtime sees a file: what an execution receives or produced."""

    id: str
    name: str
    sha256: str
    size: int
    metadata: Mapping[str, Any]


def datum_file(datum: Datum) -> DatumFile:
    return DatumFile(datum.id, datum.name, datum.sha256, datum.size, dict(datum.file_metadata))


def create_datum(
    session: Session,
    *,
    project_id: str,
    sha256: str,
    size: int,
    name: str,
    output_execution_id: str | None = None,
    source_uri: str | None = None,
    metadata: dict[str, Any] | None = None,
    tags: list[str] | None = None,
) -> Datum:
    """A new datum, written with one INSERT (returned detached, like ``create_execution``)."""
    values: dict[str, Any] = {
        "id": new_id(), "project_id": project_id, "sha256": sha256, "size": size, "name": name,
        "output_execution_id": output_execution_id, "source_uri": source_uri, "created_at": utcnow(),
    }  # fmt: skip
    session.connection().execute(_INSERT, {**values, "metadata": metadata or {}, "tags": tags or []})
    datum = Datum(**values, file_metadata=metadata or {}, tags=tags or [])
    if output_execution_id is not None:
        edges.record_edge(session, project_id, edges.PRODUCED, (edges.EXECUTION, output_execution_id),
                          (edges.DATUM, datum.id))  # fmt: skip
    return datum


def external_datum(
    session: Session, *, project_id: str, sha256: str, size: int, name: str, source_uri: str
) -> Datum:
    """The datum for a file that came from outside (a path or URL), one per (content, source)."""
    existing = session.scalar(
        select(Datum).where(
            Datum.project_id == project_id,
            Datum.sha256 == sha256,
            Datum.source_uri == source_uri,
            Datum.output_execution_id.is_(None),
        )
    )
    if existing is not None:
        return existing
    return create_datum(
        session, project_id=project_id, sha256=sha256, size=size, name=name, source_uri=source_uri
    )


def get_datum(session: Session, project_id: str, ref: str) -> Datum:
    """By id or alias, with or without the ``datum://`` prefix."""
    key = ref.removeprefix("datum://").strip()
    if _UUID.match(key):
        datum = session.scalar(select(Datum).where(Datum.project_id == project_id, Datum.id == key))
        if datum is not None:
            return datum
    alias = session.scalar(
        select(DatumAlias).where(DatumAlias.project_id == project_id, DatumAlias.name == key)
    )
    if alias is not None:
        return session.get_one(Datum, alias.datum_id)
    raise NotFound(
        f"no datum or datum alias {key!r} in this project",
        hint="`assay executions outputs N` lists the datums an execution produced",
    )


def outputs_of(session: Session, execution_id: str) -> list[Datum]:
    query = select(Datum).where(Datum.output_execution_id == execution_id).order_by(Datum.name)
    return list(session.scalars(query))


def aliases_of(session: Session, datum_id: str) -> list[str]:
    query = select(DatumAlias.name).where(DatumAlias.datum_id == datum_id).order_by(DatumAlias.name)
    return list(session.scalars(query))


def set_datum_alias(session: Session, project_id: str, name: str, datum: Datum, actor: str) -> None:
    """Point ``datum://<name>`` at ``datum``; the move is recorded as an event with the old target."""
    if not ALIAS_NAME.match(name) or _UUID.match(name):
        raise InvalidRequest(
            f"{name!r} is not a valid datum alias",
            hint="use letters, digits, '-', '_' and '.', not a UUID",
        )
    alias = session.scalar(
        select(DatumAlias).where(DatumAlias.project_id == project_id, DatumAlias.name == name)
    )
    previous = alias.datum_id if alias else None
    if alias is None:
        session.add(DatumAlias(project_id=project_id, name=name, datum_id=datum.id, updated_at=utcnow()))
    else:
        alias.datum_id = datum.id
        alias.updated_at = utcnow()
    record_event(
        session,
        project_id,
        EventKind.DATUM_ALIAS_MOVED,
        f"datum-alias:{name}",
        actor,
        {"alias": name, "datum_id": datum.id, "previous_datum_id": previous},
    )
