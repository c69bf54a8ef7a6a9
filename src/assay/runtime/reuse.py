"""Reuse: an execution whose inputs of every kind are the same as an earlier one's need not run.

The *facts* of an execution are its step definition, built command, parameter values, input
file contents (sha256 per input and file name), image and code commit. Their digest is the
execution's reuse key. An execution from a dirty work tree (or outside git) has no key: its
code is not pinned by a commit, so it is never reused and never reuses.

In a pipeline run, reuse is per node (``decide``): an execution of the same run is never
reused, no two nodes of one run stand for one execution, and the execution that stood for the
same node of the same pipeline before is preferred. ``--explain-reuse`` prints which rule chose.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from assay.catalog import Catalog, reuses
from assay.catalog.reuses import Candidate, Evidence, Place
from assay.spec.model import Step


@dataclass(frozen=True)
class Choice:
    execution_id: str
    note: str  # which rule chose it, for --explain-reuse


@dataclass(frozen=True)
class Decision:
    choices: tuple[Choice, ...]  # the executions that may be reused, best first
    note: str  # why nothing is reused, when none of them can be


def facts(
    step: Step, script: str, parameters: Mapping[str, Any], input_files: Mapping[str, list[tuple[str, str]]],
    git: Mapping[str, Any], environment: Mapping[str, str] | None = None,
    image_environment: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    definition = json.dumps(step.library_step.serialize(), sort_keys=True, default=str)
    recorded = {
        "step": hashlib.sha256(definition.encode()).hexdigest(),
        "command": script,
        "parameters": dict(parameters),
        "inputs": {name: sorted(files) for name, files in input_files.items()},
        "image": step.image,
        "image_environment": image_environment,  # the declaration's key: what the image holds
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


SAME = "same step, command, parameters, inputs, image and commit"


def decide(
    catalog: Catalog, project_id: str, step: str, execution_facts: Mapping[str, Any], place: Place | None
) -> Decision:
    """The identical earlier executions this one may stand for, best first, and why.

    In a pipeline run (``place``): never one made earlier in the same run, never one another
    node of the run stands for; first those that stood for the same node of the same pipeline
    before, then the newest. The caller claims one (``reuses.claim_and_read``) before using it.
    """
    reuse_key = key(execution_facts)
    if reuse_key is None:
        why = "outside a git work tree" if not execution_facts.get("commit") else "the work tree has changes"
        return Decision((), f"not reused: {why}, so the code is not pinned by a commit")
    return choose(reuses.evidence(catalog, project_id, reuse_key=reuse_key, step=step, place=place),
                  step, execution_facts, place)  # fmt: skip


def choose(
    evidence: Evidence, step: str, execution_facts: Mapping[str, Any], place: Place | None
) -> Decision:
    """``decide`` over what the catalog knows: no database here."""
    found = evidence.candidates
    if place is None:
        choices = tuple(
            Choice(e.id, f"reused execution #{e.counter}: the newest identical one ({SAME})") for e in found
        )
        return Decision(choices, _miss(evidence, step, execution_facts))
    held = evidence.claimed
    refused: list[str] = []
    free: list[Candidate] = []
    for execution in found:
        holder = held.get(execution.id)
        if execution.pipeline_run_id == place.run_id:
            refused.append(
                f"#{execution.counter} was made earlier in this run (node {execution.pipeline_node!r})"
            )
        elif holder is not None and holder != (place.node, place.index):
            refused.append(f"#{execution.counter} already stands for node {holder[0]!r} of this run")
        else:
            free.append(execution)
    before = evidence.stood_for
    choices = tuple(
        Choice(e.id, f"reused execution #{e.counter}: it stood for node {place.node!r} of pipeline "
                  f"{place.pipeline!r} before ({SAME})")
        for e in free if e.id in before
    ) + tuple(
        Choice(e.id, f"reused execution #{e.counter}: the newest identical one no node of this run "
                     f"stands for; none stood for node {place.node!r} before ({SAME})")
        for e in free if e.id not in before
    )  # fmt: skip
    if refused:
        return Decision(choices, f"not reused: identical, but {'; '.join(refused)}")
    return Decision(choices, _miss(evidence, step, execution_facts))


def _miss(evidence: Evidence, step: str, execution_facts: Mapping[str, Any]) -> str:
    previous = evidence.previous
    if previous is None:
        return f"not reused: no earlier completed execution of step {step!r} from a clean commit"
    changed = _differences(previous.reuse_facts, execution_facts)
    return f"not reused: differs from #{previous.counter} in {changed}"


def _differences(before: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    changed = []
    for part, label in (
        ("step", "step definition"),
        ("command", "command"),
        ("image", "image"),
        ("image_environment", "the image's declared environment"),
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
