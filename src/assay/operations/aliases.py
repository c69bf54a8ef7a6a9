"""Aliases of model and dataset versions: set, remove, show, history, and where one pointed at T.

``kind`` is ``"model"`` or ``"dataset"``. A model's protected aliases (the project's promote
and baseline alias, ``production`` by default: catalog/governance.py) move only by a decision,
which needs the approver role; every other alias, and every dataset alias, needs member::

    change = set_alias(workspace, actor, "model", "summarizer/v3", "production", reason="better")
    change.move.to, change.changed, change.warnings
    held = alias_at(workspace, actor, "model", "summarizer", "production", when)   # held.version
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from assay.errors import InvalidRequest, NotFound
from assay.operations.actor import Actor, Role
from assay.operations.views import JSON, View, meta
from assay.operations.workspace import Workspace

KINDS = ("model", "dataset")


@dataclass(frozen=True)
class AliasMove(View):
    """One move of an alias: ``to`` None is a removal; ``from`` None its first setting."""

    alias: str
    uri: str
    at: str | None
    by: str
    from_: str | None = field(metadata=meta(key="from"))
    to: str | None
    reason: str | None


@dataclass(frozen=True)
class AliasChange(View):
    """What ``set``/``remove`` did: the alias's last move, and whether this call made it."""

    move: AliasMove
    changed: bool
    #: for the person deciding (a flagged or rejected version), not part of the JSON
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, JSON]:
        return {**self.move.to_json(), "changed": self.changed}


@dataclass(frozen=True)
class AliasAt(View):
    """Where an alias pointed at a time."""

    alias: str
    uri: str
    at: str
    version: str | None


@dataclass(frozen=True)
class AliasHistory(View):
    moves: tuple[AliasMove, ...] = field(metadata=meta(view=AliasMove))

    def to_json(self) -> list[JSON]:  # type: ignore[override]
        return [move.to_json() for move in self.moves]


def set_alias(
    workspace: Workspace,
    actor: Actor,
    kind: str,
    ref: str,
    alias: str,
    *,
    reason: str | None = None,
    force: bool = False,
) -> AliasChange:
    """Point ``alias`` at the version ``ref`` names; the move is kept in the history."""
    _check_kind(kind)
    actor.require(workspace.project_id, Role.MEMBER, f"move a {kind} alias")
    from assay.catalog import aliases, governance
    from assay.catalog.registry_views import describe_alias_history

    if force and kind != "model":
        raise InvalidRequest(f"--force overrides a model version's status; a {kind} alias needs none")
    override = governance.Override(force=force, reason=reason)
    policy = governance.Policy.of(workspace.settings())
    if kind == "model" and alias in policy.protected_aliases:
        actor.require(workspace.project_id, Role.APPROVER, f"move the protected alias {alias}")
    warnings: tuple[str, ...] = ()
    with workspace.catalog.transaction() as session:
        owner, version = _resolve_version(session, workspace.project_id, kind, ref)
        if kind == "model":
            moved, decision = governance.set_model_alias(
                session, owner, version, alias, actor=actor.name, reason=reason, override=override,
                policy=policy,
            )  # fmt: skip
            warnings = decision.warnings
        else:
            moved = aliases.move_alias(
                session, project_id=workspace.project_id, kind=kind, owner_id=owner.id,
                owner_name=owner.name, name=alias, version_id=version.id, actor=actor.name, reason=reason,
                version_name=version.name,
            )  # fmt: skip
        last = describe_alias_history(session, kind, owner.id, owner.name, alias)[-1]
    return AliasChange(move=AliasMove.from_json(last), changed=moved is not None, warnings=warnings)


def remove_alias(
    workspace: Workspace, actor: Actor, kind: str, name: str, alias: str, *, reason: str | None = None
) -> AliasChange:
    """Remove ``alias`` from its version; the removal is kept in the history."""
    _check_kind(kind)
    actor.require(workspace.project_id, Role.MEMBER, f"remove a {kind} alias")
    from assay.catalog import aliases, governance
    from assay.catalog.registry_views import describe_alias_history

    if kind == "model" and alias in governance.Policy.of(workspace.settings()).protected_aliases:
        actor.require(workspace.project_id, Role.APPROVER, f"remove the protected alias {alias}")
    with workspace.catalog.transaction() as session:
        owner = owner_of(session, workspace.project_id, kind, name)
        current = aliases.current(session, kind, owner.id)
        if alias not in current:
            raise NotFound(
                f"{kind}://{owner.name} has no alias {alias!r}",
                hint=f"its aliases: {', '.join(current) or 'none'}",
            )
        aliases.move_alias(
            session, project_id=workspace.project_id, kind=kind, owner_id=owner.id, owner_name=owner.name,
            name=alias, version_id=None, actor=actor.name, reason=reason,
        )  # fmt: skip
        last = describe_alias_history(session, kind, owner.id, owner.name, alias)[-1]
    return AliasChange(move=AliasMove.from_json(last), changed=True)


