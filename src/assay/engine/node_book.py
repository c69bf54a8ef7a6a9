"""The nodes of a pipeline run as its driver knows them: read once, then kept as it writes them.

While a driver holds a run's lease it is the only writer of the run's node rows (other
processes change only the run's status and its gates), so it need not read them back after
every change: each write goes to the catalog in the caller's transaction and into this book.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from assay.catalog import Catalog, pipelines
from assay.catalog.pipelines import NodeRow
from assay.catalog.tables import PipelineRun


class NodeBook:
    def __init__(self, catalog: Catalog, run: PipelineRun, actor: str) -> None:
        self.catalog = catalog
        self.run = run
        self.actor = actor
        self._rows: dict[str, NodeRow] | None = None

    @property
    def rows(self) -> dict[str, NodeRow]:
        if self._rows is None:
            with self.catalog.read() as session:
                self._rows = pipelines.node_rows(session, self.run.id)
        return self._rows

    def set(self, session: Session, name: str, status: str, **fields: Any) -> None:
        """Record the node's new status (and fields) in ``session``'s transaction, and here."""
        pipelines.set_node(session, self.run, name, status, self.actor, **fields)
        row = self.rows[name]
        executions = fields.get("executions", row.executions)
        self.rows[name] = NodeRow(name, status, fields.get("attempts", row.attempts), tuple(executions))

    def write(self, name: str, status: str, **fields: Any) -> None:
        """``set`` in a transaction of its own."""
        with self.catalog.transaction() as session:
            self.set(session, name, status, **fields)
