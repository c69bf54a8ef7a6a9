"""``assay pipeline``: run, list, show, approve, reject, resume, stop."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from assay.cli import render, signals
from assay.cli.context import (
    catalog_for,
    console,
    handles_errors,
    print_json,
    progress,
    project,
    reading,
    warn,
)
from assay.cli.literal import shown, visible

if TYPE_CHECKING:
    from assay.executors.runs import RunOptions
    from assay.runtime import Runtime

app = typer.Typer(no_args_is_help=True)

Ref = Annotated[str, typer.Argument(help="The pipeline run: its number (3 or #3) or its id.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Slots = Annotated[int | None, typer.Option("--slots", help="Executions at once (default: CPU count).")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Do not print the executions' logs.")]


@app.command("run")
@handles_errors
def run_command(
    name: Annotated[str, typer.Argument(help="The pipeline to run, by name.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Pipeline parameter NAME=VALUE.")
    ] = None,
    input_: Annotated[
        list[str] | None,
        typer.Option(
            "--input", "-i", help="NODE.INPUT=URI replacing that input's default; repeat for more files."
        ),
    ] = None,
    node_param: Annotated[list[str] | None, typer.Option("--node-param", help="NODE.PARAM=VALUE.")] = None,
    slots: Slots = None,
    explain_reuse: Annotated[
        bool, typer.Option("--explain-reuse", help="Say why each node was or was not reused.")
    ] = False,
    reuse: Annotated[
        bool | None, typer.Option("--reuse/--no-reuse", help="Override the pipeline's reuse-executions.")
    ] = None,
    quiet: Quiet = False,
) -> None:
    """Run a pipeline of valohai.yaml; it stops at approval gates without waiting."""
    from assay.engine.wiring import RunRequest
    from assay.executors.runs import start_run
    from assay.runtime.inputs import command_line_uri
    from assay.spec.parameters import parse_assignments

    request = RunRequest(
        parameters=parse_assignments(param or [], "param"),
        node_parameters=_per_node(node_param or [], "node-param"),
        node_inputs={
            node: {k: [command_line_uri(f"{node}.{k}", u, Path.cwd()) for u in v] for k, v in values.items()}
            for node, values in _per_node(input_ or [], "input").items()
        },
    )
    with _runtime() as (runtime, options):
        options.slots = slots
        options.reuse = reuse
        options.on_line = None if quiet else _show_line
        run = start_run(runtime, name, request, options)
        _report(runtime, run.counter, explain_reuse)


@app.command("resume")
@handles_errors
def resume(ref: Ref, slots: Slots = None, quiet: Quiet = False) -> None:
    """Continue a run left unfinished by a crash; completed nodes are never run again."""
    from assay.executors.runs import resume_run

    with _runtime() as (runtime, options):
        options.slots = slots
        options.on_line = None if quiet else _show_line
        run = resume_run(runtime, ref, options)
        _report(runtime, run.counter, False)


@app.command("approve")
@handles_errors
def approve(
    ref: Ref,
    node: Annotated[str, typer.Argument(help="The node waiting for approval.")],
    comment: Annotated[str | None, typer.Option("--comment", "-m", help="Why.")] = None,
    quiet: Quiet = False,
) -> None:
    """Approve a node's gate; the run continues in the foreground."""
    _decide(ref, node, "approved", comment, quiet)


@app.command("reject")
@handles_errors
def reject(
    ref: Ref,
    node: Annotated[str, typer.Argument(help="The node waiting for approval.")],
    comment: Annotated[str | None, typer.Option("--comment", "-m", help="Why.")] = None,
) -> None:
    """Reject a node's gate; the run stops."""
    _decide(ref, node, "rejected", comment, True)


@app.command("stop")
@handles_errors
def stop(ref: Ref) -> None:
    """Stop a run: running executions are ended, nothing else starts."""
    from assay.executors.runs import stop_run

    with _runtime() as (runtime, options):
        run = stop_run(runtime, ref, options)
        _report(runtime, run.counter, False)


@app.command("list")
@handles_errors
def list_command(
    as_json: AsJson = False, limit: Annotated[int, typer.Option(help="At most this many.")] = 50
) -> None:
    """List pipeline runs, newest first."""
    from assay.catalog.pipelines import list_runs
    from assay.catalog.views import describe_run

    with reading() as (session, pid):
        views = [describe_run(session, run, full=False) for run in list_runs(session, pid, limit=limit)]
    if as_json:
        print_json(views)
    else:
        render.run_list(console, views)


@app.command("show")
@handles_errors
def show(
    ref: Ref,
    as_json: AsJson = False,
    watch: Annotated[
        bool, typer.Option("--watch", help="Keep the tree up to date until the run ends.")
    ] = False,
) -> None:
    """Show a run as a tree of its nodes, with executions, gates and messages."""
    if as_json:
        print_json(_view(ref))
        return
    if not watch:
        view = _view(ref)
        console.print(render.run_tree(view))
        _say_driver(view)
        return
    from rich.live import Live

    with Live(render.run_tree(_view(ref)), console=console, refresh_per_second=4) as live:
        while True:
            view = _view(ref)
            live.update(render.run_tree(view))
            if view["status"] in ("completed", "error", "stopped", "waiting-approval"):
                break
            if view["driver"]["stranded"]:
                break
            time.sleep(0.5)
    _say_driver(view)


