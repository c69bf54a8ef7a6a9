"""The one entry point that runs one execution. Every executor calls ``run_execution``.

Order of work, chosen so that bad input changes nothing and a crash leaves a record:

1. resolve parameters and plan inputs (validation only; all problems at once);
2. fetch and verify input bytes; with ``reuse``, hand back an identical earlier execution;
3. record the execution (``created``) with its input datums;
4. lay out the folder, link inputs, write config files; record ``started``;
5. run the command, streaming logs and metadata;
6. store outputs and record them with metadata, status and environment in one transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sqlalchemy.orm import Session

from assay.artifacts import ArtifactStore
from assay.catalog import Catalog, baselines, datums, executions, registration, reuses
from assay.catalog.projects import ensure_project
from assay.catalog.tables import Execution, new_id
from assay.engine.conditions import condition_holds
from assay.errors import AssayError, InvalidRequest
from assay.project import Project
from assay.runtime import contract, envs, inputs, layout, process, provenance, reuse
from assay.runtime.contract import Paths, PipelineContext
from assay.runtime.images import Environment
from assay.runtime.openlineage import LineageEmitter
from assay.runtime.outputs import CollectedOutputs, OutputFile, collect_outputs
from assay.runtime.sandbox import NO_SANDBOX_WARNING, VALOHAI, Sandbox
from assay.spec.model import Step
from assay.spec.parameters import resolve_parameters
from assay.spec.settings import Settings


@dataclass(frozen=True)
class ExecutionRequest:
    """What to run: a step, and the values given for it (the rest come from valohai.yaml)."""

    step: Step
    parameters: Mapping[str, Any] = field(default_factory=dict)
    parameters_as_text: bool = False  # values are lists of strings from a command line
    #: parameters whose values came by a pipeline edge (an untyped one keeps their JSON type)
    parameters_from_edges: frozenset[str] = frozenset()
    #: input name → URIs replacing its default
    inputs: Mapping[str, Sequence[str]] = field(default_factory=dict)
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    pipeline: PipelineContext | None = None
    #: hand back an earlier execution with the same reuse key instead of running
    reuse: bool = False
    #: polled while the command runs; True stops it (status ``stopped``)
    should_stop: Callable[[], bool] | None = None
    on_line: process.LogCallback | None = None  # instead of the runtime's


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
    settings: Settings = field(default_factory=Settings)
    #: OpenLineage events (docs/openlineage.md): set up from ``settings`` on first use, off by default
    lineage: LineageEmitter = field(default_factory=LineageEmitter, repr=False)
    #: progress of slow set-up (building an image's environment); None: say nothing
    on_progress: Callable[[str], None] | None = None
    _project_id: str | None = field(default=None, repr=False)
    _warned_no_sandbox: bool = field(default=False, repr=False)
    _environments: dict[str, Environment] = field(default_factory=dict, repr=False)
    _told: set[str] = field(default_factory=set, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

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

    def warn_once(self, message: str) -> None:
        """Tell ``message`` once per runtime (one command, one pipeline run)."""
        if message in self._told:
            return
        self._told.add(message)
        if self.on_warning is not None:
            self.on_warning(message)

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
    parameters: Mapping[str, Any] = field(default_factory=dict)
    inputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # input → datum ids
    environment_variables: Mapping[str, str] = field(default_factory=dict)
    reused: bool = False
    reuse_note: str | None = None


def run_execution(request: ExecutionRequest, runtime: Runtime) -> ExecutionResult:
    git_probe = provenance.GitProbe(runtime.project.root)  # runs while we check the request
    step = request.step
    values = resolve_parameters(
        step, request.parameters, as_text=request.parameters_as_text, from_edges=request.parameters_from_edges
    )
    script = step.build_script(values)
    env_values = contract.environment_variables(step, request.environment_variables)
    with runtime.catalog.read() as session:
        plan = inputs.plan_inputs(
            step, request.inputs, values, base_dir=runtime.project.root,
            session=session, project_id=runtime.project_id,
        )  # fmt: skip
        baseline = _baseline_config(session, runtime)
    fetched = inputs.fetch_inputs(plan, store=runtime.store, cache_dir=runtime.project.cache_dir)
    files = {name: [(source.name, blob.sha256) for source, blob in found] for name, found in fetched.items()}
    note = None
    environment = runtime.environment(step.image)
    if request.reuse:
        facts = reuse.facts(step, script, values, files, git_probe.state(), env_values, environment.key)
        place = None if request.pipeline is None else request.pipeline.place
        with runtime.catalog.read() as session:
            decision = reuse.decide(session, runtime.project_id, step.name, facts, place)
        for choice in decision.choices:
            with runtime.catalog.transaction() as session:
                if place is None or reuses.claim(session, place, choice.execution.id):
                    return _reused(session, choice.execution, choice.note)
        note = decision.note

    execution_id = new_id()
    folder = layout.ExecutionLayout(runtime.project.executions_dir / execution_id)
    with runtime.catalog.transaction() as session:
        staged = inputs.record_input_datums(session, fetched, runtime.project_id)
        execution = executions.create_execution(
            session, project_id=runtime.project_id, step=step.name, image=step.image, command=script,
            parameters=values, inputs=_inputs_summary(staged), execution_dir=str(folder.root),
            actor=runtime.actor, execution_id=execution_id,
            pipeline=None if request.pipeline is None else executions.PipelinePlace(
                request.pipeline.run_id, request.pipeline.node, request.pipeline.attempt,
                request.pipeline.index),
        )  # fmt: skip
        executions.record_inputs(session, execution_id, _input_rows(staged))
    prepared = _Prepared(values, staged, script, env_values, environment, files, note, baseline)
    try:
        return _run_recorded(request, runtime, execution, folder, git_probe, prepared)
    except Exception as exc:
        with runtime.catalog.read() as session:
            status = executions.status_of(session, execution_id)
        if status in (executions.CREATED, executions.STARTED):
            reason = f"internal error: {type(exc).__name__}: {exc}"
            _finish(runtime, execution, "error", None, reason, {}, CollectedOutputs(), [], {})
            folder.clean_up()
        raise


@dataclass(frozen=True)
class _Prepared:
    """What was resolved before the execution was recorded."""

    values: dict[str, Any]
    staged: dict[str, list[inputs.StagedFile]]
    script: str
    env_values: dict[str, str]
    environment: Environment
    files: dict[str, list[tuple[str, str]]]
    note: str | None
    baseline: dict[str, Any]


def _run_recorded(
    request: ExecutionRequest,
    runtime: Runtime,
    execution: Execution,
    folder: layout.ExecutionLayout,
    git_probe: provenance.GitProbe,
    prepared: _Prepared,
) -> ExecutionResult:
    """The part of an execution after its record exists: lay out, run, collect, record."""
    step = request.step
    execution_id = execution.id
    counter = execution.counter
    values, staged, script, env_values = (
        prepared.values,
        prepared.staged,
        prepared.script,
        prepared.env_values,
    )
    image, files, note = prepared.environment, prepared.files, prepared.note
    git: dict[str, Any] = {}
    try:
        folder.create()
        envs.make_layer(image, folder.env)
        git = git_probe.state()  # git has been working in the background until now
        vh = _prepare_folder(folder, runtime, request, prepared, git, git_probe.files(), counter)
    except (OSError, AssayError) as exc:
        environment = _environment(runtime, step, git, image, env_values)
        reason = f"could not prepare the execution: {exc}"
        _finish(runtime, execution, "error", None, reason, environment, CollectedOutputs(), [], {})
        folder.clean_up()
        raise AssayError(f"execution #{counter} could not start: {exc}") from exc
    environment = _environment(runtime, step, git, image, env_values)
    facts = reuse.facts(step, script, values, files, git, env_values, image.key)

    _warn_once_without_sandbox(runtime)
    with runtime.catalog.transaction() as session:
        executions.start_execution(
            session, _attach(session, execution), log_path=str(folder.log), actor=runtime.actor
        )
    runtime.lineage.started(runtime, execution, request.pipeline, prepared.staged)
    if script.startswith("#!"):  # the script names its own interpreter
        folder.script.write_text(script)
        folder.script.chmod(0o755)
        argv = [str(folder.script)]
    else:
        argv = ["/bin/sh", "-c", script]
    outcome = process.run_process(
        runtime.sandbox.wrap(argv, folder.valohai, read_only=(image.path,)),
        cwd=folder.repository,
        env=contract.process_environment(vh, image, folder.env, env_values),
        log_path=folder.log,
        on_line=request.on_line or runtime.on_line,
        limits=process.Limits(
            time_limit=step.time_limit,
            no_output_timeout=step.no_output_timeout,
            should_stop=request.should_stop,
            stop_condition=_stop_condition(step),
        ),
    )
    collected = collect_outputs(
        folder.outputs, runtime.store, folder.valohai if runtime.sandbox.private else None
    )
    status, message = _status(outcome, step)
    hint = envs.missing_module_hint(step.image, outcome.tail) if status == executions.ERROR else None
    message = f"{message}; {hint}" if hint else message
    own = envs.installed_in_layer(image, folder.env)
    if own:
        collected.problems.append(
            f"installed for this execution only (gone when it ended): {', '.join(own)}; declare them "
            f"under images.{step.image} in assay.yaml to have them in the image's environment"
        )
    records = _finish(
        runtime,
        execution,
        status,
        outcome.exit_code,
        message,
        environment,
        collected,
        outcome.metadata,
        facts,
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
        parameters=MappingProxyType(values),
        inputs=MappingProxyType({name: tuple(f.datum_id for f in found) for name, found in staged.items()}),
        environment_variables=MappingProxyType(env_values),
        reuse_note=note,
    )


def _reused(session: Session, execution: Execution, note: str) -> ExecutionResult:
    """The result of an earlier execution, handed back instead of running again."""
    outputs = datums.outputs_of(session, execution.id)
    used: dict[str, list[str]] = {}
    for row in executions.execution_inputs(session, execution.id):
        used.setdefault(row.input_name, []).append(row.datum_id)
    return ExecutionResult(
        execution_id=execution.id,
        counter=execution.counter,
        status=execution.status,
        exit_code=execution.exit_code,
        message=execution.message,
        outputs=tuple(OutputRecord(d.id, d.name, d.sha256, d.size) for d in outputs),
        metadata=MappingProxyType(executions.latest_metadata(session, execution.id)),
        problems=tuple(execution.problems),
        log_path=Path(execution.log_path),
        log_tail=(),
        parameters=MappingProxyType(dict(execution.parameters)),
        inputs=MappingProxyType({name: tuple(ids) for name, ids in used.items()}),
        environment_variables=MappingProxyType(dict(execution.environment.get("variables", {}))),
        reused=True,
        reuse_note=note,
    )


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


def _prepare_folder(
    folder: layout.ExecutionLayout,
    runtime: Runtime,
    request: ExecutionRequest,
    prepared: _Prepared,
    git: Mapping[str, Any],
    git_files: list[str] | None,
    counter: int,
) -> dict[str, str]:
    values, staged = prepared.values, prepared.staged
    execution_id = folder.root.name
    layout.snapshot_repository(runtime.project.root, folder.repository, git_files)
    inputs.place_inputs(staged, folder.inputs, runtime.store)
    paths = Paths(VALOHAI if runtime.sandbox.private else str(folder.valohai))
    folder.write_config("parameters", dict(values))
    folder.write_config("baseline", prepared.baseline)
    folder.write_config("inputs", contract.inputs_config(staged, paths.inputs))
    folder.write_config(
        "execution",
        contract.execution_config(
            step=request.step,
            execution_id=execution_id,
            counter=counter,
            git=git,
            actor=runtime.actor,
            project_id=runtime.project_id,
            project_name=runtime.project.name,
            pipeline=request.pipeline,
        ),
    )
    return contract.vh_variables(paths, execution_id, runtime.project_id, request.pipeline)


def _baseline_config(session: Session, runtime: Runtime) -> dict[str, Any]:
    """``config/baseline.json``: the metrics of the version holding the baseline alias."""
    settings = runtime.settings
    try:
        found = baselines.find_baseline(
            session, runtime.project_id, settings.baseline_alias, settings.baseline_model
        )
    except InvalidRequest as exc:
        return {
            "alias": settings.baseline_alias,
            "model_version": None,
            "metrics": {},
            "problem": exc.message,
        }
    return found.as_json()


def _environment(
    runtime: Runtime, step: Step, git: dict[str, Any], image: Environment, variables: Mapping[str, str]
) -> dict[str, Any]:
    record = provenance.environment_record(
        project_root=runtime.project.root, git=git, image=step.image,
        sandbox=runtime.sandbox.mode, environment=image,
    )  # fmt: skip
    record["variables"] = dict(variables)
    return record


def _stop_condition(step: Step) -> process.StopCondition | None:
    """The step's ``stop-condition`` over its latest metadata (keys bare or as ``metadata.<key>``)."""
    expression = step.stop_condition
    if not expression:
        return None
    return lambda latest: condition_holds(expression, latest)


