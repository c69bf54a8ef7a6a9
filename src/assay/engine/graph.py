"""A pipeline as a graph: who feeds whom, in which order. Built once per run, then read-only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from assay.errors import SpecError
from assay.spec.model import Edge, Node, Pipeline


@dataclass(frozen=True)
class Graph:
    pipeline: Pipeline
    order: tuple[str, ...]  # topological: every node after all of its upstream nodes
    upstream: Mapping[str, frozenset[str]]
    downstream: Mapping[str, frozenset[str]]

    @property
    def name(self) -> str:
        return self.pipeline.name

    def node(self, name: str) -> Node:
        return self.pipeline.nodes[name]

    def edges_into(self, name: str) -> tuple[Edge, ...]:
        return tuple(e for e in self.pipeline.edges if e.target_node == name)

    def descendants(self, name: str) -> frozenset[str]:
        return _reachable(name, self.downstream)

    def ancestors(self, name: str) -> frozenset[str]:
        return _reachable(name, self.upstream)


def _reachable(start: str, links: Mapping[str, frozenset[str]]) -> frozenset[str]:
    found: set[str] = set()
    frontier = [start]
    while frontier:
        for neighbour in links[frontier.pop()]:
            if neighbour not in found:
                found.add(neighbour)
                frontier.append(neighbour)
    return frozenset(found)


def build_graph(pipeline: Pipeline) -> Graph:
    """The graph of ``pipeline``; ``SpecError`` for a cycle or a node Assay cannot run."""
    names = list(pipeline.nodes)
    upstream: dict[str, set[str]] = {n: set() for n in names}
    downstream: dict[str, set[str]] = {n: set() for n in names}
    for edge in pipeline.edges:
        if edge.source_node == edge.target_node:
            raise SpecError(f"pipeline {pipeline.name!r}: node {edge.source_node!r} has an edge to itself")
        upstream[edge.target_node].add(edge.source_node)
        downstream[edge.source_node].add(edge.target_node)
    for node in pipeline.nodes.values():
        if node.type == "deployment":
            raise SpecError(
                f"pipeline {pipeline.name!r}: node {node.name!r} is a deployment node; Assay does not run "
                "deployments yet",
                hint="promote models through the catalog instead (a step that registers a model version)",
            )
        if node.definition is None:
            raise SpecError(f"pipeline {pipeline.name!r}: node {node.name!r} has no step Assay can run")
    order = _topological(names, upstream, downstream, pipeline.name)
    return Graph(
        pipeline=pipeline,
        order=order,
        upstream=MappingProxyType({n: frozenset(v) for n, v in upstream.items()}),
        downstream=MappingProxyType({n: frozenset(v) for n, v in downstream.items()}),
    )


def _topological(
    names: list[str], upstream: dict[str, set[str]], downstream: dict[str, set[str]], pipeline: str
) -> tuple[str, ...]:
    remaining = {n: len(upstream[n]) for n in names}
    ready = [n for n in names if remaining[n] == 0]
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for child in sorted(downstream[node], key=names.index):
            remaining[child] -= 1
            if remaining[child] == 0:
                ready.append(child)
    if len(order) != len(names):
        cycle = _find_cycle([n for n in names if n not in order], upstream)
        raise SpecError(
            f"pipeline {pipeline!r} has a cycle: {' → '.join(cycle)}",
            hint="a pipeline is a DAG; remove one of these edges",
        )
    return tuple(order)


def _find_cycle(candidates: list[str], upstream: dict[str, set[str]]) -> list[str]:
    path = [candidates[0]]
    while True:
        parent = next(p for p in sorted(upstream[path[-1]]) if p in candidates)
        if parent in path:
            return [*path[path.index(parent) :], parent][::-1]
        path.append(parent)
