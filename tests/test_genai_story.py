"""`make demo`'s story end to end (examples/genai-summarizer/story.sh, shorter training), then
the catalog it leaves: versions, statuses, aliases and their history, verdicts, gates, lineage."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from assay.catalog import Catalog, aliases, gates, lineage_views, models, pipelines, verdicts
from assay.catalog.projects import ensure_project

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "genai-summarizer"
ASSAY = str(Path(sys.executable).with_name("assay"))


def test_the_genai_story_runs_and_leaves_the_whole_record(tmp_path: Path, database_url: str) -> None:
    project = tmp_path / "genai-summarizer"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".assay", "__pycache__"))
    env = {**os.environ, "ASSAY": ASSAY, "MAX_STEPS": "20", "ASSAY_DATABASE_URL": database_url}
    env.pop("ASSAY_USER", None)
    story = subprocess.run(
        ["bash", str(project / "story.sh")], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = story.stdout + story.stderr
    assert story.returncode == 0, output[-4000:]
    for chapter in (
        "1. The first model",
        "2. New data",
        "3. A regression is stopped",
        "4. The flawed",
        "5. Look",
    ):
        assert chapter in output

    with Catalog.open(database_url) as catalog, catalog.read() as session:
        project_id = ensure_project(session, "genai-summarizer").id
        model = models.get_model(session, project_id, "summarizer")
        versions = {v.name: v for v in models.versions_of(session, model.id)}
        assert sorted(versions) == ["v1", "v2"]  # the regressed run never reached promotion
        assert {v.status for v in versions.values()} == {"approved"}
        assert {v.status_by for v in versions.values()} == {"alice"}
        assert set(versions["v2"].tags) >= {"genai", "summarization", "production-candidate"}
        assert {"rougeL", "bleu", "latency_p95_ms"} <= set(versions["v2"].metrics)

        # production: v1 (run 1's gate), v2 (run 2's gate), back to v1 (the flag's --demote)
        moves = aliases.history(session, "model", model.id, "production")
        names = {v.id: v.name for v in versions.values()}
        assert [names.get(m.version_id or "") for m in moves] == ["v1", "v2", "v1"]
        assert [m.moved_by for m in moves] == ["alice", "alice", "sam"]
        assert "evaluation-prompts/v2 flagged" in (moves[-1].reason or "")
        assert models.resolve(session, project_id, "summarizer/production")[1].name == "v1"

        runs = [pipelines.get_run(session, project_id, n) for n in (1, 2, 3)]
        assert [r.status for r in runs] == ["completed", "completed", "stopped"]
        outcomes = [[v.outcome for v in verdicts.of_run(session, r.id)] for r in runs]
        assert outcomes == [["no-baseline"], ["pass"], ["fail"]]
        (failed,) = verdicts.of_run(session, runs[2].id)
        assert failed.baseline is not None
        assert failed.baseline.startswith("model://summarizer/v2")
        rouge = next(row for row in failed.rows if row["metric"] == "rougeL")
        assert rouge["result"] == "fail"
        assert rouge["delta"] < 0
        for run in runs[:2]:
            gate = gates.gates_of(session, run.id)["promote-model"]
            assert (gate.status, gate.decided_by) == ("approved", "alice")
            assert gate.comment
        assert gates.gates_of(session, runs[2].id) == {}  # stopped before the gate

        card = models.card_of(session, versions["v1"].id)
        assert any(e.kind == "score" and e.body["rubric"] == "factuality" for e in card)
        assert any(e.kind == "decision" for e in card)

        affected = lineage_views.affected(session, project_id, "dataset://evaluation-prompts/v2")
        assert [v["ref"] for v in affected["model_versions"]] == ["model://summarizer/v2"]
        assert [f["active"] for f in affected["flags"]] == [True]
        assert lineage_views.flags_of_version(session, versions["v2"].id)
        assert not lineage_views.flags_of_version(session, versions["v1"].id)
