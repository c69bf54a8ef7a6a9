"""``assay server``: serve the catalog of this folder (or ``ASSAY_DATABASE_URL``), and manage
its accounts as the host's administrator.

::

    assay server [--host 127.0.0.1] [--port 8000]     serve (uvicorn, one process; SIGTERM drains)
    assay server init [--name NAME]                   the first admin; prints its token once
    assay server users add NAME --role R [--project P] [--password PW | --password -]
    assay server users list
    assay server tokens create --user U [--expires 30d]
    assay server tokens revoke ID

The account commands act on the catalog directly, as the person who owns the server's folder
and database does: no token is needed for them, and none is logged.
"""

from __future__ import annotations

import contextlib
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli.context import State, console, err_console, handles_errors
from assay.errors import Interrupted

if TYPE_CHECKING:
    from assay.catalog import Catalog
    from assay.server.config import ServerConfig

app = typer.Typer(no_args_is_help=False, invoke_without_command=True)
users_app = typer.Typer(no_args_is_help=True, help="The server's users and their roles.")
tokens_app = typer.Typer(no_args_is_help=True, help="API tokens: create, revoke.")
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")


@app.callback()
@handles_errors
def serve(
    context: typer.Context,
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The port to listen on.", min=1, max=65535)] = 8000,
) -> None:
    """Serve the REST API of this folder's catalog (or ASSAY_DATABASE_URL's)."""
    if context.invoked_subcommand is not None:
        return
    import uvicorn

    from assay.server.app import create_app

    config = _config(host=host, port=port)
    _log_to_stderr()
    application = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            application,
            host=config.host,
            port=config.port,
            # NOTE: uvicorn's access log prints each path with its query string; ours
            # (assay.access) logs the route's template instead, never a secret in a URL.
            access_log=False,
            log_level="info",
            timeout_graceful_shutdown=int(config.drain_timeout) + 5,
        )
    )
    # NOTE: uvicorn shuts down gracefully on SIGTERM or Ctrl-C, then passes the signal on to the
    # handler the CLI installed (cli/signals.py), which raises Interrupted: the server stopped
    # as asked, so the command ends as it should (exit code 0).
    with contextlib.suppress(Interrupted):
        server.run()


@app.command("init")
@handles_errors
def init(
    name: Annotated[str, typer.Option(help="The first admin's name.")] = "admin",
    password: Annotated[str | None, typer.Option(help="A sign-in password; `-` reads it from stdin.")] = None,
) -> None:
    """Create the first admin (only on a server without users) and print its API token once."""
    from assay.operations import users

    with _catalog() as catalog:
        made = users.init_server(catalog, name, password=_password(password))
    _print_token(made.user.name, made.token.value, "admin on every project")


@users_app.command("add")
@handles_errors
def add_user(
    name: str,
    role: Annotated[str, typer.Option(help="viewer, member, approver or admin.")],
    project: Annotated[
        str | None, typer.Option(help="A project's id or name (default: every project).")
    ] = None,
    password: Annotated[str | None, typer.Option(help="A sign-in password; `-` reads it from stdin.")] = None,
) -> None:
    """Add a user with a role, and print the user's first API token once."""
    from assay.operations import users
    from assay.operations.actor import Actor, Role

    parsed = Role.parse(role)
    with _catalog() as catalog:
        made = users.add_user(catalog, Actor.local(), name, parsed, project, _password(password))
    _print_token(made.user.name, made.token.value, f"{parsed.value} on {project or 'every project'}")


@users_app.command("list")
@handles_errors
def list_users() -> None:
    """Every user, with their roles."""
    from rich.table import Table

    from assay.cli.literal import shown
    from assay.operations import users
    from assay.operations.actor import Actor

    table = Table("name", "roles", "password", "created", box=None)
    with _catalog() as catalog:
        for user in users.list_users(catalog, Actor.local(), limit=100_000):
            roles = ", ".join(f"{grant.role.value} on {grant.project}" for grant in user.roles) or "-"
            table.add_row(shown(user.name), shown(roles), "yes" if user.has_password else "no",
                          f"{user.created_at:%Y-%m-%d %H:%M}")  # fmt: skip
    console.print(table)


@tokens_app.command("create")
@handles_errors
def create_token(
    user: Annotated[str, typer.Option(help="Whose token.")],
    expires: Annotated[str | None, typer.Option(help="e.g. 30d, 12h, 2w (default: never).")] = None,
    name: Annotated[str, typer.Option(help="What the token is for.")] = "",
) -> None:
    """Create an API token and print it once."""
    from assay.operations import users
    from assay.operations.actor import Actor

    expires_in = users.parse_duration(expires) if expires else None
    with _catalog() as catalog:
        issued = users.create_token(catalog, Actor.local(), user=user, name=name, expires_in=expires_in)
    when = (
        f"expires {issued.token.expires_at:%Y-%m-%d %H:%M} UTC"
        if issued.token.expires_at
        else "never expires"
    )
    _print_token(user, issued.value, f"token {issued.token.id}, {when}")


@tokens_app.command("revoke")
@handles_errors
def revoke_token(token_id: str) -> None:
    """Revoke an API token: at once, for good."""
    from assay.operations import users
    from assay.operations.actor import Actor

    with _catalog() as catalog:
        revoked = users.revoke_token(catalog, Actor.local(), token_id)
    console.print(f"revoked token {revoked.id} ({revoked.prefix}…)", markup=False)


def _config(*, host: str = "127.0.0.1", port: int = 8000) -> ServerConfig:
    from assay.server.config import ServerConfig

    return ServerConfig.load(State.project_dir or Path.cwd(), host=host, port=port)


@contextmanager
def _catalog() -> Iterator[Catalog]:
    """The catalog the server of this folder serves (``ASSAY_DATABASE_URL``, else ``.assay/``)."""
    from assay.catalog import open_catalog
    from assay.server.config import database_url

    with open_catalog(database_url((State.project_dir or Path.cwd()).resolve())) as catalog:
        yield catalog


def _password(given: str | None) -> str | None:
    if given != "-":
        return given
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\r\n")


def _print_token(name: str, token: str, what: str) -> None:
    # NOTE: the token goes to stdout alone on its line (for scripts); the words around it to
    # stderr. It is shown this once: only its digest is kept.
    err_console.print(f"{name}: {what}. Their API token, shown once (keep it secret):", markup=False)
    sys.stdout.write(token + "\n")
    sys.stdout.flush()


def _log_to_stderr() -> None:
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    for name in ("assay.access", "assay.server", "assay.scheduler"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
