"""What every command needs: the project, the catalog, consoles, and error handling.

Heavy modules (SQLAlchemy, the runtime) are imported inside functions so that
``assay --help`` starts quickly.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from assay.cli.literal import LINE_LIMIT, shown, visible
from assay.errors import AssayError, InvalidRequest

if TYPE_CHECKING:
    from assay.catalog import Catalog
    from assay.operations.actor import Actor
    from assay.operations.workspace import Workspace
    from assay.project import Project

P = ParamSpec("P")
R = TypeVar("R")

# NOTE: no emoji codes: `:cross_mark:` in a step's message is text, shown as written.
console = Console(highlight=False, soft_wrap=True, emoji=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


class State:
    """Options of the top-level ``assay`` command, read by subcommands."""

    project_dir: Path | None = None


def handles_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn an ``AssayError`` into its message on stderr and its exit code.

    Messages quote what users and steps wrote (names, a log's last lines): shown literally.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except AssayError as exc:
            err_console.print(f"[bold red]error:[/] {shown(exc.message)}", markup=True)
            for problem in getattr(exc, "problems", []):
                err_console.print(visible(problem.format(), LINE_LIMIT), markup=False)
            if exc.hint:
                err_console.print(f"[dim]hint:[/] {shown(exc.hint)}", markup=True)
            raise typer.Exit(exc.exit_code) from None

    return wrapper


def warn(message: str) -> None:
    """A warning on stderr; the message is shown as written (no markup)."""
    err_console.print(f"[yellow]warning:[/] {shown(message)}")


def progress(message: str) -> None:
    """A line about slow set-up (building an environment) on stderr."""
    err_console.print(f"[dim]{shown(message)}[/]")


def project() -> Project:
    from assay.project import find_project

    return find_project(State.project_dir)


def catalog_for(found: Project) -> Catalog:
    from assay.catalog import open_catalog

    return open_catalog(found.database_url)


def project_id(catalog: Catalog, found: Project, *, create: bool = True) -> str:
    """The folder's project in the catalog (catalog/projects.py); ``create=False`` for reads,
    which then take no write lock and record nothing."""
    from assay.catalog.projects import resolve_project

    resolved = resolve_project(catalog, found, create=create)
    if resolved.note:
        warn(resolved.note)
    return resolved.id


@contextmanager
def local_workspace(create: bool = False) -> Iterator[Workspace]:
    """The current folder's project as a workspace, its catalog open until the block ends.

    ``create=False`` for reads (nothing is recorded for a folder new to the catalog);
    ``create=True`` for commands that write, which make the project on first use.
    """
    from assay.operations.workspace import Workspace

    found = project()
    with catalog_for(found) as catalog:
        yield Workspace(catalog=catalog, project=found, project_id=project_id(catalog, found, create=create))


def local_actor() -> Actor:
    """Who acts on this host without a server: ``ASSAY_USER`` or the OS user, with every role."""
    from assay.operations.actor import Actor

    return Actor.local()


def parse_time(text: str, option: str = "--at") -> datetime:
    """An ISO-8601 time (``2026-03-01T00:00Z``, ``2026-03-01``); without a zone it is UTC."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidRequest(
            f"{option} {text!r} is not an ISO-8601 time",
            hint=f"e.g. {option} 2026-03-01T09:30Z, or {option} 2026-03-01 (UTC when no zone is given)",
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
