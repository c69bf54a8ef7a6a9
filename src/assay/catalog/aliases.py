"""Aliases on model and dataset versions: movable names, with every move kept.

The current position lives in ``aliases``; each move (and removal) is a row of
``alias_moves`` and an event, so "which version was production at T?" is one indexed query.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from assay.catalog import edges
from assay.catalog.dialects import upsert
from assay.catalog.events import record_event
from assay.catalog.registry_tables import Alias, AliasMove, DatasetVersion, ModelVersion
from assay.catalog.states import EventKind
from assay.catalog.tables import utcnow
from assay.catalog.uris import check_alias_name
from assay.errors import InvalidRequest

# Built once: building a statement costs about what running this one does.
_CURRENT = (
    select(Alias)
    .where(
        Alias.kind == bindparam("kind"),
        Alias.owner_id == bindparam("owner_id"),
        Alias.name == bindparam("name"),
    )
    .with_for_update()
)


def move_alias(
    session: Session,
    *,
    project_id: str,
    kind: str,
    owner_id: str,
    owner_name: str,
    name: str,
    version_id: str | None,
    actor: str,
    reason: str | None = None,
    version_name: str | None = None,
    facts: Mapping[str, Any] | None = None,
) -> AliasMove | None:
    """Point alias ``name`` at ``version_id`` (None removes it); None when nothing changes.

    ``facts`` (a decision's, catalog/governance.py) go into the move's event.
    """
    check_alias_name(kind, name)
    alias = session.scalar(_CURRENT, {"kind": kind, "owner_id": owner_id, "name": name})
    previous = alias.version_id if alias is not None else None
    if previous == version_id:
        return None
    now = utcnow()
    if version_id is None:
        assert alias is not None
        session.delete(alias)
    elif alias is None:
        _check_not_a_version(session, kind, owner_id, owner_name, name)
        values = {"kind": kind, "owner_id": owner_id, "name": name, "version_id": version_id,
                  "updated_by": actor, "updated_at": now}  # fmt: skip
        insert = upsert(session)
        inserted = session.execute(
            insert(_ALIASES)
            .values(values)
            .on_conflict_do_nothing(index_elements=["kind", "owner_id", "name"])
            .returning(_ALIASES.c.id)
        ).first()
        if inserted is None:  # a concurrent writer created it a moment ago: move it from there
            return move_alias(
                session, project_id=project_id, kind=kind, owner_id=owner_id, owner_name=owner_name,
                name=name, version_id=version_id, actor=actor, reason=reason, version_name=version_name,
                facts=facts,
            )  # fmt: skip
    else:
        alias.version_id, alias.updated_by, alias.updated_at = version_id, actor, now
    move = AliasMove(
        kind=kind, owner_id=owner_id, name=name, version_id=version_id, previous_version_id=previous,
        moved_by=actor, moved_at=now, reason=reason,
    )  # fmt: skip
    session.add(move)
    if kind == "model" and previous is not None and version_id is not None:
        edges.record_edge(session, project_id, edges.REPLACED, (edges.MODEL_VERSION, previous),
                          (edges.MODEL_VERSION, version_id), name)  # fmt: skip
    record_event(
        session, project_id, EventKind.of(kind, "alias.moved"), f"{kind}://{owner_name}/{name}", actor,
        {"alias": name, "version_id": version_id, "version": version_name,
         "previous_version_id": previous, "reason": reason, **(facts or {})},
    )  # fmt: skip
    return move


_ALIASES: Table = Alias.__table__  # type: ignore[assignment]


def _check_not_a_version(session: Session, kind: str, owner_id: str, owner_name: str, name: str) -> None:
    """An alias may not take a version's name: ``kind://owner/name`` must mean one thing."""
    if kind == "model":
        found = session.scalar(
            select(ModelVersion.id).where(ModelVersion.model_id == owner_id, ModelVersion.name == name)
        )
    else:
        found = session.scalar(
            select(DatasetVersion.id).where(
                DatasetVersion.dataset_id == owner_id, DatasetVersion.name == name
            )
        )
    if found is not None:
        raise InvalidRequest(
            f"{kind}://{owner_name}/{name} is a version; an alias cannot have its name",
            hint="choose another alias name",
        )


def target(session: Session, kind: str, owner_id: str, name: str) -> str | None:
    """The version id alias ``name`` points at now."""
    return session.scalar(
        select(Alias.version_id).where(Alias.kind == kind, Alias.owner_id == owner_id, Alias.name == name)
    )


def target_at(session: Session, kind: str, owner_id: str, name: str, when: datetime) -> str | None:
    """The version id alias ``name`` pointed at, at time ``when`` (None: nowhere)."""
    move = session.scalar(
        select(AliasMove)
        .where(
            AliasMove.kind == kind,
            AliasMove.owner_id == owner_id,
            AliasMove.name == name,
            AliasMove.moved_at <= when,
        )
        .order_by(AliasMove.moved_at.desc(), AliasMove.id.desc())
        .limit(1)
    )
    return None if move is None else move.version_id


def current(session: Session, kind: str, owner_id: str) -> dict[str, str]:
    """Alias name → version id, for every alias of one model or dataset."""
    rows = session.execute(
        select(Alias.name, Alias.version_id)
        .where(Alias.kind == kind, Alias.owner_id == owner_id)
        .order_by(Alias.name)
    )
    return {str(name): str(version_id) for name, version_id in rows.all()}


def history(session: Session, kind: str, owner_id: str, name: str | None = None) -> list[AliasMove]:
    query = select(AliasMove).where(AliasMove.kind == kind, AliasMove.owner_id == owner_id)
    if name is not None:
        query = query.where(AliasMove.name == name)
    return list(session.scalars(query.order_by(AliasMove.moved_at, AliasMove.id)))
