"""``assay datums``: inspect files addressed by content."""

from __future__ import annotations

from typing import Annotated

import typer

from assay.cli import render
from assay.cli.context import console, handles_errors, local_actor, local_workspace, print_json

app = typer.Typer(no_args_is_help=True)


@app.command("show")
@handles_errors
def show(
    ref: Annotated[str, typer.Argument(help="datum://<id>, datum://<alias>, or the bare id or alias.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show one datum: size, digest, who produced it, metadata, aliases."""
    from assay.operations.executions import show_datum

    with local_workspace() as workspace:
        view = show_datum(workspace, local_actor(), ref).to_json()
    if as_json:
        print_json(view)
    else:
        render.datum_detail(console, view)
