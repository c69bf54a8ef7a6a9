"""Lineage through the real CLI: a three-generation history, the flawed dataset's question,
flags that mark and demote, dot output, and upstream chains — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assay.cli.app import app
from tests.conftest import ProjectFactory

SPEC = """\
- step:
    name: prepare
    image: python:3.11
    command: python prepare.py
    inputs:
      - name: raw
- step:
    name: train
    image: python:3.11
    command: python train.py {parameters}
    parameters:
      - name: lr
        type: float
        default: 0.1
    inputs:
      - name: prompts
      - name: base-model
        optional: true
"""

PREPARE = """\
import os
src = os.path.join(os.environ["VH_INPUTS_DIR"], "raw")
text = "".join(open(os.path.join(src, n)).read() for n in sorted(os.listdir(src)))
open(os.path.join(os.environ["VH_OUTPUTS_DIR"], "clean.txt"), "w").write(text.strip() + " (clean)")
"""

TRAIN = """\
import json, os
inputs = os.environ["VH_INPUTS_DIR"]
folder = os.path.join(inputs, "prompts")
prompts = "".join(open(os.path.join(folder, n)).read() for n in sorted(os.listdir(folder)))
base_file = os.path.join(inputs, "base-model", "weights.txt")
base = open(base_file).read() if os.path.isfile(base_file) else ""
out = os.path.join(os.environ["VH_OUTPUTS_DIR"], "model")
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "weights.txt"), "w").write(base + "|" + prompts)
with open(os.path.join(os.environ["VH_OUTPUTS_DIR"], "valohai.metadata.jsonl"), "w") as f:
    meta = {"valohai.model-versions": ["model://summarizer/"]}
    f.write(json.dumps({"file": "model/", "metadata": meta}) + "\\n")
