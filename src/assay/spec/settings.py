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


@dataclass(frozen=True)
class Settings:
    project: str | None = None
    retries: int = 2
    slots: int | None = None
    require_different_approver: bool = False
    baseline_alias: str = "production"
    baseline_model: str | None = None
    promote_alias: str | None = "production"


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
        if key not in _SCHEMA:
            known = ", ".join(["project", *_SCHEMA])
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
