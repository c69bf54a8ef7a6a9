"""``assay models alias`` and ``assay datasets alias``: move, remove and trace version aliases.

Both kinds share these commands; ``alias_app("model")`` builds the ``alias`` group of one.
Every move is kept, so ``history NAME ALIAS --at 2026-03-01`` answers where an alias pointed.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from assay.cli import render_registry
from assay.cli.context import console, handles_errors, parse_time, print_json, project, reading, warn, writing
from assay.cli.literal import shown

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from assay.catalog.registry_tables import Dataset, DatasetVersion, Model, ModelVersion
    from assay.errors import NotFound

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
        _show_move(_move(kind, ref, alias, reason, force), as_json)

    @app.command("remove", help=f"Remove ALIAS from its {kind} version; the removal is kept in the history.")
    @handles_errors
    def remove_alias(name: Name, alias: AliasName, reason: Reason = None, as_json: AsJson = False) -> None:
        _show_move(_remove(kind, name, alias, reason), as_json)

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
        from assay.catalog.registry_views import describe_alias_history
        from assay.errors import InvalidRequest

        when = parse_time(at) if at is not None else None
        if when is not None and alias is None:
            raise InvalidRequest(
                "--at asks where one alias pointed", hint=f"name it: … {name} production --at {at}"
            )
        with reading() as (session, pid):
            found = owner_of(session, pid, kind, name)
            if when is not None and alias is not None:
                view = alias_at(session, kind, found, alias, when)
                if as_json:
                    print_json(view)
                else:
                    pointed = f"{shown(view['uri'])} pointed at [bold]{shown(view['version'])}[/]"
                    console.print(f"{pointed} at {shown(view['at'])}")
                return
            moves = describe_alias_history(session, kind, found.id, found.name, alias)
        if alias is not None and not moves:
            raise _never_set(kind, found.name, alias)
        if as_json:
            print_json(moves)
        else:
            render_registry.alias_history(console, moves, f"{kind}://{found.name}")

    return app


def owner_name(kind: str, text: str) -> str:
    """The name in ``summarizer`` or ``model://summarizer``; ``InvalidRequest`` for a version."""
    from assay.catalog.uris import parse_ref
    from assay.errors import InvalidRequest

    ref = parse_ref(text, kind)
    if ref.version:
        raise InvalidRequest(
            f"{text!r} names a version; give the {kind}'s name", hint=f"e.g. {ref.name}, not {text}"
        )
    return ref.name


def owner_of(session: Session, project_id: str, kind: str, text: str) -> Model | Dataset:
    """The model or dataset ``text`` names (``summarizer`` or ``model://summarizer``)."""
    from assay.catalog import datasets, models

    if kind == "model":
        return models.get_model(session, project_id, owner_name(kind, text))
    return datasets.get_dataset(session, project_id, owner_name(kind, text))


def resolve_version(
    session: Session, project_id: str, kind: str, text: str
) -> tuple[Model | Dataset, ModelVersion | DatasetVersion]:
    from assay.catalog import datasets, models

    if kind == "model":
        return models.resolve(session, project_id, text)
    return datasets.resolve(session, project_id, text)


def alias_at(
    session: Session, kind: str, owner: Model | Dataset, alias: str, when: datetime
) -> dict[str, Any]:
    """Where ``alias`` pointed at ``when``; ``NotFound`` saying why if it pointed nowhere."""
    from assay.catalog.registry_views import describe_alias_at, describe_alias_history
    from assay.errors import NotFound

    view = describe_alias_at(session, kind, owner.id, owner.name, alias, when)
    if view["version"] is not None:
        return view
    moves = describe_alias_history(session, kind, owner.id, owner.name, alias)
    if not moves:
        raise _never_set(kind, owner.name, alias)
    first = moves[0]["at"]
    why = f"it was first set at {first}" if datetime.fromisoformat(first) > when else "it was removed by then"
    raise NotFound(
        f"{view['uri']} pointed at no version at {view['at']}: {why}",
        hint=f"`assay {kind}s alias history {owner.name} {alias}` lists its moves",
    )


def _never_set(kind: str, name: str, alias: str) -> NotFound:
    from assay.errors import NotFound

    return NotFound(
        f"{kind}://{name} has never had an alias {alias!r}",
        hint=f"`assay {kind}s alias history {name}` lists the moves of its aliases",
    )


def _move(kind: str, ref: str, alias: str, reason: str | None, force: bool) -> dict[str, Any]:
    """A model's alias moves under catalog/governance.py's rules (production is a decision)."""
    from assay.catalog import aliases, governance
    from assay.catalog.registry_tables import Model, ModelVersion
    from assay.catalog.registry_views import describe_alias_history
    from assay.errors import InvalidRequest
    from assay.project import current_user
    from assay.spec.settings import load_settings

    if force and kind != "model":
        raise InvalidRequest(f"--force overrides a model version's status; a {kind} alias needs none")
    override = governance.Override(force=force, reason=reason)
    policy = governance.Policy.of(load_settings(project().root))
    warnings: tuple[str, ...] = ()
    with writing() as (session, pid):
        owner, version = resolve_version(session, pid, kind, ref)
        if isinstance(owner, Model) and isinstance(version, ModelVersion):
            moved, decision = governance.set_model_alias(
                session, owner, version, alias, actor=current_user(), reason=reason, override=override,
                policy=policy,
            )  # fmt: skip
            warnings = decision.warnings
        else:
            moved = aliases.move_alias(
                session, project_id=pid, kind=kind, owner_id=owner.id, owner_name=owner.name, name=alias,
                version_id=version.id, actor=current_user(), reason=reason, version_name=version.name,
            )  # fmt: skip
        view = describe_alias_history(session, kind, owner.id, owner.name, alias)[-1]
    for warning in warnings:
        warn(warning)
    return {**view, "changed": moved is not None}


def _remove(kind: str, name: str, alias: str, reason: str | None) -> dict[str, Any]:
    from assay.catalog import aliases
    from assay.catalog.registry_views import describe_alias_history
    from assay.errors import NotFound
    from assay.project import current_user

    with writing() as (session, pid):
        owner = owner_of(session, pid, kind, name)
        current = aliases.current(session, kind, owner.id)
        if alias not in current:
            raise NotFound(
                f"{kind}://{owner.name} has no alias {alias!r}",
                hint=f"its aliases: {', '.join(current) or 'none'}",
            )
        aliases.move_alias(
            session, project_id=pid, kind=kind, owner_id=owner.id, owner_name=owner.name, name=alias,
            version_id=None, actor=current_user(), reason=reason,
        )  # fmt: skip
        view = describe_alias_history(session, kind, owner.id, owner.name, alias)[-1]
    return {**view, "changed": True}


def _show_move(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(view)
    elif not view["changed"]:
        console.print(f"{shown(view['uri'])} already points at {shown(view['to'])}; nothing changed.")
    elif view["to"] is None:
        console.print(f"{shown(view['uri'])} removed (it pointed at {shown(view['from'])}).")
    else:
        came_from = f" (was {shown(view['from'])})" if view["from"] else ""
        console.print(f"{shown(view['uri'])} → [bold]{shown(view['to'])}[/]{came_from}")