def _say_driver(view: dict[str, Any]) -> None:
    """When nothing drives an unfinished run (its driver was killed, or a signal ended it)."""
    driver = view["driver"]
    if not driver["stranded"]:
        return
    counter = view["counter"]
    if driver["state"] == "gone":
        console.print(f"\nThe process that drove pipeline run #{counter} (pid {driver['pid']} on "
                      f"{shown(driver['host'])}) is gone; nothing drives the run.")  # fmt: skip
    else:
        console.print(f"\nNothing drives pipeline run #{counter}.")
    console.print(
        f"Continue it with:\n  {driver['resume']}\nor end it with:\n  assay pipeline stop {counter}"
    )


def _decide(ref: str, node: str, decision: str, comment: str | None, quiet: bool) -> None:
    from assay.executors.runs import decide

    with _runtime() as (runtime, options):
        options.on_line = None if quiet else _show_line
        run = decide(runtime, ref, node, decision, comment, options)
        _report(runtime, run.counter, False)


@contextmanager
def _runtime() -> Iterator[tuple[Runtime, RunOptions]]:
    from assay.artifacts import ArtifactStore
    from assay.errors import Interrupted
    from assay.executors.runs import RunOptions
    from assay.project import current_user
    from assay.runtime import Runtime, choose_sandbox
    from assay.spec.settings import load_settings

    found = project()
    settings = load_settings(found.root)
    with catalog_for(found) as catalog:
        runtime = Runtime(
            project=found,
            catalog=catalog,
            store=ArtifactStore.local(found.store_root),
            sandbox=choose_sandbox(),
            actor=current_user(),
            on_warning=warn,
            on_progress=progress,
            settings=settings,
        )
        try:
            yield runtime, RunOptions(on_event=_show_event, settings=settings)
        except Interrupted as exc:  # Ctrl-C, SIGTERM, SIGHUP: its executions are recorded `stopped`
            signals.say_pipeline(exc)
            raise typer.Exit(exc.exit_code) from None
        finally:
            runtime.close()


def _report(runtime: Runtime, counter: int, explain_reuse: bool) -> None:
    from assay.errors import StepFailed

    view = _view(str(counter), runtime)
    console.print(render.run_tree(view))
    if explain_reuse:
        for node in view["nodes"]:
            console.print(f"  {shown(node['name'])}: {shown(node['message'] or 'reuse was not considered')}")
    status = view["status"]
    if status == "waiting-approval":
        waiting = [n["name"] for n in view["nodes"] if n["status"] == "waiting-approval"]
        for node in waiting:
            console.print(
                f"\nPipeline run #{counter} waits for approval of [bold]{shown(node)}[/]. Decide with:\n"
                f"  assay pipeline approve {counter} {shown(node)} --comment '…'\n"
                f"  assay pipeline reject {counter} {shown(node)} --comment '…'"
            )
    elif status == "error":
        raise StepFailed(
            f"pipeline run #{counter} failed: {view['message']}",
            hint=f"`assay pipeline show {counter}` shows every node; `assay executions logs N` a log",
        )


def _view(ref: str, runtime: Runtime | None = None) -> dict[str, Any]:
    from assay.catalog.pipelines import get_run
    from assay.catalog.views import describe_run
    from assay.executors.orphans import run_driver

    if runtime is None:
        with reading() as (session, pid):
            run = get_run(session, pid, ref)
            return {**describe_run(session, run), "driver": run_driver(run).as_json()}
    with runtime.catalog.read() as session:
        run = get_run(session, runtime.project_id, ref)
        return {**describe_run(session, run), "driver": run_driver(run).as_json()}


def _per_node(pairs: list[str], what: str) -> dict[str, dict[str, list[str]]]:
    from assay.errors import InvalidRequest
    from assay.spec.parameters import parse_assignments

    result: dict[str, dict[str, list[str]]] = {}
    for name, values in parse_assignments(pairs, what).items():
        node, dot, key = name.partition(".")
        if not dot or not node or not key:
            raise InvalidRequest(
                f"--{what} {name!r} must name NODE.NAME", hint=f"e.g. --{what} train.epochs=5"
            )
        result.setdefault(node, {})[key] = values
    return result


def _show_event(message: str) -> None:
    # NOTE: a plain write, not Rich's print: two events per node, and Rich's rendering of a
    # line costs a millisecond, on the path from one node to the next.
    marker = "\x1b[36m▸\x1b[0m" if console.is_terminal and not console.no_color else "▸"
    console.file.write(f"{marker} {visible(message)}\n")


def _show_line(node: str, _stream: str, line: str) -> None:
    # NOTE: plain writes, not Rich: chatty steps must not wait for the terminal rendering.
    console.file.write(f"{visible(node)} | {visible(line)}\n")
