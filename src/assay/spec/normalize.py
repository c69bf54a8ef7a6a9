"""The seed document's shorthand forms → Valohai's canonical form.

Users copy two forms from Valohai's own writing that the reference parser rejects:

* a *flat step*: ``- step: train-model`` with ``image``, ``command``, ``inputs`` as siblings,
  instead of ``- step: {name: train-model, image: …}``;
* *plural edge types*: ``train-model.outputs.*`` / ``evaluate-model.inputs.model`` instead of
  ``output`` / ``input`` (and ``parameters`` for ``parameter``).

``canonicalize`` turns parsed data into the canonical form before validation and reports where
it did so. It also canonicalizes, silently, what the reference parser itself accepts in more than
one spelling: a pipeline parameter's ``target: x`` is ``targets: [x]``, and a target socket of
type ``parameters`` is ``parameter`` (Valohai's own examples write both), so that everything past
``spec/`` reads one form. ``rewrite_text`` does the same to the file's text, line by line, so that
``assay lint --fix`` keeps every comment, blank line and key order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from assay.spec.source import DataPath, SourceMap

PLURAL_EDGE_TYPES = {"outputs": "output", "inputs": "input", "parameters": "parameter"}


@dataclass(frozen=True)
class Shorthand:
    """One place where the file uses a shorthand form."""

    kind: str  # "flat-step" | "plural-edge"
    path: DataPath  # in the original data
    detail: str


@dataclass(frozen=True)
class Canonical:
    data: Any
    shorthands: tuple[Shorthand, ...]
    flat_steps: frozenset[int]  # top-level item indexes that were flat steps

    def original_path(self, path: DataPath) -> DataPath:
        """Translate a path in the canonical data back to the path in the user's file."""
        if len(path) >= 2 and path[0] in self.flat_steps and path[1] == "step":
            if len(path) == 2:
                return path
            if path[2] == "name":
                return (path[0], "step")
            return (path[0], *path[2:])
        return path


def canonicalize(data: Any) -> Canonical:
    if not isinstance(data, list):
        return Canonical(data, (), frozenset())
    shorthands: list[Shorthand] = []
    flat: set[int] = set()
    items: list[Any] = []
    for index, item in enumerate(data):
        if _is_flat_step(item):
            flat.add(index)
            body = {"name": item["step"], **{k: v for k, v in item.items() if k != "step"}}
            items.append({"step": body})
            shorthands.append(Shorthand("flat-step", (index, "step"), str(item["step"])))
        elif isinstance(item, dict) and isinstance(item.get("pipeline"), dict):
            pipeline = dict(item["pipeline"])
            edges = pipeline.get("edges")
            if isinstance(edges, list):
                pipeline["edges"] = [
                    _canonical_edge(edge, (index, "pipeline", "edges", edge_index), shorthands)
                    for edge_index, edge in enumerate(edges)
                ]
            parameters = pipeline.get("parameters")
            if isinstance(parameters, list):
                pipeline["parameters"] = [_canonical_targets(p) for p in parameters]
            items.append({**item, "pipeline": pipeline})
        else:
            items.append(item)
    return Canonical(items, tuple(shorthands), frozenset(flat))


def _is_flat_step(item: Any) -> bool:
    return isinstance(item, dict) and isinstance(item.get("step"), str)


def _canonical_edge(edge: Any, path: DataPath, found: list[Shorthand]) -> Any:
    if isinstance(edge, list):
        return [_canonical_socket(s, (*path, i), found) for i, s in enumerate(edge)]
    if isinstance(edge, dict):
        return {
            key: _canonical_socket(value, (*path, key), found) if key in ("source", "target") else value
            for key, value in edge.items()
        }
    return edge


def _canonical_targets(parameter: Any) -> Any:
    """A pipeline parameter's targets as the reference parser reads them, in the canonical form.

    ``targets`` may be one string or a list; ``target`` (one string) is the same as a list of one
    (both together stay as written: the schema refuses that). A target's socket type is anything
    the reference parser takes for ``parameter`` (it checks ``startswith("parameter")``).
    """
    if not isinstance(parameter, dict):
        return parameter
    result = dict(parameter)
    if "target" in result and "targets" not in result and isinstance(result["target"], str):
        result["targets"] = [result.pop("target")]
    targets = result.get("targets")
    if isinstance(targets, str):
        targets = [targets]
    if isinstance(targets, list):
        result["targets"] = [_canonical_target(t) for t in targets]
    return result


