"""Models and their versions: list, show (by version, alias or ``latest``; an alias at a time),
compare, approve, reject, tags, describe. Reads need viewer, a description member, a decision
(approve, reject) approver::

    card = show_version(workspace, actor, "summarizer/production")
    decided = approve_version(workspace, actor, "summarizer/v3", comment="better on long news")
    decided.card.status, decided.warnings
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from assay.errors import InvalidRequest
from assay.operations.actor import Actor, Role
from assay.operations.aliases import owner_name
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
class VersionCard(VersionSummary):
    """A version with its card: status and who set it, files, lineage, reviews, verdicts.

    ``as_of`` is set when the version was asked for as an alias's holder at a time."""

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
class ModelDetail(ModelSummary):
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
    from assay.catalog.registry_views import owner_views

    return ModelSummary.many(owner_views(workspace.catalog, workspace.project_id, KIND))


def show_model(workspace: Workspace, actor: Actor, name: str) -> ModelDetail:
    actor.require(workspace.project_id, Role.VIEWER, "show a model")
    from assay.catalog.registry_views import owner_view

    return ModelDetail.from_json(
        owner_view(workspace.catalog, workspace.project_id, KIND, owner_name(KIND, name))
    )


def show_version(workspace: Workspace, actor: Actor, ref: str, *, at: datetime | None = None) -> VersionCard:
    """The version ``ref`` names (``summarizer/v2``, ``…/production``, ``…/latest``); with ``at``
    and an alias, the version the alias held then (``as_of`` says so)."""
    actor.require(workspace.project_id, Role.VIEWER, "show a model version")
    from assay.catalog.registry_views import model_version_at, model_version_view
    from assay.catalog.uris import parse_ref

    parsed = parse_ref(ref, KIND)
    if not parsed.version:
        hint = f"name one: {parsed.name}/production" if at is not None else f"e.g. {parsed.name}/latest"
        raise InvalidRequest("--at asks which version an alias held" if at else f"{ref!r} names no version",
                             hint=hint)  # fmt: skip
    if at is None:
        return VersionCard.from_json(model_version_view(workspace.catalog, workspace.project_id, parsed))
    return VersionCard.from_json(
        model_version_at(workspace.catalog, workspace.project_id, parsed.name, parsed.version, at)
    )


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
    from assay.catalog.models import STATUSES
    from assay.catalog.registry_views import model_version_views

    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"--status {status!r} is not a status", hint=f"one of: {', '.join(STATUSES)}")
    return VersionSummary.many(
        model_version_views(
            workspace.catalog, workspace.project_id, owner_name(KIND, name), status=status, tag=tag
        )
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
    from assay.catalog.registry_views import comparison

    return Comparison.from_json(comparison(workspace.catalog, workspace.project_id, first, second))


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

    if reason is not None and not force:
        raise InvalidRequest(
            "--reason says why a --force overrides a refusal", hint='say why you approve with --comment "…"'
        )
    override = governance.Override(force=force, reason=reason)
    policy = governance.Policy.of(workspace.settings())
    card, decision = governance.approve(
        workspace.catalog, workspace.project_id, ref, actor=actor.name, comment=comment, override=override,
        policy=policy,
    )  # fmt: skip
    return Decided(
        card=VersionCard.from_json(card), warnings=decision.warnings,
        forced_reason=decision.reason if decision.overrode else None,
    )  # fmt: skip


def reject_version(workspace: Workspace, actor: Actor, ref: str, *, comment: str | None = None) -> Decided:
    actor.require(workspace.project_id, Role.APPROVER, "reject a model version")
    from assay.catalog.governance import reject

    card = reject(workspace.catalog, workspace.project_id, ref, actor=actor.name, comment=comment)
    return Decided(card=VersionCard.from_json(card))


def describe(workspace: Workspace, actor: Actor, ref: str, text: str) -> VersionCard | ModelSummary:
    """Set the description of a model (``ref`` a name) or of one of its versions."""
    actor.require(workspace.project_id, Role.MEMBER, "describe a model")
    from assay.catalog import cards
    from assay.catalog.uris import parse_ref

    parsed = parse_ref(ref, KIND)
    if parsed.version:
        return VersionCard.from_json(
            cards.describe_version(workspace.catalog, workspace.project_id, ref, actor.name, text)
        )
    return ModelSummary.from_json(
        cards.describe_model(workspace.catalog, workspace.project_id, parsed.name, actor.name, text)
    )
