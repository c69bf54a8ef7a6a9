"""``assay executions``: list and inspect executions, their logs and outputs; stop and settle them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from assay.cli import render
from assay.cli.context import console, handles_errors, print_json, reading
from assay.cli.literal import shown, visible

if TYPE_CHECKING:
    from assay.catalog import Catalog

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
def logs(
    ref: Ref,
    raw: Annotated[
        bool, typer.Option("--raw", help="Print control characters as they came, escape sequences included.")
    ] = False,
) -> None:
    """Print an execution's log (stdout and stderr as they came; control characters escaped)."""
    from assay.errors import NotFound

    view = _view(ref)
    path = Path(view["log_path"]) if view["log_path"] else None
    if path is None or not path.is_file():
        raise NotFound(f"execution #{view['counter']} has no log file", hint="it may never have started")
    text = path.read_text(encoding="utf-8", errors="replace")
    typer.echo(text if raw else visible(text), nl=False)


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
            f"{shown(datum['uri'])}  {shown(datum['name'])}  {render.human_size(datum['size'])}  "
            f"sha256:{datum['sha256'][:12]}"
        )


@app.command("stop")
@handles_errors
def stop(
    ref: Ref,
    wait: Annotated[float, typer.Option(help="Seconds to wait for its driver to stop it.")] = 30.0,
) -> None:
    """Stop a running execution: the process running it ends it and records it `stopped`
    (with that process gone, this command does both)."""
    from assay.executors.orphans import stop_execution

    with _orphans() as (catalog, pid, actor):
        stopped = stop_execution(catalog, pid, ref, actor, wait=wait, on_event=_say)
    console.print(
        f"Execution #{stopped.counter} ({shown(stopped.step)}) is {stopped.status}: {shown(stopped.message)}"
    )
    if stopped.pipeline_run is not None:
        console.print(
            f"Its pipeline run #{stopped.pipeline_run} stops with it: "
            f"`assay pipeline show {stopped.pipeline_run}`"
        )


@app.command("settle")
@handles_errors
def settle(as_json: AsJson = False) -> None:
    """Record the end of executions whose driver is gone (killed with -9, a crash, a reboot),
    and kill what they left running."""
    from dataclasses import asdict

    from assay.executors.orphans import settle as settle_orphans

    with _orphans() as (catalog, pid, actor):
        report = settle_orphans(catalog, pid, actor)
    if as_json:
        print_json({"settled": [asdict(s) for s in report.settled], "left": [asdict(x) for x in report.left]})
        return
    for done in report.settled:
        ended = f"; ended {done.processes} leftover process(es)" if done.processes else ""
        console.print(f"Settled execution #{done.counter} ({shown(done.step)}): {done.status}, "
                      f"{shown(done.message)}{ended}")  # fmt: skip
    for run in sorted({s.pipeline_run for s in report.settled if s.pipeline_run is not None}):
        console.print(f"Pipeline run #{run} has no driver: `assay pipeline resume {run}` continues it.")
    for kept in report.left:
        console.print(f"Left execution #{kept.counter} ({shown(kept.step)}) as it is: {shown(kept.why)}")
    if not report.settled and not report.left:
        console.print("No execution is unfinished: nothing to settle.")


@contextmanager
def _orphans() -> Iterator[tuple[Catalog, str, str]]:
    from assay.cli.context import catalog_for, project, project_id
    from assay.project import current_user

    found = project()
    with catalog_for(found) as catalog:
        yield catalog, project_id(catalog, found, create=False), current_user()


def _say(message: str) -> None:
    console.print(shown(message))


def _view(ref: str) -> dict[str, Any]:
    from assay.catalog.executions import get_execution
    from assay.catalog.views import describe_execution

    with reading() as (session, pid):
        return describe_execution(session, get_execution(session, pid, ref))
