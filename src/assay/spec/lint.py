"""Assay's own checks of a parsed ``valohai.yaml``, on top of the reference parser's linter.

Severities follow what Valohai does with the file: what the reference parser refuses, or what
no runner could carry out, is an **error**; what the reference parser accepts and Valohai runs
anyway (an edge into a parameter the target step does not declare, say) is at most a
**warning** — the edge delivers nothing, the run says so — and ``assay lint --strict`` makes
warnings errors. A finding about one pipeline names that pipeline: an error there stops only
that pipeline, never the steps or the other pipelines of the file.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from valohai_yaml.lint import LintResult
from valohai_yaml.objs import Config

from assay.errors import closest
from assay.spec.source import DataPath

#: actions Assay performs; valohai-yaml only knows the first three and warns on the last
KNOWN_THENS = frozenset({"noop", "stop-pipeline", "error-pipeline", "require-approval"})

#: (source type, target type) of the edges a pipeline can carry
EDGE_KINDS = frozenset(
    {
        ("output", "input"),
        ("input", "input"),
        ("parameter", "parameter"),
        ("metadata", "parameter"),
        ("environment-variable", "environment-variable"),
        ("dependency", "dependency"),
    }
)


@dataclass(frozen=True)
class Finding:
    """One lint message at a path in the canonical data; ``pipeline`` is the one it concerns."""

    path: DataPath
    severity: str  # "error" | "warning" | "note"
    message: str
    pipeline: str | None = None


def lint_config(config: Config, data: list[Any]) -> list[Finding]:
    """Every finding of the library's linter and of Assay's own checks, steps and pipelines."""
    findings: list[Finding] = []

    for name, step in config.steps.items():
        base = _item_path(data, "step", name)
        params = list(step.parameters)
        for position, input_name in enumerate(step.inputs):
            if not _plain_name(input_name):
                message = f"input name {input_name!r} must be a plain folder name (no '/', '\\' or '..')"
                findings.append(Finding((*base, "inputs", position, "name"), "error", message))
        for severity, message in run_lint(step.lint, {"config": config}):
            path = base
            found = re.search(r"parameter (\S+?):", message)
            if found and found.group(1) in params:
                path = (*base, "parameters", params.index(found.group(1)))
            findings.append(Finding(path, _severity(severity), message))

    for name, pipeline in config.pipelines.items():
        base = _item_path(data, "pipeline", name)

        def add(path: DataPath, severity: str, message: str, pipeline_name: str = name) -> None:
            findings.append(Finding(path, _severity(severity), message, pipeline_name))

        _lint_pipeline(config, pipeline, base, add)

    for kind, objects in (("task", config.tasks), ("endpoint", config.endpoints)):
        for name, obj in objects.items():
            for severity, message in run_lint(obj.lint, {"config": config}):
                findings.append(Finding(_item_path(data, kind, name), _severity(severity), message))
    return findings


Linter = Callable[[LintResult, dict[str, Any]], None]
Add = Callable[[DataPath, str, str], None]


def run_lint(lint: Linter, context: dict[str, Any]) -> list[tuple[str, str]]:
    result = LintResult()
    try:
        lint(result, context)
    except Exception as exc:  # noqa: BLE001  (the library's linter on odd data; report, don't crash)
        return [("error", f"cannot check this item: {exc}")]
    return [(m["type"], m["message"]) for m in result.messages]


def _lint_pipeline(config: Config, pipeline: Any, base: DataPath, add: Add) -> None:
    context = {"config": config, "pipeline": pipeline}
    nodes = {node.name: node for node in pipeline.nodes}
    seen: set[str] = set()
    for position, node in enumerate(pipeline.nodes):
        path = (*base, "nodes", position)
        if node.name in seen:
            add((*path, "name"), "error", f'pipeline "{pipeline.name}" has two nodes named "{node.name}"')
        seen.add(node.name)
        if getattr(node, "commit", None):
            add(
                (*path, "commit"),
                "error",
                f'node "{node.name}" takes its step from commit {node.commit!r}; Assay runs the steps '
                "of this file only (copy the step into it)",
            )
        for severity, message in run_lint(node.lint, context):
            if "is not well-known; the action might do nothing" in message:
                continue  # replaced by our own check below: require-approval is an action to us
            missing = re.fullmatch(r'Pipeline ".*" node "(.*)" step "(.*)" does not exist', message)
            if missing:
                add((*path, "step"), "error", _missing_step(pipeline.name, node.name, missing[2], config))
                continue
            add(path, severity, message)
        _lint_actions(node, path, add)
    for position, edge in enumerate(pipeline.edges):
        path = (*base, "edges", position)
        for severity, message in run_lint(edge.lint, context):
            missing = re.fullmatch(r"Pipeline .* edge (source|target) node (.*) does not exist", message)
            if missing:
                message = f"edge {missing[1]} node '{missing[2]}' does not exist{suggest(missing[2], nodes)}"
            add(path, severity, message)
        for severity, message in _edge_sockets(config, nodes, edge):
            add(path, severity, message)
    for position, parameter in enumerate(pipeline.parameters):
        path = (*base, "parameters", position)
        for severity, message in run_lint(parameter.lint, context):
            if 'target "' not in message:  # targets are checked below, with "did you mean"
                add(path, severity, message)
        for index, target in enumerate(parameter.targets):
            problem = _target_problem(config, nodes, target)
            if problem:
                add((*path, "targets", index), "error", f"pipeline parameter {parameter.name!r}: {problem}")


def _lint_actions(node: Any, path: DataPath, add: Add) -> None:
    for action_index, action in enumerate(node.actions):
        for if_index, expression in enumerate(action.if_):
            problem = expression_problem(expression)
            if problem:
                where = (*path, "actions", action_index, "if")
                where = (*where, if_index) if isinstance(action._original_data.get("if"), list) else where
                add(where, "error", f'node "{node.name}": condition {expression!r}: {problem}')
        if "require-approval" in action.then and set(action.when) != {"node-starting"}:
            add(
                (*path, "actions", action_index, "when"),
                "warning",
                f'node "{node.name}": require-approval takes effect only with `when: node-starting`',
            )
        for then in action.then:
            if then not in KNOWN_THENS:
                add(
                    (*path, "actions", action_index, "then"),
                    "warning",
                    f'node "{node.name}": unknown action "{then}"; known: {", ".join(sorted(KNOWN_THENS))}',
                )


def _node_names(step: Any, node: Any, kind: str) -> list[str]:
    """The parameters (or inputs) a node's step declares, with those its override adds."""
    known = list(step.parameters if kind == "parameter" else step.inputs)
    override = getattr(node, "override", None)
    if override is not None:
        extra = override.parameters if kind == "parameter" else override.inputs
        known += [name for name in extra if name not in known]
    return known


