"""Pipelines end to end through the real CLI: the seed's story, edges, failures, gates, reuse."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assay.cli.app import app
from tests.conftest import ProjectFactory

SHARED = Path(__file__).resolve().parent / "fixtures" / "seed"
ASSAY = str(Path(sys.executable).with_name("assay"))

TRAIN = """\
import json, os
out = os.environ["VH_OUTPUTS_DIR"]
os.makedirs(os.path.join(out, "model"), exist_ok=True)
data = open(os.path.join(os.environ["VH_INPUTS_DIR"], "training_data", "data.txt")).read()
open(os.path.join(out, "model", "model-1.pkl"), "w").write(data.upper())
print(json.dumps({"loss": 0.25}))
"""
EVALUATE = """\
import json, os
models = sorted(os.listdir(os.path.join(os.environ["VH_INPUTS_DIR"], "model")))
print("evaluating", models)
new_bleu, baseline_bleu = float(os.environ.get("NEW_BLEU", "0.41")), 0.35
print(json.dumps({"bleu": new_bleu}))
if new_bleu < baseline_bleu:
    raise Exception("Regression detected: BLEU score dropped")
open(os.path.join(os.environ["VH_OUTPUTS_DIR"], "report.json"), "w").write(json.dumps({"bleu": new_bleu}))
"""
PROMOTE = """\
import os
print("promoting", sorted(os.listdir(os.path.join(os.environ["VH_INPUTS_DIR"], "results"))))
"""


def _seed(make_project: ProjectFactory, extra: dict[str, str] | None = None) -> Path:
    project = make_project(
        (SHARED / "seed-pipeline.yaml").read_text(),
        {
            "train.py": TRAIN,
            "evaluate.py": EVALUATE,
            "promote.py": PROMOTE,
            "data.txt": "news",
            **(extra or {}),
        },
    )
    return project.root


def _invoke(cli: CliRunner, root: Path, *args: str) -> tuple[int, str]:
    result = cli.invoke(app, ["-C", str(root), *args])
    return result.exit_code, result.output


def _show(cli: CliRunner, root: Path, run: int) -> dict[str, object]:
    code, output = _invoke(cli, root, "pipeline", "show", str(run), "--json")
    assert code == 0, output
    return json.loads(output)  # type: ignore[no-any-return]


def _nodes(view: dict[str, object]) -> dict[str, dict[str, object]]:
    return {n["name"]: n for n in view["nodes"]}  # type: ignore[attr-defined, index]


def test_seed_pipeline_waits_at_the_gate_then_approval_finishes_it(
    cli: CliRunner, make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _seed(make_project)
    code, output = _invoke(cli, root, "pipeline", "run", "train-and-evaluate-model",
                           "--input", f"train-model.training_data={root / 'data.txt'}")  # fmt: skip
    assert code == 0, output
    assert "waits for approval of promote-model" in output
    assert "assay pipeline approve 1 promote-model" in output
    view = _show(cli, root, 1)
    assert view["status"] == "waiting-approval"
    nodes = _nodes(view)
    assert [nodes[n]["status"] for n in ("train-model", "evaluate-model", "promote-model")] == [
        "completed",
        "completed",
        "waiting-approval",
    ]
    assert "evaluating ['model-1.pkl']" in output  # model* glob rule: model/model-1.pkl, flattened

    monkeypatch.setenv("ASSAY_USER", "alice")
    code, output = _invoke(
        cli, root, "pipeline", "approve", "1", "promote-model", "--comment", "ROUGE looks right"
    )
    assert code == 0, output
    assert "promoting ['report.json']" in output
    view = _show(cli, root, 1)
    assert view["status"] == "completed"
    gate = _nodes(view)["promote-model"]["gate"]
    assert gate["status"] == "approved"
    assert gate["decided_by"] == "alice"
    assert gate["comment"] == "ROUGE looks right"  # type: ignore[index]
    evidence = gate["evidence"]["upstream"]  # type: ignore[index]
    assert evidence["evaluate-model"][0]["metadata"] == {"bleu": 0.41}
    assert evidence["train-model"][0]["metadata"] == {"loss": 0.25}

    monkeypatch.setenv("ASSAY_USER", "bob")
    code, output = _invoke(cli, root, "pipeline", "approve", "1", "promote-model")
    assert code == 4
    assert "was already approved by alice at" in output


def test_seed_pipeline_rejected_stops(cli: CliRunner, make_project: ProjectFactory) -> None:
    root = _seed(make_project)
    _invoke(cli, root, "pipeline", "run", "train-and-evaluate-model", "-q",
            "--input", f"train-model.training_data={root / 'data.txt'}")  # fmt: skip
    code, output = _invoke(cli, root, "pipeline", "reject", "1", "promote-model", "-m", "tone is off")
    assert code == 0, output
    view = _show(cli, root, 1)
    assert view["status"] == "stopped"
    promote = _nodes(view)["promote-model"]
    assert promote["status"] == "skipped"
    assert promote["executions"] == []
    assert promote["gate"]["status"] == "rejected"  # type: ignore[index]


def test_seed_evaluate_that_raises_stops_promotion(
    cli: CliRunner, make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _seed(make_project, {"assay.yaml": "environment:\n  pass: [NEW_BLEU]\n"})
    monkeypatch.setenv("NEW_BLEU", "0.2")  # a host variable reaches a step only when let through
    code, output = _invoke(cli, root, "pipeline", "run", "train-and-evaluate-model",
                           "--input", f"train-model.training_data={root / 'data.txt'}")  # fmt: skip
    assert code == 6
    assert "Regression detected: BLEU score dropped" in output
    nodes = _nodes(_show(cli, root, 1))
    assert nodes["evaluate-model"]["status"] == "error"
    assert nodes["promote-model"]["status"] == "skipped"
    assert nodes["promote-model"]["gate"] is None


def test_seed_as_printed_names_the_missing_step_and_runs_nothing(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    project = make_project((SHARED / "seed-pipeline-as-printed.yaml").read_text(), {"data.txt": "x"})
    code, output = _invoke(cli, project.root, "pipeline", "run", "train-and-evaluate-model")
    assert code == 2
    assert "valohai.yaml:31:15: error:" in output
    assert "did you mean 'evaluate-model'?" in output
    assert _invoke(cli, project.root, "pipeline", "list", "--json")[1].strip() == "[]"
    assert _invoke(cli, project.root, "executions", "list", "--json")[1].strip() == "[]"


EDGES = """\
- step:
    name: produce
    image: python:3.11
    command:
      - mkdir -p $VH_OUTPUTS_DIR/results
      - echo a > $VH_OUTPUTS_DIR/results/a.pkl
      - echo b > $VH_OUTPUTS_DIR/b.txt
      - python produce.py
      - echo "token=$TOKEN"
    parameters:
      - {name: seed, type: integer, default: 7}
    inputs:
      - {name: raw, default: raw.txt}
    environment-variables:
      - {name: TOKEN, default: abc}
