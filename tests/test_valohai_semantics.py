"""What real Valohai projects write, run as Valohai means it: each case in the shape it was found in.

Every fixture here is our own, written in the shape of a construct seen in a public Valohai
project: plural parameter targets, input→input fan-in through glob keys, identical branches
with reuse, node overrides that name only the input, untyped parameters fed by metadata,
conditions on keys never logged, and edges into parameters the step does not declare.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import ProjectFactory, invoke, invoke_json

#: a step that reports, as metadata, what it was given: parameters.json, argv, input files
REPORT = """\
import json, os, sys
config = os.environ["VH_CONFIG_DIR"]
inputs = os.environ["VH_INPUTS_DIR"]
files = sorted(
    os.path.relpath(os.path.join(folder, name), inputs)
    for folder, _, names in os.walk(inputs) for name in names
)
print(json.dumps({
    "parameters": json.load(open(os.path.join(config, "parameters.json"))),
    "argv": sys.argv[1:],
    "files": files,
}))
"""


def _run_view(cli: CliRunner, root: Path, run: int = 1) -> dict[str, Any]:
    view: dict[str, Any] = invoke_json(cli, root, "pipeline", "show", str(run))
    return view


def _reported(cli: CliRunner, root: Path, run: int, node: str) -> list[dict[str, Any]]:
    """What each execution of ``node`` in run ``run`` reported about itself."""
    nodes = {n["name"]: n for n in _run_view(cli, root, run)["nodes"]}
    return [
        invoke_json(cli, root, "executions", "show", str(e["counter"]))["metadata"]
        for e in nodes[node]["executions"]
    ]


def _commit(root: Path) -> None:
    git = ["git", "-C", str(root), "-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)


# -- 1. pipeline parameter targets in the plural ----------------------------------------------

PLURAL_TARGETS = """\
- step:
    name: train
    image: python:3.11
    command: python report.py {parameters}
    parameters:
      - {name: epochs, type: integer, default: 1}
      - {name: rate, type: float, default: 0.1}
- pipeline:
    name: training
    parameters:
      - name: epochs
        targets: [train.parameters.epochs]
      - name: rate
        target: train.parameters.rate
        default: 0.5
    nodes:
      - {name: train, type: execution, step: train}
    edges: []
"""


def test_plural_parameter_targets_set_the_parameter(cli: CliRunner, make_project: ProjectFactory) -> None:
    root = make_project(PLURAL_TARGETS, {"report.py": REPORT}).root
    code, output = invoke(cli, root, "lint")
    assert code == 0, output
    assert "warning" not in output
    code, output = invoke(cli, root, "pipeline", "run", "training", "-q", "--param", "epochs=7")
    assert code == 0, output
    (seen,) = _reported(cli, root, 1, "train")
    assert seen["parameters"] == {"epochs": 7, "rate": 0.5}
    assert seen["argv"] == ["--epochs=7", "--rate=0.5"]


def test_a_target_naming_no_node_or_parameter_is_an_error_that_spares_the_other_pipelines(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    broken = PLURAL_TARGETS.replace("targets: [train.parameters.epochs]", "targets: [train.parameters.epoch]")
    broken += """\
- pipeline:
    name: typo
    parameters:
      - {name: epochs, targets: [trian.parameter.epochs]}
    nodes:
      - {name: train, type: execution, step: train}
    edges: []
"""
    root = make_project(broken, {"report.py": REPORT}).root
    code, output = invoke(cli, root, "lint")
    assert code == 2
    assert "step 'train' has no parameter 'epoch'; did you mean 'epochs'?" in output
    assert "the pipeline has no node 'trian'; did you mean 'train'?" in output
    code, output = invoke(cli, root, "pipeline", "run", "training", "-q")
    assert code == 2
    assert "pipeline 'training' cannot run" in output
    assert "did you mean 'epochs'?" in output
    # The steps still run: an error inside one pipeline stops only that pipeline.
    code, output = invoke(cli, root, "run", "train", "--param", "epochs=3")
    assert code == 0, output


# -- 2 and 4. fan-in through input→input edges whose source key is a glob ---------------------

FAN_IN = """\
- step:
    name: train
    image: python:3.11
    command: python -c "import os; open(os.environ['VH_OUTPUTS_DIR'] + '/model.pkl', 'w').write('{seed}')"
- step:
    name: evaluate
    image: python:3.11
    command: python report.py
    inputs: [{name: model}, {name: model-extra, optional: true}]
