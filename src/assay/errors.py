"""The one error tree of Assay.

Every error a user can see is an ``AssayError``. Subclasses are chosen by audience, and each
maps to exactly one CLI exit code and one HTTP status, declared here and nowhere else::

    AssayError                    1  500  something Assay could not do
    ├── SpecError                 2  422  the user's valohai.yaml / assay.yaml is wrong (carries problems)
    ├── InvalidRequest            2  422  a parameter, input or option given to a command is wrong
    ├── NotFound                  3  404  no execution / datum / alias by that reference
    ├── Conflict                  4  409  the thing exists already or was decided already
    ├── PermissionDenied          5  403  the user may not do that
    ├── StepFailed                6  200  the user's command ran and failed (the run itself is recorded)
    └── StorageError              7  500  the artifact store refused: missing or corrupt blob

Messages say where and what next: file and line for YAML, command / exit code / log tail for a
failed step, the id and the command that shows more for everything else.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


class AssayError(Exception):
    """Root of every error Assay raises on purpose."""

    exit_code = 1
    http_status = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


@dataclass(frozen=True)
class Problem:
    """One finding about a YAML file: where it is, how bad it is, what it says."""

    file: str
    line: int
    column: int
    severity: str  # "error" | "warning" | "note"
    message: str
    snippet: str = ""

    def format(self) -> str:
        head = f"{self.file}:{self.line}:{self.column}: {self.severity}: {self.message}"
        if not self.snippet:
            return head
        caret = " " * (self.column - 1) + "^"
        return f"{head}\n    {self.snippet}\n    {caret}"


class SpecError(AssayError):
    """The user's YAML is wrong. ``problems`` lists every finding, not just the first."""

    exit_code = 2
    http_status = 422

    def __init__(self, message: str, problems: list[Problem] | None = None, *, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = list(problems or [])

    def __str__(self) -> str:
        lines = [self.message, *(p.format() for p in self.problems)]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class InvalidRequest(AssayError):
    """A value handed to a command is wrong: unknown parameter, missing input, bad URI."""

    exit_code = 2
    http_status = 422


class NotFound(AssayError):
    exit_code = 3
    http_status = 404


class Conflict(AssayError):
    exit_code = 4
    http_status = 409


class PermissionDenied(AssayError):
    exit_code = 5
    http_status = 403


class StepFailed(AssayError):
    """The user's command exited non-zero. The execution is recorded with status ``error``."""

    exit_code = 6
    http_status = 200


class StorageError(AssayError):
    """The artifact store cannot hand out a blob: it is missing, or its bytes no longer match."""

    exit_code = 7
    http_status = 500


def closest(wanted: str, known: Iterable[str]) -> str | None:
    """The known name closest to ``wanted`` (a typo's likely meaning), or None.

    One rule for every "did you mean": a close match first, then a looser one, so that
    ``evalute`` finds ``evaluate-model`` as readily as ``evaluate`` does.
    """
    candidates = [name for name in known if isinstance(name, str)]
    for cutoff in (0.6, 0.4):
        found = difflib.get_close_matches(wanted, candidates, n=1, cutoff=cutoff)
        if found:
            return found[0]
    return None