- step:
    name: consume
    image: python:3.11
    command:
      - echo files $(ls $VH_INPUTS_DIR/pickles $VH_INPUTS_DIR/texts $VH_INPUTS_DIR/raw-again)
      - echo "lr={parameter-value:lr} seed={parameter-value:seed} size={parameter-value:size} token=$TOKEN"
    parameters:
      - {name: lr, type: float, default: 1.0}
      - {name: seed, type: integer, default: 0}
      - {name: size, type: integer, default: 0}
    inputs:
      - {name: pickles, default: unused.txt}
      - {name: texts, default: extra.txt}
      - {name: raw-again, optional: true}
    environment-variables:
      - {name: TOKEN}
- pipeline:
    name: edges
    parameters:
      - {name: size, targets: [sweep.parameter.size], default: [10, 20, 30]}
    nodes:
      - {name: produce, type: execution, step: produce}
      - name: consume
        type: execution
        step: consume
        edge-merge-mode: replace
        override:
          inputs:
            - {name: texts, default: extra.txt}
      - name: appended
        type: execution
        step: consume
        edge-merge-mode: append
      - {name: sweep, type: task, step: consume}
    edges:
      - [produce.output.results/*.pkl, consume.input.pickles]
      - [produce.output.*.txt, consume.input.texts]
      - [produce.input.raw, consume.input.raw-again]
      - [produce.metadata.best_lr, consume.parameter.lr]
      - [produce.parameter.seed, consume.parameter.seed]
      - [produce.environment-variable.TOKEN, consume.environment-variable.TOKEN]
      - [produce.output.results/*.pkl, appended.input.pickles]
      - [produce.output.*.txt, appended.input.texts]
      - [produce.environment-variable.TOKEN, appended.environment-variable.TOKEN]
      - [produce.output.*.pkl, sweep.input.pickles]
      - [produce.dependency.*, sweep.dependency.*]
      - [produce.environment-variable.TOKEN, sweep.environment-variable.TOKEN]
"""
PRODUCE = """\
import json
print(json.dumps({"best_lr": 0.5}))
print(json.dumps({"best_lr": 0.25}))  # the last value logged is the one an edge carries
"""


def test_every_edge_kind_delivers(cli: CliRunner, make_project: ProjectFactory) -> None:
    project = make_project(
        EDGES, {"raw.txt": "r", "unused.txt": "u", "extra.txt": "e", "produce.py": PRODUCE}
    )
    code, output = _invoke(cli, project.root, "pipeline", "run", "edges", "--node-param", "produce.seed=11")
    assert code == 0, output
    lines = [line.split("| ", 1)[1] for line in output.splitlines() if "| " in line]
    consume = [line for line in lines if line.startswith("lr=")]
    # metadata → parameter (last value), parameter → parameter, env → env; replace vs append
    assert "lr=0.25 seed=11 size=0 token=abc" in consume
    listings = [line for line in lines if ".pkl" in line or ".txt" in line]
    assert any("a.pkl" in line and "b.txt" in line and "extra.txt" not in line and "raw.txt" in line
               for line in listings)  # fmt: skip
    assert any("extra.txt" in line and "b.txt" in line and "unused.txt" in line for line in listings)
    # a task node fans out over the pipeline parameter's list: one execution per value
    assert sorted(line.split()[2] for line in consume if "seed=0" in line and "size=0" not in line) == [
        "size=10",
        "size=20",
        "size=30",
    ]
    nodes = _nodes(_show(cli, project.root, 1))
    assert len(nodes["sweep"]["executions"]) == 3  # type: ignore[arg-type]


def test_an_edge_that_matches_nothing_says_what_was_produced(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    yaml_text = EDGES.replace("[produce.output.results/*.pkl, consume.input.pickles]",
                              "[produce.output.models/*.bin, consume.input.pickles]")  # fmt: skip
    project = make_project(
        yaml_text, {"raw.txt": "r", "unused.txt": "u", "extra.txt": "e", "produce.py": PRODUCE}
    )
    code, output = _invoke(cli, project.root, "pipeline", "run", "edges", "-q")
    assert code == 6
    assert "matched no output of 'produce' (it produced: b.txt, results/a.pkl)" in output


PARALLEL = """\
- step: {name: nap, image: python:3.11, command: "sleep 1"}
- pipeline:
    name: parallel
    nodes:
      - {name: one, type: execution, step: nap}
      - {name: two, type: execution, step: nap}
    edges: []
"""


def test_independent_nodes_run_at_the_same_time(cli: CliRunner, make_project: ProjectFactory) -> None:
    project = make_project(PARALLEL)
    code, output = _invoke(cli, project.root, "pipeline", "run", "parallel", "--slots", "2", "-q")
    assert code == 0, output
    code, listing = _invoke(cli, project.root, "executions", "list", "--json")
    first, second = json.loads(listing)
    assert first["started_at"] < second["ended_at"]
    assert second["started_at"] < first["ended_at"]


RETRY = """\
- step:
    name: flaky
    image: python:3.11
    command: python flaky.py
- pipeline:
    name: flaky
    nodes:
      - {name: flaky, type: execution, step: flaky, on-error: retry}
      - name: check
        type: execution
        step: flaky
        actions:
          - {when: node-complete, if: metadata.quality < 0.5, then: stop-pipeline}
    edges:
      - [flaky.dependency.*, check.dependency.*]
"""
FLAKY = """\
import json, os
marker = os.path.join(os.environ["MARKERS"], "attempts")
count = int(open(marker).read()) if os.path.exists(marker) else 0
open(marker, "w").write(str(count + 1))
print(json.dumps({"quality": 0.3}))
if count < 1:
    raise SystemExit("flaky failure")
"""


MARKERS_PASSED = "environment:\n  pass: [MARKERS]\n"


def _markers(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Steps that count their attempts in a host folder: in a sandbox nothing of the host is
    writable (and /tmp is the execution's own), so these run without one."""
    monkeypatch.setenv("MARKERS", str(folder))
    monkeypatch.setenv("ASSAY_SANDBOX", "none")


def test_retry_then_a_metadata_condition_stops_the_run(
    cli: CliRunner, make_project: ProjectFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(RETRY, {"flaky.py": FLAKY, "assay.yaml": MARKERS_PASSED})
    _markers(monkeypatch, tmp_path)
    code, output = _invoke(cli, project.root, "pipeline", "run", "flaky", "-q")
    assert code == 0, output
    view = _show(cli, project.root, 1)
    assert view["status"] == "stopped"
    assert "metadata.quality < 0.5" in str(view["message"])
    nodes = _nodes(view)
    assert nodes["flaky"]["attempts"] == 2
    assert nodes["flaky"]["status"] == "completed"


REUSE = """\
- step:
    name: prep
    image: python:3.11
    command: echo prepared {parameter-value:size} > $VH_OUTPUTS_DIR/p.txt
    parameters: [{name: size, type: integer, default: 1}]
- step: {name: fit, image: python:3.11, command: cat $VH_INPUTS_DIR/data/p.txt, inputs: [{name: data}]}
- pipeline:
    name: reuse
    reuse-executions: true
    nodes:
      - {name: prep, type: execution, step: prep}
      - {name: fit, type: execution, step: fit}
    edges:
      - [prep.output.p.txt, fit.input.data]
"""


def test_reuse_skips_identical_work_and_explains_why(cli: CliRunner, make_project: ProjectFactory) -> None:
    project = make_project(REUSE)
    git = ["git", "-C", str(project.root), "-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    code, output = _invoke(cli, project.root, "pipeline", "run", "reuse", "-q", "--explain-reuse")
    assert code == 0, output
    assert "prep: not reused: no earlier completed execution of step 'prep'" in output
    code, output = _invoke(cli, project.root, "pipeline", "run", "reuse", "-q", "--explain-reuse")
    assert code == 0, output
    assert "prep: reused execution #1" in output
    assert "fit: reused execution #2" in output
    code, output = _invoke(cli, project.root, "pipeline", "run", "reuse", "-q", "--explain-reuse",
                           "--node-param", "prep.size=2")  # fmt: skip
    assert "prep: not reused: differs from #1 in command; parameters size" in output
    assert "fit: not reused: differs from #2 in inputs data" in output
    code, listing = _invoke(cli, project.root, "executions", "list", "--json")
    assert len(json.loads(listing)) == 4


def test_stop_ends_a_running_pipeline(make_project: ProjectFactory, database_url: str) -> None:
    project = make_project(PARALLEL.replace("sleep 1", "sleep 30"))
    env = {**os.environ, "ASSAY_DATABASE_URL": database_url}
    driver = subprocess.Popen([ASSAY, "pipeline", "run", "parallel", "-q"], cwd=project.root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        _wait_for(
            lambda: _status(project.root, env, 1) == "running" and _running_executions(project.root, env) == 2
        )
        stop = [ASSAY, "pipeline", "stop", "1"]
        stopped = subprocess.run(stop, cwd=project.root, env=env, capture_output=True, text=True, check=False)
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        driver.wait(timeout=60)
    finally:
        driver.kill()
        driver.communicate()
    assert _status(project.root, env, 1) == "stopped"
    listing = json.loads(subprocess.run([ASSAY, "executions", "list", "--json"], cwd=project.root, env=env,
                                        capture_output=True, text=True, check=True).stdout)  # fmt: skip
    assert [e["status"] for e in listing] == ["stopped", "stopped"]


def _status(root: Path, env: dict[str, str], run: int) -> str | None:
    result = subprocess.run([ASSAY, "pipeline", "show", str(run), "--json"], cwd=root, env=env,
                            capture_output=True, text=True, check=False)  # fmt: skip
    return json.loads(result.stdout)["status"] if result.returncode == 0 else None


def _running_executions(root: Path, env: dict[str, str]) -> int:
    result = subprocess.run([ASSAY, "executions", "list", "--json"], cwd=root, env=env, capture_output=True,
                            text=True, check=True)  # fmt: skip
    return sum(e["status"] == "started" for e in json.loads(result.stdout))


def _wait_for(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def test_only_a_different_person_may_approve_when_the_project_says_so(
    cli: CliRunner, make_project: ProjectFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _seed(make_project, {"assay.yaml": "approvals:\n  require-different-approver: true\n"})
    monkeypatch.setenv("ASSAY_USER", "carol")
    _invoke(cli, root, "pipeline", "run", "train-and-evaluate-model", "-q",
            "--input", f"train-model.training_data={root / 'data.txt'}")  # fmt: skip
    code, output = _invoke(cli, root, "pipeline", "approve", "1", "promote-model")
    assert code == 5
    assert "carol started pipeline run #1 and may not approve it" in output
    assert _nodes(_show(cli, root, 1))["promote-model"]["gate"]["status"] == "pending"  # type: ignore[index]
    monkeypatch.setenv("ASSAY_USER", "dave")
    code, output = _invoke(cli, root, "pipeline", "approve", "1", "promote-model")
    assert code == 0, output
    assert _show(cli, root, 1)["status"] == "completed"


def test_bad_pipeline_requests_change_nothing(cli: CliRunner, make_project: ProjectFactory) -> None:
    root = _seed(make_project)
    for args, message in (
        (
            ["train-and-evaluate"],
            "no pipeline 'train-and-evaluate'; did you mean 'train-and-evaluate-model'?",
        ),
        (
            ["train-and-evaluate-model", "--node-param", "train-model.lr=1"],
            "node 'train-model' has no parameter 'lr'",
        ),
        (["train-and-evaluate-model", "--input", "trainer.data=x"], "has no node 'trainer'"),
        (["train-and-evaluate-model", "--input", "nodot=x"], "must name NODE.NAME"),
    ):
        code, output = _invoke(cli, root, "pipeline", "run", *args)
        assert code == 2, output
        assert message in output
    assert _invoke(cli, root, "pipeline", "list", "--json")[1].strip() == "[]"
    shutil.rmtree(root / ".assay", ignore_errors=True)


def test_a_finished_run_refuses_decisions(cli: CliRunner, make_project: ProjectFactory) -> None:
    root = _seed(make_project)
    _invoke(cli, root, "pipeline", "run", "train-and-evaluate-model", "-q",
            "--input", f"train-model.training_data={root / 'data.txt'}")  # fmt: skip
    code, output = _invoke(cli, root, "pipeline", "stop", "1")
    assert code == 0, output
    assert _show(cli, root, 1)["status"] == "stopped"
    code, output = _invoke(cli, root, "pipeline", "approve", "1", "promote-model")
    assert code == 4
    assert "pipeline run #1 is already stopped; its gates can no longer be decided" in output


SWEEP = """\
- step:
    name: fit
    image: python:3.11
    command: python fit.py {parameters}
    parameters:
      - {name: size, type: integer, default: 1}
- pipeline:
    name: sweep
    nodes:
      - {name: sweep, type: task, step: fit, on-error: retry}
    edges: []
"""
FIT = """\
import os, sys
size = sys.argv[1].split("=")[1]
marker = os.path.join(os.environ["MARKERS"], f"size-{size}")
if size == "5" and not os.path.exists(marker):
    open(marker, "w").write("failed once")
    raise SystemExit("size 5 fails the first time")
print("fitted", size)
"""


def test_a_retried_task_node_runs_only_its_failed_children_again(
    cli: CliRunner, make_project: ProjectFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(SWEEP, {"fit.py": FIT, "assay.yaml": MARKERS_PASSED})
    _markers(monkeypatch, tmp_path)
    sizes = [arg for size in ("4", "5", "6") for arg in ("--node-param", f"sweep.size={size}")]
    code, output = _invoke(cli, project.root, "pipeline", "run", "sweep", "-q", *sizes)
    assert code == 0, output
    node = _nodes(_show(cli, project.root, 1))["sweep"]
    assert node["status"] == "completed"
    assert node["attempts"] == 2
    code, listing = _invoke(cli, project.root, "executions", "list", "--json")
    executions = json.loads(listing)
    assert len(executions) == 4  # sizes 4, 5 (failed), 6, then only 5 again
    assert sorted(e["status"] for e in executions) == ["completed", "completed", "completed", "error"]
    assert executions[0]["status"] == "completed"  # the last one: size 5, run again
    assert len(node["executions"]) == 3  # type: ignore[arg-type]


def test_bad_values_are_refused_before_the_run_is_recorded(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    project = make_project(SWEEP, {"fit.py": FIT})
    code, output = _invoke(cli, project.root, "pipeline", "run", "sweep", "--node-param", "sweep.size=big")
    assert code == 2
    assert "'big' is not an integer" in output
    assert _invoke(cli, project.root, "pipeline", "list", "--json")[1].strip() == "[]"
