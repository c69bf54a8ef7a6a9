"""What lineage answers, as JSON-able dicts: ``affected`` (downstream model versions of a
reference, grouped by how the data entered) and ``show`` (the chain upstream of one)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from assay.catalog import aliases, gates, lineage
from assay.catalog.edges import DATASET_VERSION, DATUM, EXECUTION, MODEL_VERSION, Node
from assay.catalog.lineage_tables import DatasetFlag
from assay.catalog.tables import PipelineRun


def affected(session: Session, project_id: str, ref: str, depth: int | None = None) -> dict[str, Any]:
    start = lineage.node_of(session, project_id, ref)
    reached = lineage.walk(session, start, "down", depth)
    wanted = [(r.kind, r.id) for r in reached if r.kind in (EXECUTION, MODEL_VERSION) or r.depth == 1]
    facts = lineage.refs(session, [start, *wanted])
    first = [r for r in reached if r.depth == 1 and r.kind == EXECUTION]
    versions = [r for r in reached if r.kind == MODEL_VERSION]
    shown = [_version(session, facts, r) for r in versions]
    by_how: dict[str, list[str]] = {}
    for entry in shown:
        for how in entry["how"] or ["(no input name)"]:
            by_how.setdefault(how, []).append(entry["ref"])
    return {
        "subject": facts[start]["ref"],
        "flags": flags_of(session, start) if start[0] == DATASET_VERSION else [],
        "used_by": [{**_execution(facts[(EXECUTION, r.id)]), "input": sorted(r.how)} for r in first],
        "model_versions": shown,
        "by_how": by_how,
        "holding_aliases": [{"ref": e["ref"], "aliases": e["aliases"]} for e in shown if e["aliases"]],
        "nodes": len(reached),
    }


def _version(session: Session, facts: dict[Node, dict[str, Any]], reached: lineage.Reached) -> dict[str, Any]:
    fact = facts[(MODEL_VERSION, reached.id)]
    held = aliases.current(session, "model", str(fact["model_id"]))
    source = facts.get((EXECUTION, str(fact["source_execution_id"])))
    run = session.get(PipelineRun, fact["pipeline_run_id"]) if fact["pipeline_run_id"] else None
    return {
        "ref": fact["ref"],
        "status": fact["status"],
        "aliases": sorted(a for a, v in held.items() if v == reached.id),
        "how": sorted(reached.how),
        "depth": reached.depth,
        "source_execution": _execution(source) if source else None,
        "pipeline_run": f"pipeline:{run.counter}" if run else None,
    }


def _execution(fact: dict[str, Any]) -> dict[str, Any]:
    run = fact.get("pipeline_run")
    return {"ref": fact["ref"], "counter": fact["counter"], "step": fact["step"],
            "pipeline_run": f"pipeline:{run}" if run else None}  # fmt: skip


def show(session: Session, project_id: str, ref: str, depth: int | None = None) -> dict[str, Any]:
    """The chain upstream of a reference: data, models, executions, decisions, replacements."""
    start = lineage.node_of(session, project_id, ref)
    reached = lineage.walk(session, start, "up", depth)
    facts = lineage.refs(session, [start, *[(r.kind, r.id) for r in reached]])
    runs = {str(f["pipeline_run"]) for (k, _), f in facts.items() if k == EXECUTION and f.get("pipeline_run")}
    view: dict[str, Any] = {
        "subject": facts[start]["ref"],
        "datasets": [_plain(facts, r) for r in reached if r.kind == DATASET_VERSION],
        "models": [_plain(facts, r) for r in reached if r.kind == MODEL_VERSION],
        "executions": [
            {**facts[(EXECUTION, r.id)], "depth": r.depth} for r in reached if r.kind == EXECUTION
        ],
        "pipeline_runs": sorted(f"pipeline:{n}" for n in runs),
        "decisions": _decisions(session, project_id, runs),
        "datums": [facts[(DATUM, r.id)]["ref"] for r in reached if r.kind == DATUM],
        "flags": [],
    }
    if start[0] == MODEL_VERSION:
        view["replaced"] = _replacements(session, start, "up")
        view["replaced_by"] = _replacements(session, start, "down")
        view["flags"] = flags_of_version(session, start[1])
    return view


def _plain(facts: dict[Node, dict[str, Any]], reached: lineage.Reached) -> dict[str, Any]:
    return {"ref": facts[(reached.kind, reached.id)]["ref"], "depth": reached.depth}


def _decisions(session: Session, project_id: str, runs: set[str]) -> list[dict[str, Any]]:
    found = []
    for counter in sorted(runs, key=int):
        run = session.scalar(
            select(PipelineRun).where(
                PipelineRun.project_id == project_id, PipelineRun.counter == int(counter)
            )
        )
        if run is None:
            continue
        for gate in gates.gates_of(session, run.id).values():
            found.append(
                {
                    "pipeline_run": f"pipeline:{run.counter}",
                    "node": gate.node,
                    "decision": gate.status,
                    "by": gate.decided_by,
                    "at": gate.decided_at.isoformat() if gate.decided_at else None,
                    "comment": gate.comment,
                }
            )
    return found


def _replacements(session: Session, start: Node, direction: str) -> list[dict[str, Any]]:
    hops = lineage.one_hop(session, start, "replaced", direction)
    others = [(MODEL_VERSION, e.src_id if direction == "up" else e.dst_id) for e in hops]
    facts = lineage.refs(session, others)
    return [
        {"ref": facts[node]["ref"], "alias": edge.label, "at": edge.created_at.isoformat()}
        for edge, node in zip(hops, others, strict=True)
        if node in facts
    ]


def flags_of(session: Session, node: Node) -> list[dict[str, Any]]:
    query = (
        select(DatasetFlag).where(DatasetFlag.dataset_version_id == node[1]).order_by(DatasetFlag.flagged_at)
    )
    return [flag_json(f) for f in session.scalars(query)]


def flags_of_version(session: Session, version_id: str) -> list[dict[str, Any]]:
    from assay.catalog import flags

    return [flag_json(f, ref) for f, ref in flags.active_flags_of_version(session, version_id)]


def flag_json(flag: DatasetFlag, dataset_ref: str | None = None) -> dict[str, Any]:
    return {
        "id": flag.id,
        "dataset": dataset_ref,
        "reason": flag.reason,
        "flagged_by": flag.flagged_by,
        "flagged_at": flag.flagged_at.isoformat(),
        "active": flag.lifted_at is None,
        "lifted_by": flag.lifted_by,
        "lifted_at": flag.lifted_at.isoformat() if flag.lifted_at else None,
        "lift_reason": flag.lift_reason,
    }
