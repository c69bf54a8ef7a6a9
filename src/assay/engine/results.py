"""What finished nodes offer downstream, read back from the catalog (for wiring and resume)."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType

from assay.catalog import Catalog, driven_runs
from assay.engine.wiring import NodeResult


def node_result(catalog: Catalog, execution_ids: Sequence[str]) -> NodeResult:
    """One execution's results, or a task node's children together (the last child's metadata)."""
    found = driven_runs.node_results(catalog, execution_ids) if execution_ids else None
    if found is None:
        return NodeResult()
    return NodeResult(
        parameters=found.parameters,
        metadata=found.metadata,
        outputs=found.outputs,
        inputs=found.inputs,
        environment=found.environment,
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
