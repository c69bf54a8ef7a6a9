"""The pure planner, exhaustively: every order of completions and every outcome, for each shape.

Each shape in ``tests/shapes/`` is a real valohai.yaml. A model of the scheduler applies the
planner's actions and then branches on everything the world may do: which running node ends
next, whether it completes or fails, and how each gate is decided. Every reachable state is
visited once and the invariants below are checked in each.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from assay.engine import planner
from assay.engine.graph import Graph, build_graph
from assay.engine.planner import NodeState, RunState
from assay.engine.wiring import RunRequest, node_parameters
from assay.spec import load_spec

SHAPES = sorted((Path(__file__).parent / "shapes").glob("*.yaml"))
RETRIES = 2


@dataclass(frozen=True)
class World:
    run: RunState
    started_with_gate: frozenset[str] = frozenset()  # nodes started only after approval
    stop_requested: bool = False


def _graph(path: Path) -> Graph:
    return build_graph(load_spec(path).pipelines["shape"])


def _parameters_of(graph: Graph):  # type: ignore[no-untyped-def]
    return lambda name: node_parameters(graph, name, {}, RunRequest())


def _set(world: World, name: str, **changes: object) -> World:
    nodes = dict(world.run.nodes)
    nodes[name] = replace(nodes[name], **changes)  # type: ignore[arg-type]
    return replace(world, run=replace(world.run, nodes=nodes))


def _status(world: World, status: str) -> World:
    return replace(world, run=replace(world.run, status=status))


def _settle_plan(graph: Graph, world: World, finals: list[tuple[World, str]]) -> list[World]:
    """Apply planner actions until it waits; return the worlds that wait on the outside."""
    for _ in range(100):
        actions = planner.plan(graph, world.run, _parameters_of(graph))
        if not actions:
            return [world]
        for action in actions:
            match action:
                case planner.Start(node):
                    _check_can_start(graph, world, node)
                    gate = world.run.nodes[node].gate
                    world = _set(world, node, status="running", attempts=world.run.nodes[node].attempts + 1)
                    if gate == "approved":
                        world = replace(world, started_with_gate=world.started_with_gate | {node})
                case planner.Skip(node, _):
                    world = _set(world, node, status="skipped")
                case planner.RequestApproval(node):
                    world = _set(world, node, status="waiting-approval", gate="pending")
                case planner.StopRun(_):
                    world = replace(_status(world, "stopping"), stop_requested=True)
                case planner.FailRun(_):
                    world = _status(world, "failing")
                case planner.AwaitApproval(nodes):
                    return [_set(_status(world, "running"), node, gate=decision)
                            for node in nodes for decision in ("approved", "rejected")]  # fmt: skip
                case planner.Finish(status, _):
                    finals.append((_status(world, status), status))
                    return []
    raise AssertionError("the planner did not settle in 100 rounds")


def _check_can_start(graph: Graph, world: World, node: str) -> None:
    nodes = world.run.nodes
    assert world.run.status == "running", f"{node} started while the run is {world.run.status}"
    assert nodes[node].status in ("pending", "waiting-approval")
    for upstream in graph.upstream[node]:
        done = nodes[upstream].status == "completed" or (
            nodes[upstream].status == "error" and graph.node(upstream).on_error == "continue"
        )
        assert done, f"{node} started before {upstream} was done ({nodes[upstream].status})"
    if any("require-approval" in a.then for a in graph.node(node).actions):
        assert nodes[node].gate == "approved", f"{node} started without approval"


def _outcomes(graph: Graph, world: World) -> list[World]:
    """Everything that can happen next: one running node ends, in each way it can."""
    following = []
    stopping = world.run.status in ("stopping", "failing")
    for name, state in world.run.nodes.items():
        if state.status != "running":
            continue
        following.append(_set(world, name, status="completed"))
        if stopping:
            following.append(_set(world, name, status="stopped"))
            continue
        policy = graph.node(name).on_error
        if policy == "retry" and state.attempts <= RETRIES:
            following.append(_set(world, name, status="pending"))
        else:
            failed = _set(world, name, status="error")
            following.append(_status(failed, "failing") if policy in ("stop-all", "retry") else failed)
    return following


def _explore(graph: Graph) -> tuple[list[tuple[World, str]], int]:
    start = World(RunState("running", {n: NodeState() for n in graph.order}))
    finals: list[tuple[World, str]] = []
    seen: set[object] = set()
    frontier = [start]
    while frontier:
        world = frontier.pop()
        key = (
            world.run.status,
            tuple(sorted(world.run.nodes.items())),
            world.started_with_gate,
            world.stop_requested,
        )
        if key in seen:
            continue
        seen.add(key)
        for waiting in _settle_plan(graph, world, finals):
            following = _outcomes(graph, waiting)
            if waiting.run.status == "running" and not following:
                frontier.append(waiting)  # a gate was just decided: plan again
                continue
            assert following, f"stuck: nothing runs and the run is {waiting.run.status}"
            frontier.extend(following)
    return finals, len(seen)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda p: p.stem)
def test_every_path_through_the_shape_keeps_the_invariants(shape: Path) -> None:
    graph = _graph(shape)
    finals, states = _explore(graph)
    assert finals, "no path finished"
    assert states >= 2
    for world, status in finals:
        nodes = world.run.nodes
        assert all(s.status in planner.FINAL for s in nodes.values()), f"unfinished nodes at {status}"
        failed = [n for n, s in nodes.items() if s.status == "error" and graph.node(n).on_error != "continue"]
        if status == "completed":
            assert not failed
            assert all(s.status in ("completed", "error") for s in nodes.values())
        elif status == "error":
            assert failed or any(s.status in ("stopped", "skipped") for s in nodes.values())
        else:
            assert status == "stopped"
            assert world.stop_requested
        for name, state in nodes.items():
            assert state.attempts <= 1 + (RETRIES if graph.node(name).on_error == "retry" else 0)


def test_linear_completes_in_order_and_only_in_order() -> None:
    graph = _graph(Path(__file__).parent / "shapes" / "linear.yaml")
    finals, _ = _explore(graph)
    assert {status for _, status in finals} == {"completed", "error"}
    run = RunState("running", {"a": NodeState(), "b": NodeState(), "c": NodeState()})
    assert planner.plan(graph, run, lambda _: {}) == [planner.Start("a")]


def test_fan_out_starts_every_branch_at_once() -> None:
    graph = _graph(Path(__file__).parent / "shapes" / "fan-out.yaml")
    run = RunState("running", {"root": NodeState("completed"), **{n: NodeState() for n in "xyz"}})
    assert planner.plan(graph, run, lambda _: {}) == [
        planner.Start("x"),
        planner.Start("y"),
        planner.Start("z"),
    ]


def test_a_failed_branch_skips_only_what_it_feeds_with_stop_next() -> None:
    graph = _graph(Path(__file__).parent / "shapes" / "failure.yaml")
    nodes = {
        "a": NodeState("completed"),
        "b": NodeState("running"),
        "c": NodeState(),
        "d": NodeState("error"),
        "e": NodeState(),
    }
    assert planner.plan(graph, RunState("running", nodes), lambda _: {}) == [
        planner.Skip("e", "upstream node 'd' is error")
    ]


def test_gate_waits_then_starts_on_approval_and_stops_on_rejection() -> None:
    graph = _graph(Path(__file__).parent / "shapes" / "gate.yaml")
    done = {"train": NodeState("completed"), "evaluate": NodeState("completed")}
    assert planner.plan(graph, RunState("running", {**done, "promote": NodeState()}), lambda _: {}) == [
        planner.RequestApproval("promote")
    ]
    waiting = {**done, "promote": NodeState("waiting-approval", gate="pending")}
    assert planner.plan(graph, RunState("running", waiting), lambda _: {}) == [
        planner.AwaitApproval(("promote",))
    ]
    approved = {**done, "promote": NodeState("waiting-approval", gate="approved")}
    assert planner.plan(graph, RunState("running", approved), lambda _: {}) == [planner.Start("promote")]
    rejected = {**done, "promote": NodeState("waiting-approval", gate="rejected")}
    assert planner.plan(graph, RunState("running", rejected), lambda _: {}) == [
        planner.StopRun("node 'promote' was rejected")
    ]


def test_condition_on_a_parameter_stops_the_run_before_the_node() -> None:
    graph = _graph(Path(__file__).parent / "shapes" / "condition.yaml")
    finals, _ = _explore(graph)
    assert all(world.run.nodes["b"].attempts == 0 for world, _ in finals)
    assert "stopped" in {status for _, status in finals}


def test_a_condition_on_metadata_never_logged_fails_closed() -> None:
    from assay.engine.conditions import fire
    from assay.spec.model import NodeAction

    action = NodeAction(when=("node-complete",), if_=("metadata.bleu < 0.3",), then=("stop-pipeline",))
    fired = fire((action,), "node-complete", node="evaluate", metadata={"loss": 1.0}, parameters={})
    assert fired.thens == ("stop-pipeline",)  # undecidable: the action fires
    assert fired.problem is None
    (warning,) = fired.warnings
    assert "metadata.bleu" in warning
    assert "never logged" in warning
    held = fire((action,), "node-complete", node="evaluate", metadata={"bleu": 0.2}, parameters={})
    assert held.thens == ("stop-pipeline",)
    assert (
        fire((action,), "node-complete", node="evaluate", metadata={"bleu": 0.5}, parameters={}).thens == ()
    )
    both = NodeAction(
        ("node-complete",), ("metadata.bleu < 0.3", "parameter.strict == True"), ("error-pipeline",)
    )
    assert (
        fire((both,), "node-complete", node="e", metadata={"bleu": 0.2}, parameters={"strict": False}).thens
        == ()
    )
    # Three values: a false part decides even when another part cannot be decided.
    assert fire((both,), "node-complete", node="e", metadata={}, parameters={"strict": False}).thens == ()
    undecided = fire((both,), "node-complete", node="e", metadata={}, parameters={"strict": True})
    assert undecided.thens == ("error-pipeline",)
    assert len(undecided.warnings) == 1
