"""Models and their versions: list, show (by version, alias or ``latest``; an alias at a time),
compare, approve, reject, tags, describe. Reads need viewer, a description member, a decision
(approve, reject) approver::

    card = show_version(workspace, actor, "summarizer/production")
    decided = approve_version(workspace, actor, "summarizer/v3", comment="better on long news")
    decided.card.status, decided.warnings
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from assay.errors import InvalidRequest
from assay.operations.actor import Actor, Role
from assay.operations.aliases import AliasAt, held_at, owner_name
from assay.operations.views import JSON, View, meta
from assay.operations.workspace import Workspace

KIND = "model"


@dataclass(frozen=True)
class VersionSummary(View):
    uri: str
    id: str
    model: str
    version: str
    counter: int
    status: str
    aliases: tuple[str, ...]
    tags: JSON
    metrics: JSON
    created_at: str | None
    created_by: str


@dataclass(frozen=True)
class VersionCard(View):
    """A version with its card: status and who set it, files, lineage, reviews, verdicts.

    ``as_of`` is set when the version was asked for as an alias's holder at a time."""

    uri: str
    id: str
    model: str
    version: str
    counter: int
    status: str
    aliases: tuple[str, ...]
    tags: JSON
    metrics: JSON
    created_at: str | None
    created_by: str
    status_by: str | None
    status_at: str | None
    status_comment: str | None
    release_note: str | None
    description: str | None
    properties: JSON
    files: JSON
    source_execution: JSON
    pipeline_run: JSON
    inputs: JSON
    came_from: JSON
    flags: JSON
    card: JSON
    verdicts: JSON
    as_of: JSON = field(default=None, metadata=meta(omit_none=True))


@dataclass(frozen=True)
class ModelSummary(View):
    name: str
    uri: str
    description: str | None
    created_by: str
    created_at: str | None
    aliases: JSON
    latest_approved: str | None
    latest: str | None
    version_count: int


@dataclass(frozen=True)
class ModelDetail(View):
    name: str
    uri: str
    description: str | None
    created_by: str
    created_at: str | None
    aliases: JSON
    latest_approved: str | None
    latest: str | None
    version_count: int
    versions: tuple[VersionSummary, ...] = field(metadata=meta(view=VersionSummary))


@dataclass(frozen=True)
class Comparison(View):
    first: VersionSummary = field(metadata=meta(view=VersionSummary))
    second: VersionSummary = field(metadata=meta(view=VersionSummary))
    metrics: JSON  # [{"metric", "first", "second", "delta"}]
    tags: JSON  # {"both", "first_only", "second_only"}


@dataclass(frozen=True)
class Decided(View):
    """A version after a decision; ``warnings`` are for the person who made it (not JSON)."""

    card: VersionCard
    warnings: tuple[str, ...] = ()
    forced_reason: str | None = None

    def to_json(self) -> dict[str, JSON]:
        return self.card.to_json()


@dataclass(frozen=True)
class TagCount(View):
    tag: str
    versions: int


def list_models(workspace: Workspace, actor: Actor) -> tuple[ModelSummary, ...]:
    actor.require(workspace.project_id, Role.VIEWER, "list models")
    from assay.catalog.models import list_models as rows
    from assay.catalog.registry_views import describe_model

    with workspace.catalog.read() as session:
        return tuple(
            ModelSummary.from_json(describe_model(session, m, full=False))
            for m in rows(session, workspace.project_id)
        )


def show_model(workspace: Workspace, actor: Actor, name: str) -> ModelDetail:
    actor.require(workspace.project_id, Role.VIEWER, "show a model")
    from assay.catalog.models import get_model
    from assay.catalog.registry_views import describe_model

    with workspace.catalog.read() as session:
        model = get_model(session, workspace.project_id, owner_name(KIND, name))
        return ModelDetail.from_json(describe_model(session, model))


def show_version(workspace: Workspace, actor: Actor, ref: str, *, at: datetime | None = None) -> VersionCard:
    """The version ``ref`` names (``summarizer/v2``, ``…/production``, ``…/latest``); with ``at``
    and an alias, the version the alias held then (``as_of`` says so)."""
    actor.require(workspace.project_id, Role.VIEWER, "show a model version")
    from assay.catalog.models import get_model, resolve, versions_of
    from assay.catalog.registry_views import describe_model_version
    from assay.catalog.uris import LATEST, parse_ref

    parsed = parse_ref(ref, KIND)
    if not parsed.version:
        hint = f"name one: {parsed.name}/production" if at is not None else f"e.g. {parsed.name}/latest"
        raise InvalidRequest("--at asks which version an alias held" if at else f"{ref!r} names no version",
                             hint=hint)  # fmt: skip
    with workspace.catalog.read() as session:
        if at is None:
            model, version = resolve(session, workspace.project_id, parsed)
            return VersionCard.from_json(describe_model_version(session, model, version))
        model = get_model(session, workspace.project_id, parsed.name)
        alias = parsed.version
        if alias == LATEST or any(v.name == alias for v in versions_of(session, model.id)):
            raise InvalidRequest(
                f"model://{parsed.name}/{alias} is {'computed' if alias == LATEST else 'a version'}, "
                "not an alias; --at asks which version an alias held",
                hint=f"`assay models alias history {parsed.name}` lists the aliases and their moves",
            )
        held: AliasAt = held_at(session, KIND, model, alias, at)
        _, version = resolve(session, workspace.project_id, held.version or "")
        view = describe_model_version(session, model, version)
    return VersionCard.from_json({**view, "as_of": {"alias": held.uri, "at": held.at}})


