"""The nodes of a pipeline run as its driver knows them: read once, then kept as it writes them.

While a driver holds a run's lease it is the only writer of the run's node rows (other
processes change only the run's status and its gates), so it need not read them back after
every change: each change goes to the catalog (``catalog/driven_runs.py``, alone or in a
transaction with others) and, once committed, into this book (``note``).
"""

from __future__ import annotations

from typing import Any

from assay.catalog import Catalog, driven_runs
from assay.catalog.driven_runs import NodeChange
from assay.catalog.pipelines import NodeRow


class NodeBook:
    def __init__(self, catalog: Catalog, run_id: str, actor: str) -> None:
        self.catalog = catalog
        self.run_id = run_id
        self.actor = actor
        self._rows: dict[str, NodeRow] | None = None

    @property
    def rows(self) -> dict[str, NodeRow]:
        if self._rows is None:
            self._rows = driven_runs.node_rows(self.catalog, self.run_id)
        return self._rows

    def note(self, change: NodeChange) -> None:
        """Keep a change the catalog has recorded."""
        row = self.rows[change.name]
        executions = change.fields.get("executions", row.executions)
        attempts = change.fields.get("attempts", row.attempts)
        self.rows[change.name] = NodeRow(change.name, change.status, attempts, tuple(executions))

    def write(self, name: str, status: str, **fields: Any) -> None:
        """Record the node's new status (and fields) in a transaction of its own, and here."""
        change = NodeChange.of(name, status, **fields)
        driven_runs.write_node(self.catalog, self.run_id, change, self.actor)
        self.note(change)
