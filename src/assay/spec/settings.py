"""``assay.yaml``: project settings that Valohai keeps outside ``valohai.yaml``.

Optional, beside ``valohai.yaml``. Every key is optional::

    project: summarizer            # the project's name in the catalog (default: the folder's)
    pipelines:
      retries: 2                   # attempts after the first for nodes with `on-error: retry`
      slots: 4                     # executions at once (default: CPU count)
    approvals:
      require-different-approver: true   # who started a run (or made a version) may not approve it
      required: 2                  # distinct approvers before a gate opens (four-eyes; default 1)
    models:
      baseline-alias: production   # `baseline.<metric>` in conditions: this alias's version
      baseline-model: summarizer   # …of this model (default: the one model holding the alias)
      promote-alias: production    # moves to a version approved at a gate; false: none moves
    images:                        # what each `image` of valohai.yaml provides (docs/runtime.md)
      python:3.11:
        requirements: [numpy==2.1.3, ./wheels/tools-0.1-py3-none-any.whl]
        requirements-file: requirements.txt   # relative to the project folder
        python: "3.11"             # a version to find on this host, or an interpreter's path
    openlineage:                   # run events of executions (docs/openlineage.md); off by default
      transport: file              # file, console or http; false: off, even with OPENLINEAGE_URL set
      path: lineage/events.jsonl   # file: one event a line (default .assay/openlineage/events.jsonl)
      namespace: summarizer        # the jobs' namespace (default: the project's name)
      # transport: http takes url: (required), endpoint: (api/v1/lineage), timeout: (5 seconds)
    environment:
      pass: [CUDA_VISIBLE_DEVICES, "AWS_*"]   # host variables a step sees (names or globs)
    secrets: [hf_read, MY_DSN]     # also secret, beside names with token/password/secret/key
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Any

from assay.errors import Problem, SpecError
from assay.spec.source import SourceMap, parse_yaml

SETTINGS_NAME = "assay.yaml"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$")
_SCHEMA: dict[str, dict[str, type]] = {
    "pipelines": {"retries": int, "slots": int},
    "approvals": {"require-different-approver": bool, "required": int},
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
class ImageDeclaration:
    """``images: NAME:``: what the environment standing for a Docker image holds."""

    name: str
    requirements: tuple[str, ...] = ()  # pip requirement specifiers, in order
    requirements_file: str | None = None  # a pip requirements file, relative to the project
    python: str | None = None  # "3.9" (found on this host) or a path to an interpreter


@dataclass(frozen=True)
class Settings:
    project: str | None = None
    retries: int = 2
    slots: int | None = None
    require_different_approver: bool = False
    #: ``approvals.required``: distinct approvers a gate needs before it opens (≥ 1)
    approvals_required: int = 1
    baseline_alias: str = "production"
    baseline_model: str | None = None
    promote_alias: str | None = "production"
    openlineage: OpenLineageSettings | None = None  # None: assay.yaml says nothing
    images: Mapping[str, ImageDeclaration] = field(default_factory=lambda: MappingProxyType({}))
    #: ``environment.pass``: host variables (names or fnmatch globs) a step's process sees
    pass_environment: tuple[str, ...] = ()
    #: ``secrets``: parameter and variable names whose values are secret (spec/secrets.py)
    secrets: frozenset[str] = frozenset()


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
        if key == "images":
            values["images"] = MappingProxyType(_images(value, source, problems))
            continue
        if key == "secrets":
            values["secrets"] = frozenset(_names(value, (key,), source, problems))
            continue
        if key == "environment":
            if not isinstance(value, dict) or set(value) - {"pass"}:
                message = "environment must be a mapping with one key, pass: [NAME or glob, ...]"
                problems.append(source.problem((key,), "error", message))
            else:
                values["pass_environment"] = tuple(
                    _names(value.get("pass", []), (key, "pass"), source, problems)
                )
            continue
        if key not in _SCHEMA:
            known = ", ".join(["project", *_SCHEMA, "images", "openlineage", "environment", "secrets"])
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
            elif (key, name) == ("approvals", "required"):
                if type(item) is not int or item < 1:
                    message = "approvals.required must be an integer ≥ 1 (distinct approvers a gate needs)"
                    problems.append(source.problem((key, name), "error", message))
                else:
                    values["approvals_required"] = item
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


def _names(value: Any, where: tuple[str, ...], source: SourceMap, problems: list[Problem]) -> list[str]:
    """A list of names (variable names, parameter names, globs), or [] after a problem."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        message = f"{'.'.join(where)} must be a list of names"
        problems.append(source.problem(where, "error", message))
        return []
    return [v.strip() for v in value]


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


_IMAGE_KEYS = ("requirements", "requirements-file", "python")


def _images(value: Any, source: SourceMap, problems: list[Problem]) -> dict[str, ImageDeclaration]:
    """``images:``: image name → declaration; every problem is added, bad entries left out."""
    if not isinstance(value, dict):
        problems.append(source.problem(("images",), "error", "images must map image names to what they hold"))
        return {}
    found: dict[str, ImageDeclaration] = {}
    for name, body in value.items():
        where: tuple[str, ...] = ("images", str(name))
        if not isinstance(name, str) or not name.strip():
            problems.append(source.problem(("images",), "error", "an image name must be a non-empty string"))
            continue
        body = {} if body is None else body
        if not isinstance(body, dict):
            message = f"images.{name} must be a mapping ({', '.join(_IMAGE_KEYS)})"
            problems.append(source.problem(where, "error", message))
            continue
        before = len(problems)
        for key in body:
            if key not in _IMAGE_KEYS:
                message = f"unknown setting images.{name}.{key} (known: {', '.join(_IMAGE_KEYS)})"
                problems.append(source.problem((*where, key), "error", message))
        requirements = body.get("requirements", [])
        if isinstance(requirements, str):
            requirements = [requirements]
        if not isinstance(requirements, list) or not all(
            isinstance(r, str) and r.strip() and not r.strip().startswith("-") for r in requirements
        ):
            message = (
                f"images.{name}.requirements must be a list of requirements (numpy==2.1.3, ./pkg.whl); "
                "pip options belong in a requirements-file"
            )
            problems.append(source.problem((*where, "requirements"), "error", message))
        file = body.get("requirements-file")
        if file is not None and (not isinstance(file, str) or not _relative(file)):
            message = f"images.{name}.requirements-file must be a path inside the project folder"
            problems.append(source.problem((*where, "requirements-file"), "error", message))
        python = body.get("python")
        if isinstance(python, int | float) and not isinstance(python, bool):
            python = str(python)  # `python: 3.10` in YAML is a number; 3.1 would be wrong, say so
            if python == "3.1":
                message = (
                    f'images.{name}.python: write the version in quotes ("3.10"): YAML reads 3.10 as 3.1'
                )
                problems.append(source.problem((*where, "python"), "error", message))
        if python is not None and (not isinstance(python, str) or not python.strip()):
            message = f'images.{name}.python must be a version ("3.11") or an interpreter\'s path'
            problems.append(source.problem((*where, "python"), "error", message))
        if len(problems) > before:
            continue
        found[name] = ImageDeclaration(
            name=name,
            requirements=tuple(r.strip() for r in requirements),
            requirements_file=file,
            python=python.strip() if isinstance(python, str) else None,
        )
    return found


def _relative(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return bool(path.strip()) and not PurePosixPath(path).is_absolute() and ".." not in parts
