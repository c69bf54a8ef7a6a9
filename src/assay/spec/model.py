"""Frozen objects for a validated ``valohai.yaml``.

Past ``spec/`` nothing reads a raw dict: the loader builds these from the reference parser's
objects, once, at the boundary. The one thing we borrow from the library at run time is its
command builder (its quoting rules are the contract), reached through ``Step.build_command``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from assay.errors import Problem
from assay.spec.source import SourceMap

JsonValue = Any


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # "string" | "integer" | "float" | "flag"
    default: JsonValue = None
    optional: bool = False
    multiple: str | None = None  # None | "repeat" | "separate"
    multiple_separator: str = ","
    choices: tuple[JsonValue, ...] | None = None
    min: float | None = None
    max: float | None = None
    description: str | None = None
    #: the YAML states a ``type`` (without one, a value from an edge keeps its JSON type)
    typed: bool = True


@dataclass(frozen=True)
class Input:
    name: str
    default: tuple[str, ...] = ()
    optional: bool = False
    filename: str | None = None
    keep_directories: str = "none"  # "none" | "full" | "suffix"
    download: str = "always"  # "always" | "on-demand"
    description: str | None = None


@dataclass(frozen=True)
class EnvironmentVariable:
    name: str
    default: str | None = None
    optional: bool = True
    description: str | None = None


@dataclass(frozen=True)
class Step:
    name: str
    image: str
    command: tuple[str, ...]
    parameters: Mapping[str, Parameter]
    inputs: Mapping[str, Input]
    environment_variables: Mapping[str, EnvironmentVariable]
    outputs: tuple[str, ...] = ()
    environment: str | None = None
    time_limit: float | None = None  # seconds
    no_output_timeout: float | None = None  # seconds
    source_path: str | None = None
    stop_condition: str | None = None
    library_step: Any = field(default=None, repr=False, compare=False)

    def build_command(self, values: Mapping[str, JsonValue]) -> list[str]:
        """The step's command lines with every ``{parameter…}`` placeholder filled and quoted.

        ``values`` must already hold every resolved value, flags included (the library
        applies no flag defaults; see ``assay.spec.parameters.resolve_parameters``).
        """
        built: list[str] = self.library_step.build_command(dict(values))
        return built

    def build_script(self, values: Mapping[str, JsonValue]) -> str:
        """The command lines as one script for one shell, failing fast.

        Lines run in one ``/bin/sh`` (so ``export`` and ``cd`` carry over) under ``set -e``:
        the first failing line ends the execution with its exit code. A first line that is a
        shebang (``#!/bin/bash``) selects the interpreter instead, and then the script is run
        as written.
        """
        lines = self.build_command(values)
        if lines and lines[0].startswith("#!"):
            shebang, _, rest = lines[0].partition("\n")
            return "\n".join([shebang, *([rest] if rest.strip() else []), *lines[1:]]) + "\n"
        return "\n".join(["set -e", *lines]) + "\n"


@dataclass(frozen=True)
class NodeAction:
    when: tuple[str, ...]
    if_: tuple[str, ...]
    then: tuple[str, ...]


@dataclass(frozen=True)
class Node:
    name: str
    type: str  # "execution" | "task" | "deployment"
    step: str | None
    actions: tuple[NodeAction, ...] = ()
    on_error: str = "stop-all"
    edge_merge_mode: str = "replace"
    task: str | None = None
    #: the step with this node's ``override`` applied (None for deployment nodes)
    definition: Step | None = None


@dataclass(frozen=True)
class Edge:
    source_node: str
    source_type: str
    source_key: str
    target_node: str
    target_type: str
    target_key: str
    configuration: Mapping[str, JsonValue] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class PipelineParameter:
    name: str
    targets: tuple[str, ...]
    default: JsonValue = None
    description: str | None = None


@dataclass(frozen=True)
class Pipeline:
    name: str
    nodes: Mapping[str, Node]
    edges: tuple[Edge, ...]
    parameters: Mapping[str, PipelineParameter]
    reuse_executions: bool = False


@dataclass(frozen=True)
class Spec:
    """A loaded, validated ``valohai.yaml``."""

    path: str
    steps: Mapping[str, Step]
    pipelines: Mapping[str, Pipeline]
    #: every finding about the file: warnings and notes, and the errors of broken pipelines
    findings: tuple[Problem, ...] = ()
    source: SourceMap | None = field(default=None, repr=False, compare=False)
    #: pipelines that cannot run, with their errors (the file's other items still run)
    broken: Mapping[str, tuple[Problem, ...]] = field(default_factory=lambda: MappingProxyType({}))
    #: the findings that concern each pipeline (recorded on its runs as warnings)
    pipeline_findings: Mapping[str, tuple[Problem, ...]] = field(default_factory=lambda: MappingProxyType({}))


def _frozen_map(items: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(items))


def _enum_value(value: Any, default: str) -> str:
    if value is None:
        return default
    return str(getattr(value, "value", value))


def _stated(lib: Any) -> dict[str, Any]:
    """The keys the YAML gave a library item (its parsed-from data), ``{}`` when unknown."""
    data = getattr(lib, "_original_data", None)
    return data if isinstance(data, dict) else {}


def _seconds(value: Any) -> float | None:
    return None if value is None else float(value.total_seconds())


def build_parameter(lib: Any) -> Parameter:
    choices = tuple(lib.choices) if lib.choices else None
    default = copy.deepcopy(lib.default)
    if isinstance(default, list):
        default = tuple(default)
    return Parameter(
        name=lib.name,
        type=lib.type,
        default=default,
        optional=lib.optional,
        multiple=_enum_value(lib.multiple, "") or None,
        multiple_separator=lib.multiple_separator,
        choices=choices,
        min=lib.min,
        max=lib.max,
        description=lib.description,
        typed="type" in _stated(lib),
    )


def build_input(lib: Any) -> Input:
    default = lib.default
    defaults: tuple[str, ...]
    if default is None:
        defaults = ()
    elif isinstance(default, list):
        defaults = tuple(str(d) for d in default)
    else:
        defaults = (str(default),)
    return Input(
        name=lib.name,
        default=defaults,
        optional=lib.optional,
        filename=lib.filename,
        keep_directories=_enum_value(lib.keep_directories, "none"),
        download=_enum_value(lib.download, "always"),
        description=lib.description,
    )


def build_step(lib: Any) -> Step:
    command = lib.command if isinstance(lib.command, list) else [lib.command]
    return Step(
        name=lib.name,
        image=lib.image,
        command=tuple(str(c) for c in command),
        parameters=_frozen_map({n: build_parameter(p) for n, p in lib.parameters.items()}),
        inputs=_frozen_map({n: build_input(i) for n, i in lib.inputs.items()}),
        environment_variables=_frozen_map(
            {
                n: EnvironmentVariable(n, None if e.default is None else str(e.default), e.optional)
                for n, e in lib.environment_variables.items()
            }
        ),
        outputs=tuple(str(getattr(o, "name", o)) for o in lib.outputs),
        environment=lib.environment,
        time_limit=_seconds(lib.time_limit),
        no_output_timeout=_seconds(lib.no_output_timeout),
        source_path=lib.source_path,
        stop_condition=lib.stop_condition,
        library_step=lib,
    )


def apply_override(lib_step: Any, override: Any) -> Any:
    """A copy of a library step with a node's ``override`` merged in.

    ``image``, ``command`` and ``environment`` replace the step's. Parameters, inputs and
    environment variables merge by name, key by key: what the override's item states replaces
    the step's value, everything it leaves out (``keep-directories``, ``filename``, ``optional``,
    ``type``, a description…) stays as the step has it. An item that states nothing but its name
    clears its default, so that only edges fill it (Valohai's idiom for "this input comes from
    upstream"). An item the step does not have is added as written (lint refuses that).
    """
    step = copy.deepcopy(lib_step)
    if override is None:
        return step
    if override.image:
        step.image = override.image
    if override.command:
        step.command = override.command
    if override.environment:
        step.environment = override.environment
    for attribute in ("parameters", "inputs", "environment_variables"):
        merged = getattr(step, attribute)
        for name, item in getattr(override, attribute).items():
            merged[name] = _merge_item(merged.get(name), item)
    return step


def _merge_item(base: Any, item: Any) -> Any:
    if base is None:
        return copy.deepcopy(item)
    stated = {key: value for key, value in _stated(item).items() if key != "name"}
    result = copy.deepcopy(base)
    if not stated:
        result.default = None
    for key in stated:
        attribute = key.replace("-", "_")
        if hasattr(item, attribute):
            setattr(result, attribute, copy.deepcopy(getattr(item, attribute)))
    result._original_data = {**_stated(base), **stated}
    return result


def build_node(lib: Any, steps: Mapping[str, Any]) -> Node:
    step_name: str | None = getattr(lib, "step", None)
    definition = None
    if step_name is not None and step_name in steps:
        definition = build_step(apply_override(steps[step_name], getattr(lib, "override", None)))
    return Node(
        name=lib.name,
        type=lib.type,
        step=step_name,
        actions=tuple(NodeAction(tuple(sorted(a.when)), tuple(a.if_), tuple(a.then)) for a in lib.actions),
        on_error=_enum_value(lib.on_error, "stop-all"),
        edge_merge_mode=_enum_value(getattr(lib, "edge_merge_mode", None), "replace"),
        task=getattr(lib, "task", None),
        definition=definition,
    )


def build_pipeline(lib: Any, steps: Mapping[str, Any]) -> Pipeline:
    return Pipeline(
        name=lib.name,
        nodes=_frozen_map({n.name: build_node(n, steps) for n in lib.nodes}),
        edges=tuple(
            Edge(
                e.source_node,
                e.source_type,
                e.source_key,
                e.target_node,
                e.target_type,
                e.target_key,
                MappingProxyType(dict(e.configuration or {})),
            )
            for e in lib.edges
        ),
        parameters=_frozen_map(
            {
                p.name: PipelineParameter(p.name, tuple(p.targets), p.default, p.description)
                for p in lib.parameters
            }
        ),
        reuse_executions=bool(lib.reuse_executions),
    )