def show(
    workspace: Workspace, actor: Actor, ref: str, *, at: datetime | None = None
) -> ModelDetail | VersionCard:
    """A model (``summarizer``: its versions and aliases) or one of its versions' card."""
    from assay.catalog.uris import parse_ref

    if parse_ref(ref, KIND).version or at is not None:
        return show_version(workspace, actor, ref, at=at)
    return show_model(workspace, actor, ref)


def list_versions(
    workspace: Workspace, actor: Actor, name: str, *, status: str | None = None, tag: str | None = None
) -> tuple[VersionSummary, ...]:
    """A model's versions, newest first; only those of ``status`` or with ``tag``."""
    actor.require(workspace.project_id, Role.VIEWER, "list model versions")
    from assay.catalog.models import STATUSES, get_model, versions_of
    from assay.catalog.registry_views import describe_model_version

    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"--status {status!r} is not a status", hint=f"one of: {', '.join(STATUSES)}")
    with workspace.catalog.read() as session:
        model = get_model(session, workspace.project_id, owner_name(KIND, name))
        return tuple(
            VersionSummary.from_json(describe_model_version(session, model, v, full=False))
            for v in versions_of(session, model.id, status=status, tag=tag)
        )


def model_tags(workspace: Workspace, actor: Actor, name: str) -> tuple[TagCount, ...]:
    """The tags of a model's versions, each with how many versions carry it, by name."""
    counted: dict[str, int] = {}
    for version in list_versions(workspace, actor, name):
        for tag in version.tags:
            counted[tag] = counted.get(tag, 0) + 1
    return tuple(TagCount(tag=tag, versions=n) for tag, n in sorted(counted.items()))


def compare_versions(workspace: Workspace, actor: Actor, first: str, second: str) -> Comparison:
    """Two versions side by side: status, tags, every metric, and the delta (second − first)."""
    actor.require(workspace.project_id, Role.VIEWER, "compare model versions")
    from assay.catalog.models import resolve
    from assay.catalog.registry_views import compare_model_versions

    with workspace.catalog.read() as session:
        pid = workspace.project_id
        return Comparison.from_json(
            compare_model_versions(session, resolve(session, pid, first), resolve(session, pid, second))
        )


def approve_version(
    workspace: Workspace,
    actor: Actor,
    ref: str,
    *,
    comment: str | None = None,
    force: bool = False,
    reason: str | None = None,
) -> Decided:
    """Approve a version, under a gate's rules (docs/catalog.md, "Decisions outside a gate")."""
    actor.require(workspace.project_id, Role.APPROVER, "approve a model version")
    from assay.catalog import governance
    from assay.catalog.models import resolve
    from assay.catalog.registry_views import describe_model_version

    if reason is not None and not force:
        raise InvalidRequest(
            "--reason says why a --force overrides a refusal", hint='say why you approve with --comment "…"'
        )
    override = governance.Override(force=force, reason=reason)
    policy = governance.Policy.of(workspace.settings())
    with workspace.catalog.transaction() as session:
        model, version = resolve(session, workspace.project_id, ref)
        decision = governance.approve_version(
            session, model, version, actor=actor.name, comment=comment, override=override, policy=policy
        )
        card = VersionCard.from_json(describe_model_version(session, model, version))
    return Decided(
        card=card, warnings=decision.warnings, forced_reason=decision.reason if decision.overrode else None
    )


def reject_version(workspace: Workspace, actor: Actor, ref: str, *, comment: str | None = None) -> Decided:
    actor.require(workspace.project_id, Role.APPROVER, "reject a model version")
    from assay.catalog.models import REJECTED, set_status

    return Decided(
        card=on_version(
            workspace, ref, lambda session, model, version: set_status(
                session, model, version, REJECTED, actor.name, comment
            ),
        )
    )  # fmt: skip


def describe(workspace: Workspace, actor: Actor, ref: str, text: str) -> VersionCard | ModelSummary:
    """Set the description of a model (``ref`` a name) or of one of its versions."""
    actor.require(workspace.project_id, Role.MEMBER, "describe a model")
    from assay.catalog.cards import set_description
    from assay.catalog.models import get_model
    from assay.catalog.registry_views import describe_model
    from assay.catalog.uris import parse_ref

    parsed = parse_ref(ref, KIND)
    if parsed.version:
        return on_version(
            workspace, ref, lambda session, model, version: set_description(
                session, model, version, actor.name, text
            ),
        )  # fmt: skip
    with workspace.catalog.transaction() as session:
        model = get_model(session, workspace.project_id, parsed.name)
        set_description(session, model, None, actor.name, text)
        return ModelSummary.from_json(describe_model(session, model, full=False))


def on_version(workspace: Workspace, ref: str, write: Callable[[Any, Any, Any], object]) -> VersionCard:
    """Resolve ``ref``, call ``write(session, model, version)`` in one transaction, return the
    card after (the caller checked the actor's role)."""
    from assay.catalog.models import resolve
    from assay.catalog.registry_views import describe_model_version

    with workspace.catalog.transaction() as session:
        model, version = resolve(session, workspace.project_id, ref)
        write(session, model, version)
        return VersionCard.from_json(describe_model_version(session, model, version))
