"""A project on disk: the folder holding ``valohai.yaml``, and its ``.assay/`` state.

``.assay/`` holds the project's id in the catalog (``project-id``), the embedded catalog
(``assay.db``), the artifact store (``store/``), the execution folders (``executions/``),
per-image environments (``envs/``) and download caches (``cache/``). ``ASSAY_DATABASE_URL``
moves the catalog to a server; ``ASSAY_STORE`` moves the store to another folder;
``ASSAY_PROJECT`` joins another folder's project (catalog/projects.py).
"""

from __future__ import annotations

import fcntl
import getpass
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assay.errors import NotFound

SPEC_NAME = "valohai.yaml"
STATE_DIR = ".assay"
PROJECT_ID_FILE = "project-id"


@dataclass(frozen=True)
class Project:
    root: Path
    #: the name a new project gets in the catalog; names are labels, ids identify
    name: str
    #: ``ASSAY_PROJECT``: the catalog project (its id, or its name) this folder joins on purpose
    joins: str | None = None

    @property
    def spec_path(self) -> Path:
        return self.root / SPEC_NAME

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    def ensure_state_dir(self) -> Path:
        """Create ``.assay/`` with a ``.gitignore`` of ``*``, so git never shows or walks it."""
        state = self.state_dir
        if not state.is_dir():
            state.mkdir(parents=True, exist_ok=True)
            (state / ".gitignore").write_text("# Assay's local state; never committed\n*\n")
        return state

    @property
    def id_path(self) -> Path:
        return self.state_dir / PROJECT_ID_FILE

    def stored_id(self) -> str | None:
        """The project id this folder was given (``.assay/project-id``), if any yet."""
        try:
            text = self.id_path.read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return text if is_project_id(text) else None

    def claim_id(self, choose: Callable[[], str]) -> str:
        """This folder's project id: the stored one, or else the one ``choose`` returns, stored.

        ``choose`` runs under a lock on ``.assay/``, so two commands started at once in a new
        folder agree on one id (and adopt at most one project, see catalog/projects.py).
        """
        self.ensure_state_dir()
        with open(self.state_dir / f"{PROJECT_ID_FILE}.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                found = self.stored_id()
                if found is not None:
                    return found
                chosen = choose()
                partial = self.id_path.with_name(f"{PROJECT_ID_FILE}.{os.getpid()}.tmp")
                partial.write_text(chosen + "\n", encoding="utf-8")
                partial.replace(self.id_path)
                return chosen
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @property
    def store_root(self) -> Path:
        override = os.environ.get("ASSAY_STORE")
        return Path(override).expanduser().resolve() if override else self.state_dir / "store"

    @property
    def executions_dir(self) -> Path:
        return self.state_dir / "executions"

    @property
    def cache_dir(self) -> Path:
        return self.state_dir / "cache"

    @property
    def database_url(self) -> str:
        url = os.environ.get("ASSAY_DATABASE_URL")
        if url:
            return url
        return f"sqlite:///{self.ensure_state_dir() / 'assay.db'}"


def find_project(start: Path | None = None) -> Project:
    """The project containing ``start`` (default: the current folder), found by its valohai.yaml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / SPEC_NAME).is_file():
            return Project(
                root=folder, name=project_name(folder), joins=os.environ.get("ASSAY_PROJECT") or None
            )
    raise NotFound(
        f"no {SPEC_NAME} in {here} or any folder above it",
        hint="run Assay inside a project, or point at one with `assay -C PATH …`",
    )


def project_name(root: Path) -> str:
    """``ASSAY_PROJECT`` if it is a name (not an id), else ``project:`` in assay.yaml, else the
    folder's name."""
    from assay.spec.settings import load_settings

    joins = os.environ.get("ASSAY_PROJECT")
    if joins and not is_project_id(joins):
        return joins
    return load_settings(root).project or root.name


def is_project_id(text: str) -> bool:
    """Whether ``text`` is a project id (a UUID, as the catalog makes them)."""
    try:
        return str(uuid.UUID(text)) == text.lower()
    except ValueError:
        return False


def current_user() -> str:
    """Who is acting: ``ASSAY_USER`` if set, else the operating-system user."""
    user = os.environ.get("ASSAY_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid-{os.getuid()}"
