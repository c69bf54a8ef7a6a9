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

from assay.errors import InvalidRequest
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
    from assay.catalog import alias_changes, governance

    if force and kind != "model":
        raise InvalidRequest(f"--force overrides a model version's status; a {kind} alias needs none")
    override = governance.Override(force=force, reason=reason)
    policy = governance.Policy.of(workspace.settings())
    if kind == "model" and alias in policy.protected_aliases:
        actor.require(workspace.project_id, Role.APPROVER, f"move the protected alias {alias}")
    change = alias_changes.set_alias(
        workspace.catalog, workspace.project_id, kind, ref, alias, actor=actor.name, reason=reason,
        override=override, policy=policy,
    )  # fmt: skip
    return AliasChange(
        move=AliasMove.from_json(change.move), changed=change.changed, warnings=change.warnings
    )


def remove_alias(
    workspace: Workspace, actor: Actor, kind: str, name: str, alias: str, *, reason: str | None = None
) -> AliasChange:
    """Remove ``alias`` from its version; the removal is kept in the history."""
    _check_kind(kind)
    actor.require(workspace.project_id, Role.MEMBER, f"remove a {kind} alias")
    from assay.catalog import alias_changes, governance

    if kind == "model" and alias in governance.Policy.of(workspace.settings()).protected_aliases:
        actor.require(workspace.project_id, Role.APPROVER, f"remove the protected alias {alias}")
    change = alias_changes.remove_alias(
        workspace.catalog, workspace.project_id, kind, owner_name(kind, name), alias, actor=actor.name,
        reason=reason,
    )  # fmt: skip
    return AliasChange(move=AliasMove.from_json(change.move), changed=change.changed)


def show_aliases(workspace: Workspace, actor: Actor, kind: str, name: str) -> dict[str, str]:
    """Alias → the version it points at now (``{"production": "model://summarizer/v2"}``)."""
    _check_kind(kind)
    actor.require(workspace.project_id, Role.VIEWER, f"show a {kind}'s aliases")
    from assay.catalog.registry_views import alias_targets

    return alias_targets(workspace.catalog, workspace.project_id, kind, owner_name(kind, name))


def alias_history(
    workspace: Workspace, actor: Actor, kind: str, name: str, alias: str | None = None
) -> AliasHistory:
    """Every move of the aliases of ``name`` (or of ``alias``), oldest first."""
    _check_kind(kind)
    actor.require(workspace.project_id, Role.VIEWER, f"show a {kind}'s alias history")
    from assay.catalog import registry_views

    moves = registry_views.alias_history(
        workspace.catalog, workspace.project_id, kind, owner_name(kind, name), alias
    )
    return AliasHistory(moves=AliasMove.many(moves))


def alias_at(workspace: Workspace, actor: Actor, kind: str, name: str, alias: str, when: datetime) -> AliasAt:
    """Which version ``alias`` pointed at, at ``when``; ``NotFound`` saying why if none."""
    _check_kind(kind)
    actor.require(workspace.project_id, Role.VIEWER, f"show where a {kind} alias pointed")
    from assay.catalog import registry_views

    return AliasAt.from_json(
        registry_views.alias_at(
            workspace.catalog, workspace.project_id, kind, owner_name(kind, name), alias, when
        )
    )


def owner_name(kind: str, text: str) -> str:
    """The name in ``summarizer`` or ``model://summarizer``; ``InvalidRequest`` for a version."""
    from assay.catalog.uris import parse_ref

    ref = parse_ref(text, kind)
    if ref.version:
        raise InvalidRequest(
            f"{text!r} names a version; give the {kind}'s name", hint=f"e.g. {ref.name}, not {text}"
        )
    return ref.name


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidRequest(f"aliases belong to models and datasets, not to {kind!r}")
