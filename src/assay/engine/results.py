"""What finished nodes offer downstream, read back from the catalog (for wiring and resume)."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assay.catalog import datums, executions
from assay.catalog.tables import Execution
from assay.engine.wiring import NodeResult


def node_result(session: Session, execution_ids: Sequence[str]) -> NodeResult:
    """One execution's results, or a task node's children together (the last child's metadata)."""
    if not execution_ids:
        return NodeResult()
    rows = {e.id: e for e in session.scalars(select(Execution).where(Execution.id.in_(list(execution_ids))))}
    ordered = [rows[i] for i in execution_ids if i in rows]
    outputs: list[tuple[str, str]] = []
    used: dict[str, list[str]] = {}
    metadata: dict[str, Any] = {}
    for execution in ordered:
        outputs.extend((d.name, d.id) for d in datums.outputs_of(session, execution.id))
        for row in executions.execution_inputs(session, execution.id):
            used.setdefault(row.input_name, []).append(row.datum_id)
        metadata = executions.latest_metadata(session, execution.id)
    first = ordered[0]
    return NodeResult(
        parameters=MappingProxyType(dict(first.parameters)),
        metadata=MappingProxyType(metadata),
        outputs=tuple(outputs),
        inputs=MappingProxyType({k: tuple(v) for k, v in used.items()}),
        environment=MappingProxyType(dict(first.environment.get("variables", {}))),
    )
