"""``assay models``: the model catalog — list, show cards, compare, approve, alias, review.

A REF names a version: ``model://summarizer/v2``, ``summarizer/v2``, ``summarizer/production``
(an alias) or ``summarizer/latest`` (the newest approved version); a bare ``summarizer`` names
the model itself where a command accepts one.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from assay.cli import remote, render_registry
from assay.cli.aliases import alias_app
from assay.cli.context import (
    console,
    handles_errors,
    local_actor,
    local_workspace,
    parse_time,
    print_json,
    warn,
)
from assay.cli.literal import shown

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
    from assay.operations import models

    server = remote.client()
    if server is not None:
        with server:
            views = server.models()
    else:
        with local_workspace() as workspace:
            views = [m.to_json() for m in models.list_models(workspace, local_actor())]
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
    from assay.operations import models

    when = parse_time(at) if at is not None else None
    server = remote.client()
    if server is not None:
        name, version = remote.split_ref(KIND, ref, version_required=when is not None)
        with server:
            view = (
                server.model(name)
                if version is None
                else server.version(name, version, at=when.isoformat() if when else None)
            )
        is_model = version is None
    else:
        with local_workspace() as workspace:
            found = models.show(workspace, local_actor(), ref, at=when)
        view, is_model = found.to_json(), isinstance(found, models.ModelDetail)
    if as_json:
        print_json(view)
    elif is_model:
        render_registry.model_detail(console, view)
    else:
        render_registry.version_card(console, view)


@app.command("versions")
@handles_errors
def versions(
    name: Name,
    status: Annotated[str | None, typer.Option(help="Only pending, approved or rejected versions.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only versions with this tag.")] = None,
    as_json: AsJson = False,
) -> None:
    """List a model's versions, newest first."""
    from assay.operations import models

    server = remote.client()
    if server is not None:
        with server:
            views = server.versions(name, status=status, tag=tag)
    else:
        with local_workspace() as workspace:
            views = [
                v.to_json()
                for v in models.list_versions(workspace, local_actor(), name, status=status, tag=tag)
            ]
    if as_json:
        print_json(views)
    else:
        render_registry.version_list(console, views)


@app.command("compare")
@handles_errors
def compare(first: Ref, second: Ref, as_json: AsJson = False) -> None:
    """Two versions side by side: status, tags, every metric, and the delta (second − first)."""
    from assay.errors import InvalidRequest
    from assay.operations import models

    server = remote.client()
    if server is not None:
        (model, one), (other, two) = remote.split_ref(KIND, first), remote.split_ref(KIND, second)
        if model != other:
            raise InvalidRequest(
                f"through a server, a comparison is of two versions of one model, not {model} and {other}"
            )
        with server:
            view = server.compare(model, [one or "", two or ""])
    else:
        with local_workspace() as workspace:
            view = models.compare_versions(workspace, local_actor(), first, second).to_json()
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
    from assay.operations import models

    server = remote.client()
    if server is not None:
        name, version = remote.split_ref(KIND, ref)
        with server:
            card = server.approve_version(name, version or "", comment=comment, force=force, reason=reason)
        forced = f" (forced: {reason})" if force else ""
        _show_card(card, as_json, f"{card['uri']} is now approved{forced}.")
        return
    with local_workspace(create=True) as workspace:
        decided = models.approve_version(
            workspace, local_actor(), ref, comment=comment, force=force, reason=reason
        )
    for warning in decided.warnings:
        warn(warning)
    forced = f" (forced: {decided.forced_reason})" if decided.forced_reason is not None else ""
    _show_card(decided.card.to_json(), as_json, f"{decided.card.uri} is now approved{forced}.")


@app.command("reject")
@handles_errors
def reject(ref: Ref, comment: Comment = None, as_json: AsJson = False) -> None:
    """Reject a version."""
    from assay.operations import models

    server = remote.client()
    if server is not None:
        name, version = remote.split_ref(KIND, ref)
        with server:
            card = server.reject_version(name, version or "", comment=comment)
    else:
        with local_workspace(create=True) as workspace:
            card = models.reject_version(workspace, local_actor(), ref, comment=comment).card.to_json()
    _show_card(card, as_json, f"{card['uri']} is now rejected.")


@app.command("comment")
@handles_errors
def comment_command(
    ref: Ref, text: Annotated[str, typer.Argument(help="The comment.")], as_json: AsJson = False
) -> None:
    """Add a comment to a version's card."""
    from assay.operations import cards

    server = remote.client()
    if server is not None:
        name, version = remote.split_ref(KIND, ref)
        with server:
            card = server.comment(name, version or "", text)
    else:
        with local_workspace(create=True) as workspace:
            card = cards.comment(workspace, local_actor(), ref, text).to_json()
    _show_card(card, as_json, f"Comment added to {card['uri']}.")


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
    from assay.operations import cards

    number = cards.parse_score(value)
    server = remote.client()
    if server is not None:
        name, version = remote.split_ref(KIND, ref)
        with server:
            card = server.score(name, version or "", rubric, number, comment=comment)
    else:
        with local_workspace(create=True) as workspace:
            scored = cards.score(workspace, local_actor(), ref, rubric=rubric, value=number, comment=comment)
        card = scored.to_json()
    _show_card(card, as_json, f"Scored {card['uri']}: {rubric} {number}/5.")


@app.command("describe")
@handles_errors
def describe_command(
    ref: RefOrName, text: Annotated[str, typer.Argument(help="The description.")], as_json: AsJson = False
) -> None:
    """Set the description of a model (REF a name) or of one of its versions."""
    from assay.operations import models

    remote.refuse_remote("assay models describe")
    with local_workspace(create=True) as workspace:
        view = models.describe(workspace, local_actor(), ref, text)
    if as_json:
        print_json(view.to_json())
    else:
        console.print(f"Description of {shown(view.uri)} set.")


def _show_card(card: dict[str, Any], as_json: bool, done: str) -> None:
    if as_json:
        print_json(card)
    else:
        console.print(shown(done))
