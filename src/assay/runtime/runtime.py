"""The runtime: everything around an execution — the project, the catalog, the store, the
sandbox — and what its executions share: one snapshot of the code, the image environments,
the baseline, and warnings said once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assay.artifacts import ArtifactStore
from assay.catalog import Catalog, baselines
from assay.catalog.projects import resolve_project
from assay.errors import InvalidRequest
from assay.project import Project
from assay.runtime import envs, layout, process
from assay.runtime.folders import FolderFactory, sweep_spares
from assay.runtime.images import Environment
from assay.runtime.openlineage import LineageEmitter
from assay.runtime.sandbox import NO_SANDBOX_WARNING, Sandbox
from assay.spec.secrets import Secrets
from assay.spec.settings import Settings


@dataclass
class Runtime:
    """One command's (or one pipeline run's) view of where and how executions run.

    What it caches — the code snapshot, the image environments, the baseline — holds for its
    whole life, so every execution of one run sees the same; make a new one for a new run.
    """

    project: Project
    catalog: Catalog
    store: ArtifactStore
    sandbox: Sandbox
    actor: str
    on_line: process.LogCallback | None = None
    on_warning: Callable[[str], None] | None = None
    settings: Settings = field(default_factory=Settings)
    #: OpenLineage events (docs/openlineage.md): set up from ``settings`` on first use, off by default
    lineage: LineageEmitter = field(default_factory=LineageEmitter, repr=False)
    #: progress of slow set-up (building an image's environment); None: say nothing
    on_progress: Callable[[str], None] | None = None
    #: the code its executions run, recorded on each (``executions.source``): ``{"repository",
    #: "ref", "commit", "adhoc"}`` for a server's run of a commit; empty for the project's folder
    source: dict[str, Any] = field(default_factory=dict)
    _project_id: str | None = field(default=None, repr=False)
    _environments: dict[str, Environment] = field(default_factory=dict, repr=False)
    _told: set[str] = field(default_factory=set, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _code: layout.CodeSnapshot | None = field(default=None, repr=False)
    _baseline: dict[str, Any] | None = field(default=None, repr=False)
    _layers: envs.LayerPool | None = field(default=None, repr=False)
    _folders: FolderFactory | None = field(default=None, repr=False)

    @property
    def project_id(self) -> str:
        if self._project_id is None:
            resolved = resolve_project(self.catalog, self.project)
            if resolved.note is not None:
                self.warn_once(resolved.note)
            self._project_id = resolved.id
        return self._project_id

    @property
    def secrets(self) -> Secrets:
        """Which parameter and variable names are secret here, and the project's digest salt."""
        return Secrets(salt=self.project_id, marked=self.settings.secrets)

    def environment(self, image: str) -> Environment:
        """The built environment of ``image`` (built on first use); its notes are said once."""
        with self._lock:
            found = self._environments.get(image)
            if found is None:
                found, notes = envs.environment_for(
                    image, self.settings.images, self.project.root, self.on_progress
                )
                self._environments[image] = found
                for note in notes:
                    self.warn_once(note)
            return found

    def code(self) -> layout.CodeSnapshot:
        """The project's code for this runtime's executions: one snapshot, one question to git."""
        with self._lock:
            if self._code is None:
                self._code = layout.CodeSnapshot(self.project.root, self.project.state_dir / "snapshots")
            return self._code

    @property
    def folders(self) -> FolderFactory:
        """Where this runtime's executions get their folders (made ahead, cleaned up behind)."""
        with self._lock:
            if self._folders is None:
                executions_dir = self.project.executions_dir
                executions_dir.mkdir(parents=True, exist_ok=True)
                sweep_spares(executions_dir)
                self._folders = FolderFactory(executions_dir, self.code())
            return self._folders

    @property
    def layers(self) -> envs.LayerPool:
        """The Python layers of this runtime's executions (one per execution at a time)."""
        with self._lock:
            if self._layers is None:
                self._layers = envs.LayerPool(self.project.state_dir / "layers")
            return self._layers

    def baseline(self) -> dict[str, Any]:
        """``config/baseline.json``: the metrics of the version holding the baseline alias when
        this runtime first asked (a run compares every candidate with one baseline)."""
        with self._lock:
            if self._baseline is None:
                self._baseline = self._read_baseline()
            return self._baseline

    def _read_baseline(self) -> dict[str, Any]:
        settings = self.settings
        try:
            found = baselines.read_baseline(
                self.catalog, self.project_id, settings.baseline_alias, settings.baseline_model
            )
        except InvalidRequest as exc:
            return {"alias": settings.baseline_alias, "model_version": None, "metrics": {},
                    "problem": exc.message}  # fmt: skip
        return found.as_json()

    def warn_once(self, message: str) -> None:
        """Tell ``message`` once per runtime (one command, one pipeline run)."""
        with self._lock:
            if message in self._told:
                return
            self._told.add(message)
        if self.on_warning is not None:
            self.on_warning(message)

    def warn_if_unsandboxed(self) -> None:
        if not self.sandbox.private:
            self.warn_once(NO_SANDBOX_WARNING)

    def close(self) -> None:
        """Finish what this runtime's executions left to do, and drop what it made for them (spare
        folders, the code snapshot, the layers)."""
        with self._lock:
            if self._folders is not None:
                self._folders.close()
                self._folders = None
            if self._code is not None:
                self._code.close()
                self._code = None
            if self._layers is not None:
                self._layers.close()
                self._layers = None
