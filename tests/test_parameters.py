"""Parameter values: defaults (flags included), typed text from the command line, validation."""

from __future__ import annotations

import textwrap

import pytest

from assay.errors import InvalidRequest
from assay.spec import check_text
from assay.spec.model import Step
from assay.spec.parameters import parse_assignments, resolve_parameters


def _step() -> Step:
    check = check_text(
        textwrap.dedent("""\
        - step:
            name: train
            image: python:3.11
            command: python train.py {parameters}
            parameters:
              - {name: lr, type: float, default: 0.001}
              - {name: epochs, type: integer, pass-as: "-e {v}", default: 5, min: 1, max: 10}
              - {name: tags, type: string, multiple: repeat, default: [a, "b c"]}
              - {name: sep, type: integer, multiple: separate, multiple-separator: "-", default: [1, 2, 3]}
              - {name: fast, type: flag, pass-true-as: --fast=true, pass-false-as: --fast=false}
              - {name: verbose, type: flag, default: true}
              - {name: note, type: string, optional: true}
              - {name: mode, type: string, choices: [a, b], default: a}
    """)
    )
    assert check.spec is not None
    return check.spec.steps["train"]


def test_defaults_resolve_flags_included() -> None:
    values = resolve_parameters(_step(), {})
    assert values == {
        "lr": 0.001,
        "epochs": 5,
        "tags": ["a", "b c"],
        "sep": [1, 2, 3],
        "verbose": True,
        "mode": "a",
    }


def test_command_matches_the_reference_builder() -> None:
    step = _step()
    values = resolve_parameters(step, {"fast": ["false"], "verbose": ["no"]}, as_text=True)
    assert step.build_command(values) == [
        "python train.py --lr=0.001 -e 5 --tags=a '--tags=b c' --sep=1-2-3 --fast=false --mode=a"
    ]


def test_text_values_are_typed() -> None:
    values = resolve_parameters(
        _step(),
        parse_assignments(["lr=0.5", "epochs=7", "tags=x", "tags=y", "fast=true"], "param"),
        as_text=True,
    )
    assert values["lr"] == 0.5
    assert values["epochs"] == 7
    assert values["tags"] == ["x", "y"]
    assert values["fast"] is True


def test_shell_metacharacters_stay_one_argument() -> None:
    step = _step()
    values = resolve_parameters(step, {"note": ["x; touch /tmp/pwned"]}, as_text=True)
    assert "'--note=x; touch /tmp/pwned'" in step.build_command(values)[0]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"nope": ["1"]}, "has no parameter 'nope'"),
        ({"epochs": ["3.5"]}, "'3.5' is not an integer"),
        ({"epochs": ["11"]}, "greater than the maximum"),
        ({"mode": ["c"]}, "c"),
        ({"fast": ["maybe"]}, "not a flag value"),
        ({"lr": ["1", "2"]}, "takes one value"),
    ],
)
def test_bad_values_are_refused(given: dict[str, list[str]], expected: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        resolve_parameters(_step(), given, as_text=True)
    assert expected in raised.value.message


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(InvalidRequest) as raised:
        resolve_parameters(_step(), {"nope": ["1"], "epochs": ["zero"]}, as_text=True)
    assert "nope" in raised.value.message
    assert "'zero' is not an integer" in raised.value.message


def test_assignment_without_equals_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="not NAME=VALUE"):
        parse_assignments(["epochs"], "param")


def test_an_empty_value_leaves_an_optional_string_out() -> None:
    step = _step()
    values = resolve_parameters(step, {"note": [""]}, as_text=True)
    assert "note" not in values
    assert "--note" not in step.build_command(values)[0]
