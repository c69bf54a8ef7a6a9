"""``assay models``: the model catalog — list, show cards, compare, approve, alias, review.

A REF names a version: ``model://summarizer/v2``, ``summarizer/v2``, ``summarizer/production``
(an alias) or ``summarizer/latest`` (the newest approved version); a bare ``summarizer`` names
the model itself where a command accepts one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from assay.cli import render_registry
from assay.cli.aliases import alias_app
from assay.cli.context import console, handles_errors, parse_time, print_json, reading, writing
from assay.cli.literal import shown

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from sqlalchemy.orm import Session

    from assay.catalog.registry_tables import Model, ModelVersion

KIND = "model"

app = typer.Typer(no_args_is_help=True)
app.add_typer(
    alias_app(KIND),
    name="alias",
    help="Point aliases (production, candidate) at versions; trace their moves.",
)

Ref = Annotated[
    str, typer.Argument(help="A version: summarizer/v2, summarizer/production, summarizer/latest, model://….")
]
RefOrName = Annotated[
    str, typer.Argument(help="A model (summarizer) or one of its versions (summarizer/v2, …/production).")
]
Name = Annotated[str, typer.Argument(help="The model's name.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Comment = Annotated[str | None, typer.Option("--comment", "-m", help="Why; kept on the card.")]
Force = Annotated[
    bool, typer.Option("--force", help="Decide despite a rejection or a flag; needs --reason, recorded.")
]


@app.command("list")
@handles_errors
def list_command(as_json: AsJson = False) -> None:
    """List models: versions, aliases, the latest approved version."""
    from assay.catalog.models import list_models
    from assay.catalog.registry_views import describe_model

    with reading() as (session, pid):
        views = [describe_model(session, m, full=False) for m in list_models(session, pid)]
    if as_json:
        print_json(views)
    else:
        render_registry.model_list(console, views)


@app.command("show")
@handles_errors
def show(
    ref: RefOrName,
    at: Annotated[
        str | None,
        typer.Option("--at", help="With an alias REF: the version it held at this time (ISO-8601, UTC)."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Show a model (versions, aliases) or a version's card: status, metrics, files, lineage, reviews."""
    from assay.catalog.models import get_model, resolve
    from assay.catalog.registry_views import describe_model, describe_model_version
    from assay.catalog.uris import parse_ref
    from assay.errors import InvalidRequest

    parsed = parse_ref(ref, KIND)
    when = parse_time(at) if at is not None else None
    with reading() as (session, pid):
        if not parsed.version:
            if when is not None:
                raise InvalidRequest(
                    "--at asks which version an alias held", hint=f"name one: {parsed.name}/production"
                )
            view = describe_model(session, get_model(session, pid, parsed.name))
        elif when is not None:
            view = _held_at(session, pid, parsed.name, parsed.version, when)
        else:
            model, version = resolve(session, pid, parsed)
            view = describe_model_version(session, model, version)
    if as_json:
        print_json(view)
    elif "versions" in view:
        render_registry.model_detail(console, view)
    else:
        render_registry.version_card(console, view)


def _held_at(session: Session, project_id: str, name: str, alias: str, when: datetime) -> dict[str, Any]:
    from assay.catalog.models import get_model, resolve, versions_of
    from assay.catalog.registry_views import describe_model_version
    from assay.catalog.uris import LATEST
    from assay.cli.aliases import alias_at
    from assay.errors import InvalidRequest

    model = get_model(session, project_id, name)
    if alias == LATEST or any(v.name == alias for v in versions_of(session, model.id)):
        raise InvalidRequest(
            f"model://{name}/{alias} is {'computed' if alias == LATEST else 'a version'}, not an alias; "
            "--at asks which version an alias held",
            hint=f"`assay models alias history {name}` lists the aliases and their moves",
        )
    held = alias_at(session, KIND, model, alias, when)
    _, version = resolve(session, project_id, held["version"])
    return {
        **describe_model_version(session, model, version),
        "as_of": {"alias": held["uri"], "at": held["at"]},
    }


@app.command("versions")
@handles_errors
def versions(
    name: Name,
    status: Annotated[str | None, typer.Option(help="Only pending, approved or rejected versions.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only versions with this tag.")] = None,
    as_json: AsJson = False,
) -> None:
    """List a model's versions, newest first."""
    from assay.catalog.models import STATUSES, get_model, versions_of
    from assay.catalog.registry_views import describe_model_version
    from assay.cli.aliases import owner_name
    from assay.errors import InvalidRequest

    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"--status {status!r} is not a status", hint=f"one of: {', '.join(STATUSES)}")
    with reading() as (session, pid):
        model = get_model(session, pid, owner_name(KIND, name))
        views = [
            describe_model_version(session, model, v, full=False)
            for v in versions_of(session, model.id, status=status, tag=tag)
        ]
    if as_json:
        print_json(views)
    else:
        render_registry.version_list(console, views)


@app.command("compare")
@handles_errors
def compare(first: Ref, second: Ref, as_json: AsJson = False) -> None:
    """Two versions side by side: status, tags, every metric, and the delta (second − first)."""
    from assay.catalog.models import resolve
    from assay.catalog.registry_views import compare_model_versions

    with reading() as (session, pid):
        view = compare_model_versions(session, resolve(session, pid, first), resolve(session, pid, second))
    if as_json:
        print_json(view)
    else:
        render_registry.comparison(console, view)


