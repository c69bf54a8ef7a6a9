"""``assay.yaml``: project settings that Valohai keeps outside ``valohai.yaml``.

Optional, beside ``valohai.yaml``. Every key is optional::

    project: summarizer            # the project's name in the catalog (default: the folder's)
    pipelines:
      retries: 2                   # attempts after the first for nodes with `on-error: retry`
      slots: 4                     # executions at once (default: CPU count)
    approvals:
      require-different-approver: true   # the person who started a run may not approve it
    models:
      baseline-alias: production   # `baseline.<metric>` in conditions: this alias's version
      baseline-model: summarizer   # …of this model (default: the one model holding the alias)
      promote-alias: production    # moves to a version approved at a gate; false: none moves
    openlineage:                   # run events of executions (docs/openlineage.md); off by default
      transport: file              # file, console or http; false: off, even with OPENLINEAGE_URL set
      path: lineage/events.jsonl   # file: one event a line (default .assay/openlineage/events.jsonl)
      namespace: summarizer        # the jobs' namespace (default: the project's name)
      # transport: http takes url: (required), endpoint: (api/v1/lineage), timeout: (5 seconds)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from assay.errors import Problem, SpecError
from assay.spec.source import SourceMap, parse_yaml

SETTINGS_NAME = "assay.yaml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$")
_SCHEMA: dict[str, dict[str, type]] = {
    "pipelines": {"retries": int, "slots": int},
    "approvals": {"require-different-approver": bool},
    "models": {"baseline-alias": str, "baseline-model": str, "promote-alias": str},
}


#: ``openlineage.transport``: the openlineage-python transports Assay configures
LINEAGE_TRANSPORTS = ("file", "console", "http")
_LINEAGE_KEYS = {
    "transport": ("file", "console", "http"),
    "path": ("file",),
    "url": ("http",),
    "endpoint": ("http",),
    "timeout": ("http",),
    "namespace": LINEAGE_TRANSPORTS,
}
_URL = re.compile(r"^https?://[^/\s]+\S*$")


@dataclass(frozen=True)
class OpenLineageSettings:
    """``openlineage:``: where run events go (docs/openlineage.md)."""

    transport: str | None  # None: off (`openlineage: false`), even when OPENLINEAGE_URL is set
    path: str = ".assay/openlineage/events.jsonl"  # file: relative to the project folder
    url: str | None = None  # http
    endpoint: str = "api/v1/lineage"  # http
    timeout: float = 5.0  # http: seconds per attempt
    namespace: str | None = None  # default: the project's name


@dataclass(frozen=True)
class Settings:
    project: str | None = None
    retries: int = 2
    slots: int | None = None
    require_different_approver: bool = False
    baseline_alias: str = "production"
    baseline_model: str | None = None
    promote_alias: str | None = "production"
    openlineage: OpenLineageSettings | None = None  # None: assay.yaml says nothing


def load_settings(folder: Path) -> Settings:
    """The settings in ``folder/assay.yaml``, or the defaults when there is none."""
    path = folder / SETTINGS_NAME
    if not path.is_file():
        return Settings()
    parsed = parse_yaml(path.read_text(encoding="utf-8"), SETTINGS_NAME)
    if isinstance(parsed, Problem):
        raise SpecError(f"{SETTINGS_NAME} is not valid YAML", [parsed])
    data = parsed.data if parsed.data is not None else {}
    problems: list[Problem] = []
    values = _check(data, parsed.source, problems)
    if problems:
        raise SpecError(f"{SETTINGS_NAME} has {len(problems)} problem(s)", problems)
    return Settings(**values)


def _check(data: Any, source: SourceMap, problems: list[Problem]) -> dict[str, Any]:
    if not isinstance(data, dict):
        problems.append(source.problem((), "error", "assay.yaml must be a mapping of settings"))
        return {}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "project":
            if not isinstance(value, str) or not value.strip():
                problems.append(source.problem((key,), "error", "project must be a non-empty name"))
            else:
                values["project"] = value.strip()
            continue
        if key == "openlineage":
            lineage = _openlineage(value, source, problems)
            if lineage is not None:
                values["openlineage"] = lineage
            continue
        if key not in _SCHEMA:
            known = ", ".join(["project", *_SCHEMA, "openlineage"])
            problems.append(source.problem((key,), "error", f"unknown setting {key!r} (known: {known})"))
            continue
        if not isinstance(value, dict):
            problems.append(source.problem((key,), "error", f"{key} must be a mapping"))
            continue
        for name, item in value.items():
            expected = _SCHEMA[key].get(name)
            if expected is None:
                known = ", ".join(_SCHEMA[key])
                problems.append(
                    source.problem((key, name), "error", f"unknown setting {key}.{name} (known: {known})")
                )
            elif (key, name, item) == ("models", "promote-alias", False):
                values["promote_alias"] = None
            elif expected is str and (not isinstance(item, str) or not _NAME.match(item)):
                problems.append(
                    source.problem(
                        (key, name), "error", f"{key}.{name} must be a name (letters, digits, -_.)"
                    )
                )
            elif type(item) is not expected or (isinstance(item, int) and item < 0):
                problems.append(
                    source.problem((key, name), "error", f"{key}.{name} must be a {expected.__name__} ≥ 0")
                )
            else:
                values[name.replace("-", "_")] = item
    return values


def _openlineage(value: Any, source: SourceMap, problems: list[Problem]) -> OpenLineageSettings | None:
    """``openlineage:``, or None after adding every problem it has."""
    if value is False:
        return OpenLineageSettings(transport=None)
    if not isinstance(value, dict):
        message = "openlineage must be a mapping (transport: file, console or http) or false"
        problems.append(source.problem(("openlineage",), "error", message))
        return None
    found = len(problems)
    values: dict[str, Any] = {}
    for name, item in value.items():
        where, setting = ("openlineage", name), f"openlineage.{name}"
        if name not in _LINEAGE_KEYS:
            known = ", ".join(_LINEAGE_KEYS)
            problems.append(source.problem(where, "error", f"unknown setting {setting} (known: {known})"))
        elif name == "transport":
            if item is not False and item not in LINEAGE_TRANSPORTS:
                message = f"{setting} must be one of {', '.join(LINEAGE_TRANSPORTS)} (or false)"
                problems.append(source.problem(where, "error", message))
            values[name] = item or None
        elif name == "timeout":
            if isinstance(item, bool) or not isinstance(item, int | float) or item <= 0:
                problems.append(source.problem(where, "error", f"{setting} must be a number of seconds > 0"))
            values[name] = item
        elif name == "url" and not (isinstance(item, str) and _URL.match(item)):
            problems.append(source.problem(where, "error", f"{setting} must be an http:// or https:// URL"))
        elif not isinstance(item, str) or not item.strip():
            problems.append(source.problem(where, "error", f"{setting} must be a non-empty string"))
        else:
            values[name] = item.strip()
    transport = values.get("transport", "")
    if "transport" not in value:
        message = f"openlineage.transport is required: {', '.join(LINEAGE_TRANSPORTS)} (or false)"
        problems.append(source.problem(("openlineage",), "error", message))
    elif transport is not None:
        for name in value:
            if transport in LINEAGE_TRANSPORTS and transport not in _LINEAGE_KEYS.get(name, (transport,)):
                message = f"openlineage.{name} does not apply to transport {transport}"
                problems.append(source.problem(("openlineage", name), "error", message))
        if transport == "http" and "url" not in value:
            message = "openlineage.url is required with transport http"
            problems.append(source.problem(("openlineage",), "error", message))
    if len(problems) > found:
        return None
    if "timeout" in values:
        values["timeout"] = float(values["timeout"])
    return OpenLineageSettings(**values)
