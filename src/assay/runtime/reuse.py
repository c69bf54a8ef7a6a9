"""Reuse: an execution whose inputs of every kind are the same as an earlier one's need not run.

The *facts* of an execution are its step definition, built command, parameter values, input
file contents (sha256 per input and file name), image and code commit. Their digest is the
execution's reuse key. An execution from a dirty work tree (or outside git) has no key: its
code is not pinned by a commit, so it is never reused and never reuses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from assay.catalog import executions
from assay.catalog.tables import Execution
from assay.spec.model import Step


@dataclass(frozen=True)
class Decision:
    execution: Execution | None  # the execution to reuse, if any
    note: str


def facts(
    step: Step, script: str, parameters: Mapping[str, Any], input_files: Mapping[str, list[tuple[str, str]]],
    git: Mapping[str, Any], environment: Mapping[str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    definition = json.dumps(step.library_step.serialize(), sort_keys=True, default=str)
    recorded = {
        "step": hashlib.sha256(definition.encode()).hexdigest(),
        "command": script,
        "parameters": dict(parameters),
        "inputs": {name: sorted(files) for name, files in input_files.items()},
        "image": step.image,
        "environment": dict(environment or {}),
        "commit": git.get("commit"),
        "dirty": git.get("dirty"),
    }
    # The shape the catalog gives back (JSON: lists, not tuples), so comparisons are like for like.
    result: dict[str, Any] = json.loads(json.dumps(recorded, default=str))
    return result


def key(execution_facts: Mapping[str, Any]) -> str | None:
    if not execution_facts.get("commit") or execution_facts.get("dirty") is not False:
        return None
    text = json.dumps(execution_facts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def decide(session: Session, project_id: str, step: str, execution_facts: Mapping[str, Any]) -> Decision:
    reuse_key = key(execution_facts)
    if reuse_key is None:
        why = "outside a git work tree" if not execution_facts.get("commit") else "the work tree has changes"
        return Decision(None, f"not reused: {why}, so the code is not pinned by a commit")
    found = executions.find_reusable(session, project_id, reuse_key)
    if found is not None:
        return Decision(found, f"reused execution #{found.counter}: same step, command, parameters, inputs, "
                               "image and commit")  # fmt: skip
    previous = executions.latest_reusable_of_step(session, project_id, step)
    if previous is None:
        return Decision(
            None, f"not reused: no earlier completed execution of step {step!r} from a clean commit"
        )
    return Decision(
        None,
        f"not reused: differs from #{previous.counter} in "
        f"{_differences(previous.reuse_facts, execution_facts)}",
    )


def _differences(before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    changed = []
    for part, label in (
        ("step", "step definition"),
        ("command", "command"),
        ("image", "image"),
        ("commit", "commit"),
    ):
        if before.get(part) != now.get(part):
            changed.append(label)
    for part in ("parameters", "inputs", "environment"):
        old, new = before.get(part) or {}, now.get(part) or {}
        names = sorted(n for n in {*old, *new} if old.get(n) != new.get(n))
        if names:
            changed.append(f"{part} {', '.join(names)}")
    return "; ".join(changed) or "nothing recorded (an older record)"
