"""The scheduler loop: plan, record each transition in the catalog, then act on it.

``drive`` runs a pipeline run until it finishes or waits for a person. It is also how a run
is resumed: it first settles every node that a crashed driver left ``running`` — adopting
an execution that completed, re-running one that was interrupted (its half-written outputs
are discarded; it never produced datums, because outputs are recorded only when an execution
ends) — so no completed work is repeated and no node's outputs exist twice.

A signal to the driving process (``errors.Interrupted``) stops the executions it runs — they
end ``stopped``, "interrupted by SIGTERM" — and lets go of the run, which stays resumable:
a resume runs those nodes again, as after a crash.

Where executions run is not the scheduler's business: a ``Launcher`` (see ``executors/``)
starts them and reports back.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from assay.catalog import Catalog, baselines, driven_runs
from assay.catalog.driven_runs import DrivenRun, NodeChange, NodeExecution, RunChange, VerdictRecord
from assay.catalog.pipelines import (
    COMPLETED,
    ERROR,
    FAILING,
    FINAL_RUN_STATUSES,
    PENDING,
    RUNNING,
    SKIPPED,
    STOPPED,
    STOPPING,
    WAITING,
)
from assay.engine import planner, regression
from assay.engine.graph import Graph
from assay.engine.lease import Lease
from assay.engine.node_book import NodeBook
from assay.engine.results import combine, node_result
from assay.engine.wiring import NodeLaunch, NodeResult, RunRequest, node_parameters, wire
from assay.errors import AssayError, Interrupted, InvalidRequest


@dataclass(frozen=True)
class LaunchContext:
    run_id: str
    run_counter: int
    pipeline: str
    node: str
    attempt: int
    reuse: bool


@dataclass(frozen=True)
class LaunchOutcome:
    status: str  # completed | error | stopped
    execution_id: str | None
    counter: int | None = None
    message: str | None = None
    reused: bool = False
    reuse_note: str | None = None
    index: int = 0
    #: what the execution offers downstream, when the launcher knows it (else read from the catalog)
    result: NodeResult | None = None


INTERRUPTED = "interrupted: the process driving the pipeline ended"
#: how the message of a run whose driver a signal ended begins (``Interrupted.reason``; resume clears it)
INTERRUPTED_RUN = "interrupted by"
#: how often the driver asks the catalog whether others changed the run (stop, decisions)
POLL_SECONDS = 0.1


class Launcher(Protocol):
    def submit(self, launch: NodeLaunch, context: LaunchContext) -> Future[LaunchOutcome]: ...

    def stop_all(self, reason: str | None = None) -> None:
        """Stop every execution this launcher is running (they end ``stopped``, saying ``reason``)."""

    def reap(self, execution_ids: list[str]) -> None:
        """End what is left of executions whose driver died, and discard their folders."""


@dataclass
class _Node:
    futures: list[Future[LaunchOutcome]] = field(default_factory=list)
    adopted: list[LaunchOutcome] = field(default_factory=list)  # children that completed earlier


@dataclass
class Driver:
    catalog: Catalog
    #: the run as last read (re-read by each transaction that changes it)
    run: DrivenRun
    graph: Graph
    request: RunRequest
    launcher: Launcher
    actor: str
    retries: int = 2
    reuse: bool = False
    baseline_alias: str = "production"
    baseline_model: str | None = None
    promote_alias: str | None = "production"
    on_event: Callable[[str], None] = lambda message: None
    _active: dict[str, _Node] = field(default_factory=dict)
    _results: dict[str, NodeResult] = field(default_factory=dict)
    _stopping: bool = False
    _resumed: bool = False  # the run had been driven before: completed children may exist

    def __post_init__(self) -> None:
        self._lease = Lease(self.catalog, self.run.id)
        self._book = NodeBook(self.catalog, self.run.id, self.actor)
        self._next_poll = 0.0
        self._decided: dict[str, str] = {}

    @functools.cached_property
    def _has_gates(self) -> bool:
        return any(
            "require-approval" in a.then for n in self.graph.pipeline.nodes.values() for a in n.actions
        )

    # -- the loop ------------------------------------------------------------------------

    def drive(self) -> str:
        """Run until the run finishes or waits for approval; returns the run's status."""
        self.run = self._lease.claim()
        try:
            if self.run.status in FINAL_RUN_STATUSES:
                return self.run.status
            self._recover()
            while True:
                self._lease.heartbeat()
                state = self._state()
                if state.status in FINAL_RUN_STATUSES:
                    return state.status
                self._follow_external_stop(state.status)
                actions = planner.plan(self.graph, state, self._parameters_of)
                for action in actions:
                    if self._apply(action):
                        return self.run.status
                if not actions:
                    if not self._active:
                        time.sleep(0.2)  # another process holds a node; look again shortly
                    self._wait()
                elif self._active and all(isinstance(a, planner.Start) for a in actions):
                    # Nothing new can be ready before a running node ends: wait for one.
                    self._wait()
        except BaseException as exc:
            # NOTE: executions still running must end before the claim is released, or a
            # resume could start them again while they finish here. They record why they
            # stopped, starting "interrupted", so that a resume runs them again.
            if isinstance(exc, KeyboardInterrupt):
                reason = Interrupted.of(exc).reason
            else:
                reason = f"interrupted: the driver failed ({type(exc).__name__})"
            self._stop_launches(reason)
            wait([f for node in self._active.values() for f in node.futures])
            if isinstance(exc, Interrupted):
                self._note_interruption(exc)
            raise
        finally:
            self._lease.release()

    def _apply(self, action: planner.Action) -> bool:
        """Record the action, then carry it out; True when the loop should end."""
        match action:
            case planner.Start(node, warnings):
                self._warn(warnings)
                self._start(node)
            case planner.Skip(node, reason):
                self._book.write(node, SKIPPED, message=reason)
                self.on_event(f"skipped {node}: {reason}")
            case planner.RequestApproval(node, warnings):
                driven_runs.request_approval(self.catalog, self.run.id, node, warnings, self.actor)
                self._book.note(NodeChange(node, WAITING))
                self._next_poll = 0.0  # read the new gate back before planning again
                self._show(warnings)
                self.on_event(f"{node} needs approval")
            case planner.StopRun(reason, warnings) | planner.FailRun(reason, warnings):
                status = STOPPING if isinstance(action, planner.StopRun) else FAILING
                self._warn(warnings)
                self._set_run(status, reason, only_from=(RUNNING, WAITING))
                self.on_event(f"{'stopping' if status == STOPPING else 'failing'} the run: {reason}")
                self._stop_launches()
            case planner.AwaitApproval(nodes):
                # Only from running: a stop that arrived meanwhile wins, and the loop goes on.
                return self._set_run(
                    WAITING, f"waiting for approval of {', '.join(nodes)}", only_from=(RUNNING,)
                )
            case planner.Finish(status, reason):
                self.run = driven_runs.finish_run(
                    self.catalog, self.run.id, status, reason, self.actor, promote_alias=self.promote_alias
                )
                return True
        return False

    def _wait(self) -> None:
        futures = [f for node in self._active.values() for f in node.futures if not f.done()]
        if futures:
            wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
        for name in list(self._active):
            node = self._active[name]
            if all(f.done() for f in node.futures):
                del self._active[name]
                outcomes = sorted(
                    [*node.adopted, *(_outcome(f) for f in node.futures)], key=lambda o: o.index
                )
                self._settle(name, outcomes)

    # -- starting and settling nodes ----------------------------------------------------

    def _start(self, name: str) -> None:
        attempts = self._book.rows[name].attempts + 1
        try:
            launches = wire(self.graph, name, self._completed_results(), self.request)
        except AssayError as exc:
            self._book.write(name, RUNNING, attempts=attempts)
            self._settle(name, [LaunchOutcome(ERROR, None, message=exc.message)])
            return
        # Children that already completed in this run (before a crash) are adopted, not re-run.
        done = self._completed_children(name) if attempts > 1 or self._resumed else {}
        adopted = [done[launch.index] for launch in launches if launch.index in done]
        todo = [launch for launch in launches if launch.index not in done]
        self._book.write(name, RUNNING, attempts=attempts, executions=[])
        context = LaunchContext(self.run.id, self.run.counter, self.graph.name, name, attempts, self.reuse)
        self._active[name] = _Node([self.launcher.submit(launch, context) for launch in todo], adopted)
        self.on_event(f"started {name}" + (f" ({len(launches)} executions)" if len(launches) > 1 else ""))

    def _completed_children(self, name: str) -> dict[int, LaunchOutcome]:
        found = driven_runs.node_executions(self.catalog, self.run.id, [name])
        return {
            e.index: LaunchOutcome(COMPLETED, e.id, e.counter, None, index=e.index)
            for e in found
            if e.status == COMPLETED
        }

    def _settle(self, name: str, outcomes: list[LaunchOutcome]) -> None:
        """Record how a node's executions ended, with the actions and policies that follow."""
        ids = [o.execution_id for o in outcomes if o.execution_id]
        node = self.graph.node(name)
        failed = [o for o in outcomes if o.status != COMPLETED]
        if not failed:
            result = self._result_of(outcomes, ids)
            evaluation = self._evaluate(name, "node-complete", result)
            reused = all(o.reused for o in outcomes)
            note = "; ".join(o.reuse_note for o in outcomes if o.reuse_note) or None
            change = NodeChange.of(name, COMPLETED, executions=ids, reused=reused, message=note)
            self._record_settled(change, ids, evaluation, self._run_change(name, evaluation.fired))
            self._show(evaluation.fired.warnings)
            self._results[name] = result
            counters = ", ".join(f"#{o.counter}" for o in outcomes if o.counter)
            self.on_event(f"completed {name} ({'reused ' if reused else ''}{counters})")
            return
        message = failed[0].message or failed[0].status
        if self._stopping and all(o.status in (STOPPED, COMPLETED) for o in outcomes):
            self._book.write(name, STOPPED, executions=ids, message=message)
            return
        by_hand = next((o for o in failed if o.status == STOPPED), None)
        if by_hand is not None:
            # Someone stopped one of its executions (`assay executions stop N`): that stops the run.
            why = f"execution #{by_hand.counter} of node {name!r} was {by_hand.message or 'stopped'}"
            change = NodeChange.of(name, STOPPED, executions=ids, message=message)
            self.run = driven_runs.settle_node(
                self.catalog, self.run.id, change, self.actor,
                then=RunChange(STOPPING, why, only_from=(RUNNING, WAITING)),
            )  # fmt: skip
            self._book.note(change)
            self.on_event(f"stopping the run: {why}")
            self._stop_launches()
            return
        attempts = self._book.rows[name].attempts
        if node.on_error == "retry" and attempts <= self.retries:
            self._book.write(
                name, PENDING, executions=ids, message=f"attempt {attempts} failed: {message}; retrying"
            )
            self.on_event(f"{name} failed ({message}); retrying")
            return
        result = self._result_of(outcomes, ids)
        evaluation = self._evaluate(name, "node-error", result)
        then = self._run_change(name, evaluation.fired)
        if then is None and node.on_error in ("stop-all", "retry"):
            then = RunChange(FAILING, f"node {name!r} failed: {message}")
        self._record_settled(
            NodeChange.of(name, ERROR, executions=ids, message=message), ids, evaluation, then
        )
        stopped = then is not None
        self._show(evaluation.fired.warnings)
        self.on_event(f"{name} failed: {message}")
        if stopped:
            self._stop_launches()

    def _evaluate(self, name: str, event: str, result: NodeResult) -> regression.Evaluation:
        """The node's actions for ``event``; with the baseline when a condition names it."""
        actions = self.graph.node(name).actions
        baseline = self._baseline() if regression.uses_baseline(actions, event) else None
        return regression.evaluate(actions, event, node=name, metadata=result.metadata,
                                   parameters=result.parameters, baseline=baseline)  # fmt: skip

    def _baseline(self) -> regression.BaselineView:
        try:
            found = baselines.read_baseline(
                self.catalog, self.run.project_id, self.baseline_alias, self.baseline_model
            )
        except InvalidRequest as exc:
            return regression.BaselineView(self.baseline_alias, None, problem=exc.message)
        return regression.BaselineView(found.alias, found.uri, found.version_id, found.metrics)

    def _record_settled(
        self, change: NodeChange, ids: list[str], evaluation: regression.Evaluation, then: RunChange | None
    ) -> None:
        """How a node ended, with its verdict, its actions' warnings and what they do to the run:
        one transaction."""
        verdict = self._verdict(change.name, ids, evaluation)
        self.run = driven_runs.settle_node(
            self.catalog, self.run.id, change, self.actor,
            verdict=verdict, warnings=evaluation.fired.warnings, then=then,
        )  # fmt: skip
        self._book.note(change)
        if evaluation.outcome is not None:
            self.on_event(f"{change.name}: verdict against the baseline: {evaluation.outcome}")

    def _verdict(self, name: str, ids: list[str], evaluation: regression.Evaluation) -> VerdictRecord | None:
        if evaluation.outcome is None:
            return None
        baseline = evaluation.baseline or regression.BaselineView(self.baseline_alias, None)
        return VerdictRecord(
            node=name, execution_id=ids[0] if ids else None, baseline_version_id=baseline.version_id,
            baseline=f"{baseline.uri} ({baseline.alias})" if baseline.uri else None,
            outcome=evaluation.outcome, rows=tuple(evaluation.rows),
        )  # fmt: skip

    def _run_change(self, name: str, fired: Any) -> RunChange | None:
        """What a node's fired actions do to the run: stop it, fail it, or nothing (None)."""
        if fired.problem:
            return RunChange(FAILING, fired.problem)
        if "stop-pipeline" in fired.thens:
            return RunChange(STOPPING, f"node {name!r}: {fired.reason}")
        if "error-pipeline" in fired.thens:
            return RunChange(FAILING, f"node {name!r}: {fired.reason}")
        return None

    # -- resume ---------------------------------------------------------------------------

    def _recover(self) -> None:
        """Settle what a previous driver left behind; nothing completed is run again."""
        self._resumed = any(row.attempts for row in self._book.rows.values())
        if self.run.status in (STOPPING, FAILING):
            self._stopping = True  # executions that ended `stopped` are not failures
        if self.run.status == WAITING:
            self._set_run(RUNNING, None, only_from=(WAITING,))
        if self.run.status not in FINAL_RUN_STATUSES and (self.run.message or "").startswith(INTERRUPTED_RUN):
            self.run = driven_runs.record_resumption(self.catalog, self.run.id, self.actor)
        rows = self._book.rows
        stale = [n for n, row in rows.items() if row.status == RUNNING]
        if not stale:
            return
        found = driven_runs.node_executions(self.catalog, self.run.id, stale)
        alive = [e.id for e in found if e.status in ("created", "started")]
        if alive:
            self.launcher.reap(alive)
        rerun: list[str] = []
        settle: dict[str, list[LaunchOutcome]] = {}
        for name in stale:
            attempt = rows[name].attempts
            mine = [e for e in found if e.node == name and e.attempt == attempt]
            expected = len(wire(self.graph, name, self._completed_results(), self.request))
            if len(mine) < expected or any(e.id in alive or _interrupted(e) for e in mine):
                rerun.append(name)
            else:
                settle[name] = [
                    LaunchOutcome(e.status, e.id, e.counter, e.message, index=e.index) for e in mine
                ]
        # an interrupted attempt does not count against `on-error: retry`
        changes = [
            NodeChange.of(
                name, PENDING, attempts=max(rows[name].attempts - 1, 0), message="re-running: interrupted"
            )
            for name in rerun
        ]
        # One transaction: a crash here leaves everything as it was, to be recovered again.
        driven_runs.requeue_interrupted(self.catalog, self.run.id, alive, INTERRUPTED, changes, self.actor)
        for change in changes:
            self._book.note(change)
        for name in rerun:
            self.on_event(f"{name} was interrupted; running what did not complete again")
        for name, outcomes in settle.items():
            self._settle(name, sorted(outcomes, key=lambda o: o.index))

    # -- catalog access -------------------------------------------------------------------

    def _state(self) -> planner.RunState:
        """The run as the planner sees it: nodes from the book, status and gates from the catalog
        (other processes change those: `assay pipeline stop`, a reviewer's decision).

        NOTE: the catalog is asked at most every ``POLL_SECONDS`` (and at once after this
        driver asked for a gate): between two nodes of a fast pipeline nothing else changes.
        """
        now = time.monotonic()
        if now >= self._next_poll:
            polled = driven_runs.poll(self.catalog, self.run.id, with_gates=self._has_gates)
            self._decided = dict(polled.gates)
            self.run = replace(self.run, status=polled.status)
            self._next_poll = now + POLL_SECONDS
        decided = self._decided
        nodes = {
            name: planner.NodeState(row.status, row.attempts, decided.get(name))
            for name, row in self._book.rows.items()
        }
        return planner.RunState(self.run.status, nodes)

    def _parameters_of(self, name: str) -> Mapping[str, Any]:
        try:
            return node_parameters(self.graph, name, self._completed_results(), self.request)
        except AssayError:
            return {}  # the same problem is reported when the node starts

    def _completed_results(self) -> dict[str, NodeResult]:
        """Results of finished nodes (from the rows of the latest ``_state``; finished rows never change)."""
        for name, row in self._book.rows.items():
            if name not in self._results and row.status in (COMPLETED, ERROR) and row.executions:
                self._results[name] = self._load_result(list(row.executions))
        return self._results

    def _result_of(self, outcomes: list[LaunchOutcome], ids: list[str]) -> NodeResult:
        """What the node offers downstream: from the launcher when it said, else from the catalog."""
        known = [o.result for o in outcomes if o.execution_id]
        if known and all(r is not None for r in known):
            return combine([r for r in known if r is not None])
        return self._load_result(ids)

    def _load_result(self, ids: list[str]) -> NodeResult:
        return node_result(self.catalog, ids)

    def _warn(self, warnings: tuple[str, ...]) -> None:
        """Record warnings on the run (each once) and say them."""
        if warnings:
            driven_runs.add_warnings(self.catalog, self.run.id, warnings, self.actor)
            self._show(warnings)

    def _show(self, warnings: tuple[str, ...]) -> None:
        for warning in warnings:
            self.on_event(f"warning: {warning}")

    def _set_run(self, status: str, message: str | None, only_from: tuple[str, ...] | None = None) -> bool:
        """Set the run's status; with ``only_from``, only if it still is one of those (compare-and-set)."""
        transition = driven_runs.set_status(
            self.catalog, self.run.id, RunChange(status, message, only_from), self.actor
        )
        self.run = transition.run
        return transition.changed

    # -- stopping and the driver lease ----------------------------------------------------

    def _stop_launches(self, reason: str | None = None) -> None:
        self._stopping = True
        self.launcher.stop_all(reason)

    def _note_interruption(self, exc: Interrupted) -> None:
        """Say on the run (and on ``exc``, for the CLI) that a signal ended its driver."""
        exc.pipeline_run = self.run.counter
        for name, node in self._active.items():
            for future in node.futures:
                outcome = _outcome(future)
                if outcome.status == STOPPED and outcome.counter is not None:
                    exc.noting(outcome.counter, name)
        if self.run.status in FINAL_RUN_STATUSES:
            return
        message = exc.reason  # begins with INTERRUPTED_RUN; `pipeline show` adds what continues it
        # NOTE: the run is resumable whether or not this is recorded; a catalog that fails now
        # must not hide the signal.
        with contextlib.suppress(Exception):
            self.run = driven_runs.record_interruption(self.catalog, self.run.id, self.actor, message)

    def _follow_external_stop(self, status: str) -> None:
        """Another process (``assay pipeline stop``) may have asked the run to stop."""
        if status in (STOPPING, FAILING) and not self._stopping:
            self.on_event("the run is being stopped")
            self._stop_launches()


def _interrupted(execution: NodeExecution) -> bool:
    """Ended by its driver's end (a crash, a signal), not by itself: a resume runs it again."""
    return execution.status in (ERROR, STOPPED) and (execution.message or "").startswith("interrupted")


def _outcome(future: Future[LaunchOutcome]) -> LaunchOutcome:
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - a launcher's failure is this node's failure, not the driver's
        message = exc.message if isinstance(exc, AssayError) else f"{type(exc).__name__}: {exc}"
        return LaunchOutcome(ERROR, None, message=message)