- step:
    name: best
    image: python:3.11
    command: python report.py
    inputs: [{name: models}]
- pipeline:
    name: compare
    nodes:
      - {name: train, type: execution, step: train}
      - {name: evaluate1, type: execution, step: evaluate}
      - {name: evaluate2, type: execution, step: evaluate}
      - {name: best, type: execution, step: best}
    edges:
      - [train.output.model.pkl, evaluate1.input.model]
      - [train.output.model.pkl, evaluate2.input.model]
      - [evaluate1.input.model*, best.input.models]
      - [evaluate2.input.model*, best.input.models]
- pipeline:
    name: other
    nodes:
      - {name: train, type: execution, step: train}
    edges: []
"""


def test_input_globs_fan_in_and_one_datum_by_two_edges_is_one_file(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    root = make_project(FAN_IN.replace("{seed}", "weights"), {"report.py": REPORT}).root
    code, output = invoke(cli, root, "lint")
    assert code == 0, output
    code, output = invoke(cli, root, "pipeline", "run", "compare", "-q")
    assert code == 0, output
    (seen,) = _reported(cli, root, 1, "best")
    assert seen["files"] == ["models/model.pkl"]  # the same datum by two edges: one file


TWO_MODELS = """\
- step:
    name: train
    image: python:3.11
    command: echo {parameter-value:seed} > $VH_OUTPUTS_DIR/model.pkl
    parameters: [{name: seed, type: integer}]
- step:
    name: evaluate
    image: python:3.11
    command: python report.py
    inputs: [{name: model}]
- step:
    name: best
    image: python:3.11
    command: python report.py
    inputs: [{name: models}]
- pipeline:
    name: compare
    nodes:
      - {name: train1, type: execution, step: train, override: {parameters: [{name: seed, default: 1}]}}
      - {name: train2, type: execution, step: train, override: {parameters: [{name: seed, default: 2}]}}
      - {name: evaluate1, type: execution, step: evaluate}
      - {name: evaluate2, type: execution, step: evaluate}
      - {name: best, type: execution, step: best}
    edges:
      - [train1.output.*, evaluate1.input.model]
      - [train2.output.*, evaluate2.input.model]
      - [evaluate1.input.mod*, best.input.models]
      - [evaluate2.input.*.pkl, best.input.models]
"""


def test_different_datums_with_one_name_still_clash(cli: CliRunner, make_project: ProjectFactory) -> None:
    root = make_project(TWO_MODELS, {"report.py": REPORT}).root
    code, output = invoke(cli, root, "lint")
    assert code == 0, output  # `*.pkl` names no input of evaluate: it picks received files instead
    assert "matches no input" in output
    code, output = invoke(cli, root, "pipeline", "run", "compare", "-q")
    assert code == 6, output
    view = _run_view(cli, root)
    best = next(n for n in view["nodes"] if n["name"] == "best")
    assert best["status"] == "error"
    assert "two different files would both be 'model.pkl'" in best["message"]


# -- 3. reuse is per node ---------------------------------------------------------------------

BRANCHES = """\
- step:
    name: prep
    image: python:3.11
    command: echo data > $VH_OUTPUTS_DIR/data.txt
- step:
    name: fit
    image: python:3.11
    command: cat $VH_INPUTS_DIR/data/data.txt > $VH_OUTPUTS_DIR/fit.txt
    inputs: [{name: data}]
- pipeline:
    name: branches
    reuse-executions: true
    nodes:
      - {name: prep, type: execution, step: prep}
      - {name: fit-a, type: execution, step: fit}
      - {name: fit-b, type: execution, step: fit}
      - {name: fit-c, type: execution, step: fit}
    edges:
      - [prep.output.*, fit-a.input.data]
      - [prep.output.*, fit-b.input.data]
      - [prep.output.*, fit-c.input.data]
