"""Node actions: which ``then`` values fire for an event, given metadata and parameters.

Conditions are evaluated by Valohai's ``leval`` (an AST walker: comparisons, and/or/not,
arithmetic, abs/min/max — never ``eval``). Names are ``metadata.<key>`` (the last value the
node logged), ``parameter.<name>`` and, where given, ``baseline.<metric>``. A list of ``if``
expressions must all hold.

A condition that names a metadata key the node never logged cannot be decided. Assay then
fails closed: the run ends in ``error`` with a message naming the key, rather than guessing
that a regression check passed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leval.excs import EvaluatorError, NoSuchValue
from leval.extras.common_boolean_evaluator import CommonBooleanEvaluator

from assay.spec.model import NodeAction

_EVALUATOR = CommonBooleanEvaluator()


@dataclass(frozen=True)
class Fired:
    thens: tuple[str, ...] = ()
    reason: str | None = None  # the condition(s) that fired, for messages
    problem: str | None = None  # a condition that could not be decided


def fire(
    actions: tuple[NodeAction, ...],
    event: str,
    *,
    node: str,
    metadata: Mapping[str, Any],
    parameters: Mapping[str, Any],
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> Fired:
    values = _values(metadata, parameters, extra or {})
    thens: list[str] = []
    reasons: list[str] = []
    for action in actions:
        if event not in action.when:
            continue
        try:
            holds = all(_EVALUATOR.evaluate(expression, values) for expression in action.if_)
        except NoSuchValue:
            missing = ", ".join(_missing(action.if_, values)) or "a value"
            return Fired(
                problem=f"node {node!r}: condition {' and '.join(action.if_)!r} names {missing}, "
                "which the node never logged; the run stops rather than guess"
            )
        except (EvaluatorError, ArithmeticError, TypeError, ValueError, SyntaxError) as exc:
            return Fired(problem=f"node {node!r}: condition {' and '.join(action.if_)!r} failed: {exc}")
        if holds:
            thens.extend(action.then)
            reasons.append(" and ".join(action.if_) or event)
    return Fired(tuple(thens), "; ".join(reasons) or None)


_NAME = re.compile(r"\b(metadata|parameter|baseline)\.([A-Za-z0-9_\-]+)")


def _missing(expressions: tuple[str, ...], values: Mapping[tuple[str, ...] | str, Any]) -> list[str]:
    names = [match.groups() for expression in expressions for match in _NAME.finditer(expression)]
    return [f"{prefix}.{key}" for prefix, key in dict.fromkeys(names) if (prefix, key) not in values]


def evaluate_expression(
    expression: str,
    metadata: Mapping[str, Any],
    parameters: Mapping[str, Any],
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> bool:
    """One expression's truth; raises like ``fire`` would report."""
    return bool(_EVALUATOR.evaluate(expression, _values(metadata, parameters, extra or {})))


def condition_holds(expression: str, metadata: Mapping[str, Any]) -> bool:
    """A step's ``stop-condition``: keys may be written bare (``acc > 0.9``) or as ``metadata.acc``.

    A key not logged yet makes it false: the execution goes on until the condition can hold.
    """
    values = _values(metadata, {}, {})
    values.update(
        {str(key): value for key, value in metadata.items() if isinstance(value, int | float | str | bool)}
    )
    try:
        return bool(_EVALUATOR.evaluate(expression, values))
    except (EvaluatorError, ArithmeticError, TypeError, ValueError, SyntaxError):
        return False


def _values(
    metadata: Mapping[str, Any], parameters: Mapping[str, Any], extra: Mapping[str, Mapping[str, Any]]
) -> dict[tuple[str, ...] | str, Any]:
    values: dict[tuple[str, ...] | str, Any] = {}
    for prefix, source in (("metadata", metadata), ("parameter", parameters), *extra.items()):
        for key, value in source.items():
            if isinstance(value, int | float | str | bool):
                values[(prefix, str(key))] = value
    return values
