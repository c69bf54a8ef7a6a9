"""The ``assay`` command: parse → call one core function → render."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from assay.cli import (
    datasets,
    datums,
    envs,
    executions,
    lineage,
    lint,
    models,
    pipeline,
    remote,
    run,
    signals,
)
from assay.cli.context import State
from assay.cli.server import app as server_app

app = typer.Typer(
    name="assay",
    help="Run valohai.yaml projects on your own machines, and record everything.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main_options(
    project_dir: Annotated[
        Path | None,
        typer.Option(
            "-C", "--project", help="The project folder (default: the one holding the current folder)."
        ),
    ] = None,
) -> None:
    State.project_dir = project_dir


app.command("lint")(lint.lint_command)
app.command("run")(run.run_command)
app.command("login")(remote.login_command)
app.command("logout")(remote.logout_command)
app.add_typer(executions.app, name="executions", help="List and inspect executions.")
app.add_typer(pipeline.app, name="pipeline", help="Run pipelines, decide approval gates, resume, stop.")
app.add_typer(datums.app, name="datums", help="Inspect datums: files addressed by content.")
app.add_typer(envs.app, name="envs", help="The Python environments that stand for the project's images.")
app.add_typer(
    models.app, name="models", help="The model catalog: versions, cards, approval, aliases, reviews."
)
app.add_typer(datasets.app, name="datasets", help="Datasets: versions of sets of files; create, show, alias.")
app.add_typer(
    lineage.app, name="lineage", help="Lineage: what was built from a piece of data, where a model came from."
)
app.add_typer(server_app, name="server", help="Serve the REST API; the server's users and API tokens.")


def main() -> None:
    """The ``assay`` command.

    NOTE: a command that ended (well or with an error it reported) leaves the process at once
    with its exit code: everything it opened is closed by then (catalog, files, threads), and
    the interpreter's own teardown of SQLAlchemy, Rich and the rest would add 0.2–0.4 s to
    every command. Anything unexpected still propagates with its traceback.

    Ctrl-C, SIGTERM and SIGHUP stop what the command runs and settle it (``cli/signals.py``);
    the exit code is then 128 + the signal's number.
    """
    signals.install()
    try:
        app()
        code: int = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, int | None):
            sys.stderr.write(f"{exc.code}\n")
    code = signals.ending(code)
    with contextlib.suppress(OSError, ValueError):  # a terminal that closed (SIGHUP) takes nothing
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)
