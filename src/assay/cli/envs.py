"""``assay envs``: the environments that stand for a project's images — list, show, build, path, remove."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from assay.cli.context import console, err_console, handles_errors, print_json, progress, project
from assay.cli.literal import shown

if TYPE_CHECKING:
    from assay.runtime.image_index import ImageState

app = typer.Typer(no_args_is_help=True)

Image = Annotated[str, typer.Argument(help="The image name, as valohai.yaml writes it (python:3.11).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _states() -> list[ImageState]:
    from assay.runtime.image_index import project_images
    from assay.spec import load_spec
    from assay.spec.settings import load_settings

    found = project()
    return project_images(found.root, load_spec(found.spec_path), load_settings(found.root))


@app.command("list")
@handles_errors
def list_command(as_json: AsJson = False) -> None:
    """The images the project uses or declares, and whether their environments are built."""
    states = _states()
    if as_json:
        print_json([s.as_json() for s in states])
        return
    table = Table(box=None, pad_edge=False)
    for column in ("image", "declared", "python", "holds", "state", "used by"):
        table.add_column(column)
    for state in states:
        want, built = state.wanted, state.built
        holds = ", ".join(
            [*want.requirements, *([want.requirements_file.name] if want.requirements_file else [])]
        )
        python = built.python_version if built else (want.python or "as Assay's")
        table.add_row(
            shown(state.image), "yes" if want.declared else "no", shown(python), shown(holds or "pip only"),
            "[green]built[/]" if built else "[yellow]not built[/]", shown(", ".join(state.used_by) or "—"),
        )  # fmt: skip
    console.print(table)


@app.command("show")
@handles_errors
def show(image: Image, as_json: AsJson = False) -> None:
    """One image's declaration, its environment's place, interpreter and packages."""
    from assay.runtime.image_index import one, packages, size_of

    state = one(_states(), image)
    view = state.as_json()
    if state.built is not None:
        view["packages"] = packages(state.built)
        view["size_bytes"] = size_of(state.built.path)
    if as_json:
        print_json(view)
        return
    console.print(
        f"[bold]{shown(image)}[/] — {'declared in assay.yaml' if view['declared'] else 'not declared'}"
    )
    rows = [
        ("used by", ", ".join(view["used_by"]) or "—"),
        ("python", f"{view['python_version'] or '?'} (asked for: {view['python'] or 'any'})"),
        ("requirements", ", ".join(view["requirements"]) or "—"),
        ("requirements file", view["requirements_file"] or "—"),
        ("key", view["key"]),
        ("path", view["path"]),
        ("state", f"built at {view['built_at']}" if view["built"] else "not built (`assay envs build`)"),
    ]
    if view["built"]:
        rows.append(("size", f"{view['size_bytes'] / 1e6:.1f} MB"))
        rows.append(("interpreter", view["interpreter"]))
    for label, value in rows:
        console.print(f"  [dim]{label:<18}[/] {shown(str(value))}")
    for note in view["notes"]:
        console.print(f"  [yellow]note:[/] {shown(note)}")
    if view.get("packages"):
        console.print("  [dim]packages[/]")
        for package in view["packages"]:
            console.print(f"    {shown(package)}")


@app.command("build")
@handles_errors
def build(
    image: Annotated[list[str] | None, typer.Argument(help="Images to build (default: all of them).")] = None,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Build again even if built.")] = False,
) -> None:
    """Build the environments of the project's images from their declarations (once per machine)."""
    from assay.runtime import images
    from assay.runtime.image_index import one

    states = _states()
    chosen = [one(states, name) for name in image] if image else states
    for state in chosen:
        if rebuild:
            images.remove(state.wanted)
        elif state.built is not None:
            console.print(f"{shown(state.image)}: built already ({shown(str(state.wanted.path))})")
            continue
        built = images.ensure(state.wanted, progress)
        for note in built.notes:
            err_console.print(f"[yellow]warning:[/] {shown(note)}")
        python = shown(built.python_version)
        console.print(f"{shown(state.image)}: [green]built[/] (Python {python}) at {shown(built.path)}")


@app.command("path")
@handles_errors
def path(image: Image) -> None:
    """Print where the image's environment is (``$(assay envs path python:3.11)/bin/python``)."""
    from assay.runtime.image_index import one

    state = one(_states(), image)
    typer.echo(str(state.wanted.path))
    if state.built is None:
        err_console.print(f"note: not built yet; `assay envs build {shown(image)}` builds it")
        raise typer.Exit(1)


@app.command("remove")
@handles_errors
def remove(image: Image) -> None:
    """Delete the image's built environment (other projects with the same declaration rebuild it)."""
    from assay.runtime import images
    from assay.runtime.image_index import one

    state = one(_states(), image)
    if images.remove(state.wanted):
        console.print(f"removed {shown(str(state.wanted.path))}")
    else:
        console.print(f"{shown(image)}: nothing to remove (not built)")
