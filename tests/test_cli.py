"""The real ``assay`` command: lint, run, executions, datums, errors and exit codes."""

from __future__ import annotations

import json
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

STEP = """\
- step:
    name: train
    image: python:3.11
    command:
      - python train.py {parameters}
    parameters:
      - {name: epochs, type: integer, default: 2}
    inputs:
      - {name: data, default: data.txt}
"""
SCRIPT = """\
import json, os, sys
print("args", sys.argv[1:])
print(json.dumps({"accuracy": 0.5}))
print(json.dumps({"accuracy": 0.75}))
out = os.environ["VH_OUTPUTS_DIR"]
open(os.path.join(out, "model.txt"), "w").write("m")
json.dump({"valohai.alias": "latest-model"}, open(os.path.join(out, "model.txt.metadata.json"), "w"))
"""


def test_lint_points_at_the_missing_step_with_a_suggestion(tmp_path: Path) -> None:
    shutil.copy(SHARED / "seed-pipeline-as-printed.yaml", tmp_path / "valohai.yaml")
    result = subprocess.run([ASSAY, "lint"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert (
        'valohai.yaml:31:15: error: pipeline "train-and-evaluate-model" node "evaluate-model": '
        "step 'evaluate-genai' does not exist; did you mean 'evaluate-model'?"
    ) in result.stdout
    assert result.stdout.count("note:") == 1
    assert "require-approval" not in result.stdout


def test_lint_fix_rewrites_the_file_and_then_it_is_clean(tmp_path: Path) -> None:
    shutil.copy(SHARED / "seed-pipeline.yaml", tmp_path / "valohai.yaml")
    result = subprocess.run(
        [ASSAY, "lint", "--fix"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = (tmp_path / "valohai.yaml").read_text()
    assert "- step:\n    name: train-model" in text
    assert text.startswith("# The seed document's pipeline")
    again = subprocess.run([ASSAY, "lint"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert again.returncode == 0
    assert "note:" not in again.stdout
    assert "valid" in again.stdout


def test_run_then_inspect_everything(cli: CliRunner, make_project: ProjectFactory) -> None:
    project = make_project(STEP, {"train.py": SCRIPT, "data.txt": "d"})
    result = cli.invoke(app, ["-C", str(project.root), "run", "train", "--param", "epochs=3"])
    assert result.exit_code == 0, result.output
    assert "args ['--epochs=3']" in result.output
    assert "Execution #1 train — completed" in result.output
    assert "accuracy" in result.output
    assert "0.75" in result.output
    assert "model.txt" in result.output

    listed = cli.invoke(app, ["-C", str(project.root), "executions", "list", "--json"])
    assert listed.exit_code == 0
    (summary,) = json.loads(listed.stdout)
    assert summary["counter"] == 1
    assert summary["status"] == "completed"

    shown = json.loads(cli.invoke(app, ["-C", str(project.root), "executions", "show", "1", "--json"]).stdout)
    assert shown["parameters"] == {"epochs": 3}
    assert shown["metadata"] == {"accuracy": 0.75}
    assert shown["inputs"]["data"][0]["name"] == "data.txt"
    (output,) = shown["outputs"]
    assert output["name"] == "model.txt"
    assert output["uri"].startswith("datum://")

    logs = cli.invoke(app, ["-C", str(project.root), "executions", "logs", "latest"])
    assert logs.exit_code == 0
    assert '{"accuracy": 0.5}' in logs.stdout

    outputs = json.loads(
        cli.invoke(app, ["-C", str(project.root), "executions", "outputs", "1", "--json"]).stdout
    )
    assert outputs == shown["outputs"]

    datum = json.loads(
        cli.invoke(app, ["-C", str(project.root), "datums", "show", "datum://latest-model", "--json"]).stdout
    )
    assert datum["id"] == output["id"]
    assert datum["aliases"] == ["datum://latest-model"]
    assert datum["produced_by"]["counter"] == 1


def test_failed_step_exits_non_zero_with_the_log_tail(cli: CliRunner, make_project: ProjectFactory) -> None:
    evaluate = """\
        new_bleu, baseline_bleu = 0.31, 0.35
        if new_bleu < baseline_bleu:
            raise Exception("Regression detected: BLEU score dropped")
    """
    project = make_project(
        "- step: {name: evaluate, image: python:3.10, command: python evaluate.py}\n",
        {"evaluate.py": evaluate},
    )
    result = cli.invoke(app, ["-C", str(project.root), "run", "evaluate"])
    assert result.exit_code == 6
    assert "execution #1 (evaluate) failed: command exited with code 1" in result.output
    assert "Regression detected: BLEU score dropped" in result.output
    assert "assay executions logs 1" in result.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["run", "trian"], 2, "valohai.yaml has no step 'trian'; did you mean 'train'?"),
        (["run", "train", "--param", "epochs=many"], 2, "'many' is not an integer"),
        (["run", "train", "--param", "epochs"], 2, "is not NAME=VALUE"),
        (["run", "train", "--input", "data=/no/such/file"], 2, "no such file or folder"),
        (["executions", "show", "7"], 3, "no execution 7"),
        (["datums", "show", "datum://nothing"], 3, "no datum or datum alias 'nothing'"),
    ],
)
def test_bad_input_gets_a_clear_error_and_changes_nothing(
    cli: CliRunner, make_project: ProjectFactory, args: list[str], code: int, message: str
) -> None:
    project = make_project(STEP, {"train.py": SCRIPT, "data.txt": "d"})
    result = cli.invoke(app, ["-C", str(project.root), *args])
    assert result.exit_code == code, result.output
    assert message in result.output
    listed = cli.invoke(app, ["-C", str(project.root), "executions", "list", "--json"])
    assert json.loads(listed.stdout) == []


def test_broken_yaml_stops_run_with_its_line(cli: CliRunner, make_project: ProjectFactory) -> None:
    project = make_project("- step:\n    name: a\n   image: [\n")
    result = cli.invoke(app, ["-C", str(project.root), "run", "a"])
    assert result.exit_code == 2
    assert "valohai.yaml:3:" in result.output


def test_outside_a_project_says_how_to_find_one(tmp_path: Path) -> None:
    result = subprocess.run(
        [ASSAY, "executions", "list"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 3
    assert "no valohai.yaml" in result.stderr
    assert "-C PATH" in result.stderr


def test_help_lists_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "assay", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    for command in ("lint", "run", "executions", "datums"):
        assert command in result.stdout
