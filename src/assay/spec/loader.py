"""Load ``valohai.yaml``: parse, canonicalize, validate, lint — every problem at once.

``check_spec`` never raises for the file's content: it returns the spec (when there are no
errors) and every finding with its line and column. ``load_spec`` raises ``SpecError`` with
all of them when there is at least one error.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from valohai_yaml.lint import LintResult
from valohai_yaml.objs import Config
from valohai_yaml.validation import get_json_schema

from assay.errors import Problem, SpecError
from assay.spec.model import Spec, build_pipeline, build_step
from assay.spec.normalize import Canonical, canonicalize
from assay.spec.source import DataPath, SourceMap, parse_yaml

#: actions Assay performs; valohai-yaml only knows the first three and warns on the last
KNOWN_THENS = frozenset({"noop", "stop-pipeline", "error-pipeline", "require-approval"})

CANONICAL_NOTE = (
    "this file uses shorthand forms that Assay accepts but Valohai itself rejects ({where}); "
    "`assay lint --fix` rewrites them in the canonical form, keeping comments and order"
)


@dataclass(frozen=True)
class SpecCheck:
    spec: Spec | None
    problems: tuple[Problem, ...]
    canonical: Canonical | None = None
    source: SourceMap | None = None

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")


def load_spec(path: str | Path) -> Spec:
    """Load and validate ``path``; raise ``SpecError`` listing every error found."""
    check = check_spec(path)
    if check.spec is None:
        name = Path(path).name
        count = len(check.errors)
        raise SpecError(
            f"{name} has {count} error{'s' if count != 1 else ''}",
            list(check.errors),
            hint=f"run `assay lint {path}` to see them with warnings and notes",
        )
    return check.spec


def check_spec(path: str | Path) -> SpecCheck:
    path = Path(path)
    display = path.name
    try:
        with open(path, encoding="utf-8", newline="") as handle:  # keep \r\n: --fix writes them back
            text = handle.read()
    except FileNotFoundError:
        problem = Problem(display, 1, 1, "error", f"{path} does not exist")
        return SpecCheck(None, (problem,))
    except (OSError, UnicodeDecodeError) as exc:
        return SpecCheck(None, (Problem(display, 1, 1, "error", f"cannot read {path}: {exc}"),))
    return check_text(text, display, str(path))


def check_text(text: str, display: str = "valohai.yaml", path: str = "valohai.yaml") -> SpecCheck:
    parsed = parse_yaml(text, display)
    if isinstance(parsed, Problem):
        return SpecCheck(None, (parsed,))
    source = parsed.source
    data = parsed.data if parsed.data is not None else []
    if not isinstance(data, list):
        problem = source.problem(
            (), "error", "valohai.yaml must be a list of items such as `- step:` and `- pipeline:`"
        )
        return SpecCheck(None, (problem,), None, source)
    canonical = canonicalize(data)
    problems = [
        *_shorthand_note(canonical, source),
        *_schema_problems(canonical, source),
        *_durations(canonical, source),
    ]
    if any(p.severity == "error" for p in problems):
        return SpecCheck(None, tuple(problems), canonical, source)
    try:
        config = Config.parse(canonical.data)
    except Exception as exc:  # noqa: BLE001
        # NOTE: the reference parser raises assorted exception types for data its schema
        # accepted; at this boundary every one of them is a finding about the user's file.
        problems.append(_locate_by_text(source, "error", f"cannot interpret the file: {exc}", str(exc)))
        return SpecCheck(None, tuple(problems), canonical, source)
    problems.extend(_lint(config, canonical, source))
    if any(p.severity == "error" for p in problems):
        return SpecCheck(None, tuple(problems), canonical, source)
    try:
        steps = {name: build_step(step) for name, step in config.steps.items()}
        pipelines = {name: build_pipeline(p, config.steps) for name, p in config.pipelines.items()}
    except Exception as exc:  # noqa: BLE001  (same boundary as above)
        problems.append(source.problem((), "error", f"cannot interpret the file: {exc}"))
        return SpecCheck(None, tuple(problems), canonical, source)
    spec = Spec(
        path=path,
        steps=_frozen(steps),
        pipelines=_frozen(pipelines),
        findings=tuple(problems),
        source=source,
    )
    return SpecCheck(spec, tuple(problems), canonical, source)


def _frozen(items: dict[str, Any]) -> Any:
    return MappingProxyType(items)


def _shorthand_note(canonical: Canonical, source: SourceMap) -> list[Problem]:
    if not canonical.shorthands:
        return []
    flat = [source.locate(s.path)[0] for s in canonical.shorthands if s.kind == "flat-step"]
    plural = [source.locate(s.path)[0] for s in canonical.shorthands if s.kind == "plural-edge"]
    where = []
    if flat:
        where.append(f"flat `- step: NAME` at line{'s' if len(flat) > 1 else ''} {_lines(flat)}")
    if plural:
        where.append(f"plural edge types at line{'s' if len(plural) > 1 else ''} {_lines(plural)}")
    first = canonical.shorthands[0].path
    return [source.problem(first, "note", CANONICAL_NOTE.format(where="; ".join(where)))]


def _lines(numbers: list[int]) -> str:
    return ", ".join(str(n) for n in sorted(set(numbers)))


def _schema_problems(canonical: Canonical, source: SourceMap) -> list[Problem]:
    problems = []
    for error in _validator().iter_errors(canonical.data):
        path = canonical.original_path(tuple(error.path))
        if error.validator == "additionalProperties":
            problems.extend(_unknown_keys(error, path, canonical, source))
            continue
        message = error.message
        if len(message) > 300:
            message = message[:297] + "..."
        where = _describe(path, canonical.data)
        problems.append(source.problem(path, "error", f"{where}: {message}" if where else message))
    return problems


def _durations(canonical: Canonical, source: SourceMap) -> list[Problem]:
    """``time-limit: '90'`` means 90 s (the reference parser stumbles on it); a limit must be > 0."""
    problems = []
    for index, item in enumerate(canonical.data if isinstance(canonical.data, list) else []):
        step = item.get("step") if isinstance(item, dict) else None
        if not isinstance(step, dict):
            continue
        for key in ("time-limit", "no-output-timeout"):
            value = step.get(key)
            if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
                value = step[key] = float(value) if "." in value else int(value)
            if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
                path = canonical.original_path((index, "step", key))
                problems.append(
                    source.problem(path, "error", f"{key} must be more than 0 seconds (or left out)")
                )
    return problems


def _unknown_keys(error: Any, path: DataPath, canonical: Canonical, source: SourceMap) -> list[Problem]:
    """One problem per unknown key, at the key itself, with the closest allowed key."""
    allowed = list((error.schema or {}).get("properties", {}))
    instance = error.instance if isinstance(error.instance, dict) else {}
    where = _describe(path, canonical.data)
    problems = []
    for key in [k for k in instance if k not in allowed and isinstance(k, str)]:
        key_path = canonical.original_path((*tuple(error.path), key))
        span = source.key_span(key_path)
        message = f"unknown key '{key}'{_suggest(key, allowed)}"
        message = f"{where}: {message}" if where else message
        if span is None:
            problems.append(source.problem(path, "error", message))
        else:
            mark = span[0].start_mark
            problems.append(source.problem_at(mark.line + 1, mark.column + 1, "error", message))
    return problems or [source.problem(path, "error", error.message)]


@functools.cache
def _validator() -> Any:
    """The reference parser's JSON schema, compiled once per process.

    NOTE: valohai-yaml's own ``get_validator`` first checks the schema against the JSON Schema
    meta-schema, which costs ~0.1 s per process; the schema ships inside the pinned release and
    is checked by that project's tests, so Assay skips the check.
    """
    from jsonschema import Draft202012Validator

    return Draft202012Validator(get_json_schema())


def _describe(path: DataPath, data: Any) -> str:
    """A human name for the item a path points into: `step "train"`, `pipeline "p"`."""
    if not path or not isinstance(path[0], int) or not isinstance(data, list):
        return ""
    index = path[0]
    if not 0 <= index < len(data) or not isinstance(data[index], dict) or not data[index]:
        return ""
    kind, body = next(iter(data[index].items()))
    name = body.get("name") if isinstance(body, dict) else None
    return f'{kind} "{name}"' if isinstance(name, str) else str(kind)


def _item_index(data: list[Any], kind: str, name: str) -> int | None:
    for index, item in enumerate(data):
        if isinstance(item, dict) and isinstance(item.get(kind), dict) and item[kind].get("name") == name:
            return index
    return None


Linter = Callable[[LintResult, dict[str, Any]], None]


def _run_lint(lint: Linter, context: dict[str, Any]) -> list[tuple[str, str]]:
    result = LintResult()
    try:
        lint(result, context)
    except Exception as exc:  # noqa: BLE001  (the library's linter on odd data; report, don't crash)
        return [("error", f"cannot check this item: {exc}")]
    return [(m["type"], m["message"]) for m in result.messages]


def _lint(config: Config, canonical: Canonical, source: SourceMap) -> list[Problem]:
    data: list[Any] = canonical.data
    problems: list[Problem] = []

    def add(path: DataPath, severity: str, message: str) -> None:
        severity = "note" if severity == "hint" else severity
        problems.append(source.problem(canonical.original_path(path), severity, message))

    for warning in getattr(config, "_parse_warnings", []) or []:
        problems.append(_locate_by_text(source, "warning", str(warning), str(warning)))

    for name, step in config.steps.items():
        index = _item_index(data, "step", name)
        base: DataPath = (index, "step") if index is not None else ()
        params = list(step.parameters)
        for position, input_name in enumerate(step.inputs):
            if not _plain_name(input_name):
                message = f"input name {input_name!r} must be a plain folder name (no '/', '\\' or '..')"
                add((*base, "inputs", position, "name"), "error", message)
        for severity, message in _run_lint(step.lint, {"config": config}):
            path = base
            found = re.search(r"parameter (\S+?):", message)
            if found and found.group(1) in params:
                path = (*base, "parameters", params.index(found.group(1)))
            add(path, severity, message)

    for name, pipeline in config.pipelines.items():
        index = _item_index(data, "pipeline", name)
        base = (index, "pipeline") if index is not None else ()
        _lint_pipeline(config, pipeline, base, add)

    for kind, objects in (("task", config.tasks), ("endpoint", config.endpoints)):
        for name, obj in objects.items():
            index = _item_index(data, kind, name)
            for severity, message in _run_lint(obj.lint, {"config": config}):
                add((index, kind) if index is not None else (), severity, message)
    return problems


def _lint_pipeline(
    config: Config, pipeline: Any, base: DataPath, add: Callable[[DataPath, str, str], None]
) -> None:
    context = {"config": config, "pipeline": pipeline}
    node_names = [node.name for node in pipeline.nodes]
    seen: set[str] = set()
    for position, node in enumerate(pipeline.nodes):
        path = (*base, "nodes", position)
        if node.name in seen:
            add((*path, "name"), "error", f'pipeline "{pipeline.name}" has two nodes named "{node.name}"')
        seen.add(node.name)
        for severity, message in _run_lint(node.lint, context):
            if "is not well-known; the action might do nothing" in message:
                continue  # replaced by our own check below: require-approval is an action to us
            missing = re.fullmatch(r'Pipeline ".*" node "(.*)" step "(.*)" does not exist', message)
            if missing:
                add((*path, "step"), "error", _missing_step(pipeline.name, node.name, missing[2], config))
                continue
            add(path, severity, message)
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
                        f'node "{node.name}": unknown action "{then}"; '
                        f"known: {', '.join(sorted(KNOWN_THENS))}",
                    )
    nodes = {node.name: node for node in pipeline.nodes}
    for position, edge in enumerate(pipeline.edges):
        path = (*base, "edges", position)
        for problem in _edge_sockets(config, nodes, edge):
            add(path, "error", problem)
        for severity, message in _run_lint(edge.lint, context):
            missing = re.fullmatch(r"Pipeline .* edge (source|target) node (.*) does not exist", message)
            if missing:
                message = (
                    f"edge {missing[1]} node '{missing[2]}' does not exist{_suggest(missing[2], node_names)}"
                )
            add(path, severity, message)
    for position, parameter in enumerate(pipeline.parameters):
        for severity, message in _run_lint(parameter.lint, context):
            add((*base, "parameters", position), severity, message)


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0")


def expression_problem(expression: str) -> str | None:
    """Why a condition cannot be evaluated, or None when it is well-formed."""
    from leval.excs import EvaluatorError
    from leval.extras.common_boolean_evaluator import CommonBooleanEvaluator

    try:
        CommonBooleanEvaluator().verify(expression)
    except (EvaluatorError, SyntaxError, ValueError, TypeError) as exc:
        return str(exc) or type(exc).__name__
    return None


def _edge_sockets(config: Config, nodes: dict[str, Any], edge: Any) -> list[str]:
    """An edge's parameter and input names must exist in the steps of the nodes it joins."""
    problems = []
    for side, type_, key in (
        (edge.source_node, edge.source_type, edge.source_key),
        (edge.target_node, edge.target_type, edge.target_key),
    ):
        node = nodes.get(side)
        step = config.steps.get(getattr(node, "step", None) or "") if node is not None else None
        if step is None or type_ not in ("input", "parameter"):
            continue
        known = list(step.inputs if type_ == "input" else step.parameters)
        if node is not None and node.override is not None:
            known += list(node.override.inputs if type_ == "input" else node.override.parameters)
        if key not in known:
            problems.append(
                f"edge: step {step.name!r} of node {side!r} has no {type_} {key!r}{_suggest(key, known)}"
            )
    return problems


def _missing_step(pipeline: str, node: str, step: str, config: Config) -> str:
    return (
        f'pipeline "{pipeline}" node "{node}": step \'{step}\' does not exist'
        f"{_suggest(step, list(config.steps))}"
    )


def _suggest(name: str, candidates: Iterable[str]) -> str:
    candidates = list(candidates)
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close:
        close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.4)
    if close:
        return f"; did you mean '{close[0]}'?"
    if candidates:
        return f"; known: {', '.join(repr(c) for c in candidates)}"
    return ""


def _locate_by_text(source: SourceMap, severity: str, message: str, text: str) -> Problem:
    """Best effort for library messages without a path: find a quoted name in the file."""
    for needle in re.findall(r"['\"]([^'\"]{2,})['\"]", text):
        for number, line in enumerate(source.lines, start=1):
            column = line.find(needle)
            if column >= 0:
                return source.problem_at(number, column + 1, severity, message)
    return source.problem_at(1, 1, severity, message)
