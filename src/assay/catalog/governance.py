"""Decisions outside a gate: ``assay models approve`` and moving a protected alias by hand.

A person who approves a model version, or points the project's production alias at one, makes
the decision a gate makes, so the same rules hold (docs/catalog.md, "Decisions outside a
gate")::

    policy = Policy.of(settings)                  # assay.yaml: approvals, models
    override = Override(force=True, reason="…")   # InvalidRequest: --force without a reason
    decision = approve_version(session, model, version, actor=actor, comment=comment,
                               override=override, policy=policy)
    decision.warnings                             # for the CLI to show
    card, decision = approve(catalog, project_id, "summarizer/v3", actor=actor, comment=comment,
                             override=override, policy=policy)   # its own transaction

* **Who and why** are recorded: the status (or the alias move) with its actor and comment, and
  on the version's card and in the event the facts of the decision — ``forced``, its reason,
  what it ``overrode`` and the ``flags`` it was made over.
* A **rejected** version is refused, unless ``--force --reason …`` (recorded as forced).
* A **flagged** version (built from data flagged flawed) is allowed with a warning, or with
  ``--force --reason …`` without one (recorded as forced); the record names the flags either way.
* With ``approvals.require-different-approver``, a person may not decide a version they
  registered or whose pipeline run they started — as a gate's approver may not be the person
  who started the run. ``--force`` does not lift this.
* Identities are compared normalized (:func:`same_person`): ``ASSAY_USER`` is a name a person
  gives, not a proof of who they are, and ``Alice`` and ``alice`` name one person.

The protected aliases are the project's promote alias and baseline alias (``production`` for
both by default); other aliases, and dataset aliases, move freely.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from assay.catalog import aliases, flags, models, registry_views
from assay.catalog.registry_tables import AliasMove, Model, ModelVersion
from assay.catalog.tables import PipelineRun
from assay.errors import Conflict, InvalidRequest, PermissionDenied
from assay.spec.settings import Settings

if TYPE_CHECKING:
    from assay.catalog.db import Catalog

SEPARATION_SETTING = "assay.yaml: approvals.require-different-approver"


def normalize_identity(name: str) -> str:
    """The form in which two names of a person compare: NFKC, case-folded, stripped.

    NOTE: NFKC again after case folding, because folding can leave a string unnormalized
    (``"ǅ".casefold()``); full-width letters and a no-break space fold to their plain forms.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name).casefold())
    return folded.strip()


def same_person(first: str | None, second: str | None) -> bool:
    """Whether two recorded identities name one person (None, or blank, names nobody)."""
    if first is None or second is None:
        return False
    normalized = normalize_identity(first)
    return bool(normalized) and normalized == normalize_identity(second)


def check_different_approver(
    required: bool, actor: str, makers: Iterable[tuple[str, str | None]], action: str
) -> None:
    """``PermissionDenied`` when ``required`` and ``actor`` is one of ``makers``.

    ``makers`` are (what they did, who): ``("started pipeline run #3", "carol")``; the message
    reads "carol started pipeline run #3 and may not approve it".
    """
    if not required:
        return
    for what, who in makers:
        if same_person(who, actor):
            raise PermissionDenied(
                f"{actor} {what} and may not {action} it ({SEPARATION_SETTING})",
                hint="ask another reviewer, who sets ASSAY_USER or runs as themselves",
            )


@dataclass(frozen=True)
class Policy:
    """The project's rules for decisions, from ``assay.yaml``."""

    require_different_approver: bool = False
    protected_aliases: frozenset[str] = frozenset({"production"})

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        named = {settings.baseline_alias, settings.promote_alias}
        return cls(
            require_different_approver=settings.require_different_approver,
            protected_aliases=frozenset(name for name in named if name),
        )


@dataclass(frozen=True)
class Override:
    """``--force --reason …``: a person overrides a refusal, and says why (kept)."""

    force: bool = False
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.force and not (self.reason or "").strip():
            raise InvalidRequest(
                "--force needs a reason, which is recorded with the decision",
                hint='add --reason "why this version, despite its status"',
            )


@dataclass(frozen=True)
class Decision:
    """What a decision outside a gate found, and recorded."""

    forced: bool = False
    reason: str | None = None
    #: what the decision went against: "rejected by bob at …: too long"
    overrode: tuple[str, ...] = ()
    #: the active flags of the version, as "dataset://news/v2: why (flagged by carol)"
    flags: tuple[str, ...] = ()
    #: for the person deciding, shown by the CLI
    warnings: tuple[str, ...] = ()

    def record(self) -> dict[str, Any]:
        """The facts kept on the card and in the event."""
        return {
            "forced": self.forced,
            "force_reason": self.reason if self.forced else None,
            "overrode": list(self.overrode),
            "flags": list(self.flags),
        }


