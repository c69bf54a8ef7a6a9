"""Resolve a step's parameter values: defaults (flags included), then given values, validated.

Values arrive as text from the command line (``--param epochs=5``) or as JSON values from a
pipeline; both end as the typed map that goes to ``parameters.json`` and the command builder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from valohai_yaml import ValidationErrors

from assay.errors import InvalidRequest
from assay.spec.model import Parameter, Step

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off", ""})


def parse_assignments(pairs: Sequence[str], what: str) -> dict[str, list[str]]:
    """``["a=1", "b=x", "b=y"]`` → ``{"a": ["1"], "b": ["x", "y"]}``; repeats collect."""
    result: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidRequest(
                f"{what} {pair!r} is not NAME=VALUE", hint=f"write it as --{what} name=value"
            )
        result.setdefault(name.strip(), []).append(value)
    return result


def resolve_parameters(
    step: Step, given: Mapping[str, Any], *, as_text: bool = False, from_edges: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Every parameter's final value, flags included; raise ``InvalidRequest`` listing all problems.

    With ``as_text`` the given values are lists of strings from the command line and are
    converted to each parameter's type. A value named in ``from_edges`` came by a pipeline
    edge: a parameter that declares no ``type`` keeps its JSON type (a metadata ``1`` stays
    the number 1). Parameters with no value (optional ones, and flags with no default) are
    left out, as Valohai leaves them out of the command.
    """
    unknown = sorted(set(given) - set(step.parameters))
    problems = [f"step {step.name!r} has no parameter {name!r}" + _known(step.parameters) for name in unknown]
    values: dict[str, Any] = {}
    for name, parameter in step.parameters.items():
        try:
            if name in given and as_text:
                value = _coerce(parameter, given[name])
            elif name in given and name in from_edges and not parameter.typed:
                value = _as_json(parameter, given[name])
            elif name in given:
                value = _normalize(parameter, given[name])
            else:
                value = _normalize(parameter, parameter.default)
        except ValueError as exc:
            problems.append(f"parameter {name!r}: {exc}")
            continue
        if value is None or (value == [] and parameter.multiple):
            if not parameter.optional and parameter.type != "flag":
                problems.append(f"parameter {name!r} needs a value (it has no default and is not optional)")
            continue
        problems.extend(f"parameter {name!r}: {message}" for message in _validate(step, name, value))
        values[name] = value
    if problems:
        raise InvalidRequest("; ".join(problems), hint=f"see the parameters of {step.name!r} in valohai.yaml")
    return values


def _known(parameters: Mapping[str, Parameter]) -> str:
    return f" (it has: {', '.join(parameters)})" if parameters else " (it has no parameters)"


def _normalize(parameter: Parameter, value: Any) -> Any:
    if value is None:
        return None
    if parameter.multiple:
        items = list(value) if isinstance(value, list | tuple) else [value]
        return [_scalar(parameter, v) for v in items]
    if isinstance(value, list | tuple):
        raise ValueError(f"takes one value, got {len(value)}")
    return _scalar(parameter, value)


def _as_json(parameter: Parameter, value: Any) -> Any:
    """An edge's value for an untyped parameter: JSON scalars as they are, anything else as text."""
    if value is None:
        return None
    items = list(value) if isinstance(value, list | tuple) else [value]
    atoms = [v if isinstance(v, str | int | float | bool) else _json_text(v) for v in items]
    if parameter.multiple:
        return atoms
    if isinstance(value, list | tuple):
        raise ValueError(f"takes one value, got {len(items)}")
    return atoms[0]


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)


def coerce_text(parameter: Parameter, texts: Any) -> Any:
    """Values typed on a command line (one string, or a list for repeats) → the parameter's type."""
    return _coerce(parameter, texts)


def _coerce(parameter: Parameter, texts: Any) -> Any:
    items = list(texts) if isinstance(texts, list | tuple) else [texts]
    if parameter.multiple:
        return [_from_text(parameter, t) for t in items]
    if len(items) != 1:
        raise ValueError(f"takes one value, got {len(items)}")
    return _from_text(parameter, items[0])


def _from_text(parameter: Parameter, text: Any) -> Any:
    if not isinstance(text, str):
        return _scalar(parameter, text)
    if parameter.type == "flag":
        lowered = text.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{text!r} is not a flag value (use true or false)")
    if text == "" and (parameter.type != "string" or parameter.optional):  # empty: left out
        return None
    return _scalar(parameter, text)


def _scalar(parameter: Parameter, value: Any) -> Any:
    if parameter.type == "integer":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an integer")
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value), 10)
        except ValueError:
            raise ValueError(f"{value!r} is not an integer") from None
    if parameter.type == "float":
        try:
            return float(str(value))
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None
    if parameter.type == "flag":
        if isinstance(value, bool):
            return value
        return _from_text(parameter, str(value))
    return value if isinstance(value, str) else str(value)


def _validate(step: Step, name: str, value: Any) -> list[str]:
    library_parameter = step.library_step.parameters[name]
    try:
        library_parameter.validate(value)
    except ValidationErrors as exc:
        return [str(getattr(error, "message", error)) for error in exc]
    return []
