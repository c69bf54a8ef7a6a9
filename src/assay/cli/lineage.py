"""``assay lineage``: what came of a piece of data, and where a model came from.

References: ``dataset://NAME/VERSION``, ``model://NAME/VERSION``, ``datum://ID``, an execution
(``#12``, ``exec-<id>``) or a pipeline run (``pipeline:3``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer

from assay.cli import remote, render_lineage
from assay.cli.context import console, handles_errors, local_actor, local_workspace, print_json

app = typer.Typer(no_args_is_help=True)


class Format(StrEnum):
    text = "text"
    json = "json"
    dot = "dot"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="text, json or dot (Graphviz).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON (same as --format json).")]
Depth = Annotated[int | None, typer.Option("--depth", min=1, help="Follow at most this many edges.")]
Ref = Annotated[str, typer.Argument(help="dataset://…, model://…, datum://…, #N or pipeline:N.")]


@app.command("affected")
@handles_errors
def affected(ref: Ref, depth: Depth = None, fmt: FormatOption = Format.text, as_json: AsJson = False) -> None:
    """Every model version built from REF, directly or through intermediate outputs, grouped by
    the input through which the data entered — with executions, runs, aliases and status."""
    from assay.operations import lineage

    server = remote.client()
    if server is not None:
        with server:
            if fmt == Format.dot:
                _dot(server.graph(ref, direction="down", depth=depth))
                return
            view = server.affected(ref, depth=depth)
        _print(view, fmt, as_json, render_lineage.affected)
        return
    with local_workspace() as workspace:
        if fmt == Format.dot:
            _dot(lineage.graph(workspace, local_actor(), ref, direction="down", depth=depth).to_json())
            return
        view = lineage.affected(workspace, local_actor(), ref, depth=depth).to_json()
    _print(view, fmt, as_json, render_lineage.affected)


@app.command("show")
@handles_errors
def show(ref: Ref, depth: Depth = None, fmt: FormatOption = Format.text, as_json: AsJson = False) -> None:
    """The chain upstream of REF: datasets, models, executions (parameters, commit, image), gate
    decisions and who made them, and the version it replaced."""
    from assay.operations import lineage

    server = remote.client()
    if server is not None:
        with server:
            if fmt == Format.dot:
                _dot(server.graph(ref, direction="up", depth=depth))
                return
            view = server.lineage(ref, depth=depth)
        _print(view, fmt, as_json, render_lineage.show)
        return
    with local_workspace() as workspace:
        if fmt == Format.dot:
            _dot(lineage.graph(workspace, local_actor(), ref, direction="up", depth=depth).to_json())
            return
        view = lineage.show(workspace, local_actor(), ref, depth=depth).to_json()
    _print(view, fmt, as_json, render_lineage.show)


@app.command("graph")
@handles_errors
def graph(
    ref: Ref,
    upstream: Annotated[bool, typer.Option("--upstream/--downstream", help="Which way to walk.")] = False,
    depth: Depth = None,
    fmt: FormatOption = Format.json,
) -> None:
    """Every node and recorded edge upstream or downstream of REF (JSON, or dot)."""
    from assay.operations import lineage

    direction = "up" if upstream else "down"
    server = remote.client()
    if server is not None:
        with server:
            view = server.graph(ref, direction=direction, depth=depth)
    else:
        with local_workspace() as workspace:
            view = lineage.graph(workspace, local_actor(), ref, direction=direction, depth=depth).to_json()
    if fmt == Format.dot:
        _dot(view)
    else:
        print_json(view)


def _print(view: dict[str, Any], fmt: Format, as_json: bool, render: Any) -> None:
    if as_json or fmt == Format.json:
        print_json(view)
    else:
        render(console, view)


def _dot(view: dict[str, Any]) -> None:
    print(render_lineage.dot(view), end="")  # plain text for Graphviz
