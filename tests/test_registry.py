"""The model catalog and datasets end to end: outputs become versions, references become inputs,
the baseline condition stops a regression, gates approve and promote, aliases keep history."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from assay.catalog import Catalog, aliases, models, verdicts
from assay.catalog.projects import ensure_project
from assay.catalog.registry_views import describe_model_version
from assay.cli.app import app
from tests.conftest import ProjectFactory

SPEC = """\
- step:
    name: ingest
    image: python:3.11
    command: python ingest.py {parameters}
    parameters:
      - name: version
        type: string
        default: v1
- step:
    name: train-model
    image: python:3.11
    command: python train.py {parameters}
    parameters:
      - name: quality
        type: float
        default: 0.4
    inputs:
      - name: training_data
        default: dataset://domain-news/latest
- step:
    name: evaluate-model
    image: python:3.11
    command: python evaluate.py
    inputs:
      - name: model
- step:
    name: promote-model
    image: python:3.11
    command: python promote.py
    inputs:
      - name: model
      - name: results
- pipeline:
    name: train-and-evaluate-model
    parameters:
      - name: quality
        targets: [train-model.parameter.quality]
        default: 0.4
    nodes:
      - name: train-model
        type: execution
        step: train-model
      - name: evaluate-model
        type: execution
        step: evaluate-model
        actions:
          - when: node-complete
            if: metadata.rougeL < baseline.rougeL - 0.01
            then: stop-pipeline
      - name: promote-model
        type: execution
        step: promote-model
        actions:
          - when: node-starting
            then: require-approval
    edges:
      - [train-model.output.model/*, evaluate-model.input.model]
      - [train-model.output.model/*, promote-model.input.model]
      - [evaluate-model.output.report.json, promote-model.input.results]
"""

INGEST = """\
import json, os
out = "/valohai/outputs" if os.path.isdir("/valohai/outputs") else os.environ["VH_OUTPUTS_DIR"]
name = json.load(open(os.path.join(os.environ["VH_CONFIG_DIR"], "parameters.json")))["version"]
with open(os.path.join(out, "news.txt"), "w") as f:
    f.write(f"news articles {name}\\n")
with open(os.path.join(out, "news.txt.metadata.json"), "w") as f:
    json.dump({"valohai.dataset-versions": [f"dataset://domain-news/{name}"]}, f)
"""

TRAIN = """\
import json, os
out = os.environ["VH_OUTPUTS_DIR"]
inputs = os.environ["VH_INPUTS_DIR"]
quality = json.load(open(os.path.join(os.environ["VH_CONFIG_DIR"], "parameters.json")))["quality"]
data = open(os.path.join(inputs, "training_data", "news.txt")).read()
os.makedirs(os.path.join(out, "model"), exist_ok=True)
json.dump({"quality": quality, "data": data}, open(os.path.join(out, "model", "config.json"), "w"))
open(os.path.join(out, "model", "model.safetensors"), "wb").write(b"weights" + data.encode())
print(json.dumps({"loss": 1.0 - quality}))
"""

EVALUATE = """\
import json, os
config = json.load(open(os.path.join(os.environ["VH_INPUTS_DIR"], "model", "config.json")))
baseline = json.load(open(os.path.join(os.environ["VH_CONFIG_DIR"], "baseline.json")))
print("baseline is", baseline["model_version"], baseline["metrics"].get("rougeL"))
report = {"rougeL": config["quality"], "bleu": config["quality"] / 2, "latency_p95_ms": 12.5}
print(json.dumps(report))
json.dump(report, open(os.path.join(os.environ["VH_OUTPUTS_DIR"], "report.json"), "w"))
"""

# The seed's promote.py pattern: save the model folder, then valohai.metadata.jsonl naming it.
PROMOTE = """\
import json, os, shutil
inputs = os.environ["VH_INPUTS_DIR"]
report = json.load(open(os.path.join(inputs, "results", "report.json")))
save_dir = "/valohai/outputs/model" if os.path.isdir("/valohai/outputs") else os.path.join(
    os.environ["VH_OUTPUTS_DIR"], "model")
os.makedirs(save_dir, exist_ok=True)
for name in os.listdir(os.path.join(inputs, "model")):
    shutil.copy(os.path.join(inputs, "model", name), os.path.join(save_dir, name))
metadata = {
    "model/": {
        "valohai.model-versions": [os.environ.get("MODEL_URI", "model://summarizer/")],
        "valohai.tags": ["genai", "summarization", "production-candidate"],
        "rougeL": report["rougeL"],
        "training_dataset": "dataset://domain-news/v1",
        "evaluation_dataset": "dataset://evaluation-prompts/v3",
    },
}
with open(os.path.join(os.path.dirname(save_dir), "valohai.metadata.jsonl"), "w") as f:
    for file, meta in metadata.items():
        json.dump({"file": file, "metadata": meta}, f)
        f.write("\\n")
print("Created model version")
"""


@pytest.fixture
def db(database_url: str) -> Iterator[Catalog]:
    catalog = Catalog.open(database_url)
    yield catalog
    catalog.close()


@pytest.fixture
def root(make_project: ProjectFactory) -> Path:
    files = {"ingest.py": INGEST, "train.py": TRAIN, "evaluate.py": EVALUATE, "promote.py": PROMOTE}
    return make_project(SPEC, files, name="summarizer").root


def _invoke(cli: CliRunner, root: Path, *args: str, user: str = "tester") -> tuple[int, str]:
    result = cli.invoke(app, ["-C", str(root), *args], env={"ASSAY_USER": user})
    return result.exit_code, result.output


def _json(cli: CliRunner, root: Path, *args: str) -> Any:
    code, output = _invoke(cli, root, *args, "--json")
    assert code == 0, output
    return json.loads(output)  # type: ignore[no-any-return]


def _card(db: Catalog, ref: str) -> dict:  # type: ignore[type-arg]
    with db.read() as session:
        project_id = ensure_project(session, "summarizer").id
        model, version = models.resolve(session, project_id, ref)
        return describe_model_version(session, model, version)


def _pipeline(cli: CliRunner, root: Path, quality: float) -> tuple[int, str]:
    return _invoke(cli, root, "pipeline", "run", "train-and-evaluate-model", "--param", f"quality={quality}")


def test_the_seed_promote_script_creates_the_version_with_everything(
    cli: CliRunner, root: Path, db: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _invoke(cli, root, "run", "ingest")[0] == 0
    assert _invoke(cli, root, "run", "train-model")[0] == 0
    assert (
        _invoke(cli, root, "run", "evaluate-model", "--input", "model=datum://" + _output(cli, root, 2))[0]
        == 0
    )
    code, output = _invoke(
        cli, root, "run", "promote-model", "--env", "MODEL_URI=model://summarizer/v5",
        "--input", f"model=datum://{_output(cli, root, 2, 'model/config.json')}",
        "--input", f"model=datum://{_output(cli, root, 2, 'model/model.safetensors')}",
        "--input", f"results=datum://{_output(cli, root, 3, 'report.json')}",
    )  # fmt: skip
    assert code == 0, output
    card = _card(db, "model://summarizer/v5")
    assert card["uri"] == "model://summarizer/v5"
    assert card["counter"] == 5
    assert card["status"] == "pending"
    assert card["tags"] == ["genai", "production-candidate", "summarization"]
    assert sorted(f["name"] for f in card["files"]) == ["model/config.json", "model/model.safetensors"]
    assert card["metrics"]["rougeL"] == 0.4
    assert card["properties"]["training_dataset"] == "dataset://domain-news/v1"
    assert card["properties"]["evaluation_dataset"] == "dataset://evaluation-prompts/v3"
    execution = _json(cli, root, "executions", "show", "latest")
    assert card["source_execution"]["counter"] == execution["counter"]
    assert execution["model_versions"] == ["model://summarizer/v5"]

    # The same URI again: versions are immutable; the execution says so and nothing changes.
    code, output = _invoke(
        cli, root, "run", "promote-model", "--env", "MODEL_URI=model://summarizer/v5",
        "--input", f"model=datum://{_output(cli, root, 2, 'model/config.json')}",
        "--input", f"results=datum://{_output(cli, root, 3, 'report.json')}",
    )  # fmt: skip
    again = _json(cli, root, "executions", "show", "latest")
    assert again["model_versions"] == []
    assert any("model://summarizer/v5 exists already" in p for p in again["problems"])
    with db.read() as session:
        project_id = ensure_project(session, "summarizer").id
        model = models.get_model(session, project_id, "summarizer")
        assert [v.name for v in models.versions_of(session, model.id)] == ["v5"]


def _output(cli: CliRunner, root: Path, counter: int, name: str = "model/config.json") -> str:
    view = _json(cli, root, "executions", "show", str(counter))
    return next(o["id"] for o in view["outputs"] if o["name"] == name)  # type: ignore[no-any-return]


def test_baseline_gate_stops_a_regression_and_passes_an_improvement(
    cli: CliRunner, root: Path, db: Catalog
) -> None:
    assert _invoke(cli, root, "run", "ingest")[0] == 0

    # 1. No production model yet: the comparison is "no baseline" and does not stop the run.
    code, output = _pipeline(cli, root, 0.40)
    assert code == 0, output
    assert "waits for approval of promote-model" in output
    assert "verdict against the baseline: no-baseline" in output
    code, output = _invoke(
        cli, root, "pipeline", "approve", "1", "promote-model", "--comment", "reads well", user="alice"
    )
    assert code == 0, output
    v1 = _card(db, "model://summarizer/v1")
    assert v1["status"] == "approved"
    assert v1["status_by"] == "alice"
    assert v1["aliases"] == ["production"]
    assert v1["metrics"]["rougeL"] == 0.4
    assert v1["metrics"]["latency_p95_ms"] == 12.5  # from the evaluate execution of the same run
    assert (len(v1["inputs"]["model"]), len(v1["inputs"]["results"])) == (2, 1)  # the files it promoted
    decision = next(e for e in v1["card"] if e["kind"] == "decision")
    assert (decision["decision"], decision["author"], decision["comment"]) == (
        "approved",
        "alice",
        "reads well",
    )
    assert [v["outcome"] for v in v1["verdicts"]] == ["no-baseline"]
    assert {"step": "train-model", "inputs": {"training_data": ["dataset://domain-news/v1"]}}.items() <= (
        v1["came_from"][0].items()
    )
    train = _json(cli, root, "executions", "show", "2")
    assert [f["uri"] for f in train["inputs"]["training_data"]] == ["dataset://domain-news/v1"]
    between = datetime.now(UTC)

    # 2. A worse candidate: stopped by the baseline condition, with the verdict on the candidate.
    code, output = _pipeline(cli, root, 0.30)
    assert code != 0 or "stopped" in output
    run = _json(cli, root, "pipeline", "show", "2")
    assert run["status"] == "stopped"
    assert "baseline model://summarizer/v1" in run["message"]
    evaluated = _json(cli, root, "executions", "show", "latest")
    assert evaluated["step"] == "evaluate-model"
    shown = _invoke(cli, root, "executions", "show", "latest")[1]
    assert "Verdict fail against model://summarizer/v1" in shown
    assert "baseline is model://summarizer/v1 0.4" in Path(evaluated["log_path"]).read_text()
    (verdict,) = evaluated["verdicts"]
    assert verdict["outcome"] == "fail"
    (row,) = verdict["rows"]
    assert row["metric"] == "rougeL"
    assert (row["candidate"], row["baseline"], row["delta"], row["result"]) == (0.3, 0.4, -0.1, "fail")
    assert row["rule"] == "metadata.rougeL < baseline.rougeL - 0.01"
    with db.read() as session:
        project_id = ensure_project(session, "summarizer").id
        model = models.get_model(session, project_id, "summarizer")
        assert [v.name for v in models.versions_of(session, model.id)] == ["v1"]  # never promoted

    # 3. A better one passes the condition, is approved, and replaces v1 as production.
    code, output = _pipeline(cli, root, 0.50)
    assert code == 0, output
    assert "verdict against the baseline: pass" in output
    code, output = _invoke(cli, root, "pipeline", "approve", "3", "promote-model", user="alice")
    assert code == 0, output
    v2 = _card(db, "model://summarizer/production")
    assert (v2["uri"], v2["status"]) == ("model://summarizer/v2", "approved")
    (passed,) = v2["verdicts"]
    assert passed["outcome"] == "pass"
    assert passed["rows"][0]["delta"] == pytest.approx(0.1)
    assert _card(db, "model://summarizer/latest")["uri"] == "model://summarizer/v2"

    # The alias history answers "which version was production at time T".
    with db.read() as session:
        project_id = ensure_project(session, "summarizer").id
        model = models.get_model(session, project_id, "summarizer")
        moves = aliases.history(session, "model", model.id, "production")
        assert [(m.previous_version_id is None, m.moved_by) for m in moves] == [
            (True, "alice"),
            (False, "alice"),
        ]
        at_between = models.version_at(session, model, "production", between)
        assert at_between is not None
        assert at_between.name == "v1"
        assert models.version_at(session, model, "production", datetime(2000, 1, 1, tzinfo=UTC)) is None
        assert len(verdicts.of_run(session, _run_id(session, project_id, 2))) == 1


def _run_id(session, project_id: str, counter: int) -> str:  # type: ignore[no-untyped-def]
    from assay.catalog import pipelines

    return pipelines.get_run(session, project_id, counter).id


def test_bad_references_are_clear_errors_before_anything_runs(cli: CliRunner, root: Path) -> None:
    assert _invoke(cli, root, "run", "ingest")[0] == 0
    code, output = _invoke(cli, root, "run", "evaluate-model", "--input", "model=model://nope/v1")
    assert code == 2, output
    assert "no model 'nope'" in output
    code, output = _invoke(
        cli, root, "run", "train-model", "--input", "training_data=dataset://domain-news/v999"
    )
    assert code == 2, output
    assert "dataset://domain-news has no version or alias 'v999'" in output
    code, output = _invoke(
        cli, root, "pipeline", "run", "train-and-evaluate-model",
        "--input", "train-model.training_data=dataset://x/v999",
    )  # fmt: skip
    assert code == 2, output
    assert "node 'train-model', input 'training_data': no dataset 'x'" in output
    code, output = _invoke(cli, root, "run", "evaluate-model", "--input", "model=model://summarizer/latest")
    assert code == 3 or code == 2, output
    listing = _json(cli, root, "executions", "list")
    assert [e["step"] for e in listing] == ["ingest"]  # nothing else was recorded
    runs = _json(cli, root, "pipeline", "list")
    assert runs == []


def test_bad_metadata_lines_are_reported_and_change_nothing(
    cli: CliRunner, make_project: ProjectFactory, db: Catalog
) -> None:
    script = """\
    import json, os
    out = os.environ["VH_OUTPUTS_DIR"]
    os.makedirs(os.path.join(out, "model"), exist_ok=True)
    open(os.path.join(out, "model", "weights.bin"), "wb").write(b"w")
    open(os.path.join(out, "notes.txt"), "w").write("n")
    lines = [
        'this is not json',
        json.dumps({"file": "../../etc/passwd", "metadata": {"valohai.model-versions": ["model://evil/"]}}),
        json.dumps({"file": "notes.txt", "metadata": {"valohai.model-versions": ["s3://bucket/model"]}}),
        json.dumps({"file": "notes.txt", "metadata": {"valohai.dataset-versions": ["dataset://no version"]}}),
        json.dumps({"file": "model/", "metadata": {"valohai.model-versions": ["model://good/"]}}),
    ]
    open(os.path.join(out, "valohai.metadata.jsonl"), "w").write("\\n".join(lines) + "\\n")
    """
    spec = "- step:\n    name: make\n    image: python:3.11\n    command: python make.py\n"
    project = make_project(spec, {"make.py": script}, name="summarizer")
    code, output = _invoke(cli, project.root, "run", "make")
    assert code == 0, output
    view = _json(cli, project.root, "executions", "show", "1")
    problems = "\n".join(view["problems"])
    assert "valohai.metadata.jsonl:1: not valid JSON" in problems
    assert "valohai.metadata.jsonl:2: file '../../etc/passwd' escapes outputs/" in problems
    assert "'s3://bucket/model' is not a model reference" in problems
    assert "'dataset://no version' is not a valid dataset reference" in problems
    assert view["model_versions"] == ["model://good/v1"]
    assert view["dataset_versions"] == []
    assert sorted(o["name"] for o in view["outputs"]) == ["model/weights.bin", "notes.txt"]
    with db.read() as session:
        project_id = ensure_project(session, "summarizer").id
        assert [m.name for m in models.list_models(session, project_id)] == ["good"]


def test_dataset_versions_from_outputs_build_on_each_other(
    cli: CliRunner, make_project: ProjectFactory, db: Catalog
) -> None:
    script = """\
    import json, os, sys
    out = os.environ["VH_OUTPUTS_DIR"]
    round_ = sys.argv[1]
    for name in (["a.csv", "b.csv"] if round_ == "1" else ["c.csv"]):
        open(os.path.join(out, name), "w").write(name + round_)
    if round_ == "1":
        meta = {"valohai.dataset-versions": ["dataset://prompts/v1"]}
        lines = [{"file": n, "metadata": meta} for n in ("a.csv", "b.csv")]
    else:
        meta = {"valohai.dataset-versions": [{"uri": "dataset://prompts/v2", "from": "dataset://prompts/v1",
                "exclude": ["b.csv"], "targeting_aliases": ["stable"], "valohai.tags": ["curated"]}]}
        lines = [{"file": "c.csv", "metadata": meta}]
    with open(os.path.join(out, "valohai.metadata.jsonl"), "w") as f:
        f.write("\\n".join(json.dumps(line) for line in lines) + "\\n")
    """
    spec = (
        "- step:\n    name: make\n    image: python:3.11\n    command: python make.py {parameters}\n"
        "    parameters:\n      - name: round\n        type: integer\n        pass-as: '{v}'\n"
    )
    project = make_project(spec, {"make.py": script}, name="summarizer")
    for round_ in ("1", "2"):
        code, output = _invoke(cli, project.root, "run", "make", "--param", f"round={round_}")
        assert code == 0, output
    second = _json(cli, project.root, "executions", "show", "2")
    assert second["dataset_versions"] == ["dataset://prompts/v2"]
    from assay.catalog import datasets

    with db.read() as session:
        project_id = ensure_project(session, "summarizer").id
        _, v2 = datasets.resolve(session, project_id, "dataset://prompts/stable")
        assert v2.name == "v2"
        assert v2.tags == ["curated"]
        assert [f.name for f, _ in datasets.files_of(session, v2.id)] == ["a.csv", "c.csv"]
        _, latest = datasets.resolve(session, project_id, "dataset://prompts/latest")
        assert latest.id == v2.id
        _, v1 = datasets.resolve(session, project_id, "dataset://prompts/v1")
        assert [f.name for f, _ in datasets.files_of(session, v1.id)] == ["a.csv", "b.csv"]

    # A third run naming v1 again: refused (immutable), reported, nothing changed.
    code, output = _invoke(cli, project.root, "run", "make", "--param", "round=1")
    assert code == 0, output
    third = _json(cli, project.root, "executions", "show", "3")
    assert third["dataset_versions"] == []
    assert any("dataset://prompts/v1 exists already" in p for p in third["problems"])


def test_version_names_numbers_and_latest_approved(db: Catalog) -> None:
    from assay.catalog import registration
    from assay.catalog.tables import Datum

    with db.transaction() as session:
        project_id = ensure_project(session, "p").id
        model = models.ensure_model(session, project_id, "m", "tester")
        named = models.create_version(session, model=model, name="exp-a", files=[], actor="tester")
        v5 = models.create_version(session, model=model, name="v5", files=[], actor="tester")
        nxt = models.create_version(session, model=model, name=None, files=[], actor="tester")
        assert (named.counter, v5.counter, nxt.counter, nxt.name) == (1, 5, 6, "v6")
        models.set_status(session, model, v5, models.APPROVED, "alice", "good")
    with db.read() as session:
        _, latest = models.resolve(session, project_id, "m/latest")  # newest *approved*
        assert latest.name == "v5"
        assert models.resolve(session, project_id, "model://m/exp-a")[1].id == named.id
    with db.transaction() as session:
        model = models.get_model(session, project_id, "m")
        _, again = models.resolve(session, project_id, "m/v5")
        with pytest.raises(Exception, match="already approved"):
            models.set_status(session, model, again, "approved", "bob", None)
    with db.transaction() as session, pytest.raises(Exception, match="cannot be a model alias"):
        aliases.move_alias(
            session, project_id=project_id, kind="model", owner_id=model.id, owner_name="m",
            name="latest", version_id=v5.id, actor="tester",
        )  # fmt: skip
    # The same execution's outputs registered twice make one version.
    from assay.catalog import executions

    with db.transaction() as session:
        execution = executions.create_execution(
            session, project_id=project_id, step="s", image="i", command="c", parameters={}, inputs={},
            execution_dir="/tmp/x", actor="tester",
        )  # fmt: skip
        datum = Datum(
            project_id=project_id, sha256="0" * 64, size=1, name="w.bin", output_execution_id=execution.id,
            file_metadata={"valohai.model-versions": "model://m/"}, tags=[],
        )  # fmt: skip
        session.add(datum)
        session.flush()
        problems: list[str] = []
        for _ in range(2):
            registration.register_outputs(
                session, execution, [datum], {"acc": 0.9}, status="completed", actor="tester",
                problems=problems, promote_alias="production",
            )  # fmt: skip
        assert problems == []
        assert [v.name for v in models.by_execution(session, execution.id)] == ["v7"]
        assert models.by_execution(session, execution.id)[0].metrics == {"acc": 0.9}


def test_two_writers_of_one_version_name_get_one_version_and_a_conflict(db: Catalog) -> None:
    import threading

    from assay.errors import Conflict

    with db.transaction() as session:
        project_id = ensure_project(session, "p").id
        models.ensure_model(session, project_id, "m", "tester")
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def write(name: str) -> None:
        barrier.wait()
        try:
            with db.transaction() as session:
                model = models.get_model(session, project_id, "m")
                models.create_version(session, model=model, name=name, files=[], actor="tester")
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=write, args=(n,)) for n in ("v3", "v3", "exp", "exp")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "created", "created"]
    with db.read() as session:
        model = models.get_model(session, project_id, "m")
        assert sorted(v.name for v in models.versions_of(session, model.id)) == ["exp", "v3"]
