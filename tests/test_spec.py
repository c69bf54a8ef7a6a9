"""Loading and linting valohai.yaml: canonical and shorthand forms, every problem with its line."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from assay.errors import SpecError
from assay.spec import check_spec, check_text, load_spec
from assay.spec.normalize import rewrite_text

SHARED = Path(__file__).resolve().parent / "fixtures" / "seed"
SEED = SHARED / "seed-pipeline.yaml"
SEED_AS_PRINTED = SHARED / "seed-pipeline-as-printed.yaml"


def test_seed_pipeline_loads_in_its_shorthand_form() -> None:
    spec = load_spec(SEED)
    assert list(spec.steps) == ["train-model", "evaluate-model", "promote-model"]
    pipeline = spec.pipelines["train-and-evaluate-model"]
    assert [
        (e.source_node, e.source_type, e.source_key, e.target_node, e.target_type, e.target_key)
        for e in pipeline.edges
    ] == [
        ("train-model", "output", "*", "evaluate-model", "input", "model"),
        ("evaluate-model", "output", "*", "promote-model", "input", "results"),
    ]
    promote = pipeline.nodes["promote-model"]
    assert promote.actions[0].then == ("require-approval",)
    assert promote.definition is not None
    assert promote.definition.command == ("python promote.py",)
    # require-approval is accepted silently; the shorthand gets exactly one note.
    assert [p.severity for p in spec.findings] == ["note"]
    assert "assay lint --fix" in spec.findings[0].message


def test_seed_as_printed_fails_only_on_its_missing_step() -> None:
    check = check_spec(SEED_AS_PRINTED)
    # The error is inside the pipeline: that pipeline cannot run, the steps still can.
    assert check.spec is not None
    assert list(check.spec.pipelines) == []
    assert list(check.spec.broken) == ["train-and-evaluate-model"]
    assert check.spec.broken["train-and-evaluate-model"] == check.errors
    assert set(check.spec.steps) == {"train-model", "evaluate-model", "promote-model"}
    errors = check.errors
    assert len(errors) == 1
    error = errors[0]
    assert (error.line, error.column) == (31, 15)
    assert "'evaluate-genai' does not exist" in error.message
    assert "did you mean 'evaluate-model'?" in error.message
    assert "step: evaluate-genai" in error.snippet


def test_load_spec_raises_with_every_error(tmp_path: Path) -> None:
    path = tmp_path / "valohai.yaml"
    path.write_text(
        textwrap.dedent("""\
        - step:
            name: a
            command: python a.py
        - step:
            name: b
            image: python:3.11
            command: python b.py
            inputs:
              - name: data
                keep-directories: sideways
    """)
    )
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    problems = raised.value.problems
    assert len(problems) == 2
    assert {p.line for p in problems} == {2, 10}
    assert any("'image' is a required property" in p.message for p in problems)


def test_broken_yaml_points_at_the_line() -> None:
    check = check_text("- step:\n    name: a\n   image: [unclosed\n")
    assert check.spec is None
    assert check.errors[0].line == 3
    assert check.errors[0].message.startswith("YAML syntax")


def test_top_level_must_be_a_list() -> None:
    check = check_text("step:\n  name: a\n")
    assert check.spec is None
    assert "must be a list" in check.errors[0].message


def test_edge_to_unknown_node_suggests_one() -> None:
    check = check_text(
        textwrap.dedent("""\
        - step: {name: a, image: x, command: run}
        - pipeline:
            name: p
            nodes:
              - {name: train, type: execution, step: a}
              - {name: evaluate, type: execution, step: a}
            edges:
              - [train.output.*, evalute.input.model]
    """)
    )
    assert check.spec is not None
    assert set(check.spec.broken) == {"p"}
    assert len(check.errors) == 1
    assert check.errors[0].line == 8
    assert "did you mean 'evaluate'?" in check.errors[0].message


def test_unknown_action_is_a_warning_but_require_approval_is_not() -> None:
    check = check_text(
        textwrap.dedent("""\
        - step: {name: a, image: x, command: run}
        - pipeline:
            name: p
            nodes:
              - name: n
                type: execution
                step: a
                actions:
                  - {when: node-starting, then: require-approval}
                  - {when: node-complete, then: launch-rockets}
            edges: []
    """)
    )
    assert check.spec is not None
    assert [(p.severity, p.line) for p in check.problems] == [("warning", 10)]
    assert "launch-rockets" in check.problems[0].message


def test_fix_rewrites_canonically_and_keeps_comments(tmp_path: Path) -> None:
    path = tmp_path / "valohai.yaml"
    shutil.copy(SEED, path)
    original = path.read_text()
    check = check_spec(path)
    assert check.source is not None
    assert check.canonical is not None
    fixed = rewrite_text(check.source, check.canonical)
    assert "# The seed document's pipeline with its one error corrected" in fixed
    assert "- step:\n    name: train-model\n    image: pytorch/pytorch" in fixed
    assert "[train-model.output.*, evaluate-model.input.model]" in fixed
    # Only the shorthands changed: every original line survives, maybe indented.
    for line in original.splitlines():
        stripped = line.strip().replace(".outputs.", ".output.").replace(".inputs.", ".input.")
        stripped = stripped.replace("- step: ", "name: ")
        assert stripped in fixed
    recheck = check_text(fixed)
    assert recheck.spec is not None
    assert recheck.problems == ()
    assert check.spec is not None
    assert recheck.spec.steps == check.spec.steps


def test_flat_step_errors_point_at_the_users_lines() -> None:
    check = check_text(
        textwrap.dedent("""\
        - step: train
          image: python:3.11
          comand: python train.py
    """)
    )
    assert check.spec is None
    found = sorted((p.line, p.column, p.message) for p in check.errors)
    assert found == [
        (1, 9, "step \"train\": 'command' is a required property"),
        (3, 3, "step \"train\": unknown key 'comand'; did you mean 'command'?"),
    ]


def test_parameters_and_inputs_become_frozen_objects() -> None:
    check = check_text(
        textwrap.dedent("""\
        - step:
            name: train
            image: python:3.11
            command: python train.py {parameters}
            time-limit: 1h 30m
            parameters:
              - {name: lr, type: float, default: 0.1}
              - {name: fast, type: flag, default: true}
              - {name: tags, type: string, multiple: repeat, default: [a, b]}
            inputs:
              - {name: data, default: [a.csv, b.csv], keep-directories: suffix}
    """)
    )
    assert check.spec is not None
    step = check.spec.steps["train"]
    assert step.time_limit == 5400
    assert step.parameters["tags"].default == ("a", "b")
    assert step.parameters["tags"].multiple == "repeat"
    assert step.inputs["data"].default == ("a.csv", "b.csv")
    assert step.inputs["data"].keep_directories == "suffix"
    with pytest.raises(AttributeError):
        step.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        step.parameters["x"] = step.parameters["lr"]  # type: ignore[index]
