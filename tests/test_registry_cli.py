"""`assay models` and `assay datasets` through the real CLI, on versions made by real runs."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assay.artifacts import ArtifactStore, hash_file
from assay.catalog import Catalog
from assay.catalog.events import list_events
from assay.catalog.projects import ensure_project
from assay.cli.app import app
from tests.conftest import ProjectFactory

SPEC = """\
- step:
    name: train
    image: python:3.11
    command: python train.py {parameters}
    parameters:
      - name: rouge
        type: float
        default: 0.41
      - name: tag
        type: string
        default: nightly
    inputs:
      - name: data
        optional: true
"""
TRAIN = """\
import argparse, json, os
parser = argparse.ArgumentParser()
parser.add_argument("--rouge", type=float)
parser.add_argument("--tag")
args = parser.parse_args()
data = os.path.join(os.environ["VH_INPUTS_DIR"], "data")
seen = sorted(os.listdir(data)) if os.path.isdir(data) else []
out = os.environ["VH_OUTPUTS_DIR"]
os.makedirs(os.path.join(out, "model"), exist_ok=True)
with open(os.path.join(out, "model", "weights.bin"), "w") as handle:
    handle.write(f"{args.rouge} {seen}")
with open(os.path.join(out, "valohai.metadata.jsonl"), "w") as handle:
    entry = {"valohai.model-versions": ["model://summarizer/"], "valohai.tags": [args.tag],
             "rougeL": args.rouge}
    handle.write(json.dumps({"file": "model/", "metadata": entry}) + "\\n")
print(json.dumps({"loss": 0.25, "inputs_seen": len(seen)}))
"""


@pytest.fixture
def root(make_project: ProjectFactory) -> Path:
    return make_project(SPEC, {"train.py": TRAIN}).root


def _invoke(cli: CliRunner, root: Path, *args: str) -> tuple[int, str]:
    result = cli.invoke(app, ["-C", str(root), *args])
    return result.exit_code, result.output


def _json(cli: CliRunner, root: Path, *args: str) -> Any:
    result = cli.invoke(app, ["-C", str(root), *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _train(cli: CliRunner, root: Path, *args: str) -> None:
    code, output = _invoke(cli, root, "run", "train", *args)
    assert code == 0, output


def _two_versions(cli: CliRunner, root: Path) -> None:
    _train(cli, root)
    _train(cli, root, "--param", "rouge=0.44", "--param", "tag=best")


def _now() -> str:
    time.sleep(0.01)  # strictly between two moves, even on a coarse clock
    moment = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    return moment


def _stored(root: Path, path: Path) -> bool:
    """Whether the bytes of ``path`` are in the project's artifact store."""
    return ArtifactStore.local(root / ".assay" / "store").backend.has(hash_file(path).sha256)


