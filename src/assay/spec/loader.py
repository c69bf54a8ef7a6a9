"""Load ``valohai.yaml``: parse, canonicalize, validate, lint — every problem at once.

``check_spec`` never raises for the file's content: it returns the spec (when the file has no
error outside its pipelines) and every finding with its line and column. An error inside one
pipeline makes only that pipeline unrunnable: it is left out of ``Spec.pipelines`` and kept,
with its errors, in ``Spec.broken``, so the steps and the other pipelines still run.
``load_spec`` raises ``SpecError`` with all of them when the file itself cannot be used.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from valohai_yaml.objs import Config
from valohai_yaml.validation import get_json_schema

from assay.errors import Problem, SpecError
from assay.spec.lint import lint_config, suggest
from assay.spec.model import Pipeline, Spec, build_pipeline, build_step
from assay.spec.normalize import Canonical, canonicalize
from assay.spec.source import DataPath, SourceMap, parse_yaml

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


class _Found:
    """Problems in the order found, each with the pipeline it concerns (None: the whole file)."""

    def __init__(self, canonical: Canonical, source: SourceMap) -> None:
        self.canonical = canonical
        self.source = source
        self.items: list[tuple[Problem, str | None]] = []

    def add(self, path: DataPath, severity: str, message: str, pipeline: str | None = None) -> None:
        problem = self.source.problem(self.canonical.original_path(path), severity, message)
        self.items.append((problem, pipeline))

    def add_problem(self, problem: Problem, pipeline: str | None = None) -> None:
        self.items.append((problem, pipeline))

    def file_errors(self) -> bool:
        return any(p.severity == "error" and scope is None for p, scope in self.items)

    def broken(self) -> set[str]:
        return {scope for p, scope in self.items if scope is not None and p.severity == "error"}

    def of(self, pipeline: str) -> tuple[Problem, ...]:
        return tuple(p for p, scope in self.items if scope == pipeline)

    @property
    def problems(self) -> tuple[Problem, ...]:
        return tuple(p for p, _ in self.items)


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
    found = _Found(canonical, source)
    for problem in _shorthand_note(canonical, source):
        found.add_problem(problem)
    _schema_problems(canonical, source, found)
    _durations(canonical, found)
    if found.file_errors():
        return SpecCheck(None, found.problems, canonical, source)
    config = _parse(canonical.data, found)
    if config is None:
        return SpecCheck(None, found.problems, canonical, source)
    for warning in getattr(config, "_parse_warnings", []) or []:
        found.add_problem(_locate_by_text(source, "warning", str(warning), str(warning)))
    for finding in lint_config(config, canonical.data):
        found.add(finding.path, finding.severity, finding.message, finding.pipeline)
    if found.file_errors():
        return SpecCheck(None, found.problems, canonical, source)
    try:
        steps = {name: build_step(step) for name, step in config.steps.items()}
    except Exception as exc:  # noqa: BLE001  (same boundary as in _parse)
        found.add((), "error", f"cannot interpret the file: {exc}")
        return SpecCheck(None, found.problems, canonical, source)
    pipelines: dict[str, Pipeline] = {}
    for name, lib_pipeline in config.pipelines.items():
        if name in found.broken():
            continue
        try:
            pipelines[name] = build_pipeline(lib_pipeline, config.steps)
        except Exception as exc:  # noqa: BLE001
            found.add(
                _item(canonical.data, name), "error", f"cannot interpret pipeline {name!r}: {exc}", name
            )
    broken = found.broken()
    spec = Spec(
        path=path,
        steps=_frozen(steps),
        pipelines=_frozen(pipelines),
        findings=found.problems,
        source=source,
        broken=_frozen({name: tuple(p for p in found.of(name) if p.severity == "error") for name in broken}),
        pipeline_findings=_frozen({name: found.of(name) for name in config.pipelines}),
    )
    return SpecCheck(spec, found.problems, canonical, source)


def _parse(data: list[Any], found: _Found) -> Config | None:
    """The reference parser's objects for the file without its broken pipelines.

    NOTE: the reference parser raises assorted exception types for data its schema accepted;
    at this boundary every one of them is a finding about the user's file. When the whole file
    does not parse, each pipeline is parsed alone with the steps to find the one at fault.
    """
    broken = found.broken()
    kept = [item for item in data if _pipeline_name(item) not in broken]
    try:
        return Config.parse(kept)
    except Exception as exc:  # noqa: BLE001
        failure = exc
    others = [item for item in kept if _pipeline_name(item) is None]
    try:
        Config.parse(others)
    except Exception as exc:  # noqa: BLE001
        found.add_problem(
            _locate_by_text(found.source, "error", f"cannot interpret the file: {exc}", str(exc))
        )
        return None
    good = list(others)
    for index, item in enumerate(data):
        name = _pipeline_name(item)
        if name is None or name in broken:
            continue
        try:
            Config.parse([*others, item])
        except Exception as exc:  # noqa: BLE001
            found.add((index, "pipeline"), "error", f"cannot interpret pipeline {name!r}: {exc}", name)
            continue
        good.append(item)
    try:
        return Config.parse(good)
    except Exception:  # noqa: BLE001  (pipelines that parse alone but not together)
        found.add_problem(_locate_by_text(found.source, "error", f"cannot interpret the file: {failure}",
                                          str(failure)))  # fmt: skip
        return None


def _pipeline_name(item: Any) -> str | None:
    body = item.get("pipeline") if isinstance(item, dict) else None
    name = body.get("name") if isinstance(body, dict) else None
    return name if isinstance(name, str) else None


def _item(data: list[Any], pipeline: str) -> DataPath:
    for index, item in enumerate(data):
        if _pipeline_name(item) == pipeline:
            return (index, "pipeline")
    return ()


def _scope(data: Any, path: Sequence[Any]) -> str | None:
    """The pipeline a path in the data points into, or None."""
    if not path or not isinstance(path[0], int) or not isinstance(data, list) or path[0] >= len(data):
        return None
    return _pipeline_name(data[path[0]])


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


def _schema_problems(canonical: Canonical, source: SourceMap, found: _Found) -> None:
    for error in _validator().iter_errors(canonical.data):
        scope = _scope(canonical.data, tuple(error.path))
        path = canonical.original_path(tuple(error.path))
        if error.validator == "additionalProperties":
            for problem in _unknown_keys(error, path, canonical, source):
                found.add_problem(problem, scope)
            continue
        message = error.message
        if len(message) > 300:
            message = message[:297] + "..."
        where = _describe(path, canonical.data)
        found.add_problem(source.problem(path, "error", f"{where}: {message}" if where else message), scope)


def _durations(canonical: Canonical, found: _Found) -> None:
    """``time-limit: '90'`` means 90 s (the reference parser stumbles on it); a limit must be > 0."""
    for index, item in enumerate(canonical.data if isinstance(canonical.data, list) else []):
        step = item.get("step") if isinstance(item, dict) else None
        if not isinstance(step, dict):
            continue
        for key in ("time-limit", "no-output-timeout"):
            value = step.get(key)
            if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
                value = step[key] = float(value) if "." in value else int(value)
            if isinstance(value, int | float) and not isinstance(value, bool) and value <= 0:
                found.add((index, "step", key), "error", f"{key} must be more than 0 seconds (or left out)")


def _unknown_keys(error: Any, path: DataPath, canonical: Canonical, source: SourceMap) -> list[Problem]:
    """One problem per unknown key, at the key itself, with the closest allowed key."""
    allowed = list((error.schema or {}).get("properties", {}))
    instance = error.instance if isinstance(error.instance, dict) else {}
    where = _describe(path, canonical.data)
    problems = []
    for key in [k for k in instance if k not in allowed and isinstance(k, str)]:
        key_path = canonical.original_path((*tuple(error.path), key))
        span = source.key_span(key_path)
        message = f"unknown key '{key}'{suggest(key, allowed)}"
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
    is checked by that project's tests, so Assay skips the check. The schema's ``$ref``s are
    resolved through a registry crawled once here: without it, jsonschema crawls the schema
    again at each item it checks (10× slower: 130 ms instead of 13 for a 50-step file).
    """
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    schema = get_json_schema()
    registry = (DRAFT202012.create_resource(schema) @ Registry()).crawl()
    return Draft202012Validator(schema, registry=registry)


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


def _locate_by_text(source: SourceMap, severity: str, message: str, text: str) -> Problem:
    """Best effort for library messages without a path: find a quoted name in the file."""
    for needle in re.findall(r"['\"]([^'\"]{2,})['\"]", text):
        for number, line in enumerate(source.lines, start=1):
            column = line.find(needle)
            if column >= 0:
                return source.problem_at(number, column + 1, severity, message)
    return source.problem_at(1, 1, severity, message)
