"""``assay lint``: every problem of a valohai.yaml at once, as FILE:LINE:COL: message."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from assay.cli.context import State, console, err_console, handles_errors
from assay.cli.literal import LINE_LIMIT, visible

if TYPE_CHECKING:
    from assay.spec import SpecCheck


@handles_errors
def lint_command(
    file: Annotated[
        Path | None, typer.Argument(help="The file to check (default: the project's valohai.yaml).")
    ] = None,
    fix: Annotated[
        bool, typer.Option("--fix", help="Rewrite shorthand forms canonically, keeping comments.")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
) -> None:
    """Check valohai.yaml: syntax, schema, step references, edges, actions."""
    from assay.spec import check_spec

    path = file or _default_file()
    check = check_spec(path)
    if fix:
        check = _fix(path, check)
    for problem in check.problems:
        style = {"error": "red", "warning": "yellow"}.get(problem.severity, "cyan")
        head, _, rest = visible(problem.format(), LINE_LIMIT).partition("\n")
        # NOTE: the message and the quoted line are the user's text: `[a, b]` is YAML, not markup.
        console.print(Text(head, style=style))
        if rest:
            console.print(Text(rest))
    errors = sum(p.severity == "error" for p in check.problems)
    warnings = sum(p.severity == "warning" for p in check.problems)
    if errors or (strict and warnings):
        err_console.print(Text(visible(f"{path}: {errors} error(s), {warnings} warning(s)")))
        raise typer.Exit(2)
    valid = f"{path}: valid" + (f" ({warnings} warning(s))" if warnings else "")
    console.print(Text(visible(valid), style="green"))


def _default_file() -> Path:
    from assay.project import SPEC_NAME

    base = State.project_dir or Path.cwd()
    return base / SPEC_NAME


def _fix(path: Path, check: SpecCheck) -> SpecCheck:
    from assay.errors import SpecError
    from assay.spec import check_spec, check_text
    from assay.spec.normalize import RewriteRefused, rewrite_text

    if check.canonical is None or check.source is None or not check.canonical.shorthands:
        return check
    try:
        text = rewrite_text(check.source, check.canonical)
        rewritten = check_text(text, path.name, str(path))
        # NOTE: written only when the new file means exactly what the old one did, canonically.
        if rewritten.canonical is None or rewritten.canonical.data != check.canonical.data:
            raise RewriteRefused("the rewritten file would not mean the same")
        if rewritten.canonical.shorthands:
            raise RewriteRefused("shorthand forms would remain")
    except Exception as exc:
        reason = str(exc) if isinstance(exc, RewriteRefused) else f"{type(exc).__name__}: {exc}"
        raise SpecError(
            f"cannot rewrite {path} automatically: {reason}", hint="rewrite that item by hand"
        ) from exc
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    console.print(Text(visible(f"rewrote {path} in the canonical form"), style="green"))
    return check_spec(path)
