"""``assay executions``: list and inspect executions, their logs and outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from assay.cli import render
from assay.cli.context import console, handles_errors, print_json, reading

app = typer.Typer(no_args_is_help=True)

Ref = Annotated[str, typer.Argument(help="The execution: its number (12 or #12) or its id.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("list")
@handles_errors
def list_command(
    as_json: AsJson = False,
    limit: Annotated[int, typer.Option(help="Show at most this many, newest first.")] = 50,
) -> None:
    """List executions, newest first."""
    from assay.catalog.executions import list_executions
    from assay.catalog.views import describe_execution

    with reading() as (session, pid):
        views = [
            describe_execution(session, e, full=False) for e in list_executions(session, pid, limit=limit)
        ]
    if as_json:
        print_json(views)
    else:
        render.execution_list(console, views)


@app.command("show")
@handles_errors
def show(ref: Ref, as_json: AsJson = False) -> None:
    """Show one execution: parameters, inputs, metadata, outputs, environment."""
    view = _view(ref)
    if as_json:
        print_json(view)
    else:
        render.execution_detail(console, view)


@app.command("logs")
@handles_errors
def logs(ref: Ref) -> None:
    """Print an execution's log (stdout and stderr as they came)."""
    from assay.errors import NotFound

    view = _view(ref)
    path = Path(view["log_path"]) if view["log_path"] else None
    if path is None or not path.is_file():
        raise NotFound(f"execution #{view['counter']} has no log file", hint="it may never have started")
    typer.echo(path.read_text(encoding="utf-8", errors="replace"), nl=False)


@app.command("outputs")
@handles_errors
def outputs(ref: Ref, as_json: AsJson = False) -> None:
    """List the files an execution produced, with their datum references."""
    view = _view(ref)
    if as_json:
        print_json(view["outputs"])
        return
    if not view["outputs"]:
        console.print(f"Execution #{view['counter']} produced no outputs.")
        return
    for datum in view["outputs"]:
        console.print(
            f"{datum['uri']}  {datum['name']}  {render.human_size(datum['size'])}  "
            f"sha256:{datum['sha256'][:12]}"
        )


def _view(ref: str) -> dict[str, Any]:
    from assay.catalog.executions import get_execution
    from assay.catalog.views import describe_execution

    with reading() as (session, pid):
        return describe_execution(session, get_execution(session, pid, ref))