"""


def _executions_of(view: dict[str, Any]) -> dict[str, int]:
    return {n["name"]: n["executions"][0]["counter"] for n in view["nodes"]}


def test_identical_branches_never_collapse_and_each_reuses_its_own(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    root = make_project(BRANCHES).root
    _commit(root)
    code, output = invoke(cli, root, "pipeline", "run", "branches", "-q", "--explain-reuse", "--slots", "1")
    assert code == 0, output
    first = _executions_of(_run_view(cli, root, 1))
    assert len(set(first.values())) == 4, first  # three identical branches, three executions
    assert "was made earlier in this run" in output
    code, output = invoke(cli, root, "pipeline", "run", "branches", "-q", "--explain-reuse")
    assert code == 0, output
    second = _run_view(cli, root, 2)
    assert _executions_of(second) == first  # every node stands for the execution it had
    assert all(n["reused"] for n in second["nodes"])
    for node, counter in first.items():
        assert f"{node}: reused execution #{counter}: it stood for node {node!r}" in output


def test_two_nodes_of_one_run_never_stand_for_one_execution(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    one = """\
- pipeline:
    name: one
    reuse-executions: true
    nodes:
      - {name: prep, type: execution, step: prep}
      - {name: fit, type: execution, step: fit}
    edges:
      - [prep.output.*, fit.input.data]
"""
    root = make_project(BRANCHES + one).root
    _commit(root)
    code, output = invoke(cli, root, "pipeline", "run", "one", "-q")  # one fit execution
    assert code == 0, output
    # Three identical branches of another pipeline race for it (two slots): one of them wins.
    code, output = invoke(cli, root, "pipeline", "run", "branches", "-q", "--explain-reuse", "--slots", "2")
    assert code == 0, output
    view = _run_view(cli, root, 2)
    counters = [c for n, c in _executions_of(view).items() if n.startswith("fit-")]
    assert len(set(counters)) == 3, counters
    assert sum(n["reused"] for n in view["nodes"] if n["name"].startswith("fit-")) == 1
    assert "already stands for node 'fit-" in output


# -- 5. a node override merges with the step's item -------------------------------------------

OVERRIDE = """\
- step:
    name: produce
    image: python:3.11
    command: mkdir -p $VH_OUTPUTS_DIR/sub && echo x > $VH_OUTPUTS_DIR/sub/part.txt
- step:
    name: consume
    image: python:3.11
    command: python report.py {parameters}
    parameters:
      - {name: rate, type: float, default: 0.5, min: 0.0, max: 1.0}
    inputs:
      - name: data
        default: there-is-no-such-file.txt
        keep-directories: full
