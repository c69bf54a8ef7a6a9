"""Flagging flawed data: a dataset version marked flawed marks every model version built from
it (directly, through intermediate outputs, or through fine-tuning chains), and can move the
aliases those versions hold back to the newest unaffected approved version."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from assay.catalog import aliases, lineage, models
from assay.catalog.edges import DATASET_VERSION, MODEL_VERSION, Node
from assay.catalog.events import record_event
from assay.catalog.lineage_tables import DatasetFlag, ModelVersionFlag
from assay.catalog.registry_tables import Dataset, DatasetVersion, Model, ModelVersion
from assay.catalog.states import EventKind
from assay.catalog.tables import utcnow
from assay.errors import Conflict, InvalidRequest

if TYPE_CHECKING:
    from assay.catalog.db import Catalog


def flag_dataset(
    session: Session, project_id: str, ref: str, *, reason: str, actor: str, demote: bool
) -> dict[str, Any]:
    node = lineage.node_of(session, project_id, ref)
    if node[0] != DATASET_VERSION:
        raise InvalidRequest(f"{ref!r} is not a dataset version", hint="flag dataset://NAME/VERSION")
    if not reason.strip():
        raise InvalidRequest("a flag needs a reason", hint='--reason "what is wrong with it"')
    subject = str(lineage.refs(session, [node])[node]["ref"])
    active = session.scalar(
        select(DatasetFlag).where(DatasetFlag.dataset_version_id == node[1], DatasetFlag.lifted_at.is_(None))
    )
    if active is not None:
        raise Conflict(
            f"{subject} is already flagged (by {active.flagged_by} at {active.flagged_at.isoformat()}: "
            f"{active.reason})",
            hint="`assay datasets unflag` lifts it",
        )
    reached = [r for r in lineage.walk(session, node, "down") if r.kind == MODEL_VERSION]
    flag = DatasetFlag(
        project_id=project_id, dataset_version_id=node[1], reason=reason, flagged_by=actor,
        flagged_at=utcnow(), affected=[r.id for r in reached],
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(flag)
            session.flush()
    except IntegrityError as exc:  # another flag of this version was committed a moment ago
        raise Conflict(
            f"{subject} was flagged a moment ago", hint="`assay datasets show` lists its flags"
        ) from exc
    facts = lineage.refs(session, [(MODEL_VERSION, r.id) for r in reached])
    for r in reached:
        session.add(
            ModelVersionFlag(flag_id=flag.id, version_id=r.id, how=sorted(r.how), created_at=utcnow())
        )
        ref = str(facts[(MODEL_VERSION, r.id)]["ref"])
        record_event(session, project_id, EventKind.MODEL_VERSION_FLAGGED, ref, actor,
                     {"flag_id": flag.id, "dataset": subject, "reason": reason})  # fmt: skip
    record_event(session, project_id, EventKind.DATASET_FLAGGED, subject, actor,
                 {"flag_id": flag.id, "reason": reason, "affected": len(reached)})  # fmt: skip
    moved, left = (
        _demote(session, project_id, {r.id for r in reached}, subject, reason, actor) if demote else ([], [])
    )
    return {
        "flag": flag_json(flag, subject),
        "affected": [facts[(MODEL_VERSION, r.id)]["ref"] for r in reached],
        "demoted": moved,
        "left": left,
    }


def flag_dataset_version(
    catalog: Catalog, project_id: str, ref: str, *, reason: str, actor: str, demote: bool
) -> dict[str, Any]:
    """``flag_dataset`` in a transaction of its own."""
    with catalog.transaction() as session:
        return flag_dataset(session, project_id, ref, reason=reason, actor=actor, demote=demote)


def _demote(
    session: Session, project_id: str, tainted: set[str], subject: str, reason: str, actor: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Move each alias on a tainted version to its model's newest approved untainted version."""
    moved, left = [], []
    for version_id in sorted(tainted):
        version = session.get_one(ModelVersion, version_id)
        model = session.get_one(Model, version.model_id)
        held = [a for a, v in aliases.current(session, models.KIND, model.id).items() if v == version_id]
        for alias in held:
            replacement = next(
                (
                    v
                    for v in models.versions_of(session, model.id, status=models.APPROVED)
                    if v.id not in tainted and not active_flags_of_version(session, v.id)
                ),
                None,
            )
            entry = {"model": model.name, "alias": alias, "from": models.uri(model, version)}
            if replacement is None:
                left.append({**entry, "note": "no unaffected approved version to move it to; left as it is"})
                continue
            aliases.move_alias(
                session, project_id=project_id, kind=models.KIND, owner_id=model.id, owner_name=model.name,
                name=alias, version_id=replacement.id, actor=actor, version_name=replacement.name,
                reason=f"{subject} flagged: {reason}",
            )  # fmt: skip
            moved.append({**entry, "to": models.uri(model, replacement)})
    return moved, left


