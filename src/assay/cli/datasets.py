"""``assay datasets``: named, immutable versions of sets of files — list, show, create, alias.

A REF names a version: ``dataset://domain-news/v2``, ``domain-news/v2``, ``domain-news/latest``
(the newest version) or an alias; a bare ``domain-news`` names the dataset itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assay.cli import remote, render_lineage, render_registry
from assay.cli.aliases import alias_app
from assay.cli.context import console, handles_errors, local_actor, local_workspace, print_json
from assay.cli.literal import shown

KIND = "dataset"

app = typer.Typer(no_args_is_help=True)
app.add_typer(alias_app(KIND), name="alias", help="Point aliases at dataset versions; trace their moves.")

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("list")
@handles_errors
def list_command(as_json: AsJson = False) -> None:
    """List datasets: versions, aliases, the latest version."""
    from assay.operations import datasets

    server = remote.client()
    if server is not None:
        with server:
            views = server.datasets()
    else:
        with local_workspace() as workspace:
            views = [d.to_json() for d in datasets.list_datasets(workspace, local_actor())]
    if as_json:
        print_json(views)
    else:
        render_registry.dataset_list(console, views)


@app.command("show")
@handles_errors
def show(
    ref: Annotated[
        str, typer.Argument(help="A dataset (domain-news) or a version (domain-news/v2, …/latest).")
    ],
    as_json: AsJson = False,
) -> None:
    """Show a dataset (its versions and aliases) or a version (its files, as datum:// references)."""
    from assay.operations import datasets

    server = remote.client()
    if server is not None:
        name, version = remote.split_ref(KIND, ref, version_required=False)
        with server:
            view = server.dataset(name) if version is None else server.dataset_version(name, version)
        whole = version is None
    else:
        with local_workspace() as workspace:
            found = datasets.show(workspace, local_actor(), ref)
        view, whole = found.to_json(), isinstance(found, datasets.DatasetDetail)
    if as_json:
        print_json(view)
    elif whole:
        render_registry.dataset_detail(console, view)
    else:
        render_registry.dataset_version_detail(console, view)


@app.command("create")
@handles_errors
def create(
    name: Annotated[str, typer.Argument(help="The dataset (created if new).")],
    version: Annotated[str, typer.Argument(help="The new version's name: v3, 2026-03-train, ….")],
    files: Annotated[
        list[Path], typer.Argument(help="Files and folders; a folder adds every file under it.")
    ],
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t", help="A tag; repeat for more.")] = None,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from", help="Start from this version's files (v2, latest); new files replace same names."
        ),
    ] = None,
    alias: Annotated[
        list[str] | None,
        typer.Option("--alias", "-a", help="Point this alias at the new version; repeatable."),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Create a dataset version from files on this machine (data arriving from outside).

    A file keeps its base name; a folder's files are named relative to it. Every path is
    checked before anything is stored, and an existing version is never changed.
    """
    from assay.operations import datasets

    server = remote.client()
    if server is not None:
        from assay.runtime.datasets import collect_files

        # NOTE: every path is checked here before a byte is sent; each file is streamed
        found = collect_files(tuple(files))
        with server:
            view = server.create_dataset_version(
                remote.split_ref(KIND, name, version_required=False)[0], found, version=version,
                tags=tag or (), from_version=from_, aliases=alias or (),
            )  # fmt: skip
        _show_version(view, as_json)
        return
    with local_workspace(create=True) as workspace:
        view = datasets.create_version(
            workspace, local_actor(), name, version, files, tags=tag or (), from_version=from_,
            aliases=alias or (),
        ).to_json()  # fmt: skip
    _show_version(view, as_json)


def _show_version(view: dict[str, object], as_json: bool) -> None:
    if as_json:
        print_json(view)
    else:
        render_registry.dataset_version_detail(console, view)


@app.command("flag")
@handles_errors
def flag(
    ref: Annotated[str, typer.Argument(help="The flawed version: dataset://NAME/VERSION.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="What is wrong with it.")],
    demote: Annotated[
        bool,
        typer.Option(
            "--demote", help="Move aliases held by affected versions to the newest unaffected approved one."
        ),
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Flag a dataset version as flawed: every model version built from it is marked."""
    from assay.operations import datasets

    server = remote.client()
    if server is not None:
        name, version = remote.split_ref(KIND, ref)
        with server:
            result = server.flag(name, version or "", reason, demote=demote)
    else:
        with local_workspace(create=True) as workspace:
            result = datasets.flag(workspace, local_actor(), ref, reason=reason, demote=demote).to_json()
    if as_json:
        print_json(result)
        return
    render_lineage.flags(console, [result["flag"]])
    console.print(
        f"{len(result['affected'])} model version(s) marked: {shown(', '.join(result['affected']) or 'none')}"
    )
    for move in result["demoted"]:
        console.print(shown(f"moved {move['alias']} of {move['model']}: {move['from']} → {move['to']}"))
    for entry in result["left"]:
        stays = f"{shown(entry['alias'])} stays on {shown(entry['from'])}"
        console.print(f"[yellow]{stays}[/]: {shown(entry['note'])}")


@app.command("unflag")
@handles_errors
def unflag(
    ref: Annotated[str, typer.Argument(help="A flagged version: dataset://NAME/VERSION.")],
    reason: Annotated[str, typer.Option("--reason", "-r", help="Why the flag is lifted.")],
    as_json: AsJson = False,
) -> None:
    """Lift a dataset version's flag (recorded; the flag's history stays)."""
    from assay.operations import datasets

    server = remote.client()
    if server is not None:
        name, version = remote.split_ref(KIND, ref)
        with server:
            result = server.unflag(name, version or "", reason)
    else:
        with local_workspace(create=True) as workspace:
            result = datasets.unflag(workspace, local_actor(), ref, reason=reason).to_json()
    if as_json:
        print_json(result)
    else:
        render_lineage.flags(console, [result])