- pipeline:
    name: p
    nodes:
      - {name: produce, type: execution, step: produce}
      - name: consume
        type: execution
        step: consume
        override:
          inputs:
            - name: data
          parameters:
            - {name: rate, default: 0.25}
    edges:
      - [produce.output.sub/*, consume.input.data]
"""


def test_an_override_naming_only_the_input_keeps_its_other_keys(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    root = make_project(OVERRIDE, {"report.py": REPORT}).root
    code, output = invoke(cli, root, "pipeline", "run", "p", "-q")
    assert code == 0, output
    (seen,) = _reported(cli, root, 1, "consume")
    assert seen["files"] == ["data/sub/part.txt"]  # keep-directories stayed; the default was cleared
    assert seen["parameters"] == {"rate": 0.25}
    # The step's min and max stayed too: a value above them is refused.
    code, output = invoke(cli, root, "pipeline", "run", "p", "-q", "--node-param", "consume.rate=2")
    assert code != 0
    assert "greater than the maximum allowed (1.0)" in output


# -- 6. untyped parameters keep the JSON type of what an edge brings --------------------------

UNTYPED = """\
- step:
    name: count
    image: python:3.11
    command: 'echo ''{"n": 1, "ratio": 0.5, "label": "big"}'''
- step:
    name: use
    image: python:3.11
    command: python report.py {parameters}
    parameters:
      - {name: n}
      - {name: ratio}
      - {name: label}
      - {name: typed, type: float}
- pipeline:
    name: p
    nodes:
      - {name: count, type: execution, step: count}
      - {name: use, type: execution, step: use}
    edges:
      - [count.metadata.n, use.parameter.n]
      - [count.metadata.ratio, use.parameter.ratio]
      - [count.metadata.label, use.parameter.label]
      - [count.metadata.n, use.parameter.typed]
"""


def test_an_untyped_parameter_fed_by_metadata_keeps_its_json_type(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    root = make_project(UNTYPED, {"report.py": REPORT}).root
    code, output = invoke(cli, root, "pipeline", "run", "p", "-q")
    assert code == 0, output
    (seen,) = _reported(cli, root, 1, "use")
    assert seen["parameters"] == {"n": 1, "ratio": 0.5, "label": "big", "typed": 1.0}
    assert seen["argv"] == ["--n=1", "--ratio=0.5", "--label=big", "--typed=1.0"]


# -- 7. a condition that cannot be decided fires its action -----------------------------------

UNDECIDABLE = """\
- step: {name: evaluate, image: python:3.11, command: echo no metrics here}
- step: {name: promote, image: python:3.11, command: echo promoting}
- pipeline:
    name: p
    nodes:
      - name: evaluate
        type: execution
        step: evaluate
        actions:
          - {when: node-complete, if: metadata.accuracy < 0.9, then: stop-pipeline}
      - {name: promote, type: execution, step: promote}
    edges:
      - [evaluate.dependency.*, promote.dependency.*]
"""


@pytest.mark.parametrize(("action", "status"), [("stop-pipeline", "stopped"), ("error-pipeline", "error")])
def test_a_key_never_logged_fires_the_action_with_a_warning(
    cli: CliRunner, make_project: ProjectFactory, action: str, status: str
) -> None:
    root = make_project(UNDECIDABLE.replace("stop-pipeline", action)).root
    code, output = invoke(cli, root, "pipeline", "run", "p", "-q")
    assert "metadata.accuracy, which the node never logged" in output
    view = _run_view(cli, root)
    assert view["status"] == status
    assert code == (0 if status == "stopped" else 6), output
    (warning,) = view["warnings"]
    assert f"its action ({action}) fires" in warning
    nodes = {n["name"]: n["status"] for n in view["nodes"]}
    assert nodes == {"evaluate": "completed", "promote": "skipped"}  # fail closed
    code, shown = invoke(cli, root, "pipeline", "show", "1")
    assert "warning:" in shown
    assert "metadata.accuracy" in shown


def test_an_undecidable_gate_condition_asks_a_person(cli: CliRunner, make_project: ProjectFactory) -> None:
    text = UNDECIDABLE.replace(
        "      - {name: promote, type: execution, step: promote}",
        "      - name: promote\n        type: execution\n        step: promote\n        actions:\n"
        "          - {when: node-starting, if: parameter.threshold > 1, then: require-approval}",
    ).replace("if: metadata.accuracy < 0.9, then: stop-pipeline", "then: noop")
    root = make_project(text).root
    code, output = invoke(cli, root, "pipeline", "run", "p", "-q")
    assert code == 0, output
    view = _run_view(cli, root)
    assert view["status"] == "waiting-approval"
    assert any("parameter.threshold" in w for w in view["warnings"])


# -- 8. lint: errors and warnings as Valohai means them ---------------------------------------

UNDECLARED = """\
- step:
    name: train
    image: python:3.11
    command: 'echo ''{"loss": 0.2}'''
- step:
    name: report
    image: python:3.11
    command: python report.py {parameters}
    parameters: [{name: loss, type: float, default: 9.0}]
- pipeline:
    name: p
    nodes:
      - {name: train, type: execution, step: train}
      - {name: report, type: execution, step: report}
    edges:
      - [train.metadata.loss, report.parameter.los]
"""


def test_an_edge_into_an_undeclared_parameter_warns_delivers_nothing_and_is_recorded(
    cli: CliRunner, make_project: ProjectFactory
) -> None:
    root = make_project(UNDECLARED, {"report.py": REPORT}).root
    code, output = invoke(cli, root, "lint")
    assert code == 0, output
    assert "warning: edge train.metadata.loss → report.parameter.los" in output
    assert "did you mean 'loss'?" in output
    assert "- [train.metadata.loss, report.parameter.los]" in output  # quoted literally, brackets kept
    code, output = invoke(cli, root, "lint", "--strict")
    assert code == 2
    code, output = invoke(cli, root, "pipeline", "run", "p", "-q")
    assert code == 0, output
    (seen,) = _reported(cli, root, 1, "report")
    assert seen["parameters"] == {"loss": 9.0}  # nothing delivered: the default stands
    (warning,) = _run_view(cli, root)["warnings"]
    assert "report.parameter.los" in warning
    assert "delivers nothing" in warning


def test_an_edge_kind_no_runner_can_carry_is_an_error(cli: CliRunner, make_project: ProjectFactory) -> None:
    root = make_project(
        UNDECLARED.replace("report.parameter.los", "report.input.loss"), {"report.py": REPORT}
    ).root
    code, output = invoke(cli, root, "lint")
    assert code == 2
    assert "metadata → input is not a kind of edge" in output
