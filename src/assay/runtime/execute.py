"""The one entry point that runs one execution. Every executor calls ``run_execution``.

Order of work, chosen so that bad input changes nothing and a crash leaves a record:

1. resolve parameters and plan inputs (validation only; all problems at once);
2. fetch and verify input bytes; record the execution (``created``) with its input datums;
3. lay out the folder, link inputs, write config files; record ``started``;
4. run the command in the sandbox, streaming logs and metadata;
5. store outputs and record them with metadata, status and environment in one transaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlalchemy.orm import Session

from assay.artifacts import ArtifactStore
from assay.catalog import Catalog, datums, executions
from assay.catalog.projects import ensure_project
from assay.catalog.tables import Execution, new_id
from assay.errors import AssayError, InvalidRequest
from assay.project import Project
from assay.runtime import envs, inputs, layout, process, provenance
from assay.runtime.outputs import CollectedOutputs, OutputFile, collect_outputs
from assay.runtime.sandbox import NO_SANDBOX_WARNING, VALOHAI, Sandbox
from assay.spec.model import Step
from assay.spec.parameters import resolve_parameters


@dataclass(frozen=True)
class ExecutionRequest:
    """What to run: a step, and the values given for it (the rest come from valohai.yaml)."""

    step: Step
    parameters: Mapping[str, Any] = field(default_factory=dict)
    parameters_as_text: bool = False  # values are lists of strings from a command line
    inputs: Mapping[str, Sequence[str]] = field(
        default_factory=dict
    )  # input name → URIs replacing its default
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    #: extra ``VH_*`` / ``valohai.*`` context, e.g. a pipeline's ids (set by the engine)
    context_env: Mapping[str, str] = field(default_factory=dict)
    context_config: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Runtime:
    """Everything around an execution: where the project is, the catalog, the store, the sandbox."""

    project: Project
    catalog: Catalog
    store: ArtifactStore
    sandbox: Sandbox
    actor: str
    on_line: process.LogCallback | None = None
    on_warning: Callable[[str], None] | None = None
    _project_id: str | None = field(default=None, repr=False)
    _warned_no_sandbox: bool = field(default=False, repr=False)

    @property
    def project_id(self) -> str:
        if self._project_id is None:
            with self.catalog.transaction() as session:
                self._project_id = ensure_project(session, self.project.name).id
        return self._project_id


@dataclass(frozen=True)
class OutputRecord:
    datum_id: str
    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ExecutionResult:
    execution_id: str
    counter: int
    status: str
    exit_code: int | None
    message: str | None
    outputs: tuple[OutputRecord, ...]
    metadata: Mapping[str, Any]
    problems: tuple[str, ...]
    log_path: Path
    log_tail: tuple[str, ...]


def run_execution(request: ExecutionRequest, runtime: Runtime) -> ExecutionResult:
    git_probe = provenance.GitProbe(runtime.project.root)  # runs while we check the request
    return _run(request, runtime, git_probe)


def _run(request: ExecutionRequest, runtime: Runtime, git_probe: provenance.GitProbe) -> ExecutionResult:
    step = request.step
    values = resolve_parameters(step, request.parameters, as_text=request.parameters_as_text)
    script = step.build_script(values)
    env_values = _environment_variables(step, request.environment_variables)
    with runtime.catalog.read() as session:
        plan = inputs.plan_inputs(
            step, request.inputs, values, base_dir=runtime.project.root,
            session=session, project_id=runtime.project_id,
        )  # fmt: skip
    fetched = inputs.fetch_inputs(plan, store=runtime.store, cache_dir=runtime.project.cache_dir)
    python_env = envs.ensure_environment(runtime.project.envs_dir, step.image)

    execution_id = new_id()
    folder = layout.ExecutionLayout(runtime.project.executions_dir / execution_id)
    with runtime.catalog.transaction() as session:
        staged = inputs.record_input_datums(session, fetched, runtime.project_id)
        execution = executions.create_execution(
            session,
            project_id=runtime.project_id,
            step=step.name,
            image=step.image,
            command=script,
            parameters=values,
            inputs=_inputs_summary(staged),
            execution_dir=str(folder.root),
            actor=runtime.actor,
            execution_id=execution_id,
        )
        executions.record_inputs(session, execution_id, _input_rows(staged))
        counter = execution.counter

    git: dict[str, Any] = {}
    try:
        folder.create()
        git = git_probe.state()  # git has been working in the background until now
        vh = _prepare_folder(folder, runtime, request, step, values, staged, git, git_probe.files(), counter)
    except (OSError, AssayError) as exc:
        environment = _environment(runtime, step, git, python_env)
        reason = f"could not prepare the execution: {exc}"
        _finish(runtime, execution, "error", None, reason, environment, CollectedOutputs(), [])
        folder.clean_up()
        raise AssayError(f"execution #{counter} could not start: {exc}") from exc
    environment = _environment(runtime, step, git, python_env)

    _warn_once_without_sandbox(runtime)
    with runtime.catalog.transaction() as session:
        executions.start_execution(
            session, _attach(session, execution), log_path=str(folder.log), actor=runtime.actor
        )
    if script.startswith("#!"):  # the script names its own interpreter
        folder.script.write_text(script)
        folder.script.chmod(0o755)
        argv = [str(folder.script)]
    else:
        argv = ["/bin/sh", "-c", script]
    outcome = process.run_process(
        runtime.sandbox.wrap(argv, folder.valohai),
        cwd=folder.repository,
        env=_process_env(vh, python_env, env_values, request.context_env),
        log_path=folder.log,
        on_line=runtime.on_line,
        time_limit=step.time_limit,
    )
    collected = collect_outputs(folder.outputs, runtime.store)
    status, message = _status(outcome, step)
    records = _finish(
        runtime, execution, status, outcome.exit_code, message, environment, collected, outcome.metadata
    )
    folder.clean_up()
    latest: dict[str, Any] = {}
    for _, data in outcome.metadata:
        latest.update(data)
    if outcome.interrupted:
        raise KeyboardInterrupt
    return ExecutionResult(
        execution_id=execution_id,
        counter=counter,
        status=status,
        exit_code=outcome.exit_code,
        message=message,
        outputs=tuple(records),
        metadata=MappingProxyType(latest),
        problems=tuple(collected.problems),
        log_path=folder.log,
        log_tail=tuple(outcome.tail),
    )


def _environment_variables(step: Step, given: Mapping[str, str]) -> dict[str, str]:
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
    extra = {k: v for k, v in given.items() if k not in values}
    return {**values, **extra}


def _inputs_summary(staged: Mapping[str, list[inputs.StagedFile]]) -> dict[str, Any]:
    return {
        name: [
            {"name": f.name, "uri": f.uri, "datum_id": f.datum_id, "sha256": f.sha256, "size": f.size}
            for f in files
        ]
        for name, files in staged.items()
    }


def _input_rows(staged: Mapping[str, list[inputs.StagedFile]]) -> list[dict[str, Any]]:
    return [
        {"input_name": name, "position": position, "datum_id": f.datum_id, "uri": f.uri, "name": f.name}
        for name, files in staged.items()
        for position, f in enumerate(files)
    ]


@dataclass(frozen=True)
class _Paths:
    """The paths the command sees: ``/valohai/…`` in a sandbox, the real folders without one."""

    repository: str
    inputs: str
    outputs: str
    config: str


def _prepare_folder(
    folder: layout.ExecutionLayout,
    runtime: Runtime,
    request: ExecutionRequest,
    step: Step,
    values: Mapping[str, Any],
    staged: Mapping[str, list[inputs.StagedFile]],
    git: Mapping[str, Any],
    git_files: list[str] | None,
    counter: int,
) -> dict[str, str]:
    execution_id = folder.root.name
    layout.snapshot_repository(runtime.project.root, folder.repository, git_files)
    inputs.place_inputs(staged, folder.inputs, runtime.store)
    base = VALOHAI if runtime.sandbox.private else str(folder.valohai)
    paths = _Paths(f"{base}/repository", f"{base}/inputs", f"{base}/outputs", f"{base}/config")
    folder.write_config("parameters", dict(values))
    folder.write_config("inputs", _inputs_config(staged, paths.inputs))
    folder.write_config("execution", _execution_config(runtime, request, step, git, counter, execution_id))
    return {
        "VH_REPOSITORY_DIR": paths.repository,
        "VH_INPUTS_DIR": paths.inputs,
        "VH_OUTPUTS_DIR": paths.outputs,
        "VH_CONFIG_DIR": paths.config,
        "VH_JOB_ID": f"exec-{execution_id}",
        "VH_EXECUTION_ID": execution_id,
        "VH_PROJECT_ID": runtime.project_id,
    }


def _environment(runtime: Runtime, step: Step, git: dict[str, Any], python_env: Path) -> dict[str, Any]:
    return provenance.environment_record(
        project_root=runtime.project.root, git=git, image=step.image,
        sandbox=runtime.sandbox.mode, python_env=python_env,
    )  # fmt: skip


def _inputs_config(staged: Mapping[str, list[inputs.StagedFile]], inputs_dir: str) -> dict[str, Any]:
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


def _execution_config(
    runtime: Runtime,
    request: ExecutionRequest,
    step: Step,
    git: Mapping[str, Any],
    counter: int,
    execution_id: str,
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "valohai.commit-identifier": git.get("commit"),
        "valohai.creator-name": runtime.actor,
        "valohai.environment-name": "local",
        "valohai.execution-counter": counter,
        "valohai.execution-ctime": datetime.now(UTC).isoformat(),
        "valohai.execution-id": execution_id,
        "valohai.execution-image": step.image,
        "valohai.execution-status": "started",
        "valohai.execution-step": step.name,
        "valohai.execution-tags": [],
        "valohai.execution-title": None,
        "valohai.project-id": runtime.project_id,
        "valohai.project-name": runtime.project.name,
    }
    config.update(request.context_config)
    return config


def _process_env(
    vh: Mapping[str, str], python_env: Path, step_env: Mapping[str, str], context_env: Mapping[str, str]
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
    env.update(step_env)
    env.update(vh)
    env.update(context_env)
    env["VIRTUAL_ENV"] = str(python_env)
    env["PATH"] = f"{envs.bin_dir(python_env)}{os.pathsep}{os.environ.get('PATH', os.defpath)}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _status(outcome: process.ProcessOutcome, step: Step) -> tuple[str, str | None]:
    if outcome.interrupted:
        return executions.STOPPED, "stopped by the user"
    if outcome.timed_out:
        return executions.ERROR, f"time limit of {step.time_limit:g} s exceeded"
    if outcome.exit_code != 0:
        return executions.ERROR, f"command exited with code {outcome.exit_code}"
    return executions.COMPLETED, None


def _attach(session: Session, execution: Execution) -> Execution:
    """Bring the execution recorded earlier into this transaction without reading it again."""
    session.add(execution)
    return execution


def _finish(
    runtime: Runtime,
    execution: Execution,
    status: str,
    exit_code: int | None,
    message: str | None,
    environment: dict[str, Any],
    collected: CollectedOutputs,
    metadata: list[tuple[datetime, dict[str, Any]]],
) -> list[OutputRecord]:
    records: list[OutputRecord] = []
    problems = list(collected.problems)
    with runtime.catalog.transaction() as session:
        _attach(session, execution)
        for output in collected.files:
            datum = _record_output(session, runtime, execution, output, problems)
            records.append(OutputRecord(datum.id, output.name, output.sha256, output.size))
        executions.finish_execution(
            session, execution, status=status, exit_code=exit_code, message=message,
            environment=environment, problems=problems, metadata=metadata, actor=runtime.actor,
        )  # fmt: skip
    collected.problems[:] = problems
    return records


def _record_output(
    session: Session, runtime: Runtime, execution: Execution, output: OutputFile, problems: list[str]
) -> Any:
    tags = output.metadata.get("valohai.tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.append(f"output {output.name}: valohai.tags must be a list of strings; ignored")
        tags = []
    datum = datums.create_datum(
        session, project_id=execution.project_id, sha256=output.sha256, size=output.size,
        name=output.name, output_execution_id=execution.id, metadata=output.metadata, tags=tags,
    )  # fmt: skip
    alias = output.metadata.get("valohai.alias")
    if alias is not None:
        if not isinstance(alias, str):
            problems.append(f"output {output.name}: valohai.alias must be one string; ignored")
        else:
            try:
                datums.set_datum_alias(session, execution.project_id, alias, datum, runtime.actor)
            except InvalidRequest as exc:
                problems.append(f"output {output.name}: {exc.message}")
    return datum


def _warn_once_without_sandbox(runtime: Runtime) -> None:
    if runtime.sandbox.private or runtime._warned_no_sandbox:
        return
    runtime._warned_no_sandbox = True
    if runtime.on_warning is not None:
        runtime.on_warning(NO_SANDBOX_WARNING)
