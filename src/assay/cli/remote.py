"""The CLI against a server: which server, with which token, for which project.

With ``ASSAY_URL`` (and ``ASSAY_TOKEN``) set, or after ``assay login URL``, the commands that
have a server form go through :class:`assay.client.Client` instead of opening the catalog, and
print the same tables and ``--json``. Without either, everything stays local.

``assay login`` keeps the URL, the token and the project in ``$XDG_CONFIG_HOME/assay/server.json``
(default ``~/.config/assay/``; ``ASSAY_CONFIG`` names another file), created readable by its
owner only (0600, in a 0700 folder); ``assay logout`` removes it. The environment wins over the
file.

Against a server, identity comes from the token alone: ``ASSAY_USER`` means nothing there (the
CLI says so once when it is set).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli.context import State, console, handles_errors, warn
from assay.errors import InvalidRequest

if TYPE_CHECKING:
    from assay.client import Client

CONFIG_NAME = "server.json"


@dataclass(frozen=True)
class Server:
    url: str
    token: str | None
    project: str | None


def config_path() -> Path:
    if os.environ.get("ASSAY_CONFIG"):
        return Path(os.environ["ASSAY_CONFIG"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "assay" / CONFIG_NAME


def configured() -> Server | None:
    """The server the CLI talks to, or None: local mode."""
    url = os.environ.get("ASSAY_URL")
    if url:
        return Server(url=url, token=os.environ.get("ASSAY_TOKEN"), project=os.environ.get("ASSAY_PROJECT"))
    try:
        stored = json.loads(config_path().read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError) as exc:
        raise InvalidRequest(
            f"{config_path()} cannot be read: {exc}",
            hint="`assay logout` removes it; `assay login URL` writes it",
        ) from None
    return Server(
        url=str(stored["url"]),
        token=os.environ.get("ASSAY_TOKEN") or stored.get("token"),
        project=os.environ.get("ASSAY_PROJECT") or stored.get("project"),
    )


def client() -> Client | None:
    """A client of the configured server for the project the command is about, or None."""
    server = configured()
    if server is None:
        return None
    from assay.client import Client

    if os.environ.get("ASSAY_USER"):
        warn("ASSAY_USER is ignored against a server: who you are comes from your token")
    return Client(server.url, server.token, project=server.project or _folder_project())


def _folder_project() -> str | None:
    """The name of the project folder here, as the server knows it by name (or None)."""
    from assay.errors import NotFound
    from assay.project import find_project

    try:
        return find_project(State.project_dir).name
    except NotFound:
        return None


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(partial, 0o600)  # NOTE: an existing file keeps its mode through O_CREAT
    partial.replace(path)


@handles_errors
def login_command(
    url: Annotated[str, typer.Argument(help="The server, e.g. http://127.0.0.1:8000.")],
    token: Annotated[
        str | None, typer.Option("--token", help="An API token; read from stdin when not given (`-` too).")
    ] = None,
    project: Annotated[str | None, typer.Option("--project", help="The server's project to act on.")] = None,
) -> None:
    """Store a server and a token: later commands go through it."""
    from assay.client import Client

    if token in (None, "-"):
        token = (
            sys.stdin.readline() if not sys.stdin.isatty() else typer.prompt("token", hide_input=True)
        ).strip()
    if not token:
        raise InvalidRequest("no token given", hint="`assay server tokens create` on the server makes one")
    with Client(url, token) as probe:
        projects = probe.projects()  # a wrong token or URL fails here, before anything is stored
    _write_private(config_path(), json.dumps({"url": url, "token": token, "project": project}) + "\n")
    names = ", ".join(str(p.get("name")) for p in projects) or "none yet"
    console.print(f"logged in to {url}; its projects you may see: {names}", markup=False)


@handles_errors
def logout_command() -> None:
    """Forget the stored server and token: commands are local again."""
    path = config_path()
    if path.exists():
        path.unlink()
        console.print(f"removed {path}", markup=False)
    else:
        console.print("not logged in", markup=False)


def refuse_remote(command: str) -> None:
    """Refuse ``command`` when a server is configured and the command has no server form: it
    would act on this host's catalog, not the server's, which is never what was meant."""
    server = configured()
    if server is not None:
        raise InvalidRequest(
            f"`{command}` has no server form, and a server is configured ({server.url}): nothing was done",
            hint="run it on the server's host, or unset ASSAY_URL (`assay logout`) to act on this folder",
        )


def split_ref(kind: str, ref: str, *, version_required: bool = True) -> tuple[str, str | None]:
    """``summarizer/v2`` (or ``model://summarizer/v2``) as the server's path names it: the
    model's or dataset's name and the version, alias or ``latest`` (None: none given)."""
    from assay.catalog.uris import parse_ref

    parsed = parse_ref(ref, kind)
    if version_required and not parsed.version:
        raise InvalidRequest(
            f"{ref!r} names no version",
            hint=f"add a version or alias: {parsed.name}/v1, {parsed.name}/latest",
        )
    return parsed.name, parsed.version or None
