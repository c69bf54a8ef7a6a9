"""The one entry point that runs one execution. Every executor calls ``run_execution``.

Order of work, chosen so that bad input changes nothing and a crash leaves a record:

1. resolve parameters and plan inputs (validation only; all problems at once);
2. fetch and verify input bytes; with ``reuse``, hand back an identical earlier execution;
3. lay out the execution's private folder: its Python layer, the code, the inputs (linked from
   the store), the config files that need no record (nothing is recorded yet: a failure here
   removes the folder and changes nothing);
4. record the execution as ``started``, with its input datums, in one transaction — before
   its command runs; then write the config files that name its number;
5. run the command, streaming logs and metadata;
6. store outputs and record them with metadata, status and environment in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from assay.catalog import executions, lifecycle, reuses
from assay.catalog.lifecycle import StagedFile, StartedExecution
from assay.catalog.tables import new_id
from assay.engine import lease
from assay.engine.conditions import condition_holds
from assay.errors import AssayError, Interrupted
from assay.runtime import contract, envs, images, inputs, layout, leftovers, process, provenance, reuse
from assay.runtime.contract import Paths, PipelineContext
from assay.runtime.finish import Ending, ExecutionResult, OutputRecord, finish, reused_result
from assay.runtime.images import Environment
from assay.runtime.outputs import collect_outputs
from assay.runtime.runtime import Runtime
from assay.runtime.sandbox import VALOHAI, Confinement
from assay.runtime.stopping import ExecutionStop
from assay.spec.model import Step
from assay.spec.parameters import resolve_parameters
from assay.spec.secrets import Secrets

__all__ = ["ExecutionRequest", "ExecutionResult", "OutputRecord", "Runtime", "run_execution"]


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
    #: polled while the command runs; True, or why as text, stops it (status ``stopped``)
    should_stop: Callable[[], bool | str] | None = None
    on_line: process.LogCallback | None = None  # instead of the runtime's


@dataclass(frozen=True)
class _Prepared:
    """What was resolved and laid out before the execution was recorded."""

    values: dict[str, Any]
    script: str
    env_values: dict[str, str]
    environment: Environment
    files: dict[str, list[tuple[str, str]]]  # input → (file name, sha256)
    note: str | None
    git: dict[str, Any]
    facts: dict[str, Any]
    secrets: Secrets
    command: str  # the script as recorded: secret values shown as ***

    @property
    def recorded_values(self) -> dict[str, Any]:
        return self.secrets.masked(self.values)


def run_execution(request: ExecutionRequest, runtime: Runtime) -> ExecutionResult:
    code = runtime.code()  # git works in the background while the request is checked
    step = request.step
    values = resolve_parameters(
        step, request.parameters, as_text=request.parameters_as_text, from_edges=request.parameters_from_edges
    )
    script = step.build_script(values)
    env_values = contract.environment_variables(step, request.environment_variables)
    secrets = runtime.secrets
    command = _recorded_command(step, values, script, secrets)
    plan = inputs.plan_inputs(
        step, request.inputs, values, base_dir=runtime.project.root,
        catalog=runtime.catalog, project_id=runtime.project_id,
    )  # fmt: skip
    fetched = inputs.fetch_inputs(
        plan, store=runtime.store, cache_dir=runtime.project.cache_dir, on_warning=runtime.warn_once
    )
    files = {name: [(source.name, blob.sha256) for source, blob in found] for name, found in fetched.items()}
    environment = runtime.environment(step.image)
    code.take()
    facts = reuse.facts(step, command, secrets.for_facts(values), files, code.git,
                        secrets.for_facts(env_values), environment.key)  # fmt: skip
    note = None
    if request.reuse:
        place = None if request.pipeline is None else request.pipeline.place
        decision = reuse.decide(runtime.catalog, runtime.project_id, step.name, facts, place)
        for choice in decision.choices:
            reused = reuses.claim_and_read(runtime.catalog, place, choice.execution_id)
            if reused is not None:
                return reused_result(reused, choice.note)
        note = decision.note

    prepared = _Prepared(
        values, script, env_values, environment, files, note, code.git, facts, secrets, command
    )
    folder = layout.ExecutionLayout(runtime.project.executions_dir / new_id())
    try:
        folder = runtime.folders.take(folder.root.name)  # made ahead, with the run's code
        _lay_out(folder, runtime, prepared)
    except (OSError, AssayError) as exc:
        folder.remove()  # nothing was recorded: nothing is left
        raise AssayError(f"could not prepare an execution of {step.name!r}: {exc}") from exc
    new = lifecycle.NewExecution(
        project_id=runtime.project_id, step=step.name, image=step.image, command=command,
        parameters=prepared.recorded_values, execution_id=folder.root.name,
        execution_dir=str(folder.root), log_path=str(folder.log), actor=runtime.actor,
        driver=lease.identity(), source=runtime.source,
        pipeline=None if request.pipeline is None else executions.PipelinePlace(
            request.pipeline.run_id, request.pipeline.node, request.pipeline.attempt,
            request.pipeline.index),
    )  # fmt: skip
    execution, staged = lifecycle.start_execution(runtime.catalog, new, inputs.arriving_files(fetched))
    try:
        return _run_started(request, runtime, execution, folder, staged, prepared)
    except (Exception, KeyboardInterrupt) as exc:
        status = executions.current_status(runtime.catalog, execution.id)
        if status in (executions.CREATED, executions.STARTED):
            if isinstance(exc, KeyboardInterrupt):  # a signal outside the command: end what it left
                leftovers.end([execution.id])
                ending = Ending(executions.STOPPED, Interrupted.of(exc).reason)
            else:
                ending = Ending(executions.ERROR, f"internal error: {type(exc).__name__}: {exc}")
            finish(runtime, execution, replace(ending, environment=_record(runtime, step, prepared)))
            runtime.folders.discard(folder)
        if isinstance(exc, Interrupted):
            exc.noting(execution.counter, _place_name(request))
        raise


def _lay_out(folder: layout.ExecutionLayout, runtime: Runtime, prepared: _Prepared) -> None:
    """Fill the execution's folder (made with its code) with what does not name its number."""
    inputs.place_inputs(prepared.files, folder.inputs, runtime.store, link=runtime.sandbox.private)
    folder.scratch.mkdir(exist_ok=True)
    folder.write_config("parameters", dict(prepared.values))
    folder.write_config("baseline", runtime.baseline())
    if prepared.script.startswith("#!"):  # the script names its own interpreter
        folder.script.write_text(prepared.script)
        folder.script.chmod(0o755)