print(json.dumps({"score": len(prompts)}))
"""


def _invoke(cli: CliRunner, root: Path, *args: str, user: str = "tester") -> str:
    result = cli.invoke(app, ["-C", str(root), *args], env={"ASSAY_USER": user})
    assert result.exit_code == 0, result.output
    return result.output


def _json(cli: CliRunner, root: Path, *args: str) -> Any:
    return json.loads(_invoke(cli, root, *args, "--json"))


@pytest.fixture
def history(cli: CliRunner, make_project: ProjectFactory) -> Path:
    """dataset v1 → model v1; dataset v2 (the flawed set), through an intermediate output → v2;
    v3 fine-tuned from v2 on v3's data; v4 fine-tuned from v1 on v3's data."""
    root = make_project(SPEC, {"prepare.py": PREPARE, "train.py": TRAIN}, name="summarizer").root
    for version in ("v1", "v2", "v3"):
        data = root / "incoming" / version
        data.mkdir(parents=True)
        (data / "prompts.txt").write_text(f"prompts {version}")
        _invoke(cli, root, "datasets", "create", "evaluation-prompts", version, str(data))
    _invoke(cli, root, "run", "train", "--input", "prompts=dataset://evaluation-prompts/v1")  # v1
    _invoke(cli, root, "run", "prepare", "--input", "raw=dataset://evaluation-prompts/v2")
    clean = _json(cli, root, "executions", "show", "latest")["outputs"][0]["uri"]
    _invoke(cli, root, "run", "train", "--input", f"prompts={clean}")  # v2, via an intermediate output
    _invoke(cli, root, "run", "train", "--input", "prompts=dataset://evaluation-prompts/v3",
            "--input", "base-model=model://summarizer/v2")  # fmt: skip
    _invoke(cli, root, "run", "train", "--input", "prompts=dataset://evaluation-prompts/latest",
            "--input", "base-model=model://summarizer/v1")  # fmt: skip
    for version in ("v1", "v2", "v3"):
        _invoke(cli, root, "models", "approve", f"summarizer/{version}", "--comment", "ok", user="alice")
    _invoke(cli, root, "models", "alias", "set", "summarizer/v3", "production")
    _invoke(cli, root, "models", "alias", "set", "summarizer/v4", "candidate")
    return root


def test_affected_answers_the_flawed_dataset_question_through_fine_tuning(
    cli: CliRunner, history: Path
) -> None:
    view = _json(cli, history, "lineage", "affected", "dataset://evaluation-prompts/v2")
    assert view["subject"] == "dataset://evaluation-prompts/v2"
    found = {v["ref"]: v for v in view["model_versions"]}
    assert sorted(found) == ["model://summarizer/v2", "model://summarizer/v3"]
    assert found["model://summarizer/v2"]["how"] == ["raw"]  # it entered as prepare's input `raw`
    assert found["model://summarizer/v3"]["aliases"] == ["production"]
    assert found["model://summarizer/v3"]["status"] == "approved"
    assert found["model://summarizer/v3"]["source_execution"]["step"] == "train"
    assert view["by_how"] == {"raw": ["model://summarizer/v2", "model://summarizer/v3"]}
    assert view["holding_aliases"] == [{"ref": "model://summarizer/v3", "aliases": ["production"]}]
    assert [(u["step"], u["input"]) for u in view["used_by"]] == [("prepare", ["raw"])]

    # The other generations are untouched by v2.
    v1 = _json(cli, history, "lineage", "affected", "dataset://evaluation-prompts/v1")
    assert sorted(v["ref"] for v in v1["model_versions"]) == [
        "model://summarizer/v1",
        "model://summarizer/v4",
    ]
    text = _invoke(cli, history, "lineage", "affected", "dataset://evaluation-prompts/v2")
    assert "model://summarizer/v3" in text
    assert "production" in text


def test_show_walks_upstream_with_the_replacement_and_decisions(cli: CliRunner, history: Path) -> None:
    view = _json(cli, history, "lineage", "show", "model://summarizer/v3")
    assert sorted(d["ref"] for d in view["datasets"]) == [
        "dataset://evaluation-prompts/v2",
        "dataset://evaluation-prompts/v3",
    ]
    assert [m["ref"] for m in view["models"]] == ["model://summarizer/v2"]
    steps = sorted((e["step"], e["counter"]) for e in view["executions"])
    assert steps == [("prepare", 2), ("train", 3), ("train", 4)]
    assert all(e["ref"].startswith("exec-") for e in view["executions"])
    assert next(e for e in view["executions"] if e["counter"] == 4)["parameters"] == {"lr": 0.1}
    assert all(ref.startswith("datum://") for ref in view["datums"])
    dot = _invoke(cli, history, "lineage", "show", "model://summarizer/v3", "--format", "dot")
    assert dot.startswith("digraph lineage {")
    assert '"dataset://evaluation-prompts/v2" -> "exec-' in dot
    assert 'label="used: base-model"' in dot


def test_flag_marks_affected_versions_and_demote_moves_production_back(cli: CliRunner, history: Path) -> None:
    result = _json(cli, history, "datasets", "flag", "dataset://evaluation-prompts/v2",
                   "--reason", "references leak the training targets", "--demote")  # fmt: skip
    assert sorted(result["affected"]) == ["model://summarizer/v2", "model://summarizer/v3"]
    assert result["demoted"] == [
        {
            "model": "summarizer",
            "alias": "production",
            "from": "model://summarizer/v3",
            "to": "model://summarizer/v1",
        }
    ]
    card = _json(cli, history, "models", "show", "summarizer/v3")
    assert [f["reason"] for f in card["flags"]] == ["references leak the training targets"]
    assert card["flags"][0]["dataset"] == "dataset://evaluation-prompts/v2"
    assert _json(cli, history, "models", "show", "summarizer/v4")["flags"] == []
    assert _json(cli, history, "models", "show", "summarizer/production")["uri"] == "model://summarizer/v1"
    moves = _json(cli, history, "models", "alias", "history", "summarizer", "production")
    assert "evaluation-prompts/v2 flagged" in json.dumps(moves[-1])
    shown = _invoke(cli, history, "models", "show", "summarizer/v3")
    assert "flagged" in shown
    assert "references leak" in shown

    # A second flag is refused; unflagging is recorded and the warning goes away.
    second = cli.invoke(app, ["-C", str(history), "datasets", "flag", "evaluation-prompts/v2", "-r", "again"])
    assert second.exit_code == 4
    assert "already flagged" in second.output
    lifted = _json(cli, history, "datasets", "unflag", "evaluation-prompts/v2", "--reason", "fixed upstream")
    assert (lifted["active"], lifted["lift_reason"]) == (False, "fixed upstream")
    assert _json(cli, history, "models", "show", "summarizer/v3")["flags"] == []
    affected = _json(cli, history, "lineage", "affected", "dataset://evaluation-prompts/v2")
    assert [f["active"] for f in affected["flags"]] == [False]


def test_a_version_built_later_from_flagged_data_is_marked_when_made(cli: CliRunner, history: Path) -> None:
    _invoke(cli, history, "datasets", "flag", "evaluation-prompts/v2", "--reason", "leaks")
    _invoke(cli, history, "run", "train", "--input", "prompts=dataset://evaluation-prompts/v1",
            "--input", "base-model=model://summarizer/v3")  # fmt: skip
    card = _json(cli, history, "models", "show", "summarizer/v5")
    assert [f["reason"] for f in card["flags"]] == ["leaks"]


def test_bad_lineage_references_are_clear(cli: CliRunner, history: Path) -> None:
    result = cli.invoke(app, ["-C", str(history), "lineage", "affected", "dataset://evaluation-prompts/v9"])
    assert result.exit_code == 3
    assert "has no version or alias 'v9'" in result.output
    result = cli.invoke(app, ["-C", str(history), "lineage", "show", "s3://bucket/x"])
    assert result.exit_code == 2
    assert "not a reference lineage knows" in result.output


def test_upgrading_an_older_catalog_derives_the_same_edges_from_its_records(
    cli: CliRunner, history: Path, database_url: str
) -> None:
    from sqlalchemy import text

    from assay.catalog import Catalog

    query = text("SELECT kind, src_kind, src_id, dst_kind, dst_id, label FROM lineage_edges")
    catalog = Catalog.open(database_url)
    with catalog.engine.begin() as connection:
        recorded = sorted(tuple(row) for row in connection.execute(query))
        for table in ("gate_approvals", "api_tokens", "memberships", "users"):  # from 0008
            connection.execute(text(f"DROP TABLE {table}"))
        for table, column in (("projects", "repository"), ("projects", "default_ref"),
                              ("executions", "source"), ("gates", "auth_method")):  # fmt: skip
            connection.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        connection.execute(text("DROP TABLE execution_metadata_latest"))  # from 0007
        connection.execute(text("DROP INDEX uq_projects_unclaimed_name"))
        connection.execute(text("ALTER TABLE projects DROP COLUMN claimed_at"))
        for table in ("pipeline_reuses", "model_version_flags", "dataset_flags", "lineage_edges"):
            connection.execute(text(f"DROP TABLE {table}"))
        connection.execute(text("ALTER TABLE pipeline_runs DROP COLUMN warnings"))  # from 0006
        connection.execute(text("UPDATE alembic_version SET version_num = '0003'"))
    catalog.close()
    upgraded = Catalog.open(database_url)  # migrates 0003 → 0004, deriving the edges
    with upgraded.engine.begin() as connection:
        derived = sorted(tuple(row) for row in connection.execute(query))
    upgraded.close()
    assert len(recorded) > 20
    assert derived == recorded
    view = _json(cli, history, "lineage", "affected", "dataset://evaluation-prompts/v2")
    assert sorted(v["ref"] for v in view["model_versions"]) == [
        "model://summarizer/v2",
        "model://summarizer/v3",
    ]
