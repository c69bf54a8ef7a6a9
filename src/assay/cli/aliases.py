"""``assay models alias`` and ``assay datasets alias``: move, remove and trace version aliases.

Both kinds share these commands; ``alias_app("model")`` builds the ``alias`` group of one.
Every move is kept, so ``history NAME ALIAS --at 2026-03-01`` answers where an alias pointed.
The rules (who may move a protected alias, what a move decides) are operations/aliases.py's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli import render_registry
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

if TYPE_CHECKING:
    from assay.operations.aliases import AliasChange

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Reason = Annotated[str | None, typer.Option("--reason", "-m", help="Why; kept with the move.")]
At = Annotated[
    str | None,
    typer.Option("--at", help="A time (ISO-8601, e.g. 2026-03-01T09:30Z; UTC without a zone)."),
]
VersionRef = Annotated[
    str, typer.Argument(help="The version: NAME/VERSION (summarizer/v2), NAME/ALIAS, or with its scheme.")
]
Name = Annotated[str, typer.Argument(help="The model's or dataset's name.")]
AliasName = Annotated[str, typer.Argument(help="The alias (production, candidate).")]


def alias_app(kind: str) -> typer.Typer:
    """The ``alias`` command group of ``assay models`` (kind ``model``) or ``assay datasets``."""
    app = typer.Typer(no_args_is_help=True)

    @app.command("set", help=f"Point ALIAS at a {kind} version; the move is kept in the history.")
    @handles_errors
    def set_alias(
        ref: VersionRef,
        alias: AliasName,
        reason: Reason = None,
        force: Annotated[
            bool,
            typer.Option(
                "--force", help="Models: point the production alias at a rejected version; needs --reason."
            ),
        ] = False,
        as_json: AsJson = False,
    ) -> None:
        from assay.operations import aliases

        with local_workspace(create=True) as workspace:
            change = aliases.set_alias(workspace, local_actor(), kind, ref, alias, reason=reason, force=force)
        for warning in change.warnings:
            warn(warning)
        _show_move(change, as_json)

    @app.command("remove", help=f"Remove ALIAS from its {kind} version; the removal is kept in the history.")
    @handles_errors
    def remove_alias(name: Name, alias: AliasName, reason: Reason = None, as_json: AsJson = False) -> None:
        from assay.operations import aliases

        with local_workspace(create=True) as workspace:
            change = aliases.remove_alias(workspace, local_actor(), kind, name, alias, reason=reason)
        _show_move(change, as_json)

    @app.command(
        "history",
        help="Every move of the aliases (or of ALIAS): when, from which version to which, who, why. "
        "With --at and an ALIAS: the version it pointed at then.",
    )
    @handles_errors
    def history(
        name: Name,
        alias: Annotated[str | None, typer.Argument(help="Only this alias.")] = None,
        at: At = None,
        as_json: AsJson = False,
    ) -> None:
        from assay.errors import InvalidRequest
        from assay.operations import aliases

        when = parse_time(at) if at is not None else None
        if when is not None and alias is None:
            raise InvalidRequest(
                "--at asks where one alias pointed", hint=f"name it: … {name} production --at {at}"
            )
        with local_workspace() as workspace:
            if when is not None and alias is not None:
                held = aliases.alias_at(workspace, local_actor(), kind, name, alias, when)
                if as_json:
                    print_json(held.to_json())
                else:
                    pointed = f"{shown(held.uri)} pointed at [bold]{shown(held.version)}[/]"
                    console.print(f"{pointed} at {shown(held.at)}")
                return
            moves = aliases.alias_history(workspace, local_actor(), kind, name, alias)
            owner = aliases.owner_name(kind, name)
        if as_json:
            print_json(moves.to_json())
        else:
            render_registry.alias_history(console, moves.to_json(), f"{kind}://{owner}")

    return app


def _show_move(change: AliasChange, as_json: bool) -> None:
    move = change.move
    if as_json:
        print_json(change.to_json())
    elif not change.changed:
        console.print(f"{shown(move.uri)} already points at {shown(move.to)}; nothing changed.")
    elif move.to is None:
        console.print(f"{shown(move.uri)} removed (it pointed at {shown(move.from_)}).")
    else:
        came_from = f" (was {shown(move.from_)})" if move.from_ else ""
        console.print(f"{shown(move.uri)} → [bold]{shown(move.to)}[/]{came_from}")