def unflag_dataset(session: Session, project_id: str, ref: str, *, reason: str, actor: str) -> dict[str, Any]:
    node = lineage.node_of(session, project_id, ref)
    subject = str(lineage.refs(session, [node])[node]["ref"])
    active = session.scalar(
        select(DatasetFlag).where(DatasetFlag.dataset_version_id == node[1], DatasetFlag.lifted_at.is_(None))
    )
    if active is None:
        raise Conflict(f"{subject} is not flagged", hint="`assay datasets show` lists its flags")
    active.lifted_by, active.lifted_at, active.lift_reason = actor, utcnow(), reason
    record_event(session, project_id, EventKind.DATASET_UNFLAGGED, str(subject), actor,
                 {"flag_id": active.id, "reason": reason})  # fmt: skip
    return flag_json(active, str(subject))


def unflag_dataset_version(
    catalog: Catalog, project_id: str, ref: str, *, reason: str, actor: str
) -> dict[str, Any]:
    """``unflag_dataset`` in a transaction of its own."""
    with catalog.transaction() as session:
        return unflag_dataset(session, project_id, ref, reason=reason, actor=actor)


def active_flags_of_version(session: Session, version_id: str) -> list[tuple[DatasetFlag, str]]:
    rows = session.execute(
        select(DatasetFlag, Dataset.name, DatasetVersion.name)
        .join(ModelVersionFlag, ModelVersionFlag.flag_id == DatasetFlag.id)
        .join(DatasetVersion, DatasetVersion.id == DatasetFlag.dataset_version_id)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(ModelVersionFlag.version_id == version_id, DatasetFlag.lifted_at.is_(None))
        .order_by(DatasetFlag.flagged_at)
    )
    return [(flag, f"dataset://{name}/{version}") for flag, name, version in rows]


def mark_new_version(session: Session, project_id: str, version: ModelVersion, actor: str) -> list[str]:
    """A version built from data flagged earlier is marked as it is created."""
    active = select(DatasetFlag.id).where(
        DatasetFlag.project_id == project_id, DatasetFlag.lifted_at.is_(None)
    )
    if session.scalar(active.limit(1)) is None:
        return []  # nothing is flagged: no walk upstream
    upstream = [
        r for r in lineage.walk(session, (MODEL_VERSION, version.id), "up") if r.kind == DATASET_VERSION
    ]
    if not upstream:
        return []
    found = session.scalars(
        select(DatasetFlag).where(
            DatasetFlag.dataset_version_id.in_([r.id for r in upstream]), DatasetFlag.lifted_at.is_(None)
        )
    )
    marked = []
    for flag in found:
        session.add(ModelVersionFlag(flag_id=flag.id, version_id=version.id, how=[], created_at=utcnow()))
        marked.append(flag.id)
        record_event(session, project_id, EventKind.MODEL_VERSION_FLAGGED, f"model-version:{version.id}",
                     actor, {"flag_id": flag.id, "reason": flag.reason})  # fmt: skip
    return marked


def flags_of(session: Session, node: Node) -> list[dict[str, Any]]:
    query = (
        select(DatasetFlag).where(DatasetFlag.dataset_version_id == node[1]).order_by(DatasetFlag.flagged_at)
    )
    return [flag_json(f) for f in session.scalars(query)]


def flags_of_version(session: Session, version_id: str) -> list[dict[str, Any]]:
    return [flag_json(f, ref) for f, ref in active_flags_of_version(session, version_id)]


def flag_json(flag: DatasetFlag, dataset_ref: str | None = None) -> dict[str, Any]:
    return {
        "id": flag.id,
        "dataset": dataset_ref,
        "reason": flag.reason,
        "flagged_by": flag.flagged_by,
        "flagged_at": flag.flagged_at.isoformat(),
        "active": flag.lifted_at is None,
        "lifted_by": flag.lifted_by,
        "lifted_at": flag.lifted_at.isoformat() if flag.lifted_at else None,
        "lift_reason": flag.lift_reason,
    }
