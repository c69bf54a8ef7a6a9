"""Gates and the catalog: what an approval or rejection in a pipeline run does to the model
versions that run produces.

* A version made in a run carries the run's verdicts and every gate decision on its card.
* When the run completes with every gate approved (the seed's gate before ``promote-model``),
  its pending versions become ``approved`` (by the last approver, with that gate's comment) in
  the transaction that records the completion, and the project's promote alias (``assay.yaml``
  ``models.promote-alias``, ``production`` by default) moves to each model's newest of them.
  A run that stops or fails, or whose gate is rejected, approves nothing.
* A rejected gate rejects the run's pending versions.
"""

from __future__ import annotations

import contextlib

from sqlalchemy.orm import Session

from assay.catalog import aliases, gates, models, verdicts
from assay.catalog.registry_tables import Model, ModelVersion
from assay.catalog.tables import Gate, PipelineRun
from assay.errors import Conflict


def version_created_in_run(
    session: Session, model: Model, version: ModelVersion, *, promote_alias: str | None
) -> None:
    """The run's verdicts and its gate decisions so far go on the new version's card."""
    del model, promote_alias  # approval waits for the run to complete (``run_completed``)
    run_id = version.pipeline_run_id
    assert run_id is not None
    verdicts.link_run(session, run_id, version.id)
    run = session.get_one(PipelineRun, run_id)
    for gate in gates.gates_of(session, run_id).values():
        if gate.status != gates.PENDING:
            _note_decision(session, run, gate, version)


def gate_decided(session: Session, run: PipelineRun, gate: Gate) -> None:
    for version in models.versions_of_run(session, run.id):
        _note_decision(session, run, gate, version)
        if gate.status == gates.REJECTED and version.status == models.PENDING:
            model = session.get_one(Model, version.model_id)
            with contextlib.suppress(Conflict):  # someone rejected it by hand a moment ago
                models.set_status(session, model, version, models.REJECTED, gate.decided_by or "?",
                                  _comment(run, gate))  # fmt: skip


def run_completed(session: Session, run: PipelineRun, *, promote_alias: str | None) -> None:
    """A run that completed with every gate approved approves the versions it made (called in
    the transaction that records the completion, so a crash cannot split the two)."""
    decided = sorted(gates.gates_of(session, run.id).values(), key=lambda g: g.decided_at or g.requested_at)
    if not decided or any(g.status != gates.APPROVED for g in decided):
        return
    gate = decided[-1]
    newest: dict[str, ModelVersion] = {}
    for version in models.versions_of_run(session, run.id):
        if version.status != models.PENDING:
            continue
        model = session.get_one(Model, version.model_id)
        models.set_status(
            session, model, version, models.APPROVED, gate.decided_by or "?", _comment(run, gate)
        )
        if version.model_id not in newest or version.counter > newest[version.model_id].counter:
            newest[version.model_id] = version
    for version in newest.values():
        _move(session, run, gate, session.get_one(Model, version.model_id), version, promote_alias)


def _move(
    session: Session, run: PipelineRun, gate: Gate, model: Model, version: ModelVersion,
    promote_alias: str | None,
) -> None:  # fmt: skip
    actor = gate.decided_by or "?"
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
