"""YAML text → plain data plus a map from data paths to line and column.

Parsing happens once: PyYAML composes the node tree (which keeps every position) and the same
tree is constructed into plain Python data. Later findings are reported against a *path* in
the data (``(3, "pipeline", "nodes", 1, "step")``); ``SourceMap.locate`` turns a path into
the line and column of the deepest node that exists on it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from assay.errors import Problem

try:  # the C parser is ~10x faster; PyYAML wheels ship it on every platform we target
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pure-Python PyYAML build
    _Loader = yaml.SafeLoader

PathPart = int | str
DataPath = tuple[PathPart, ...]


@dataclass(frozen=True)
class SourceMap:
    """Positions of a parsed YAML document (1-based lines and columns)."""

    file: str
    lines: tuple[str, ...]
    root: yaml.Node | None
    #: the line break after each line, as in the file ("" after a last line without one)
    separators: tuple[str, ...] = ()

    def locate(self, path: Sequence[PathPart]) -> tuple[int, int]:
        node = self.root
        if node is None:
            return (1, 1)
        best = node
        for part in path:
            child = _child(node, part)
            if child is None:
                break
            node = best = child
        return (best.start_mark.line + 1, best.start_mark.column + 1)

    def key_span(self, path: Sequence[PathPart]) -> tuple[yaml.Node, yaml.Node] | None:
        """The (key node, value node) pair for the last part of ``path``, if it is a mapping key."""
        if not path:
            return None
        parent = self.node_at(path[:-1])
        if not isinstance(parent, yaml.MappingNode):
            return None
        for key, value in parent.value:
            if isinstance(key, yaml.ScalarNode) and key.value == path[-1]:
                return (key, value)
        return None

    def node_at(self, path: Sequence[PathPart]) -> yaml.Node | None:
        node = self.root
        for part in path:
            if node is None:
                return None
            node = _child(node, part)
        return node

    def problem(self, path: Sequence[PathPart], severity: str, message: str) -> Problem:
        line, column = self.locate(path)
        return self.problem_at(line, column, severity, message)

    def problem_at(self, line: int, column: int, severity: str, message: str) -> Problem:
        snippet = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return Problem(self.file, line, column, severity, message, snippet)


def _child(node: yaml.Node, part: PathPart) -> yaml.Node | None:
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int):
        return node.value[part] if 0 <= part < len(node.value) else None
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                found: yaml.Node = value
                return found
    return None


@dataclass(frozen=True)
class ParsedYaml:
    data: Any
    source: SourceMap


def parse_yaml(text: str, file: str) -> ParsedYaml | Problem:
    """Parse ``text``; a syntax error comes back as a ``Problem`` at its position."""
    lines, separators = split_lines(text)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        snippet = lines[line - 1] if 0 < line <= len(lines) else ""
        return Problem(file, line, column, "error", f"YAML syntax: {what}", snippet)
    except yaml.YAMLError as exc:
        return Problem(file, 1, 1, "error", f"YAML syntax: {exc}")
    except (ValueError, TypeError, RecursionError) as exc:
        # NOTE: PyYAML's constructors raise plain Python errors for some inputs
        # (e.g. unhashable mapping keys, absurd nesting); they are still the user's YAML.
        return Problem(file, 1, 1, "error", f"YAML could not be read: {exc}")
    finally:
        loader.dispose()
    return ParsedYaml(data=data, source=SourceMap(file=file, lines=lines, root=node, separators=separators))


_BREAK = re.compile("(\r\n|\r|\n|\x85|\u2028|\u2029)")


def split_lines(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Lines as PyYAML counts them (its marks index these), with the exact break after each."""
    parts = _BREAK.split(text)
    lines = tuple(parts[0::2])
    separators = (*tuple(parts[1::2]), "")
    if lines and lines[-1] == "" and len(lines) > 1:
        return lines[:-1], separators[:-1]
    return lines, separators