@app.command("approve")
@handles_errors
def approve(
    ref: Ref,
    comment: Comment = None,
    force: Force = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="With --force: why the refusal is overridden; recorded.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Approve a version, a decision like a gate's (docs/catalog.md): a rejected version only
    with --force --reason, a flagged one with a warning. Aliases do not move: `alias set` does."""
    from assay.catalog import governance
    from assay.catalog.models import resolve
    from assay.catalog.registry_views import describe_model_version
    from assay.cli.context import project, warn
    from assay.errors import InvalidRequest
    from assay.project import current_user
    from assay.spec.settings import load_settings

    if reason is not None and not force:
        raise InvalidRequest(
            "--reason says why a --force overrides a refusal", hint='say why you approve with --comment "…"'
        )
    override = governance.Override(force=force, reason=reason)
    policy = governance.Policy.of(load_settings(project().root))
    with writing() as (session, pid):
        model, version = resolve(session, pid, ref)
        decision = governance.approve_version(
            session, model, version, actor=current_user(), comment=comment, override=override, policy=policy
        )
        view = describe_model_version(session, model, version)
    for warning in decision.warnings:
        warn(warning)
    forced = f" (forced: {decision.reason})" if decision.overrode else ""
    _show_card(view, as_json, f"{view['uri']} is now approved{forced}.")


@app.command("reject")
@handles_errors
def reject(ref: Ref, comment: Comment = None, as_json: AsJson = False) -> None:
    """Reject a version."""
    _decide(ref, "rejected", comment, as_json)


def _decide(ref: str, status: str, comment: str | None, as_json: bool) -> None:
    from assay.catalog.models import resolve, set_status
    from assay.catalog.registry_views import describe_model_version
    from assay.project import current_user

    with writing() as (session, pid):
        model, version = resolve(session, pid, ref)
        set_status(session, model, version, status, current_user(), comment)
        view = describe_model_version(session, model, version)
    _show_card(view, as_json, f"{view['uri']} is now {status}.")


@app.command("comment")
@handles_errors
def comment_command(
    ref: Ref, text: Annotated[str, typer.Argument(help="The comment.")], as_json: AsJson = False
) -> None:
    """Add a comment to a version's card."""
    from assay.catalog.cards import add_comment

    view = _on_card(
        ref, lambda session, model, version, actor: add_comment(session, model, version, actor, text)
    )
    _show_card(view, as_json, f"Comment added to {view['uri']}.")


@app.command("score")
@handles_errors
def score_command(
    ref: Ref,
    value: Annotated[str, typer.Argument(metavar="SCORE", help="A whole number from 1 to 5.")],
    rubric: Annotated[str, typer.Option("--rubric", "-r", help="What is scored (faithfulness, tone).")],
    comment: Comment = None,
    as_json: AsJson = False,
) -> None:
    """Score a version by a rubric, 1 to 5; every reviewer's score is kept."""
    from assay.catalog.cards import add_score
    from assay.errors import InvalidRequest

    try:
        number = int(value)
    except ValueError:
        raise InvalidRequest(f"a score is a whole number from 1 to 5, not {value!r}") from None
    view = _on_card(
        ref,
        lambda session, model, version, actor: add_score(
            session, model, version, actor, rubric=rubric, score=number, comment=comment
        ),
    )
    _show_card(view, as_json, f"Scored {view['uri']}: {rubric} {number}/5.")


@app.command("describe")
@handles_errors
def describe_command(
    ref: RefOrName, text: Annotated[str, typer.Argument(help="The description.")], as_json: AsJson = False
) -> None:
    """Set the description of a model (REF a name) or of one of its versions."""
    from assay.catalog.cards import set_description
    from assay.catalog.models import get_model, resolve
    from assay.catalog.registry_views import describe_model, describe_model_version
    from assay.catalog.uris import parse_ref
    from assay.project import current_user

    parsed = parse_ref(ref, KIND)
    with writing() as (session, pid):
        if parsed.version:
            model, version = resolve(session, pid, parsed)
            set_description(session, model, version, current_user(), text)
            view = describe_model_version(session, model, version)
        else:
            model = get_model(session, pid, parsed.name)
            set_description(session, model, None, current_user(), text)
            view = describe_model(session, model, full=False)
    if as_json:
        print_json(view)
    else:
        console.print(f"Description of {shown(view['uri'])} set.")


def _on_card(ref: str, write: Callable[[Session, Model, ModelVersion, str], object]) -> dict[str, Any]:
    """Resolve ``ref``, call ``write(session, model, version, actor)``, return the card after."""
    from assay.catalog.models import resolve
    from assay.catalog.registry_views import describe_model_version
    from assay.project import current_user

    with writing() as (session, pid):
        model, version = resolve(session, pid, ref)
        write(session, model, version, current_user())
        return describe_model_version(session, model, version)


def _show_card(view: dict[str, Any], as_json: bool, done: str) -> None:
    if as_json:
        print_json(view)
    else:
        console.print(shown(done))
