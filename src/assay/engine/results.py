"""What finished nodes offer downstream, read back from the catalog (for wiring and resume)."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

from sqlalchemy.orm import Session

from assay.catalog import executions
from assay.engine.wiring import NodeResult


def node_result(session: Session, execution_ids: Sequence[str]) -> NodeResult:
    """One execution's results, or a task node's children together (the last child's metadata)."""
    if not execution_ids:
        return NodeResult()
    found = executions.results_of(session, list(execution_ids))
    if not found.executions:
        return NodeResult()
    first = found.executions[0]
    return NodeResult(
        parameters=MappingProxyType(dict(first.parameters)),
        metadata=MappingProxyType(found.metadata),
        outputs=tuple(found.outputs),
        inputs=MappingProxyType({k: tuple(v) for k, v in found.inputs.items()}),
        environment=MappingProxyType(dict(first.environment.get("variables", {}))),
    )


def combine(results: Sequence[NodeResult]) -> NodeResult:
    """A task node's children together, as ``node_result`` reads them: the first child's
    parameters and environment, the last one's metadata, everyone's outputs and inputs."""
    if len(results) == 1:
        return results[0]
    inputs: dict[str, list[tuple[str, str]]] = {}
    for result in results:
        for name, files in result.inputs.items():
            inputs.setdefault(name, []).extend(files)
    return NodeResult(
        parameters=results[0].parameters,
        metadata=results[-1].metadata,
        outputs=tuple(o for result in results for o in result.outputs),
        inputs=MappingProxyType({k: tuple(v) for k, v in inputs.items()}),
        environment=results[0].environment,
    )
