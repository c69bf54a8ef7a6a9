"""``assay datasets``: named, immutable versions of sets of files — list, show, create, alias.

A REF names a version: ``dataset://domain-news/v2``, ``domain-news/v2``, ``domain-news/latest``
(the newest version) or an alias; a bare ``domain-news`` names the dataset itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assay.cli import render_lineage, render_registry
from assay.cli.aliases import alias_app
from assay.cli.context import (
    catalog_for,
    console,
    handles_errors,
    print_json,
    project,
    project_id,
    reading,
    writing,
)
from assay.cli.literal import shown

KIND = "dataset"

app = typer.Typer(no_args_is_help=True)
app.add_typer(alias_app(KIND), name="alias", help="Point aliases at dataset versions; trace their moves.")

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("list")
@handles_errors
def list_command(as_json: AsJson = False) -> None:
    """List datasets: versions, aliases, the latest version."""
    from assay.catalog.datasets import list_datasets
    from assay.catalog.registry_views import describe_dataset

    with reading() as (session, pid):
        views = [describe_dataset(session, d, full=False) for d in list_datasets(session, pid)]
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
    from assay.catalog.datasets import get_dataset, resolve
    from assay.catalog.registry_views import describe_dataset, describe_dataset_version
    from assay.catalog.uris import parse_ref

    parsed = parse_ref(ref, KIND)
    with reading() as (session, pid):
        if parsed.version:
            dataset, version = resolve(session, pid, parsed)
            view = describe_dataset_version(session, dataset, version)
        else:
            view = describe_dataset(session, get_dataset(session, pid, parsed.name))
    if as_json:
        print_json(view)
    elif "versions" in view:
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
    from assay.artifacts import ArtifactStore
    from assay.catalog.datasets import resolve
    from assay.catalog.registry_views import describe_dataset_version
    from assay.project import current_user
    from assay.runtime.datasets import NewDatasetVersion, create_dataset_version

    request = NewDatasetVersion(
        dataset=name,
        version=version,
        paths=tuple(files),
        tags=tuple(tag or ()),
        from_version=from_,
        aliases=tuple(alias or ()),
    )
    found = project()
    with catalog_for(found) as catalog:
        pid = project_id(catalog, found)
        uri = create_dataset_version(
            request, catalog=catalog, store=ArtifactStore.local(found.store_root), project_id=pid,
            actor=current_user(),
        )  # fmt: skip
        with catalog.read() as session:
            view = describe_dataset_version(session, *resolve(session, pid, uri))
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
    from assay.catalog.flags import flag_dataset
    from assay.project import current_user

    with writing() as (session, pid):
        result = flag_dataset(session, pid, _full(ref), reason=reason, actor=current_user(), demote=demote)
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
    from assay.catalog.flags import unflag_dataset
    from assay.project import current_user

    with writing() as (session, pid):
        result = unflag_dataset(session, pid, _full(ref), reason=reason, actor=current_user())
    if as_json:
        print_json(result)
    else:
        render_lineage.flags(console, [result])


def _full(ref: str) -> str:
    return ref if ref.startswith("dataset://") else f"dataset://{ref}"
