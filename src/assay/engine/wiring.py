"""Edges → what a node runs with: its parameters, input files and environment. Pure.

Precedence for a parameter, lowest first: the step's default (with the node's ``override``),
values carried by edges (``parameter`` → ``parameter``, ``metadata`` → ``parameter``),
pipeline parameters that target it, and ``--node-param NODE.PARAM=V``.

A value that arrives by an edge keeps its JSON type in a parameter that declares no ``type``
(a metadata ``1`` stays the number 1); a declared type converts and validates it as ever.

Inputs: ``--input NODE.INPUT=URI`` replaces an input's defaults. Edges deliver files:
``output.<glob>`` gives the source's output files that match (a glob containing ``/``
matches the path relative to ``outputs/``, any other glob the file name, so ``model*``
matches ``model/model-1.pkl``); ``input.<glob>`` gives the files the source received in
every input whose name matches (``model*``: ``model-a`` and ``model-b``), or, when no input's
name matches, the received files whose names match; ``input.<inputs>/<files>`` both. Only
the target's key is exact. Delivered files replace the input's defaults (``edge-merge-mode:
replace``, the default) or join them (``append``); a file that arrives by several edges is
delivered once. So ``--input`` into an input that an edge feeds is refused under
``replace`` (the edge's files would take its place: it would be dropped), and joins the edge's
files under ``append``, which the run records as a warning (``given_input_notes``). An output
edge that delivers nothing is an error naming what the source did produce. An edge into a
parameter or input the target step does not declare delivers nothing (``assay lint`` warns,
and the run records the warning).

Task nodes fan out: every parameter whose value is a list (and which is not ``multiple``)
is an axis, and one execution runs per combination.
"""

from __future__ import annotations

import fnmatch
import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from assay.engine.graph import Graph
from assay.errors import InvalidRequest
from assay.spec.model import Edge, Step
from assay.spec.parameters import coerce_text
from assay.spec.secrets import MASK, Secrets, looks_secret


