"""The regression gate: node conditions that compare a candidate with the baseline.

``baseline.<metric>`` in an ``if`` is the metric of the model version that holds the project's
baseline alias. Every evaluation of such a condition yields a verdict — one row per rule:
metric, candidate, baseline, delta, rule, pass/fail — which the scheduler stores with the
node's completion. For an action that stops or fails the run, a rule that holds is a *fail*
(it describes a regression); for any other action, a rule that holds is a *pass*.

With no baseline yet (no version holds the alias), or a baseline that never recorded the
metric, the rule cannot be compared: its row says so, the action does not fire, and the run
goes on. A candidate that never logged the metric fails closed, as every condition does: the
action fires (a stop stops the run), its rows say why, and the run gets a warning naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assay.catalog.states import Outcome
from assay.engine.conditions import Fired, evaluate_expression, fire, undecided
from assay.spec.model import NodeAction

PASS, FAIL, NO_BASELINE = Outcome.PASS, Outcome.FAIL, Outcome.NO_BASELINE
STOPPING_THENS = ("stop-pipeline", "error-pipeline")
_BASELINE = re.compile(r"\bbaseline\.([A-Za-z0-9_\-]+)")
_METADATA = re.compile(r"\bmetadata\.([A-Za-z0-9_\-]+)")


@dataclass(frozen=True)
class BaselineView:
    """What the engine needs of the baseline: where it is and its metrics (None: none yet)."""

    alias: str
    uri: str | None
    version_id: str | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    problem: str | None = None  # the baseline could not be determined


@dataclass(frozen=True)
class Evaluation:
    fired: Fired
    rows: tuple[dict[str, Any], ...] = ()
    outcome: str | None = None  # None: no condition named the baseline
    baseline: BaselineView | None = None  # the baseline the rows compare with


def uses_baseline(actions: tuple[NodeAction, ...], event: str) -> bool:
    return any(event in a.when and any(_BASELINE.search(e) for e in a.if_) for a in actions)


def evaluate(
    actions: tuple[NodeAction, ...],
    event: str,
    *,
    node: str,
    metadata: Mapping[str, Any],
    parameters: Mapping[str, Any],
    baseline: BaselineView | None,
) -> Evaluation:
    plain = tuple(a for a in actions if not any(_BASELINE.search(e) for e in a.if_))
    compared = tuple(a for a in actions if a not in plain and event in a.when)
    fired = fire(plain, event, node=node, metadata=metadata, parameters=parameters)
    if not compared or fired.problem:
        return Evaluation(fired)
    if baseline is not None and baseline.problem:
        return Evaluation(Fired(problem=f"node {node!r}: {baseline.problem}"))
    thens, reasons = list(fired.thens), [fired.reason] if fired.reason else []
    warnings = list(fired.warnings)
    rows: list[dict[str, Any]] = []
    for action in compared:
        stops = any(t in STOPPING_THENS for t in action.then)
        unlogged = sorted({m for e in action.if_ for m in _METADATA.findall(e)} - set(metadata))
        if unlogged:  # fail closed, baseline or not: a check on a metric never logged cannot pass
            warnings.append(undecided(node, action, [f"metadata.{m}" for m in unlogged]))
            rows.extend({**_row(e, metadata, baseline, not stops), "note": "the candidate never logged it"}
                        for e in action.if_)  # fmt: skip
            thens.extend(action.then)
            reasons.append(f"{' and '.join(action.if_)} (undecidable: never logged {', '.join(unlogged)})")
            continue
        missing = [
            m
            for e in action.if_
            for m in _BASELINE.findall(e)
            if baseline is None or m not in baseline.metrics
        ]
        if missing:
            rows.extend(_row(e, metadata, baseline, None) for e in action.if_)
            continue
        assert baseline is not None
        extra = {"baseline": dict(baseline.metrics)}
        outcome = fire((action,), event, node=node, metadata=metadata, parameters=parameters, extra=extra)
        if outcome.problem:
            return Evaluation(outcome)
        for expression in action.if_:
            holds = evaluate_expression(expression, metadata, parameters, extra)
            rows.append(_row(expression, metadata, baseline, holds != stops))
        if outcome.thens:
            thens.extend(outcome.thens)
            reasons.append(_explain(action, metadata, baseline))
    result = Fired(tuple(thens), "; ".join(reasons) or None, warnings=tuple(warnings))
    return Evaluation(result, tuple(rows), _outcome(rows), baseline)


def _row(
    expression: str, metadata: Mapping[str, Any], baseline: BaselineView | None, passed: bool | None
) -> dict[str, Any]:
    metric = (_BASELINE.findall(expression) or ["?"])[0]
    candidate: Any = metadata.get(metric)
    base: Any = None if baseline is None else baseline.metrics.get(metric)
    delta = None
    if _number(candidate) and _number(base):
        delta = round(float(candidate) - float(base), 10)
    note = None
    if passed is None:
        note = "no baseline yet" if baseline is None or baseline.uri is None else f"baseline has no {metric}"
    return {
        "metric": metric, "candidate": candidate, "baseline": base, "delta": delta, "rule": expression,
        "result": PASS if passed else FAIL if passed is False else NO_BASELINE, "note": note,
    }  # fmt: skip


def _outcome(rows: list[dict[str, Any]]) -> str:
    results = {row["result"] for row in rows}
    if FAIL in results:
        return FAIL
    return PASS if PASS in results else NO_BASELINE


def _explain(action: NodeAction, metadata: Mapping[str, Any], baseline: BaselineView) -> str:
    rules = " and ".join(action.if_)
    metrics = sorted({m for e in action.if_ for m in _BASELINE.findall(e)})
    values = ", ".join(f"{m} {metadata.get(m)!r} vs {baseline.metrics.get(m)!r}" for m in metrics)
    return f"{rules} ({values}; baseline {baseline.uri}, alias {baseline.alias})"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
