"""Racing reviewers: of many concurrent decisions on one gate exactly one wins."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import select

from assay.catalog import Catalog, gates, pipelines
from assay.catalog.events import list_events
from assay.catalog.projects import ensure_project
from assay.catalog.tables import PipelineRun
from assay.errors import Conflict
from tests.conftest import ProjectFactory
from tests.test_pipelines import EVALUATE, PROMOTE, SHARED, TRAIN

ASSAY = str(Path(sys.executable).with_name("assay"))
DECIDERS = 20


def _waiting_run(catalog: Catalog) -> tuple[str, PipelineRun]:
    with catalog.transaction() as session:
        project_id = ensure_project(session, "race").id
        run = pipelines.create_run(
            session,
            project_id=project_id,
            pipeline="p",
            nodes=["promote"],
            spec_text="",
            request={},
            actor="starter",
        )
        gates.request_gate(session, run, "promote", "starter")
    return project_id, run


def test_twenty_threads_one_decision(catalog: Catalog) -> None:
    project_id, run = _waiting_run(catalog)
    barrier = threading.Barrier(DECIDERS)
    wins: list[str] = []
    losses: list[str] = []

    def decide(reviewer: str) -> None:
        barrier.wait()
        decision = gates.APPROVED if int(reviewer.split("-")[1]) % 2 else gates.REJECTED
        try:
            with catalog.transaction() as session:
                gates.decide_gate(session, run, "promote", decision=decision, actor=reviewer, comment=None,
                                  evidence={"seen": reviewer})  # fmt: skip
            wins.append(reviewer)
        except Conflict as exc:
            losses.append(exc.message)

    threads = [threading.Thread(target=decide, args=(f"reviewer-{i}",)) for i in range(DECIDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    assert len(losses) == DECIDERS - 1
    with catalog.read() as session:
        gate = gates.gates_of(session, run.id)["promote"]
        assert gate.decided_by == wins[0]
        assert gate.evidence == {"seen": wins[0]}
        decided = [
            e for e in list_events(session, project_id) if e.kind in ("gate.approved", "gate.rejected")
        ]
        assert [e.actor for e in decided] == wins
    assert all(f"already {gate.status} by {wins[0]} at " in message for message in losses)


def test_twenty_processes_one_decision(make_project: ProjectFactory, database_url: str) -> None:
    project = make_project(
        (SHARED / "seed-pipeline.yaml").read_text(),
        {"train.py": TRAIN, "evaluate.py": EVALUATE, "promote.py": PROMOTE, "data.txt": "news"},
    )
    env = {**os.environ, "ASSAY_DATABASE_URL": database_url}
    started = subprocess.run(
        [ASSAY, "pipeline", "run", "train-and-evaluate-model", "-q", "--input",
         f"train-model.training_data={project.root / 'data.txt'}"],
        cwd=project.root, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr
    deciders = [
        subprocess.Popen(
            [ASSAY, "pipeline", "approve", "1", "promote-model", "-q", "-m", f"from {i}"],
            cwd=project.root,
            env={**env, "ASSAY_USER": f"reviewer-{i}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(DECIDERS)
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in deciders]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0] + [4] * (DECIDERS - 1), results
    winner = next(i for i, (code, _, _) in enumerate(results) if code == 0)
    for code, _, stderr in results:
        if code == 4:
            assert f"was already approved by reviewer-{winner} at" in stderr
    with Catalog.open(database_url) as catalog, catalog.read() as session:
        project_id = session.scalar(select(PipelineRun.project_id).limit(1))
        run = pipelines.get_run(session, project_id, 1)
        assert run.status == "completed"
        assert gates.gates_of(session, run.id)["promote-model"].decided_by == f"reviewer-{winner}"
        promote = pipelines.nodes_of(session, run.id)["promote-model"]
        assert len(promote.executions) == 1
