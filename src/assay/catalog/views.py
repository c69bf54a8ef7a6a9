"""Read models: executions and datums as plain JSON-able dicts, the shape every interface shows.

The CLI's ``--json`` prints these; the REST API will return the same shapes. Every object
carries its full reference (``datum://<id>``, ``exec-<id>``) so output can be fed back in.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assay.catalog import datums, executions, gates, pipelines, queries, registry_views, verdicts
from assay.catalog.registry_tables import Model, ModelVersion
from assay.catalog.tables import Datum, Execution, PipelineRun

if TYPE_CHECKING:
    from assay.catalog.db import Catalog


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def describe_execution(session: Session, execution: Execution, *, full: bool = True) -> dict[str, Any]:
    duration = None
    if execution.started_at and execution.ended_at:
        duration = round((execution.ended_at - execution.started_at).total_seconds(), 3)
    view: dict[str, Any] = {
        "id": execution.id,
        "ref": f"exec-{execution.id}",
        "counter": execution.counter,
        "step": execution.step,
        "status": execution.status,
        "image": execution.image,
        "exit_code": execution.exit_code,
        "message": execution.message,
        "created_at": _time(execution.created_at),
        "started_at": _time(execution.started_at),
        "ended_at": _time(execution.ended_at),
        "duration_seconds": duration,
    }
    if not full:
        return view
    view.update(
        {
            "parameters": execution.parameters,
            "inputs": {
                name: [{**f, "datum": f"datum://{f['datum_id']}"} for f in files]
                for name, files in execution.inputs.items()
            },
            "metadata": executions.latest_metadata(session, execution.id),
            "outputs": [
                describe_datum(session, d, full=False) for d in datums.outputs_of(session, execution.id)
            ],
            **registry_views.produced_by(session, execution.id),
            "verdicts": [verdicts.as_json(v) for v in verdicts.of_execution(session, execution.id)],
            "problems": execution.problems,
            "environment": execution.environment,
            "command": execution.command,
            "log_path": execution.log_path,
            "execution_dir": execution.execution_dir,
            # the code it ran: {} for the project's folder as it was; else the repository, the
            # ref asked for and the commit it named, or the digest of an uploaded (adhoc) tree
            "source": execution.source or {},
        }
    )
    return view


def execution_views(
    catalog: Catalog,
    project_id: str,
    *,
    limit: int,
    status: str | None = None,
    step: str | None = None,
    pipeline_run: str | int | None = None,
    before: int | None = None,
) -> list[dict[str, Any]]:
    """Executions newest first, at most ``limit``, filtered (``queries.find_executions``), each
    without its details; ``pipeline_run`` is a run's reference (``3``, ``pipeline:3``, an id)."""
    with catalog.read() as session:
        run_id = None if pipeline_run is None else pipelines.get_run(session, project_id, pipeline_run).id
        rows = queries.find_executions(
            session, project_id, limit=limit, status=status, step=step, pipeline_run_id=run_id, before=before
        )
        return [describe_execution(session, e, full=False) for e in rows]


def execution_view(catalog: Catalog, project_id: str, ref: str) -> dict[str, Any]:
    """The execution ``ref`` names (``12``, ``#12``, an id, ``exec-<id>``, ``latest``)."""
    with catalog.read() as session:
        return describe_execution(session, executions.get_execution(session, project_id, ref))


def describe_datum(session: Session, datum: Datum, *, full: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": datum.id,
        "uri": f"datum://{datum.id}",
        "name": datum.name,
        "sha256": datum.sha256,
        "size": datum.size,
        "tags": datum.tags,
    }
    if not full:
        return view
    producer = None
    if datum.output_execution_id:
        execution = session.get_one(Execution, datum.output_execution_id)
        producer = {
            "id": execution.id,
            "ref": f"exec-{execution.id}",
            "counter": execution.counter,
            "step": execution.step,
        }
    view.update(
        {
            "metadata": datum.file_metadata,
            "aliases": [f"datum://{a}" for a in datums.aliases_of(session, datum.id)],
            "source_uri": datum.source_uri,
            "produced_by": producer,
            "created_at": _time(datum.created_at),
        }
    )
    return view


def datum_view(catalog: Catalog, project_id: str, ref: str) -> dict[str, Any]:
    """The datum ``ref`` names (``datum://<id>``, ``datum://<alias>``, the bare id or alias)."""
    with catalog.read() as session:
        return describe_datum(session, datums.get_datum(session, project_id, ref))


def describe_run(session: Session, run: PipelineRun, *, full: bool = True) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": run.id,
        "counter": run.counter,
        "pipeline": run.pipeline,
        "status": run.status,
        "message": run.message,
        "created_by": run.created_by,
        "created_at": _time(run.created_at),
        "ended_at": _time(run.ended_at),
        "warnings": list(run.warnings or []),
    }
    if not full:
        return view
    decided = gates.gates_of(session, run.id)
    rows = pipelines.nodes_of(session, run.id)
    wanted = [i for row in rows.values() for i in row.executions]
    found = (
        {e.id: e for e in session.scalars(select(Execution).where(Execution.id.in_(wanted)))}
        if wanted
        else {}
    )
    found_verdicts: dict[str, list[dict[str, Any]]] = {}
    for verdict in verdicts.of_run(session, run.id):
        found_verdicts.setdefault(verdict.node or "", []).append(verdicts.as_json(verdict))
    nodes = []
    for name, row in rows.items():
        runs = [found.get(i) for i in row.executions]
        gate = decided.get(name)
        nodes.append(
            {
                "name": name,
                "status": row.status,
                "attempts": row.attempts,
                "message": row.message,
                "reused": row.reused,
                "executions": [
                    {"id": e.id, "ref": f"exec-{e.id}", "counter": e.counter, "status": e.status}
                    for e in runs
                    if e is not None
                ],
                "gate": None
                if gate is None
                else {
                    "status": gate.status,
                    "decided_by": gate.decided_by,
                    "decided_at": _time(gate.decided_at),
                    "comment": gate.comment,
                    "evidence": gate.evidence,
                },
                "verdicts": found_verdicts.get(name, []),
            }
        )
    view["nodes"] = nodes
    made = session.execute(
        select(Model.name, ModelVersion.name)
        .join(ModelVersion, ModelVersion.model_id == Model.id)
        .where(ModelVersion.pipeline_run_id == run.id)
        .order_by(ModelVersion.created_at)
    )
    view["model_versions"] = [f"model://{model}/{version}" for model, version in made]
    view["request"] = run.request
    return view