def _status(outcome: process.ProcessOutcome, step: Step) -> tuple[str, str | None]:
    if outcome.interrupted:
        return executions.STOPPED, "stopped by the user"
    if outcome.stopped:
        return executions.STOPPED, "stopped"
    if outcome.condition_met:
        return executions.COMPLETED, f"stopped early: stop-condition {step.stop_condition!r} was met"
    if outcome.silent_for is not None:
        return executions.ERROR, f"no output for {outcome.silent_for:.0f} s (no-output-timeout)"
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
    facts: dict[str, Any],
) -> list[OutputRecord]:
    records: list[OutputRecord] = []
    problems = list(collected.problems)
    with runtime.catalog.transaction() as session:
        execution = executions.reload(session, execution)
        current = execution.status
        if current not in (executions.CREATED, executions.STARTED):
            # A resume declared this execution interrupted while it still ran here: its
            # outputs are not recorded, so the node's re-run is the only one that counts.
            collected.problems[:] = [*problems, f"not recorded: the execution was already {current}"]
            return []
        recorded = []
        for output in collected.files:
            datum = _record_output(session, runtime, execution, output, problems)
            recorded.append(datum)
            records.append(OutputRecord(datum.id, output.name, output.sha256, output.size))
        latest: dict[str, Any] = {}
        for _, data in metadata:
            latest.update(data)
        registration.register_outputs(
            session, execution, recorded, latest, status=status, actor=runtime.actor, problems=problems,
            promote_alias=runtime.settings.promote_alias,
        )  # fmt: skip
        if status == executions.COMPLETED:
            execution.reuse_key = reuse.key(facts)
        execution.reuse_facts = facts
        executions.finish_execution(
            session, execution, status=status, exit_code=exit_code, message=message,
            environment=environment, problems=list(problems), metadata=metadata, actor=runtime.actor,
        )  # fmt: skip
    collected.problems[:] = problems
    runtime.lineage.finished(runtime, execution, status, message, records)
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