def approve_version(
    session: Session,
    model: Model,
    version: ModelVersion,
    *,
    actor: str,
    comment: str | None,
    override: Override,
    policy: Policy,
) -> Decision:
    """Approve ``version`` by hand, under the rules of the module's docstring."""
    decision = judge(session, model, version, actor=actor, alias=None, override=override, policy=policy)
    models.set_status(
        session, model, version, models.APPROVED, actor, comment, facts=decision.record(),
        only_from=(version.status,),
    )  # fmt: skip
    return decision


def approve(
    catalog: Catalog,
    project_id: str,
    ref: str,
    *,
    actor: str,
    comment: str | None,
    override: Override,
    policy: Policy,
) -> tuple[dict[str, Any], Decision]:
    """``approve_version`` of the version ``ref`` names, in one transaction: its card after, and
    what the decision found."""
    with catalog.transaction() as session:
        model, version = models.resolve(session, project_id, ref)
        decision = approve_version(
            session, model, version, actor=actor, comment=comment, override=override, policy=policy
        )
        return registry_views.describe_model_version(session, model, version), decision


def reject(catalog: Catalog, project_id: str, ref: str, *, actor: str, comment: str | None) -> dict[str, Any]:
    """Reject the version ``ref`` names (no rule refuses a rejection); its card after."""
    return registry_views.edit_model_version(
        catalog, project_id, ref, lambda session, model, version: models.set_status(
            session, model, version, models.REJECTED, actor, comment
        ),
    )  # fmt: skip


def set_model_alias(
    session: Session,
    model: Model,
    version: ModelVersion,
    alias: str,
    *,
    actor: str,
    reason: str | None,
    override: Override,
    policy: Policy,
) -> tuple[AliasMove | None, Decision]:
    """Point ``alias`` at ``version``; a protected alias only under the module's rules.

    None for the move when the alias points there already (nothing is decided, nothing checked).
    """
    if aliases.target(session, models.KIND, model.id, alias) == version.id:
        return None, Decision()
    protected = alias in policy.protected_aliases
    if protected:
        decision = judge(session, model, version, actor=actor, alias=alias, override=override, policy=policy)
    elif version.status == models.REJECTED:  # not a decision: said, not refused
        decision = Decision(warnings=(f"{models.uri(model, version)} is rejected",))
    else:
        decision = Decision()
    move = aliases.move_alias(
        session, project_id=model.project_id, kind=models.KIND, owner_id=model.id, owner_name=model.name,
        name=alias, version_id=version.id, actor=actor, reason=reason, version_name=version.name,
        facts=decision.record() if protected else None,
    )  # fmt: skip
    if protected and move is not None:
        models.add_card_entry(
            session, version, "alias", actor, {"alias": alias, "comment": reason, **decision.record()}
        )
    return move, decision


def judge(
    session: Session,
    model: Model,
    version: ModelVersion,
    *,
    actor: str,
    alias: str | None,
    override: Override,
    policy: Policy,
) -> Decision:
    """May ``actor`` approve ``version`` (``alias`` None) or point ``alias`` at it? Raises if not."""
    subject = models.uri(model, version)
    action = "approve" if alias is None else f"point {alias} at"
    check_different_approver(
        policy.require_different_approver, actor, makers(session, model, version), action
    )
    overrode: list[str] = []
    if version.status == models.REJECTED:
        said = f": {version.status_comment}" if version.status_comment else ""
        when = version.status_at.isoformat() if version.status_at else "?"
        rejected = f"rejected by {version.status_by} at {when}{said}"
        if not override.force:
            refused = "it may not be approved" if alias is None else f"{alias} may not point at it"
            raise Conflict(
                f"{subject} was {rejected}; {refused}",
                hint='`--force --reason "why"` overrides the rejection; the override is kept on its card',
            )
        overrode.append(rejected)
    found = tuple(
        f"{dataset}: {flag.reason} (flagged by {flag.flagged_by})"
        for flag, dataset in flags.active_flags_of_version(session, version.id)
    )
    warnings: tuple[str, ...] = ()
    if found and override.force:
        overrode.extend(f"flagged {text}" for text in found)
    elif found:
        done = "approved" if alias is None else f"{alias} moved"
        warnings = (
            *(f"{subject} is built from flagged data, {text}" for text in found),
            f'{done} nevertheless (`--force --reason "why"` records why, without this warning)',
        )
    return Decision(
        forced=override.force,
        reason=override.reason,
        overrode=tuple(overrode),
        flags=found,
        warnings=warnings,
    )


def makers(session: Session, model: Model, version: ModelVersion) -> list[tuple[str, str | None]]:
    """Who made ``version``: the person who started its pipeline run, else who registered it.

    NOTE: a version made in a pipeline run records as its creator whoever drove the run at
    that moment — after a gate, the approver, whose process continues the run. The person who
    started the run is the one who trained it.
    """
    subject = models.uri(model, version)
    if version.pipeline_run_id is None:
        return [(f"registered {subject}", version.created_by)]
    run = session.get_one(PipelineRun, version.pipeline_run_id)
    return [(f"started pipeline run #{run.counter}, which made {subject},", run.created_by)]
