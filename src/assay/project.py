"""A project on disk: the folder holding ``valohai.yaml``, and its ``.assay/`` state.

``.assay/`` holds the embedded catalog (``assay.db``), the artifact store (``store/``), the
execution folders (``executions/``), per-image environments (``envs/``) and download caches
(``cache/``). ``ASSAY_DATABASE_URL`` moves the catalog to a server; ``ASSAY_STORE`` moves
the store to another folder.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from assay.errors import NotFound

SPEC_NAME = "valohai.yaml"
STATE_DIR = ".assay"


@dataclass(frozen=True)
class Project:
    root: Path
    name: str

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
            return Project(root=folder, name=project_name(folder))
    raise NotFound(
        f"no {SPEC_NAME} in {here} or any folder above it",
        hint="run Assay inside a project, or point at one with `assay -C PATH …`",
    )


def project_name(root: Path) -> str:
    """``ASSAY_PROJECT`` if set, else ``project:`` in assay.yaml, else the folder's name."""
    from assay.spec.settings import load_settings

    return os.environ.get("ASSAY_PROJECT") or load_settings(root).project or root.name


def current_user() -> str:
    """Who is acting: ``ASSAY_USER`` if set, else the operating-system user."""
    user = os.environ.get("ASSAY_USER")
    if user:
        return user
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"uid-{os.getuid()}"
