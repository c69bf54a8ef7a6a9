"""The Valohai runtime contract in files and variables: config/*.json and the VH_* environment."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from assay.catalog.lifecycle import StagedFile
from assay.catalog.reuses import Place
from assay.errors import InvalidRequest
from assay.runtime import envs
from assay.runtime.images import Environment
from assay.spec.model import Step


@dataclass(frozen=True)
class PipelineContext:
    """Where an execution sits in a pipeline run (set by the engine)."""

    run_id: str
    run_counter: int
    pipeline: str
    node: str
    attempt: int
    index: int = 0  # the child's position in a task node's fan-out

    @property
    def place(self) -> Place:
        """Where reuse looks from: this node (or task child) of this run."""
        return Place(self.run_id, self.pipeline, self.node, self.index)


@dataclass(frozen=True)
class Paths:
    """The folders the command sees: ``/valohai/…`` in a sandbox, the real folders without one."""

    base: str

    @property
    def repository(self) -> str:
        return f"{self.base}/repository"

    @property
    def inputs(self) -> str:
        return f"{self.base}/inputs"

    @property
    def outputs(self) -> str:
        return f"{self.base}/outputs"

    @property
    def config(self) -> str:
        return f"{self.base}/config"


def environment_variables(step: Step, given: Mapping[str, str]) -> dict[str, str]:
    """The step's declared variables (defaults, then given values) plus any others given."""
    values: dict[str, str] = {}
    missing = []
    for name, variable in step.environment_variables.items():
        if name in given:
            values[name] = given[name]
        elif variable.default is not None:
            values[name] = variable.default
        elif not variable.optional:
            missing.append(name)
    if missing:
        raise InvalidRequest(f"environment variable(s) {', '.join(missing)} need a value")
    return {**values, **{k: v for k, v in given.items() if k not in values}}


def inputs_config(staged: Mapping[str, list[StagedFile]], inputs_dir: str) -> dict[str, Any]:
    return {
        name: {
            "files": [
                {
                    "name": f.name,
                    "path": f"{inputs_dir}/{name}/{f.name}",
                    "uri": f.uri,
                    "size": f.size,
                    "checksums": {"sha256": f.sha256},
                    "metadata": [f.metadata] if f.metadata else [],
                    "datum_id": f.datum_id,
                }
                for f in files
            ]
        }
        for name, files in staged.items()
    }


def execution_config(
    *, step: Step, execution_id: str, counter: int, git: Mapping[str, Any], actor: str,
    project_id: str, project_name: str, pipeline: PipelineContext | None,
) -> dict[str, Any]:  # fmt: skip
    config: dict[str, Any] = {
        "valohai.commit-identifier": git.get("commit"),
        "valohai.creator-name": actor,
        "valohai.environment-name": "local",
        "valohai.execution-counter": counter,
        "valohai.execution-ctime": datetime.now(UTC).isoformat(),
        "valohai.execution-id": execution_id,
        "valohai.execution-image": step.image,
        "valohai.execution-status": "started",
        "valohai.execution-step": step.name,
        "valohai.execution-tags": [],
        "valohai.execution-title": None,
        "valohai.project-id": project_id,
        "valohai.project-name": project_name,
    }
    if pipeline is not None:
        config.update(
            {
                "valohai.pipeline-counter": pipeline.run_counter,
                "valohai.pipeline-id": pipeline.run_id,
                "valohai.pipeline-node-id": f"{pipeline.run_id}:{pipeline.node}",
                "valohai.pipeline-tags": [],
                "valohai.pipeline-title": pipeline.pipeline,
            }
        )
    return config


def vh_variables(
    paths: Paths, execution_id: str, project_id: str, pipeline: PipelineContext | None
) -> dict[str, str]:
    variables = {
        "VH_REPOSITORY_DIR": paths.repository,
        "VH_INPUTS_DIR": paths.inputs,
        "VH_OUTPUTS_DIR": paths.outputs,
        "VH_CONFIG_DIR": paths.config,
        "VH_JOB_ID": f"exec-{execution_id}",
        "VH_EXECUTION_ID": execution_id,
        "VH_PROJECT_ID": project_id,
    }
    if pipeline is not None:
        variables["VH_PIPELINE_ID"] = pipeline.run_id
        variables["VH_PIPELINE_NODE_ID"] = f"{pipeline.run_id}:{pipeline.node}"
    return variables


#: host variables every step sees: who and where it runs, its locale and terminal
BASE_VARIABLES = ("HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TERM", "SHELL")


def process_environment(
    vh: Mapping[str, str],
    environment: Environment,
    layer: Path,
    step_env: Mapping[str, str],
    *,
    passed: tuple[str, ...] = (),
    scratch: str | None = None,
) -> dict[str, str]:
    """The command's environment, built from nothing: never the whole host's.

    ``HOME``/``USER``/locale (``LANG``, ``LC_*``)/``TZ``/``TERM`` of the host, the host
    variables ``assay.yaml`` lets through (``environment.pass``: names or globs), the step's
    variables, ``VH_*``, ``TMPDIR`` (the execution's scratch space), and its Python:
    ``VIRTUAL_ENV`` and the front of ``PATH`` are the execution's own layer over its image's
    environment (``runtime/envs.py``). Nothing of Assay's own configuration (a catalog URL with
    its password, say) reaches a step unless it is let through by name.
    """
    host = os.environ
    env = {k: v for k, v in host.items() if k in BASE_VARIABLES or k.startswith("LC_")}
    if passed:
        env.update({k: v for k, v in host.items() if any(fnmatch.fnmatchcase(k, p) for p in passed)})
    env.update(step_env)
    env.update(vh)
    if scratch is not None:
        env["TMPDIR"] = scratch
    env["VIRTUAL_ENV"] = str(layer)
    env["PATH"] = envs.search_path(environment, layer, host.get("PATH", os.defpath))
    env["PYTHONUNBUFFERED"] = "1"
    return env