@dataclass(frozen=True)
class NodeResult:
    """What a finished node offers downstream (for a task node: all its children together)."""

    parameters: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    outputs: tuple[tuple[str, str], ...] = ()  # (name relative to outputs/, datum id)
    #: input → the (file name, datum id) pairs it received
    inputs: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRequest:
    """What the user asked for when starting the run (stored with the run, reused on resume)."""

    parameters: Mapping[str, list[str]] = field(default_factory=dict)  # pipeline parameters
    node_parameters: Mapping[str, Mapping[str, list[str]]] = field(default_factory=dict)
    node_inputs: Mapping[str, Mapping[str, list[str]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "parameters": dict(self.parameters),
            "node_parameters": {k: dict(v) for k, v in self.node_parameters.items()},
            "node_inputs": {k: dict(v) for k, v in self.node_inputs.items()},
        }

    def recorded(self, secrets: Secrets) -> dict[str, Any]:
        """``to_json`` as the catalog keeps it: each secret value ``***``, with its digest."""
        data = self.to_json()
        digests: dict[str, str] = {}
        for name, texts in self.parameters.items():
            if secrets.is_secret(name):
                digests[name] = secrets.digest(name, texts[-1] if texts else "")
                data["parameters"][name] = [MASK]
        for node, given in self.node_parameters.items():
            for name, texts in given.items():
                if secrets.is_secret(name):
                    digests[f"{node}.{name}"] = secrets.digest(name, texts[-1] if texts else "")
                    data["node_parameters"][node][name] = [MASK]
        if digests:
            data["secrets"] = digests
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRequest:
        return cls(
            parameters=dict(data.get("parameters", {})),
            node_parameters=dict(data.get("node_parameters", {})),
            node_inputs=dict(data.get("node_inputs", {})),
        )


@dataclass(frozen=True)
class NodeLaunch:
    """One execution to start for a node."""

    node: str
    step: Step
    parameters: Mapping[str, Any]
    inputs: Mapping[str, tuple[str, ...]]  # only the inputs whose defaults are replaced
    environment: Mapping[str, str]
    index: int = 0  # the child's position in a task node's fan-out
    #: parameters whose values arrived by an edge (an untyped one keeps their JSON type)
    from_edges: frozenset[str] = frozenset()


def check_request(graph: Graph, request: RunRequest) -> None:
    """Every name in the request exists; raise ``InvalidRequest`` listing all that do not."""
    problems = []
    pipeline = graph.pipeline
    for name in request.parameters:
        if name not in pipeline.parameters:
            problems.append(f"pipeline {pipeline.name!r} has no parameter {name!r}")
    for kind, given in (("parameter", request.node_parameters), ("input", request.node_inputs)):
        for node, values in given.items():
            if node not in pipeline.nodes:
                problems.append(f"pipeline {pipeline.name!r} has no node {node!r}")
                continue
            step = _step(graph, node)
            known = step.parameters if kind == "parameter" else step.inputs
            problems.extend(f"node {node!r} has no {kind} {name!r}" for name in values if name not in known)
            if kind == "input" and graph.node(node).edge_merge_mode != "append":
                problems.extend(
                    f"--input {node}.{name} would be dropped: {_edges_text(fed)} delivers that input's "
                    f"files, and they replace what it is given (edge-merge-mode: replace, the default); "
                    f"set `edge-merge-mode: append` on node {node!r} to use both, or leave the --input out"
                    for name in values
                    if (fed := _feeding(graph, node, name))
                )
            if kind == "parameter":
                task = graph.node(node).type == "task"
                for name, texts in values.items():
                    if name in known:
                        problems.extend(_value_problems(step, name, texts, task))
    for name, texts in request.parameters.items():
        parameter = pipeline.parameters.get(name)
        for node, key in _targets(parameter.targets if parameter else ()):
            if node in pipeline.nodes and key in _step(graph, node).parameters:
                is_task = graph.node(node).type == "task"
                problems.extend(_value_problems(_step(graph, node), key, texts, is_task))
    if problems:
        raise InvalidRequest("; ".join(problems), hint="nothing was run")


def given_input_notes(graph: Graph, request: RunRequest) -> list[str]:
    """What the run says of each ``--input`` that joins files an edge delivers (``append``)."""
    notes = []
    for node, values in request.node_inputs.items():
        for name, uris in values.items():
            if node not in graph.pipeline.nodes or graph.node(node).edge_merge_mode != "append":
                continue  # check_request refuses these
            fed = _feeding(graph, node, name)
            if fed:
                notes.append(
                    f"--input {node}.{name}={', '.join(uris)} is used together with the files of "
                    f"{_edges_text(fed)} (edge-merge-mode: append)"
                )
    return notes


def _feeding(graph: Graph, node: str, input_name: str) -> list[Edge]:
    """The edges that deliver files into ``node``'s input ``input_name``."""
    return [
        e
        for e in graph.edges_into(node)
        if e.target_type == "input" and e.target_key == input_name and e.source_type in ("output", "input")
    ]


def _edges_text(edges: list[Edge]) -> str:
    return ("edge " if len(edges) == 1 else "edges ") + ", ".join(_socket(e) for e in edges)


def catalog_references(graph: Graph, request: RunRequest) -> list[tuple[str, str, str]]:
    """(node, input, uri) of every ``model://`` / ``dataset://`` input known before the run starts.

    Inputs that edges replace are left out; ``{parameter:x}`` is filled in where the value is
    known without upstream results. The caller resolves them so a bad reference stops the run
    before anything is recorded.
    """
    found = []
    for name in graph.order:
        step = _step(graph, name)
        fed = {e.target_key for e in graph.edges_into(name) if e.target_type == "input"}
        given = request.node_inputs.get(name, {})
        try:
            values = node_parameters(graph, name, {}, request)
        except InvalidRequest:
            values = {}
        for input_name, spec in step.inputs.items():
            if input_name in fed and graph.node(name).edge_merge_mode != "append":
                continue
            for uri in given.get(input_name, spec.default):
                text = _fill(uri, values)
                if text.startswith(("model://", "dataset://")) and "{parameter:" not in text:
                    found.append((name, input_name, text))
    return found


_PARAMETER = re.compile(r"\{parameter:([^{}]+)\}")


def _fill(uri: str, values: Mapping[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        value = values.get(match.group(1), match.group(0))
        return ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)

    return _PARAMETER.sub(one, uri)


def node_parameters(
    graph: Graph, name: str, results: Mapping[str, NodeResult], request: RunRequest
) -> dict[str, Any]:
    """The node's parameter values (before a task node's fan-out)."""
    return _parameter_values(graph, name, results, request)[0]


def _parameter_values(
    graph: Graph, name: str, results: Mapping[str, NodeResult], request: RunRequest
) -> tuple[dict[str, Any], frozenset[str]]:
    """The node's parameter values, and the names whose values came by an edge."""
    step = _step(graph, name)
    values: dict[str, Any] = {p.name: p.default for p in step.parameters.values() if p.default is not None}
    from_edges: set[str] = set()
    for edge in graph.edges_into(name):
        if edge.target_type != "parameter" or edge.target_key not in step.parameters:
            continue  # into a parameter the step does not declare: delivers nothing (lint warns)
        source = results.get(edge.source_node, NodeResult())
        if edge.source_type == "parameter":
            if edge.source_key in source.parameters:
                _not_withheld(f"{edge.source_node}.{edge.source_key}", source.parameters[edge.source_key])
                values[edge.target_key] = source.parameters[edge.source_key]
                from_edges.add(edge.target_key)
        elif edge.source_type == "metadata":
            if edge.source_key not in source.metadata:
                raise InvalidRequest(
                    f"edge {_socket(edge)}: node {edge.source_node!r} never logged "
                    f"metadata {edge.source_key!r}"
                    f" (it logged: {', '.join(source.metadata) or 'nothing'})"
                )
            values[edge.target_key] = source.metadata[edge.source_key]
            from_edges.add(edge.target_key)
    task = graph.node(name).type == "task"
    for pipeline_parameter in graph.pipeline.parameters.values():
        texts = request.parameters.get(pipeline_parameter.name)
        for node, parameter in _targets(pipeline_parameter.targets):
            if node != name or parameter not in step.parameters:
                continue
            if texts is not None:
                _not_withheld(pipeline_parameter.name, texts)
                values[parameter] = _typed(step, parameter, texts, task)
            elif pipeline_parameter.default is not None:
                values[parameter] = pipeline_parameter.default
            else:
                continue
            from_edges.discard(parameter)
    for parameter, texts in request.node_parameters.get(name, {}).items():
        _not_withheld(f"{name}.{parameter}", texts)
        values[parameter] = _typed(step, parameter, texts, task)
        from_edges.discard(parameter)
    return values, frozenset(from_edges)


def _not_withheld(name: str, value: Any) -> None:
    """A secret's value that only the catalog's ``***`` stands for cannot be passed on."""
    if (value == MASK or value == [MASK]) and looks_secret(name.rpartition(".")[2]):
        raise InvalidRequest(
            f"parameter {name!r} is secret: its value was given when this run started and Assay "
            "does not keep it, so it cannot be passed on after the run's first driver ended",
            hint="start a new run with the value (`assay pipeline run … --param NAME=…`)",
        )


def wire(graph: Graph, name: str, results: Mapping[str, NodeResult], request: RunRequest) -> list[NodeLaunch]:
    """The executions to start for node ``name`` (several for a task node's fan-out)."""
    step = _step(graph, name)
    parameters, from_edges = _parameter_values(graph, name, results, request)
    inputs = _inputs(graph, name, step, results, request)
    environment = _environment(graph, name, results)
    if graph.node(name).type != "task":
        return [NodeLaunch(name, step, parameters, inputs, environment, from_edges=from_edges)]
    axes = [
        (p, v)
        for p, v in parameters.items()
        if isinstance(v, list | tuple) and not step.parameters[p].multiple
    ]
    combinations = itertools.product(*(values for _, values in axes)) if axes else [()]
    launches = []
    for index, combination in enumerate(combinations):
        values = {**parameters, **{p: v for (p, _), v in zip(axes, combination, strict=True)}}
        launches.append(NodeLaunch(name, step, values, inputs, environment, index, from_edges))
    return launches


def _targets(targets: tuple[str, ...]) -> list[tuple[str, str]]:
    """(node, parameter) of each ``NODE.parameter.NAME`` target (spec/ made them canonical)."""
    found = []
    for target in targets:
        parts = target.split(".", 2)
        if len(parts) == 3 and parts[1] == "parameter":
            found.append((parts[0], parts[2]))
    return found


def matches(pattern: str, name: str) -> bool:
    """Output-edge globs: with a ``/`` against the path in outputs/, else against the file name."""
    if "/" in pattern:
        return fnmatch.fnmatchcase(name, pattern)
    return fnmatch.fnmatchcase(PurePosixPath(name).name, pattern)


def _inputs(
    graph: Graph, name: str, step: Step, results: Mapping[str, NodeResult], request: RunRequest
) -> dict[str, tuple[str, ...]]:
    given = {k: tuple(v) for k, v in request.node_inputs.get(name, {}).items()}
    delivered: dict[str, list[str]] = {}
    for edge in graph.edges_into(name):
        if edge.target_type != "input" or edge.target_key not in step.inputs:
            continue  # into an input the step does not declare: delivers nothing (lint warns)
        source = results.get(edge.source_node, NodeResult())
        if edge.source_type == "output":
            found = [f"datum://{d}" for n, d in source.outputs if matches(edge.source_key, n)]
            if not found:
                produced = ", ".join(n for n, _ in source.outputs) or "no files"
                raise InvalidRequest(
                    f"edge {_socket(edge)} matched no output of {edge.source_node!r} "
                    f"(it produced: {produced})"
                )
        elif edge.source_type == "input":
            found = [f"datum://{d}" for d in received(source.inputs, edge.source_key)]
        else:
            continue
        delivered.setdefault(edge.target_key, []).extend(found)
    merge = graph.node(name).edge_merge_mode
    for input_name, uris in delivered.items():
        base = given.get(input_name, step.inputs[input_name].default) if merge == "append" else ()
        given[input_name] = tuple(dict.fromkeys((*base, *uris)))  # one datum by several edges: once
    return given


def received(inputs: Mapping[str, tuple[tuple[str, str], ...]], key: str) -> list[str]:
    """The datum ids an ``input.<key>`` edge takes from what its source received.

    ``key`` is a glob on input names (``model*``); when no input's name matches it, a glob on
    the received files' names instead. ``INPUTS/FILES`` (``models/*.pkl``) globs both.
    """
    names, _, files = key.partition("/")
    chosen = [n for n in inputs if fnmatch.fnmatchcase(n, names)]
    if not chosen and not files:
        return [d for n in inputs for f, d in inputs[n] if matches(key, f)]
    return [d for n in chosen for f, d in inputs[n] if not files or matches(files, f)]


def _environment(graph: Graph, name: str, results: Mapping[str, NodeResult]) -> dict[str, str]:
    environment: dict[str, str] = {}
    for edge in graph.edges_into(name):
        if edge.source_type == "environment-variable" and edge.target_type == "environment-variable":
            value = results.get(edge.source_node, NodeResult()).environment.get(edge.source_key)
            if value is not None:
                environment[edge.target_key] = value
    return environment


def _typed(step: Step, parameter: str, texts: list[str], task: bool = False) -> Any:
    """Text from the command line → typed; for a task node, several values are its fan-out."""
    spec = step.parameters[parameter]
    try:
        if task and not spec.multiple and len(texts) > 1:
            return [coerce_text(spec, [text]) for text in texts]
        return coerce_text(spec, texts)
    except ValueError as exc:
        raise InvalidRequest(f"parameter {parameter!r} of step {step.name!r}: {exc}") from exc


def _value_problems(step: Step, parameter: str, texts: list[str], task: bool) -> list[str]:
    try:
        _typed(step, parameter, texts, task)
    except InvalidRequest as exc:
        return [exc.message]
    return []


def _step(graph: Graph, name: str) -> Step:
    definition = graph.node(name).definition
    assert definition is not None  # build_graph refuses nodes without one
    return definition


def _socket(edge: Edge) -> str:
    return (
        f"{edge.source_node}.{edge.source_type}.{edge.source_key} → "
        f"{edge.target_node}.{edge.target_type}.{edge.target_key}"
    )
