"""How a server is set up: where it listens, which catalog it serves, the secret it signs with.

::

    config = ServerConfig.load(Path.cwd(), host="127.0.0.1", port=8000)

* ``home`` is the folder the server starts in. When it is a project (it holds ``valohai.yaml``)
  the server serves that project, with its ``.assay/`` catalog and store unchanged; projects
  registered through the API get their state under ``home/.assay/projects/<id>/``.
* The catalog is ``ASSAY_DATABASE_URL`` (PostgreSQL) if set, else ``home/.assay/assay.db``.
* The session-signing secret is ``ASSAY_SERVER_SECRET`` if set, else made once into
  ``home/.assay/server-secret`` (mode 0600) and read from there after.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from assay.errors import AssayError
from assay.project import SPEC_NAME, STATE_DIR

SECRET_FILE = "server-secret"  # noqa: S105 (the file's name)
MIN_SECRET = 32


@dataclass(frozen=True)
class ServerConfig:
    home: Path
    database_url: str
    secret: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8000
    #: the background scheduler's slots (0: no scheduler, e.g. in tests of accounts)
    slots: int = field(default_factory=lambda: os.cpu_count() or 1)
    #: seconds a SIGTERM waits for running executions before it leaves them for resume
    drain_timeout: float = 30.0
    #: how long a browser session lasts
    session_seconds: int = 12 * 3600
    #: failed sign-ins (per name, per client address) in ``sign_in_window`` before 429
    sign_in_failures: int = 5
    sign_in_window: float = 15 * 60.0
    #: the first delay after a failed sign-in; it doubles with each further failure
    sign_in_delay: float = 0.25
    #: mark cookies Secure (set it behind HTTPS; plain-HTTP requests get them too otherwise)
    secure_cookies: bool = False
    #: catalog connections kept open for request threads and drivers (as many again are made
    #: on demand): a request that finds none free waits for one
    connections: int = 20
    #: how long a checked token (and a found project) is trusted before the catalog is asked
    #: again (server/memo.py); 0 asks on every request
    memo_seconds: float = 2.0

    @classmethod
    def load(cls, home: Path, *, host: str = "127.0.0.1", port: int = 8000) -> ServerConfig:
        home = home.resolve()
        return cls(home=home, database_url=database_url(home), secret=load_secret(home), host=host, port=port)

    @property
    def state_dir(self) -> Path:
        return self.home / STATE_DIR

    @property
    def serves_home(self) -> bool:
        """Whether the folder the server starts in is a project."""
        return (self.home / SPEC_NAME).is_file()


def database_url(home: Path) -> str:
    url = os.environ.get("ASSAY_DATABASE_URL")
    if url:
        return url
    from assay.project import Project

    state = Project(root=home, name=home.name).ensure_state_dir()  # with its .gitignore
    return f"sqlite:///{state / 'assay.db'}"


def load_secret(home: Path) -> str:
    """``ASSAY_SERVER_SECRET``, else the secret kept in ``.assay/server-secret`` (made once)."""
    given = os.environ.get("ASSAY_SERVER_SECRET")
    if given:
        if len(given) < MIN_SECRET:
            raise AssayError(
                f"ASSAY_SERVER_SECRET is too short ({len(given)} characters)",
                hint=f"use at least {MIN_SECRET} random characters, e.g. `openssl rand -hex 32`",
            )
        return given
    from assay.project import Project

    path = Project(root=home, name=home.name).ensure_state_dir() / SECRET_FILE
    try:
        # NOTE: O_EXCL with the mode given at creation: the secret is never readable by others,
        # not even between a write and a chmod, and two servers starting at once make one.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
    secret = path.read_text(encoding="utf-8").strip()
    if len(secret) < MIN_SECRET:
        raise AssayError(f"{path} holds no usable secret", hint="delete it; the server makes a new one")
    return secret
