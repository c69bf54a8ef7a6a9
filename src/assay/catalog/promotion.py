"""Gates and the catalog: what an approval or rejection in a pipeline run does to the model
versions that run produces.

* A version made in a run carries the run's verdicts and every gate decision on its card.
* When a node whose gate was approved completes, the run's pending versions become
  ``approved`` (by the approver, with the gate's comment); so does a version made after that.
  The project's promote alias (``assay.yaml`` ``models.promote-alias``, ``production`` by
  default) then moves to it.
* A rejected gate rejects the run's pending versions.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from assay.catalog import aliases, gates, models, pipelines, verdicts
from assay.catalog.registry_tables import Model, ModelVersion
from assay.catalog.tables import Gate, PipelineRun


def version_created_in_run(
    session: Session, model: Model, version: ModelVersion, *, promote_alias: str | None
) -> None:
    run_id = version.pipeline_run_id
    assert run_id is not None
    verdicts.link_run(session, run_id, version.id)
    run = session.get_one(PipelineRun, run_id)
    decided = [g for g in gates.gates_of(session, run_id).values() if g.status != gates.PENDING]
    for gate in decided:
        _note_decision(session, run, gate, version)
    nodes = pipelines.nodes_of(session, run_id)
    if any(g.status == gates.REJECTED for g in decided):
        return
    for gate in decided:
        if nodes[gate.node].status == pipelines.COMPLETED:
            _approve(session, run, gate, model, version, promote_alias)
            return


def gate_decided(session: Session, run: PipelineRun, gate: Gate) -> None:
    for version in models.versions_of_run(session, run.id):
        _note_decision(session, run, gate, version)
        if gate.status == gates.REJECTED and version.status == models.PENDING:
            model = session.get_one(Model, version.model_id)
            models.set_status(session, model, version, models.REJECTED, gate.decided_by or "?",
                              _comment(run, gate))  # fmt: skip


def node_completed(session: Session, run: PipelineRun, node: str, *, promote_alias: str | None) -> None:
    gate = gates.gates_of(session, run.id).get(node)
    if gate is None or gate.status != gates.APPROVED:
        return
    for version in models.versions_of_run(session, run.id):
        if version.status == models.PENDING:
            _approve(session, run, gate, session.get_one(Model, version.model_id), version, promote_alias)


def _approve(
    session: Session, run: PipelineRun, gate: Gate, model: Model, version: ModelVersion,
    promote_alias: str | None,
) -> None:  # fmt: skip
    actor = gate.decided_by or "?"
    models.set_status(session, model, version, models.APPROVED, actor, _comment(run, gate))
    if promote_alias:
        aliases.move_alias(
            session, project_id=model.project_id, kind=models.KIND, owner_id=model.id,
            owner_name=model.name, name=promote_alias, version_id=version.id, actor=actor,
            reason=f"approved at gate {gate.node!r} of pipeline run #{run.counter}",
            version_name=version.name,
        )  # fmt: skip


def _note_decision(session: Session, run: PipelineRun, gate: Gate, version: ModelVersion) -> None:
    models.add_card_entry(
        session, version, "decision", gate.decided_by or "?",
        {"run": run.counter, "pipeline": run.pipeline, "node": gate.node, "decision": gate.status,
         "comment": gate.comment, "decided_at": gate.decided_at.isoformat() if gate.decided_at else None,
         "evidence": gate.evidence},
    )  # fmt: skip


def _comment(run: PipelineRun, gate: Gate) -> str:
    said = f": {gate.comment}" if gate.comment else ""
    return f"gate {gate.node!r} of pipeline run #{run.counter}{said}"