def _events(database_url: str, root: Path, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    catalog = Catalog.open(database_url)
    try:
        with catalog.read() as session:
            project_id = ensure_project(session, root.name).id
            return [(e.subject, e.actor, e.payload) for e in list_events(session, project_id, kind=kind)]
    finally:
        catalog.close()


def test_runs_make_versions_to_list_show_and_compare(cli: CliRunner, root: Path) -> None:
    _two_versions(cli, root)

    [listed] = _json(cli, root, "models", "list")
    assert listed["name"] == "summarizer"
    assert listed["version_count"] == 2
    assert listed["latest"] == "model://summarizer/v2"
    assert listed["latest_approved"] is None
    assert listed["aliases"] == {}

    model = _json(cli, root, "models", "show", "summarizer")
    assert [v["uri"] for v in model["versions"]] == ["model://summarizer/v2", "model://summarizer/v1"]
    assert [v["status"] for v in model["versions"]] == ["pending", "pending"]

    card = _json(cli, root, "models", "show", "model://summarizer/v1")
    assert card["uri"] == "model://summarizer/v1"
    assert card["metrics"] == {"loss": 0.25, "inputs_seen": 0, "rougeL": 0.41}
    assert card["tags"] == ["nightly"]
    assert card["status"] == "pending"
    assert [f["name"] for f in card["files"]] == ["model/weights.bin"]
    assert card["files"][0]["datum"].startswith("datum://")
    assert card["source_execution"]["counter"] == 1
    assert card["source_execution"]["step"] == "train"
    assert _json(cli, root, "models", "show", "summarizer/v1") == card

    code, output = _invoke(cli, root, "models", "show", "summarizer/v2")
    assert code == 0, output
    assert "model://summarizer/v2 — pending" in output
    assert "execution #2 (train)" in output
    assert "model/weights.bin" in output

    code, output = _invoke(cli, root, "models", "list")
    assert code == 0, output
    assert "summarizer  2" in output

    best = _json(cli, root, "models", "versions", "summarizer", "--tag", "best")
    assert [v["uri"] for v in best] == ["model://summarizer/v2"]
    assert _json(cli, root, "models", "versions", "summarizer", "--status", "approved") == []
    code, output = _invoke(cli, root, "models", "versions", "summarizer", "--status", "great")
    assert code == 2
    assert "pending, approved, rejected" in output

    compared = _json(cli, root, "models", "compare", "summarizer/v1", "model://summarizer/v2")
    assert compared["first"]["uri"] == "model://summarizer/v1"
    assert compared["second"]["uri"] == "model://summarizer/v2"
    rows = {row["metric"]: row for row in compared["metrics"]}
    assert set(rows) == {"inputs_seen", "loss", "rougeL"}
    assert (rows["rougeL"]["first"], rows["rougeL"]["second"]) == (0.41, 0.44)
    assert rows["rougeL"]["delta"] == pytest.approx(0.03)
    assert rows["loss"]["delta"] == 0
    assert compared["tags"] == {"both": [], "first_only": ["nightly"], "second_only": ["best"]}
    code, output = _invoke(cli, root, "models", "compare", "summarizer/v1", "summarizer/v2")
    assert code == 0, output
    assert "+0.03" in output


def test_approve_once_reject_and_approving_twice_changes_nothing(
    cli: CliRunner, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_versions(cli, root)
    monkeypatch.setenv("ASSAY_USER", "alice")
    code, output = _invoke(cli, root, "models", "approve", "summarizer/v1", "--comment", "ROUGE holds")
    assert code == 0, output
    assert "model://summarizer/v1 is now approved" in output
    before = _json(cli, root, "models", "show", "summarizer/v1")
    assert (before["status"], before["status_by"], before["status_comment"]) == (
        "approved",
        "alice",
        "ROUGE holds",
    )
    assert before["aliases"] == []  # approving moves no alias

    monkeypatch.setenv("ASSAY_USER", "bob")
    code, output = _invoke(cli, root, "models", "approve", "summarizer/v1", "--comment", "me too")
    assert code == 4
    assert "model://summarizer/v1 is already approved (by alice at" in output
    assert _json(cli, root, "models", "show", "summarizer/v1") == before

    rejected = _json(cli, root, "models", "reject", "model://summarizer/v2", "-m", "too long")
    assert (rejected["status"], rejected["status_by"]) == ("rejected", "bob")
    assert [(e["kind"], e["status"]) for e in rejected["card"]] == [("status", "rejected")]

    [listed] = _json(cli, root, "models", "list")
    assert listed["latest_approved"] == "model://summarizer/v1"
    assert listed["aliases"] == {}
    assert _json(cli, root, "models", "show", "summarizer/latest")["uri"] == "model://summarizer/v1"
    assert [
        v["version"] for v in _json(cli, root, "models", "versions", "summarizer", "--status", "rejected")
    ] == ["v2"]


def test_aliases_move_keep_their_history_and_answer_for_a_past_time(
    cli: CliRunner, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_versions(cli, root)
    before_any = _now()
    monkeypatch.setenv("ASSAY_USER", "alice")
    moved = _json(cli, root, "models", "alias", "set", "summarizer/v1", "production", "--reason", "first")
    assert (moved["from"], moved["to"], moved["changed"]) == (None, "model://summarizer/v1", True)
    at_v1 = _now()
    monkeypatch.setenv("ASSAY_USER", "bob")
    code, output = _invoke(cli, root, "models", "alias", "set", "model://summarizer/v2", "production",
                           "--reason", "better rougeL")  # fmt: skip
    assert code == 0, output
    assert "model://summarizer/production → model://summarizer/v2 (was model://summarizer/v1)" in output
    at_v2 = _now()
    again = _json(cli, root, "models", "alias", "set", "summarizer/v2", "production")
    assert again["changed"] is False

    assert _json(cli, root, "models", "show", "summarizer/production")["uri"] == "model://summarizer/v2"
    assert _json(cli, root, "models", "list")[0]["aliases"] == {"production": "model://summarizer/v2"}
    assert _json(cli, root, "models", "show", "summarizer/v2")["aliases"] == ["production"]

    removed = _json(cli, root, "models", "alias", "remove", "summarizer", "production", "--reason", "audit")
    assert (removed["from"], removed["to"]) == ("model://summarizer/v2", None)
    after_removal = _now()

    history = _json(cli, root, "models", "alias", "history", "summarizer")
    assert [(m["alias"], m["from"], m["to"], m["by"], m["reason"]) for m in history] == [
        ("production", None, "model://summarizer/v1", "alice", "first"),
        ("production", "model://summarizer/v1", "model://summarizer/v2", "bob", "better rougeL"),
        ("production", "model://summarizer/v2", None, "bob", "audit"),
    ]
    code, output = _invoke(cli, root, "models", "alias", "history", "summarizer", "production")
    assert code == 0, output
    assert "better rougeL" in output

    # --at, with 'Z', with an offset and naive (UTC)
    zulu = at_v1.replace("+00:00", "Z")
    held = _json(cli, root, "models", "show", "summarizer/production", "--at", zulu)
    assert held["uri"] == "model://summarizer/v1"
    assert held["as_of"]["alias"] == "model://summarizer/production"
    naive = at_v2.replace("+00:00", "")
    assert _json(cli, root, "models", "show", "summarizer/production", "--at", naive)["uri"] == (
        "model://summarizer/v2"
    )
    answer = _json(cli, root, "models", "alias", "history", "summarizer", "production", "--at", at_v1)
    assert answer["version"] == "model://summarizer/v1"

    code, output = _invoke(cli, root, "models", "show", "summarizer/production", "--at", before_any)
    assert code == 3
    assert "pointed at no version" in output
    assert "it was first set at" in output
    code, output = _invoke(cli, root, "models", "show", "summarizer/production", "--at", after_removal)
    assert code == 3
    assert "it was removed by then" in output
    code, output = _invoke(cli, root, "models", "show", "summarizer/production")
    assert code == 3
    code, output = _invoke(cli, root, "models", "show", "summarizer/production", "--at", "last tuesday")
    assert code == 2
    assert "not an ISO-8601 time" in output
    code, output = _invoke(cli, root, "models", "show", "summarizer/v1", "--at", at_v1)
    assert code == 2
    assert "is a version, not an alias" in output
    code, output = _invoke(cli, root, "models", "alias", "remove", "summarizer", "production")
    assert code == 3
    assert len(_json(cli, root, "models", "alias", "history", "summarizer")) == 3


def test_comments_scores_and_descriptions_land_on_the_card(
    cli: CliRunner, root: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _train(cli, root)
    monkeypatch.setenv("ASSAY_USER", "alice")
    code, output = _invoke(cli, root, "models", "comment", "summarizer/v1", "drops the [dates] of events")
    assert code == 0, output
    _json(cli, root, "models", "score", "summarizer/v1", "4", "--rubric", "faithfulness")
    monkeypatch.setenv("ASSAY_USER", "bob")
    card = _json(cli, root, "models", "score", "summarizer/v1", "--rubric", "faithfulness", "2",
                 "--comment", "misses numbers")  # fmt: skip
    assert [(e["kind"], e["author"]) for e in card["card"]] == [
        ("comment", "alice"),
        ("score", "alice"),
        ("score", "bob"),
    ]
    assert card["card"][0]["text"] == "drops the [dates] of events"
    assert [(e["rubric"], e["score"], e["comment"]) for e in card["card"][1:]] == [
        ("faithfulness", 4, None),
        ("faithfulness", 2, "misses numbers"),
    ]

    for bad in ("7", "0", "four", "2.5"):
        code, output = _invoke(cli, root, "models", "score", "summarizer/v1", bad, "--rubric", "tone")
        assert code == 2, (bad, output)
        assert "a whole number from 1 to 5" in output
    code, output = _invoke(cli, root, "models", "score", "summarizer/v1", "3", "--rubric", "no spaces")
    assert code == 2
    assert len(_json(cli, root, "models", "show", "summarizer/v1")["card"]) == 3

    code, output = _invoke(cli, root, "models", "show", "summarizer/v1")
    assert code == 0, output
    assert "“drops the [dates] of events”" in output
    assert "faithfulness  3.0   4 (alice), 2 (bob)" in output

    _json(cli, root, "models", "describe", "summarizer", "Summarizes news for the morning brief.")
    version = _json(cli, root, "models", "describe", "model://summarizer/v1", "First cut, no dates.")
    assert version["description"] == "First cut, no dates."
    assert _json(cli, root, "models", "show", "summarizer")["description"] == (
        "Summarizes news for the morning brief."
    )

    assert [(s, a, p["text"]) for s, a, p in _events(database_url, root, "model.version.commented")] == [
        ("model://summarizer/v1", "alice", "drops the [dates] of events")
    ]
    scored = _events(database_url, root, "model.version.scored")
    assert [(a, p["score"]) for _, a, p in scored] == [("alice", 4), ("bob", 2)]
    assert [(s, p["description"]) for s, _, p in _events(database_url, root, "model.described")] == [
        ("model://summarizer", "Summarizes news for the morning brief.")
    ]
    assert [s for s, _, _ in _events(database_url, root, "model.version.described")] == [
        "model://summarizer/v1"
    ]


def test_datasets_are_created_from_files_shown_and_never_overwritten(
    cli: CliRunner, root: Path, database_url: str
) -> None:
    folder = root / "incoming"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("a,1\n")
    (folder / "sub" / "b.csv").write_text("b,2\n")
    (root / "labels.json").write_text("{}")

    code, output = _invoke(cli, root, "datasets", "create", "news", "v1", str(root / "missing.csv"),
                           str(folder))  # fmt: skip
    assert code == 2
    assert "missing.csv: no such file or folder" in output
    assert _json(cli, root, "datasets", "list") == []
    assert _events(database_url, root, "dataset.version.created") == []
    assert not _stored(root, folder / "a.csv")

    created = _json(cli, root, "datasets", "create", "news", "v1", str(folder), str(root / "labels.json"),
                    "--tag", "raw", "--alias", "candidate")  # fmt: skip
    assert created["uri"] == "dataset://news/v1"
    assert created["tags"] == ["raw"]
    assert created["aliases"] == ["candidate"]
    files = {f["name"]: f for f in created["files"]}
    assert set(files) == {"a.csv", "sub/b.csv", "labels.json"}
    assert all(f["datum"].startswith("datum://") for f in files.values())
    assert files["a.csv"]["size"] == 4
    assert _stored(root, folder / "sub" / "b.csv")

    datum = files["a.csv"]["datum"]
    code, output = _invoke(cli, root, "datums", "show", datum)
    assert code == 0, output
    assert str(folder / "a.csv") in output

    (root / "a.csv").write_text("a,changed\n")
    code, output = _invoke(cli, root, "datasets", "create", "dataset://news", "v1", str(root / "a.csv"))
    assert code == 4
    assert "dataset://news/v1 exists already" in output
    assert _json(cli, root, "datasets", "show", "news/v1") == created
    assert not _stored(root, root / "a.csv")
    assert len(_events(database_url, root, "dataset.version.created")) == 1

    derived = _json(cli, root, "datasets", "create", "news", "v2", str(root / "a.csv"), "--from", "v1")
    derived_files = {f["name"]: f for f in derived["files"]}
    assert set(derived_files) == {"a.csv", "sub/b.csv", "labels.json"}
    assert derived_files["a.csv"]["sha256"] != files["a.csv"]["sha256"]
    assert derived_files["sub/b.csv"]["datum"] == files["sub/b.csv"]["datum"]
    assert derived["from"] == "dataset://news/v1"
    code, output = _invoke(cli, root, "datasets", "create", "news", "v3", str(root / "a.csv"),
                           "--from", "dataset://other/v1")  # fmt: skip
    assert code == 2

    dataset = _json(cli, root, "datasets", "show", "news")
    assert [v["uri"] for v in dataset["versions"]] == ["dataset://news/v2", "dataset://news/v1"]
    assert dataset["aliases"] == {"candidate": "dataset://news/v1"}
    assert _json(cli, root, "datasets", "show", "dataset://news/latest")["uri"] == "dataset://news/v2"
    assert _json(cli, root, "datasets", "show", "news/candidate")["uri"] == "dataset://news/v1"
    [listed] = _json(cli, root, "datasets", "list")
    assert (listed["name"], listed["version_count"], listed["latest"]) == ("news", 2, "dataset://news/v2")

    code, output = _invoke(cli, root, "datasets", "show", "news/v1")
    assert code == 0, output
    assert "sub/b.csv" in output
    assert files["sub/b.csv"]["datum"] in output

    _json(cli, root, "datasets", "alias", "set", "news/v2", "candidate", "--reason", "relabelled")
    history = _json(cli, root, "datasets", "alias", "history", "news", "candidate")
    assert [(m["from"], m["to"], m["reason"]) for m in history] == [
        (None, "dataset://news/v1", "set when the version was created"),
        ("dataset://news/v1", "dataset://news/v2", "relabelled"),
    ]
    code, output = _invoke(cli, root, "datasets", "alias", "history", "news", "production")
    assert code == 3
    assert "has never had an alias 'production'" in output


def test_a_dataset_input_resolves_to_its_version_and_the_card_shows_it(cli: CliRunner, root: Path) -> None:
    (root / "day1.txt").write_text("first day")
    _json(cli, root, "datasets", "create", "news", "v1", str(root / "day1.txt"))
    _train(cli, root, "--input", "data=dataset://news/latest")

    execution = _json(cli, root, "executions", "show", "1")
    [given] = execution["inputs"]["data"]
    assert (given["uri"], given["name"]) == ("dataset://news/v1", "day1.txt")
    assert execution["metadata"]["inputs_seen"] == 1
    assert execution["model_versions"] == ["model://summarizer/v1"]
    card = _json(cli, root, "models", "show", "summarizer/v1")
    assert card["inputs"] == {"data": ["dataset://news/v1"]}
    code, output = _invoke(cli, root, "models", "show", "summarizer/v1")
    assert code == 0, output
    assert "data   dataset://news/v1" in output

    (root / "day2.txt").write_text("second day")
    _json(cli, root, "datasets", "create", "news", "2026-03-02", str(root / "day2.txt"), "--from", "latest")
    _train(cli, root, "--input", "data=dataset://news/latest")
    execution = _json(cli, root, "executions", "show", "2")
    assert {f["uri"] for f in execution["inputs"]["data"]} == {"dataset://news/2026-03-02"}
    assert sorted(f["name"] for f in execution["inputs"]["data"]) == ["day1.txt", "day2.txt"]
    assert execution["metadata"]["inputs_seen"] == 2


def test_bad_references_say_what_exists(cli: CliRunner, root: Path) -> None:
    _train(cli, root)
    code, output = _invoke(cli, root, "models", "show", "model://nope/v1")
    assert code == 3
    assert "no model 'nope' in this project" in output
    assert "hint:" in output
    assert "assay models list" in output

    code, output = _invoke(cli, root, "models", "show", "summarizer/v9")
    assert code == 3
    assert "model://summarizer has no version or alias 'v9'" in output
    assert "assay models versions summarizer" in output

    code, output = _invoke(cli, root, "models", "show", "summarizer/latest")
    assert code == 3
    assert "none is approved" in output

    code, output = _invoke(cli, root, "models", "show", "dataset://news/v1")
    assert code == 2
    assert "not a model reference" in output
    code, output = _invoke(cli, root, "models", "approve", "summarizer")
    assert code == 2
    assert "names no version" in output
    code, output = _invoke(cli, root, "models", "compare", "summarizer/v1", "summarizer/v2")
    assert code == 3
    code, output = _invoke(cli, root, "datasets", "show", "news")
    assert code == 3
    assert "assay datasets list" in output
    code, output = _invoke(cli, root, "models", "alias", "set", "summarizer/v1", "v2")
    assert code == 2
    assert "cannot be a model alias" in output
