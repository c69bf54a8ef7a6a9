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
    project_id,
    warn,
)
from assay.cli.literal import shown, visible

if TYPE_CHECKING:
    from assay.operations.actor import Actor
    from assay.operations.pipeline_runs import Foreground, RunView
    from assay.operations.workspace import Workspace

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
    from assay.operations import pipeline_runs
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
    with _driving() as workspace:
        view = pipeline_runs.start(
            workspace, _actor(), name, request, reuse=reuse, foreground=_foreground(slots, quiet)
        )
        _report(workspace, view.counter, explain_reuse)


@app.command("resume")
@handles_errors
def resume(ref: Ref, slots: Slots = None, quiet: Quiet = False) -> None:
    """Continue a run left unfinished by a crash; completed nodes are never run again."""
    from assay.operations import pipeline_runs

    with _driving() as workspace:
        view = pipeline_runs.resume(workspace, _actor(), ref, foreground=_foreground(slots, quiet))
        _report(workspace, view.counter, False)


@app.command("approve")
@handles_errors
def approve(
    ref: Ref,
    node: Annotated[str, typer.Argument(help="The node waiting for approval.")],
    comment: Annotated[str | None, typer.Option("--comment", "-m", help="Why.")] = None,
    quiet: Quiet = False,
) -> None:
    """Approve a node's gate; the run continues in the foreground (once it has every approval
    that ``approvals.required`` asks for)."""
    from assay.operations import gates

    with _driving() as workspace:
        decision = gates.approve(
            workspace, _actor(), ref, node, comment=comment, foreground=_foreground(None, quiet)
        )
        _report(workspace, decision.run.counter, False)


@app.command("reject")
@handles_errors
def reject(
    ref: Ref,
    node: Annotated[str, typer.Argument(help="The node waiting for approval.")],
    comment: Annotated[str | None, typer.Option("--comment", "-m", help="Why.")] = None,
) -> None:
    """Reject a node's gate; the run stops."""
    from assay.operations import gates

    with _driving() as workspace:
        decision = gates.reject(
            workspace, _actor(), ref, node, comment=comment, foreground=_foreground(None, True)
        )
        _report(workspace, decision.run.counter, False)


@app.command("stop")
@handles_errors
def stop(ref: Ref) -> None:
    """Stop a run: running executions are ended, nothing else starts."""
    from assay.operations import pipeline_runs

    with _driving() as workspace:
        view = pipeline_runs.stop(workspace, _actor(), ref, foreground=_foreground(None, True))
        _report(workspace, view.counter, False)


@app.command("list")
@handles_errors
def list_command(
    as_json: AsJson = False, limit: Annotated[int, typer.Option(help="At most this many.")] = 50
) -> None:
    """List pipeline runs, newest first."""
    from assay.operations import pipeline_runs

    with _workspace(create=False) as workspace:
        views = [run.as_json() for run in pipeline_runs.list_runs(workspace, _actor(), limit=limit)]
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
    from assay.operations import pipeline_runs

    with _workspace(create=False) as workspace:
        if as_json:
            print_json(pipeline_runs.show(workspace, _actor(), ref).as_json())
            return
        if not watch:
            found = pipeline_runs.show(workspace, _actor(), ref)
            console.print(render.run_tree(found.as_json()))
            _say_approvals(found)
            _say_driver(found.as_json())
            return
        from rich.live import Live

        found = pipeline_runs.show(workspace, _actor(), ref)
        with Live(render.run_tree(found.as_json()), console=console, refresh_per_second=4) as live:
            while True:
                found = pipeline_runs.show(workspace, _actor(), ref)
                view = found.as_json()
                live.update(render.run_tree(view))
                if view["status"] in ("completed", "error", "stopped", "waiting-approval"):
                    break
                if view["driver"]["stranded"]:
                    break
                time.sleep(0.5)
        _say_approvals(found)
        _say_driver(view)


def _say_approvals(found: RunView) -> None:
    """Pending gates that collected approvals, and how many more they need (four-eyes)."""
    for node, gate in found.gates.items():
        if gate.status == "pending" and gate.approvals:
            names = ", ".join(a.shown_as for a in gate.approvals)
            console.print(
                f"\n{shown(node)}: {len(gate.approvals)} of {gate.required} approvals: {shown(names)}"
            )


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


def _actor() -> Actor:
    from assay.operations.actor import Actor

    return Actor.local()


def _foreground(slots: int | None, quiet: bool) -> Foreground:
    from assay.operations.pipeline_runs import Foreground

    return Foreground(
        slots=slots, on_event=_show_event, on_line=None if quiet else _show_line, on_warning=warn,
        on_progress=progress,
    )  # fmt: skip


@contextmanager
def _workspace(*, create: bool = True) -> Iterator[Workspace]:
    """The folder's project as a workspace; ``create=False`` for reads (they record nothing)."""
    from assay.operations.workspace import Workspace

    found = project()
    with catalog_for(found) as catalog:
        yield Workspace(catalog=catalog, project=found, project_id=project_id(catalog, found, create=create))


@contextmanager
def _driving() -> Iterator[Workspace]:
    """A workspace for a command that may drive a run here, and what a signal to it says."""
    from assay.errors import Interrupted

    with _workspace() as workspace:
        try:
            yield workspace
        except Interrupted as exc:  # Ctrl-C, SIGTERM, SIGHUP: its executions are recorded `stopped`
            signals.say_pipeline(exc)
            raise typer.Exit(exc.exit_code) from None


def _report(workspace: Workspace, counter: int, explain_reuse: bool) -> None:
    from assay.errors import StepFailed
    from assay.operations import pipeline_runs

    found = pipeline_runs.show(workspace, _actor(), counter)
    view = found.as_json()
    console.print(render.run_tree(view))
    _say_approvals(found)
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
