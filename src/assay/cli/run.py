"""``assay run STEP``: one execution, its live log, then a summary."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from assay.cli import render, signals
from assay.cli.context import (
    catalog_for,
    console,
    err_console,
    handles_errors,
    print_json,
    progress,
    project,
    warn,
)
from assay.cli.literal import visible


@handles_errors
def run_command(
    step: Annotated[str, typer.Argument(help="The step to run, by name.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="NAME=VALUE; repeat for more (or for a list).")
    ] = None,
    input_: Annotated[
        list[str] | None,
        typer.Option(
            "--input", "-i", help="NAME=URI replacing the input's default; repeat for several files."
        ),
    ] = None,
    env: Annotated[
        list[str] | None, typer.Option("--env", "-e", help="NAME=VALUE environment variable.")
    ] = None,
    sandbox: Annotated[
        str | None, typer.Option(help="auto, bwrap, unshare or none (default: $ASSAY_SANDBOX or auto).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the execution as JSON; the log goes to stderr.")
    ] = False,
) -> None:
    """Run one step of valohai.yaml and record it."""
    from assay.artifacts import ArtifactStore
    from assay.catalog.executions import ERROR, STOPPED
    from assay.catalog.views import execution_view
    from assay.errors import AssayError, Interrupted, InvalidRequest, StepFailed, closest
    from assay.project import current_user
    from assay.runtime import ExecutionRequest, Runtime, choose_sandbox, run_execution
    from assay.runtime.inputs import command_line_uri
    from assay.spec import load_spec
    from assay.spec.parameters import parse_assignments
    from assay.spec.settings import load_settings

    found = project()
    spec = load_spec(found.spec_path)
    settings = load_settings(found.root)
    if step not in spec.steps:
        close = closest(step, spec.steps)
        raise InvalidRequest(
            f"valohai.yaml has no step {step!r}" + (f"; did you mean {close!r}?" if close else ""),
            hint=f"its steps: {', '.join(spec.steps) or 'none'}",
        )
    given_inputs = {
        name: [command_line_uri(name, uri, Path.cwd()) for uri in uris]
        for name, uris in parse_assignments(input_ or [], "input").items()
    }
    env_values = {name: values[-1] for name, values in parse_assignments(env or [], "env").items()}
    log = err_console if as_json else console

    def show_line(_stream: str, line: str) -> None:
        # NOTE: plain writes, not Rich: a step that prints millions of lines must not wait for us.
        log.file.write(visible(line) + "\n")

    request = ExecutionRequest(
        step=spec.steps[step],
        parameters=parse_assignments(param or [], "param"),
        parameters_as_text=True,
        inputs=given_inputs,
        environment_variables=env_values,
    )
    about_pipelines = {p for found in spec.pipeline_findings.values() for p in found}
    for finding in spec.findings:
        if finding.severity == "warning" and finding not in about_pipelines:
            warn(finding.format().partition("\n")[0])
    with catalog_for(found) as catalog:
        runtime = Runtime(
            project=found,
            catalog=catalog,
            store=ArtifactStore.local(found.store_root),
            sandbox=choose_sandbox(sandbox),
            actor=current_user(),
            on_line=show_line,
            on_warning=warn,
            on_progress=progress,
            settings=settings,
        )
        try:
            result = run_execution(request, runtime)
        except Interrupted as exc:  # Ctrl-C, SIGTERM, SIGHUP: the execution is recorded `stopped`
            signals.say_execution(exc, step, f"assay run {step}" + (" …" if param or input_ or env else ""))
            raise typer.Exit(exc.exit_code) from None
        finally:
            runtime.close()
        view = execution_view(catalog, runtime.project_id, str(result.counter))
    if as_json:
        print_json(view)
    else:
        console.rule()
        render.execution_detail(console, view)
    if result.status == ERROR:
        tail = "\n".join(f"    {line}" for line in result.log_tail[-15:])
        raise StepFailed(
            f"execution #{result.counter} ({step}) failed: {result.message}\n"
            f"  command: {spec.steps[step].command[0]}{' …' if len(spec.steps[step].command) > 1 else ''}\n"
            f"  last lines of the log:\n{tail}",
            hint=f"`assay executions logs {result.counter}` prints the whole log",
        )
    if result.status == STOPPED:  # `assay executions stop N` from elsewhere
        raise AssayError(
            f"execution #{result.counter} ({step}) was {result.message or 'stopped'}",
            hint=f"`assay executions logs {result.counter}` prints its log",
        )