def _canonical_target(target: Any) -> Any:
    if not isinstance(target, str):
        return target
    parts = target.split(".", 2)
    if len(parts) == 3 and parts[1] != "parameter" and parts[1].startswith("parameter"):
        return f"{parts[0]}.parameter.{parts[2]}"
    return target


def _canonical_socket(socket: Any, path: DataPath, found: list[Shorthand]) -> Any:
    if not isinstance(socket, str):
        return socket
    parts = socket.split(".", 2)
    if len(parts) == 3 and parts[1] in PLURAL_EDGE_TYPES:
        canonical = f"{parts[0]}.{PLURAL_EDGE_TYPES[parts[1]]}.{parts[2]}"
        found.append(Shorthand("plural-edge", path, f"{socket} → {canonical}"))
        return canonical
    return socket


class RewriteRefused(Exception):
    """The shorthand is written in a layout that cannot be rewritten without losing text."""


def rewrite_text(source: SourceMap, canonical: Canonical) -> str:
    """The file's text with every shorthand rewritten canonically, all else byte-identical."""
    lines = list(source.lines)
    separators = list(source.separators) or ["\n"] * len(lines)
    newline = "\r\n" if "\r\n" in separators else "\n"
    # Edge sockets change within one line; do them first (line numbers stay valid), rightmost
    # first so that a shortened socket does not shift the columns of the next on its line.
    sockets = [s.path for s in canonical.shorthands if s.kind == "plural-edge"]
    for path in sorted(sockets, key=lambda p: source.locate(p), reverse=True):
        _rewrite_socket(lines, source, path)
    # Flat steps add a line each: rewrite from the bottom up so earlier positions stay valid.
    for index in sorted(canonical.flat_steps, reverse=True):
        first = _rewrite_flat_step(lines, source, index)
        separators.insert(first, newline)  # the new `- step:` line
    if separators and separators[-1] == "":
        separators[-1] = newline
    return "".join(line + separator for line, separator in zip(lines, separators, strict=True))


def _rewrite_socket(lines: list[str], source: SourceMap, path: DataPath) -> None:
    node = source.node_at(path)
    if not isinstance(node, yaml.ScalarNode) or node.start_mark.line != node.end_mark.line:
        raise RewriteRefused(f"edge at line {source.locate(path)[0]} spans several lines")
    parts = node.value.split(".", 2)
    line = lines[node.start_mark.line]
    start, end = node.start_mark.column, node.end_mark.column
    old = f"{parts[0]}.{parts[1]}."
    new = f"{parts[0]}.{PLURAL_EDGE_TYPES[parts[1]]}."
    lines[node.start_mark.line] = line[:start] + line[start:end].replace(old, new, 1) + line[end:]


def _rewrite_flat_step(lines: list[str], source: SourceMap, index: int) -> int:
    """Rewrite one flat step in place; returns the index of the line it added."""
    item = source.node_at((index,))
    span = source.key_span((index, "step"))
    if not isinstance(item, yaml.MappingNode) or item.flow_style or span is None:
        raise RewriteRefused(f"the step at line {source.locate((index,))[0]} is not a block mapping")
    key, _value = span
    first = item.start_mark.line
    column = item.start_mark.column
    dash_line = lines[first]
    if column < 2 or dash_line[column - 2 : column] != "- ":
        raise RewriteRefused(f"the step at line {first + 1} does not start with '- '")
    end = item.end_mark
    ends_inside = end.line < len(lines) and lines[end.line][: end.column].strip()
    last = min(end.line if ends_inside else end.line - 1, len(lines) - 1)
    if not first <= key.start_mark.line <= last:
        raise RewriteRefused(f"the step at line {first + 1} takes keys from elsewhere (a merge key?)")
    indented = [("  " + line if line.strip() else line) for line in lines[first : last + 1]]
    # The first key loses its dash: the dash now belongs to the new `step:` line.
    indented[0] = " " * (column + 2) + indented[0][column + 2 :]
    key_row = key.start_mark.line - first
    key_line = indented[key_row]
    key_start = key.start_mark.column + 2
    key_end = key.end_mark.column + 2
    indented[key_row] = key_line[:key_start] + "name" + key_line[key_end:]
    lines[first : last + 1] = [dash_line[: column - 2] + "- step:", *indented]
    return first