def show_aliases(workspace: Workspace, actor: Actor, kind: str, name: str) -> dict[str, str]:
    """Alias → the version it points at now (``{"production": "model://summarizer/v2"}``)."""
    _check_kind(kind)
    actor.require(workspace.project_id, Role.VIEWER, f"show a {kind}'s aliases")
    from assay.catalog.registry_views import describe_dataset, describe_model

    with workspace.catalog.read() as session:
        owner = owner_of(session, workspace.project_id, kind, name)
        described = describe_model if kind == "model" else describe_dataset
        return dict(described(session, owner, full=False)["aliases"])


def alias_history(
    workspace: Workspace, actor: Actor, kind: str, name: str, alias: str | None = None
) -> AliasHistory:
    """Every move of the aliases of ``name`` (or of ``alias``), oldest first."""
    _check_kind(kind)
    actor.require(workspace.project_id, Role.VIEWER, f"show a {kind}'s alias history")
    from assay.catalog.registry_views import describe_alias_history

    with workspace.catalog.read() as session:
        owner = owner_of(session, workspace.project_id, kind, name)
        moves = describe_alias_history(session, kind, owner.id, owner.name, alias)
    if alias is not None and not moves:
        raise _never_set(kind, owner.name, alias)
    return AliasHistory(moves=tuple(AliasMove.from_json(m) for m in moves))


def alias_at(workspace: Workspace, actor: Actor, kind: str, name: str, alias: str, when: datetime) -> AliasAt:
    """Which version ``alias`` pointed at, at ``when``; ``NotFound`` saying why if none."""
    _check_kind(kind)
    actor.require(workspace.project_id, Role.VIEWER, f"show where a {kind} alias pointed")
    with workspace.catalog.read() as session:
        return held_at(session, kind, owner_of(session, workspace.project_id, kind, name), alias, when)


def owner_name(kind: str, text: str) -> str:
    """The name in ``summarizer`` or ``model://summarizer``; ``InvalidRequest`` for a version."""
    from assay.catalog.uris import parse_ref

    ref = parse_ref(text, kind)
    if ref.version:
        raise InvalidRequest(
            f"{text!r} names a version; give the {kind}'s name", hint=f"e.g. {ref.name}, not {text}"
        )
    return ref.name


def owner_of(session: Any, project_id: str, kind: str, text: str) -> Any:
    """The model or dataset ``text`` names (``summarizer`` or ``model://summarizer``)."""
    from assay.catalog import datasets, models

    if kind == "model":
        return models.get_model(session, project_id, owner_name(kind, text))
    return datasets.get_dataset(session, project_id, owner_name(kind, text))


def held_at(session: Any, kind: str, owner: Any, alias: str, when: datetime) -> AliasAt:
    """Where ``alias`` of ``owner`` pointed at ``when``; ``NotFound`` saying why if nowhere."""
    from assay.catalog.registry_views import describe_alias_at, describe_alias_history

    view = describe_alias_at(session, kind, owner.id, owner.name, alias, when)
    if view["version"] is not None:
        return AliasAt.from_json(view)
    moves = describe_alias_history(session, kind, owner.id, owner.name, alias)
    if not moves:
        raise _never_set(kind, owner.name, alias)
    first = moves[0]["at"]
    why = f"it was first set at {first}" if datetime.fromisoformat(first) > when else "it was removed by then"
    raise NotFound(
        f"{view['uri']} pointed at no version at {view['at']}: {why}",
        hint=f"`assay {kind}s alias history {owner.name} {alias}` lists its moves",
    )


def _resolve_version(session: Any, project_id: str, kind: str, text: str) -> tuple[Any, Any]:
    from assay.catalog import datasets, models

    if kind == "model":
        return models.resolve(session, project_id, text)
    return datasets.resolve(session, project_id, text)


def _never_set(kind: str, name: str, alias: str) -> NotFound:
    return NotFound(
        f"{kind}://{name} has never had an alias {alias!r}",
        hint=f"`assay {kind}s alias history {name}` lists the moves of its aliases",
    )


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidRequest(f"aliases belong to models and datasets, not to {kind!r}")
