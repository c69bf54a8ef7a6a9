"""Node actions: which ``then`` values fire for an event, given metadata and parameters.

Conditions are evaluated by Valohai's ``leval`` (an AST walker: comparisons, and/or/not,
arithmetic, abs/min/max — never ``eval``). Names are ``metadata.<key>`` (the last value the
node logged), ``parameter.<name>`` and, where given, ``baseline.<metric>``. A list of ``if``
expressions must all hold.

A condition that names a value the node does not have (metadata it never logged) cannot be
decided. Assay then fails closed by *firing* the action — ``stop-pipeline`` stops the run,
``error-pipeline`` errors it, ``require-approval`` asks a person — with a warning that names
the key, rather than guessing that a regression check passed. A list of ``if`` expressions is
decided in three values: any false one means the action does not fire, else any undecidable
one fires it with the warning.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leval.excs import EvaluatorError, NoSuchValue

from assay.spec.model import NodeAction


@functools.cache
def _evaluator() -> Any:
    """leval's evaluator, made on first use: a pipeline without conditions never imports it."""
    from leval.extras.common_boolean_evaluator import CommonBooleanEvaluator

    return CommonBooleanEvaluator()


@dataclass(frozen=True)
class Fired:
    thens: tuple[str, ...] = ()
    reason: str | None = None  # the condition(s) that fired, for messages
    problem: str | None = None  # a condition that is broken (not merely undecidable)
    warnings: tuple[str, ...] = ()  # conditions that could not be decided, and fired


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
    warnings: list[str] = []
    for action in actions:
        if event not in action.when:
            continue
        try:
            holds = _decide(action.if_, values)
        except (EvaluatorError, ArithmeticError, TypeError, ValueError, SyntaxError) as exc:
            return Fired(problem=f"node {node!r}: condition {' and '.join(action.if_)!r} failed: {exc}")
        if holds is None:
            warnings.append(undecided(node, action, _missing(action.if_, values)))
        if holds is not False:
            thens.extend(action.then)
            reasons.append(" and ".join(action.if_) or event)
    return Fired(tuple(thens), "; ".join(reasons) or None, warnings=tuple(warnings))


def _decide(expressions: tuple[str, ...], values: dict[tuple[str, ...] | str, Any]) -> bool | None:
    """All of ``expressions`` hold: True, False, or None when one cannot be decided (and none is false)."""
    undecided = False
    for expression in expressions:
        try:
            if not _evaluator().evaluate(expression, values):
                return False
        except NoSuchValue:
            undecided = True
    return None if undecided else True


def undecided(node: str, action: NodeAction, missing: list[str]) -> str:
    """The warning for an action that fired because its condition could not be decided."""
    names = ", ".join(missing) or "a value it does not have"
    return (
        f"node {node!r}: condition {' and '.join(action.if_)!r} names {names}, which the node never "
        f"logged; it cannot be decided, so its action ({', '.join(action.then)}) fires"
    )


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
    return bool(_evaluator().evaluate(expression, _values(metadata, parameters, extra or {})))


def condition_holds(expression: str, metadata: Mapping[str, Any]) -> bool:
    """A step's ``stop-condition``: keys may be written bare (``acc > 0.9``) or as ``metadata.acc``.

    A key not logged yet makes it false: the execution goes on until the condition can hold.
    """
    values = _values(metadata, {}, {})
    values.update(
        {str(key): value for key, value in metadata.items() if isinstance(value, int | float | str | bool)}
    )
    try:
        return bool(_evaluator().evaluate(expression, values))
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