def _edge_sockets(config: Config, nodes: dict[str, Any], edge: Any) -> list[tuple[str, str]]:
    """What an edge joins must exist; what Valohai would run anyway is a warning."""
    kind = (edge.source_type, edge.target_type)
    socket = f"{edge.source} → {edge.target}"
    if kind not in EDGE_KINDS and {"deployment", "file"}.isdisjoint(kind):
        kinds = ", ".join(f"{s}→{t}" for s, t in sorted(EDGE_KINDS))
        return [("error", f"edge {socket}: {kind[0]} → {kind[1]} is not a kind of edge (known: {kinds})")]
    found: list[tuple[str, str]] = []
    source, target = nodes.get(edge.source_node), nodes.get(edge.target_node)
    source_step = _step_of(config, source)
    target_step = _step_of(config, target)
    if source_step is not None and edge.source_type == "parameter":
        known = _node_names(source_step, source, "parameter")
        if edge.source_key not in known:
            found.append(("warning", f"edge {socket}: step {source_step.name!r} of node {edge.source_node!r} "
                          f"has no parameter {edge.source_key!r}{suggest(edge.source_key, known)}; "
                          "the edge delivers nothing"))  # fmt: skip
    if source_step is not None and edge.source_type == "input":
        known = _node_names(source_step, source, "input")
        pattern = edge.source_key.split("/", 1)[0]
        if not any(fnmatch.fnmatchcase(name, pattern) for name in known):
            found.append(("warning", f"edge {socket}: {edge.source_key!r} matches no input of step "
                          f"{source_step.name!r} (its inputs: {', '.join(known) or 'none'}); it delivers "
                          "only received files whose names match it"))  # fmt: skip
    if target_step is not None and edge.target_type in ("parameter", "input"):
        known = _node_names(target_step, target, edge.target_type)
        if edge.target_key not in known:
            found.append(("warning", f"edge {socket}: step {target_step.name!r} of node {edge.target_node!r} "
                          f"has no {edge.target_type} {edge.target_key!r}{suggest(edge.target_key, known)}; "
                          "the edge delivers nothing"))  # fmt: skip
    return found


def _target_problem(config: Config, nodes: dict[str, Any], target: str) -> str | None:
    parts = target.split(".", 2)
    if len(parts) != 3:
        return f"target {target!r} must be NODE.parameter.NAME"
    node_name, kind, key = parts
    if kind != "parameter":
        return (
            f"target {target!r} is a {kind}; a pipeline parameter sets node parameters (NODE.parameter.NAME)"
        )
    node = nodes.get(node_name)
    if node is None:
        return f"target {target!r}: the pipeline has no node {node_name!r}{suggest(node_name, nodes)}"
    step = _step_of(config, node)
    if step is None:
        return None  # the node's own finding says why it has no step
    known = _node_names(step, node, "parameter")
    if key not in known:
        return f"target {target!r}: step {step.name!r} has no parameter {key!r}{suggest(key, known)}"
    return None


def _step_of(config: Config, node: Any) -> Any:
    if node is None or getattr(node, "commit", None):
        return None
    return config.steps.get(getattr(node, "step", None) or "")


def expression_problem(expression: str) -> str | None:
    """Why a condition cannot be evaluated, or None when it is well-formed."""
    from leval.excs import EvaluatorError
    from leval.extras.common_boolean_evaluator import CommonBooleanEvaluator

    try:
        CommonBooleanEvaluator().verify(expression)
    except (EvaluatorError, SyntaxError, ValueError, TypeError) as exc:
        return str(exc) or type(exc).__name__
    return None


def _missing_step(pipeline: str, node: str, step: str, config: Config) -> str:
    return f'pipeline "{pipeline}" node "{node}": step \'{step}\' does not exist{suggest(step, config.steps)}'


def suggest(name: str, candidates: Iterable[str]) -> str:
    """``"; did you mean 'x'?"``, or the known names when none is close, or nothing."""
    known = list(candidates)
    close = closest(name, known)
    if close:
        return f"; did you mean '{close}'?"
    if known:
        return f"; known: {', '.join(repr(c) for c in known)}"
    return ""


def _severity(severity: str) -> str:
    return "note" if severity == "hint" else severity


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0")


def _item_path(data: list[Any], kind: str, name: str) -> DataPath:
    for index, item in enumerate(data):
        if isinstance(item, dict) and isinstance(item.get(kind), dict) and item[kind].get("name") == name:
            return (index, kind)
    return ()