def _run_started(
    request: ExecutionRequest,
    runtime: Runtime,
    execution: StartedExecution,
    folder: layout.ExecutionLayout,
    staged: dict[str, list[StagedFile]],
    prepared: _Prepared,
) -> ExecutionResult:
    """The part of an execution after its record exists: the last config files, run, collect, record."""
    step = request.step
    image = prepared.environment
    paths = Paths(VALOHAI if runtime.sandbox.private else str(folder.valohai))
    folder.write_config("inputs", contract.inputs_config(staged, paths.inputs))
    config = contract.execution_config(
        step=step, execution_id=execution.id, counter=execution.counter, git=prepared.git,
        actor=runtime.actor, project_id=runtime.project_id, project_name=runtime.project.name,
        pipeline=request.pipeline,
    )  # fmt: skip
    folder.write_config("execution", config)
    vh = contract.vh_variables(paths, execution.id, runtime.project_id, request.pipeline)
    runtime.warn_if_unsandboxed()
    runtime.lineage.started(runtime, execution, request.pipeline, staged)
    argv = [str(folder.script)] if prepared.script.startswith("#!") else ["/bin/sh", "-c", prepared.script]
    layer = runtime.layers.take(image)  # the execution's own Python layer (runtime/envs.py)
    private = runtime.sandbox.private
    try:
        outcome = process.run_process(
            runtime.sandbox.wrap(argv, folder.valohai, _confinement(runtime, folder, image, layer)),
            cwd=folder.repository,
            env=contract.process_environment(
                vh,
                image,
                layer,
                prepared.env_values,
                passed=runtime.settings.pass_environment,
                scratch="/tmp" if private else str(folder.scratch),  # noqa: S108 - the execution's own
            ),
            log_path=folder.log,
            on_line=request.on_line or runtime.on_line,
            redact=prepared.secrets.redactor(prepared.values, prepared.env_values) or None,
            limits=process.Limits(
                time_limit=step.time_limit,
                no_output_timeout=step.no_output_timeout,
                should_stop=ExecutionStop(runtime.catalog, execution, request.should_stop),
                stop_condition=_stop_condition(step),
            ),
        )
        own = envs.installed_in_layer(image, layer)
    finally:
        # The check that nothing of it runs any more. In a sandbox it is its PID namespace: the
        # kernel reports the namespace's first process ended only after every other one has.
        survivors = [] if private else leftovers.end([execution.id])
        runtime.layers.give_back(image, layer)
    _scrub(folder, prepared)
    collected = collect_outputs(
        folder.outputs, runtime.store, folder.valohai if private else None,
        exclusive=private and not survivors,
    )  # fmt: skip
    if survivors:
        collected.problems.append(
            f"{len(survivors)} process(es) of this execution could not be ended (pids "
            f"{', '.join(map(str, survivors))}); its outputs were copied, not moved, into the store"
        )
    status, message = _status(outcome, step)
    hint = envs.missing_module_hint(step.image, outcome.tail) if status == executions.ERROR else None
    message = f"{message}; {hint}" if hint else message
    if own:
        collected.problems.append(
            f"installed for this execution only (gone when it ended): {', '.join(own)}; declare them "
            f"under images.{step.image} in assay.yaml to have them in the image's environment"
        )
    ending = Ending(status, message, outcome.exit_code, _record(runtime, step, prepared), collected,
                    outcome.metadata, prepared.facts)  # fmt: skip
    records = finish(runtime, execution, ending)
    runtime.folders.discard(folder)
    latest: dict[str, Any] = {}
    for _, data in outcome.metadata:
        latest.update(data)
    if outcome.interrupted:  # recorded `stopped`: now the signal goes on
        raise (outcome.interruption or Interrupted()).noting(execution.counter, _place_name(request))
    return ExecutionResult(
        execution_id=execution.id,
        counter=execution.counter,
        status=status,
        exit_code=outcome.exit_code,
        message=message,
        outputs=tuple(records),
        metadata=MappingProxyType(latest),
        problems=tuple(collected.problems),
        log_path=folder.log,
        log_tail=tuple(outcome.tail),
        parameters=MappingProxyType(prepared.values),
        inputs=MappingProxyType({name: tuple(f.datum_id for f in found) for name, found in staged.items()}),
        environment_variables=MappingProxyType(prepared.env_values),  # in memory only: edges need them
        reuse_note=prepared.note,
        input_files=MappingProxyType(
            {name: tuple((f.name, f.datum_id) for f in found) for name, found in staged.items()}
        ),
    )


