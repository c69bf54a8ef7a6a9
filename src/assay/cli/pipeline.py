"""``assay pipeline``: run, list, show, approve, reject, resume, stop.

Against a server (``ASSAY_URL``, or ``assay login``: ``cli/remote.py``) every command goes
through its REST API and prints the same tables and ``--json``; the server's scheduler drives
the run, so ``run``, ``approve`` and ``resume`` return once the server has it
(``assay pipeline show N --watch`` follows it). ``run --adhoc`` uploads the working tree
(``cli/working_tree.py``); ``run --ref REF`` runs a commit of the project's repository.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from assay.cli import remote, render, signals
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
from assay.errors import InvalidRequest

if TYPE_CHECKING:
    from assay.client import Client
    from assay.engine.wiring import RunRequest
    from assay.operations.actor import Actor
    from assay.operations.pipeline_runs import Foreground
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
    adhoc: Annotated[
        bool, typer.Option("--adhoc", help="Against a server: upload this working tree and run it.")
    ] = False,
    ref: Annotated[
        str | None, typer.Option("--ref", help="Against a server: run this branch, tag or commit.")
    ] = None,
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
    server = remote.client()
    if server is not None:
        with server:
            _start_remotely(server, name, request, reuse=reuse, adhoc=adhoc, ref=ref)
        return
    if adhoc or ref:
        raise InvalidRequest(
            f"--{'adhoc' if adhoc else 'ref'} runs through a server, and none is configured",
            hint="set ASSAY_URL and ASSAY_TOKEN (or `assay login URL`); locally, the folder as it is runs",
        )
    with _driving() as workspace:
        view = pipeline_runs.start(
            workspace, _actor(), name, request, reuse=reuse, foreground=_foreground(slots, quiet)
        )
        _report(workspace, view.counter, explain_reuse)


def _start_remotely(
    server: Client, name: str, request: RunRequest, *, reuse: bool | None, adhoc: bool, ref: str | None
) -> None:
    from assay.cli import working_tree

    if adhoc and ref:
        raise InvalidRequest("give --adhoc or --ref, not both", hint="a run executes one source of code")
    tree = None
    if adhoc:
        with working_tree.archive(project().root) as tarball:
            tree = server.upload_tree(tarball)["digest"]
    view = server.start_pipeline(
        name,
        parameters=request.parameters,
        node_parameters=request.node_parameters,
        node_inputs=request.node_inputs,
        ref=ref,
        tree=tree,
        reuse=reuse,
    )
    _show_event(f"pipeline run #{view['counter']} of {name!r} started on {server.url}")
    _report_view(view)
    console.print(f"\nThe server drives it: `assay pipeline show {view['counter']} --watch` follows it.")


@app.command("resume")
@handles_errors
def resume(ref: Ref, slots: Slots = None, quiet: Quiet = False) -> None:
    """Continue a run left unfinished by a crash; completed nodes are never run again."""
    from assay.operations import pipeline_runs

    server = remote.client()
    if server is not None:
        with server:
            _report_view(server.resume(ref))
        return
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

    server = remote.client()
    if server is not None:
        with server:
            _report_decision(server.approve(ref, node, comment=comment))
        return
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

    server = remote.client()
    if server is not None:
        with server:
            _report_decision(server.reject(ref, node, comment=comment))
        return
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

    server = remote.client()
    if server is not None:
        with server:
            _report_view(server.stop(ref))
        return
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

    server = remote.client()
    if server is not None:
        with server:
            views = server.pipeline_runs(limit=limit)
    else:
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
    server = remote.client()
    if server is not None:
        with server:
            _show(lambda: server.pipeline_run(ref), as_json, watch)
        return
    from assay.operations import pipeline_runs

    with _workspace(create=False) as workspace:
        _show(lambda: pipeline_runs.show(workspace, _actor(), ref).as_json(), as_json, watch)


def _show(fetch: Callable[[], dict[str, Any]], as_json: bool, watch: bool) -> None:
    view = fetch()
    if as_json:
        print_json(view)
        return
    if watch:
        from rich.live import Live

        with Live(render.run_tree(view), console=console, refresh_per_second=4) as live:
            while view["status"] not in ("completed", "error", "stopped", "waiting-approval"):
                if view["driver"]["stranded"]:
                    break
                time.sleep(0.5)
                view = fetch()
                live.update(render.run_tree(view))
    else:
        console.print(render.run_tree(view))
    _say_approvals(view)
    _say_driver(view)


def _say_approvals(view: dict[str, Any]) -> None:
    """Pending gates that collected approvals, and how many more they need (four-eyes)."""
    for node in view["nodes"]:
        gate = node.get("gate")
        if gate and gate["status"] == "pending" and gate.get("approvals"):
            names = ", ".join(a["by"] for a in gate["approvals"])
            console.print(
                f"\n{shown(node['name'])}: {len(gate['approvals'])} of {gate['required']} approvals: "
                f"{shown(names)}"
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
    from assay.operations import pipeline_runs

    view = pipeline_runs.show(workspace, _actor(), counter).as_json()
    _report_view(view, explain_reuse)


def _report_decision(decision: dict[str, Any]) -> None:
    """A decision made on a server: the gate's state, then the run as the server has it now."""
    gate = decision["gate"]
    if decision["opened"]:
        _show_event(f"{gate['node']} {gate['status']} by {gate['decided_by']}")
    else:
        _show_event(f"{gate['node']}: approved by {gate['approvals'][-1]['by']} "
                    f"({len(gate['approvals'])} of {gate['required']} approvals)")  # fmt: skip
    run = decision["run"]
    # NOTE: the run as it was when the decision was recorded: the server's scheduler takes it
    # on from there, so a gate that opened is no longer waiting whatever the tree still says
    _report_view(run, decided=gate["node"] if decision["opened"] else None)
    if decision["opened"] and gate["status"] == "approved":
        console.print(
            f"\nThe server continues the run: `assay pipeline show {run['counter']} --watch` follows it."
        )


def _report_view(view: dict[str, Any], explain_reuse: bool = False, decided: str | None = None) -> None:
    from assay.errors import StepFailed

    counter = view["counter"]
    console.print(render.run_tree(view))
    _say_approvals(view)
    if explain_reuse:
        for node in view["nodes"]:
            console.print(f"  {shown(node['name'])}: {shown(node['message'] or 'reuse was not considered')}")
    status = view["status"]
    if status == "waiting-approval":
        waiting = [
            n["name"] for n in view["nodes"] if n["status"] == "waiting-approval" and n["name"] != decided
        ]
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
