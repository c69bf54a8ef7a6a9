"""``assay executions``: list and inspect executions, their logs and outputs; stop and settle them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Annotated

import typer

from assay.cli import remote, render
from assay.cli.context import console, handles_errors, local_actor, local_workspace, print_json
from assay.cli.literal import shown, visible

app = typer.Typer(no_args_is_help=True)

Ref = Annotated[str, typer.Argument(help="The execution: its number (12 or #12) or its id.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
#: how often a followed log is read again while nothing new was written
FOLLOW_POLL_SECONDS = 0.2


@app.command("list")
@handles_errors
def list_command(
    as_json: AsJson = False,
    limit: Annotated[int, typer.Option(help="Show at most this many, newest first.")] = 50,
) -> None:
    """List executions, newest first."""
    from assay.operations import executions

    server = remote.client()
    if server is not None:
        with server:
            views = server.executions(limit=limit)
    else:
        with local_workspace() as workspace:
            page = executions.list_executions(workspace, local_actor(), limit=limit)
        views = [e.to_json() for e in page.executions]
    if as_json:
        print_json(views)
    else:
        render.execution_list(console, views)


@app.command("show")
@handles_errors
def show(ref: Ref, as_json: AsJson = False) -> None:
    """Show one execution: parameters, inputs, metadata, outputs, environment."""
    from assay.operations import executions

    server = remote.client()
    if server is not None:
        with server:
            view = server.execution(ref)
    else:
        with local_workspace() as workspace:
            view = executions.show_execution(workspace, local_actor(), ref).to_json()
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
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing what is written until the execution ends.")
    ] = False,
) -> None:
    """Print an execution's log (stdout and stderr as they came; control characters escaped)."""
    server = remote.client()
    if server is not None:
        with server:
            if follow:
                for line in server.follow_logs(ref):
                    typer.echo(line if raw else visible(line))
                return
            _echo(server.logs(ref).encode("utf-8"), raw)
        return
    for data in _local_log(ref, follow):
        _echo(data, raw)


def _local_log(ref: str, follow: bool) -> Iterator[bytes]:
    """The log's bytes; with ``follow``, more as they are written, until the execution ends."""
    from assay.operations import executions

    offset = 0
    with local_workspace() as workspace:
        while True:
            chunk = executions.read_log(workspace, local_actor(), ref, offset=offset)
            if chunk.data:
                yield chunk.data
            offset = chunk.next_offset
            if not follow or (chunk.finished and not chunk.data):
                return
            if not chunk.data:
                time.sleep(FOLLOW_POLL_SECONDS)


def _echo(data: bytes, raw: bool) -> None:
    # NOTE: newlines as a text-mode read gives them (\r\n and \r as \n), as this command always printed.
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    typer.echo(text if raw else visible(text), nl=False)


@app.command("outputs")
@handles_errors
def outputs(ref: Ref, as_json: AsJson = False) -> None:
    """List the files an execution produced, with their datum references."""
    from assay.operations import executions

    server = remote.client()
    if server is not None:
        with server:
            found = server.outputs(ref)
            counter = server.execution(ref)["counter"] if not found else None
    else:
        with local_workspace() as workspace:
            execution = executions.show_execution(workspace, local_actor(), ref)
        found, counter = [datum.to_json() for datum in execution.outputs], execution.counter
    if as_json:
        print_json(found)
        return
    if not found:
        console.print(f"Execution #{counter} produced no outputs.")
        return
    for datum in found:
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
    from assay.operations import executions

    server = remote.client()
    if server is not None:
        with server:
            asked = server.stop_execution(ref)
        counter = asked["counter"]
        console.print(
            f"Execution #{counter} ({shown(asked['step'])}) was asked to stop; it is {asked['status']} "
            f"now: `assay executions show {counter}` shows when it ends"
        )
        return
    with local_workspace() as workspace:
        stopped = executions.stop_execution(workspace, local_actor(), ref, wait=wait, on_event=_say)
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
    from assay.operations import executions

    remote.refuse_remote("assay executions settle")  # the server settles its own, as it starts
    with local_workspace() as workspace:
        report = executions.settle_executions(workspace, local_actor())
    if as_json:
        print_json(report.to_json())
        return
    for done in report.settled:
        ended = f"; ended {done.processes} leftover process(es)" if done.processes else ""
        console.print(f"Settled execution #{done.counter} ({shown(done.step)}): {done.status}, "
                      f"{shown(done.message)}{ended}")  # fmt: skip
    for run in sorted({s.pipeline_run for s in report.settled if s.pipeline_run is not None}):
        console.print(f"Pipeline run #{run} has no driver: `assay pipeline resume {run}` continues it.")
    for kept in report.left:
        console.print(
            f"Left execution #{kept['counter']} ({shown(kept['step'])}) as it is: {shown(kept['why'])}"
        )
    if not report.settled and not report.left:
        console.print("No execution is unfinished: nothing to settle.")


def _say(message: str) -> None:
    console.print(shown(message))