def _record(runtime: Runtime, step: Step, prepared: _Prepared) -> dict[str, Any]:
    """The execution's environment record: code, image and its environment, host, variables."""
    record = provenance.environment_record(
        project_root=runtime.project.root, git=prepared.git, image=step.image,
        sandbox=runtime.sandbox.mode, environment=prepared.environment,
    )  # fmt: skip
    secrets = prepared.secrets
    record["variables"] = secrets.masked(prepared.env_values)
    found = {**secrets.digests(prepared.values), **secrets.digests(prepared.env_values)}
    if found:
        record["secrets"] = found  # name → digest: which secrets it ran with, never their values
    return record


def _recorded_command(step: Step, values: dict[str, Any], script: str, secrets: Secrets) -> str:
    """The script as the catalog keeps it: built with ``***`` for each secret parameter."""
    if not secrets.digests(values):
        return script
    try:
        return step.build_script(secrets.masked(values))
    except AssayError:
        return secrets.redactor(values)(script)


def _scrub(folder: layout.ExecutionLayout, prepared: _Prepared) -> None:
    """After the command ended: no file left in its folder holds a secret's value."""
    if not prepared.secrets.digests(prepared.values):
        return
    folder.write_config("parameters", prepared.recorded_values)
    if folder.script.exists():
        folder.script.write_text(prepared.command)


def _confinement(
    runtime: Runtime, folder: layout.ExecutionLayout, image: Environment, layer: Path
) -> Confinement:
    """What of the host the execution must not see (Assay's state) and what it sees again."""
    project = runtime.project
    hidden = [project.state_dir, images.cache_root()]
    if not project.store_root.is_relative_to(project.state_dir):
        hidden.append(project.store_root)
    files: list[Path] = []
    database = runtime.catalog.engine.url.database if runtime.catalog.dialect == "sqlite" else None
    if database and database != ":memory:" and not Path(database).is_relative_to(project.state_dir):
        files = [Path(database + suffix) for suffix in ("", "-wal", "-shm")]
    return Confinement(
        hidden=tuple(hidden), hidden_files=tuple(files), read_only=(image.path,), writable=(layer,),
        scratch=folder.scratch,
    )  # fmt: skip


def _place_name(request: ExecutionRequest) -> str:
    """How the CLI names an execution it stopped: its node in a pipeline, else its step."""
    return request.pipeline.node if request.pipeline is not None else request.step.name


def _stop_condition(step: Step) -> process.StopCondition | None:
    """The step's ``stop-condition`` over its latest metadata (keys bare or as ``metadata.<key>``)."""
    expression = step.stop_condition
    if not expression:
        return None
    return lambda latest: condition_holds(expression, latest)


def _status(outcome: process.ProcessOutcome, step: Step) -> tuple[str, str | None]:
    if outcome.interrupted:
        return executions.STOPPED, outcome.stop_reason or "stopped by the user"
    if outcome.stopped:
        return executions.STOPPED, outcome.stop_reason or "stopped"
    if outcome.condition_met:
        return executions.COMPLETED, f"stopped early: stop-condition {step.stop_condition!r} was met"
    if outcome.silent_for is not None:
        return executions.ERROR, f"no output for {outcome.silent_for:.0f} s (no-output-timeout)"
    if outcome.timed_out:
        return executions.ERROR, f"time limit of {step.time_limit:g} s exceeded"
    if outcome.exit_code != 0:
        return executions.ERROR, f"command exited with code {outcome.exit_code}"
    return executions.COMPLETED, None
