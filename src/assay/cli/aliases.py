"""``assay models alias`` and ``assay datasets alias``: move, remove and trace version aliases.

Both kinds share these commands; ``alias_app("model")`` builds the ``alias`` group of one.
Every move is kept, so ``history NAME ALIAS --at 2026-03-01`` answers where an alias pointed.
The rules (who may move a protected alias, what a move decides) are operations/aliases.py's.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from assay.cli import remote, render_registry
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

        server = _server(kind, "set")
        if server is not None:
            name, version = remote.split_ref(kind, ref)
            with server:
                _show_move(server.set_alias(name, alias, version or "", reason=reason, force=force), as_json)
            return
        with local_workspace(create=True) as workspace:
            change = aliases.set_alias(workspace, local_actor(), kind, ref, alias, reason=reason, force=force)
        for warning in change.warnings:
            warn(warning)
        _show_move(change.to_json(), as_json)

    @app.command("remove", help=f"Remove ALIAS from its {kind} version; the removal is kept in the history.")
    @handles_errors
    def remove_alias(name: Name, alias: AliasName, reason: Reason = None, as_json: AsJson = False) -> None:
        from assay.operations import aliases

        remote.refuse_remote(f"assay {kind}s alias remove")
        with local_workspace(create=True) as workspace:
            change = aliases.remove_alias(workspace, local_actor(), kind, name, alias, reason=reason)
        _show_move(change.to_json(), as_json)

    @app.command("show", help=f"The aliases of a {kind} and the versions they point at now.")
    @handles_errors
    def show(name: Name, as_json: AsJson = False) -> None:
        from assay.operations import aliases

        server = _server(kind, "show")
        if server is not None:
            with server:
                held = {item["alias"]: item["version"] for item in server.aliases(remote.split_ref(
                    kind, name, version_required=False)[0])}  # fmt: skip
        else:
            with local_workspace() as workspace:
                held = aliases.show_aliases(workspace, local_actor(), kind, name)
        if as_json:
            print_json(held)
            return
        for alias, version in sorted(held.items()):
            console.print(f"{shown(alias)}  →  {shown(version)}")
        if not held:
            console.print(f"{shown(name)} has no aliases.")

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
        server = _server(kind, "history")
        if server is not None:
            owner = remote.split_ref(kind, name, version_required=False)[0]
            with server:
                if when is not None and alias is not None:
                    _show_held(server.alias(owner, alias, at=when.isoformat()), as_json)
                    return
                if alias is not None:
                    moves = server.alias_history(owner, alias)
                else:  # every alias's moves, oldest first, as the catalog lists them
                    listed = [
                        move
                        for item in server.aliases(owner)
                        for move in server.alias_history(owner, item["alias"])
                    ]
                    moves = sorted(listed, key=lambda move: move["at"] or "")
            if as_json:
                print_json(moves)
            else:
                render_registry.alias_history(console, moves, f"{kind}://{owner}")
            return
        with local_workspace() as workspace:
            if when is not None and alias is not None:
                _show_held(
                    aliases.alias_at(workspace, local_actor(), kind, name, alias, when).to_json(), as_json
                )
                return
            moves = aliases.alias_history(workspace, local_actor(), kind, name, alias)
            owner = aliases.owner_name(kind, name)
        if as_json:
            print_json(moves.to_json())
        else:
            render_registry.alias_history(console, moves.to_json(), f"{kind}://{owner}")

    return app


def _server(kind: str, command: str) -> Any:
    """The configured server's client for a model alias command; datasets' aliases have no
    server form (yet), so those are refused against a server."""
    if kind != "model":
        remote.refuse_remote(f"assay {kind}s alias {command}")
        return None
    return remote.client()


def _show_held(held: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(held)
    else:
        pointed = f"{shown(held['uri'])} pointed at [bold]{shown(held['version'])}[/]"
        console.print(f"{pointed} at {shown(held['at'])}")


def _show_move(change: dict[str, Any], as_json: bool) -> None:
    """An ``AliasChange``'s JSON: the alias's last move and whether this call made it."""
    if as_json:
        print_json(change)
    elif not change["changed"]:
        console.print(f"{shown(change['uri'])} already points at {shown(change['to'])}; nothing changed.")
    elif change["to"] is None:
        console.print(f"{shown(change['uri'])} removed (it pointed at {shown(change['from'])}).")
    else:
        came_from = f" (was {shown(change['from'])})" if change["from"] else ""
        console.print(f"{shown(change['uri'])} → [bold]{shown(change['to'])}[/]{came_from}")
