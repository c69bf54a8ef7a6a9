"""The one error tree of Assay.

Every error a user can see is an ``AssayError``. Subclasses are chosen by audience, and each
maps to exactly one CLI exit code and one HTTP status, declared here and nowhere else::

    AssayError                    1  500  something Assay could not do
    ├── SpecError                 2  422  the user's valohai.yaml / assay.yaml is wrong (carries problems)
    ├── InvalidRequest            2  422  a parameter, input or option given to a command is wrong
    ├── NotFound                  3  404  no execution / datum / alias by that reference
    ├── Conflict                  4  409  the thing exists already or was decided already
    ├── PermissionDenied          5  403  the user may not do that
    │   └── Unauthenticated       5  401  no credential, or one that is wrong, expired or revoked
    ├── StepFailed                6  200  the user's command ran and failed (the run itself is recorded)
    └── StorageError              7  500  the artifact store refused: missing or corrupt blob

Messages say where and what next: file and line for YAML, command / exit code / log tail for a
failed step, the id and the command that shows more for everything else.

Outside the tree, ``Interrupted`` (a ``KeyboardInterrupt``) is a signal — Ctrl-C, SIGTERM,
SIGHUP — asking the command to end: it unwinds through everything, each layer settling what it
holds on the way (the execution it runs, the pipeline run it drives), and the CLI exits with
128 + the signal's number.
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


class Unauthenticated(PermissionDenied):
    """The server does not know who is asking: no token or session, or one that is wrong,
    expired or revoked. Which of those is never said, so a guesser learns nothing."""

    http_status = 401


class StepFailed(AssayError):
    """The user's command exited non-zero. The execution is recorded with status ``error``."""

    exit_code = 6
    http_status = 200


class StorageError(AssayError):
    """The artifact store cannot hand out a blob: it is missing, or its bytes no longer match."""

    exit_code = 7
    http_status = 500


class Interrupted(KeyboardInterrupt):
    """A signal asked this process to end (``cli/signals.py`` raises it in the main thread).

    What was stopped on the way out is noted on it, for the CLI to say: the executions
    (counter, step or node) and the pipeline run, if one was being driven.
    """

    def __init__(self, signal_name: str = "SIGINT", signal_number: int = 2) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.signal_number = signal_number
        self.stopped: list[tuple[int, str]] = []
        self.pipeline_run: int | None = None

    @classmethod
    def of(cls, exc: BaseException) -> Interrupted:
        """``exc`` itself when it is one; a plain ``KeyboardInterrupt`` is Ctrl-C."""
        return exc if isinstance(exc, Interrupted) else cls()

    @property
    def reason(self) -> str:
        """What an execution it stopped records: starts with "interrupted" (resume runs it again)."""
        return f"interrupted by {self.signal_name}{_SIGNAL_NOTES.get(self.signal_name, '')}"

    @property
    def exit_code(self) -> int:
        return 128 + self.signal_number

    def noting(self, counter: int, name: str) -> Interrupted:
        """Note an execution stopped on the way out; returns itself, to be raised."""
        if (counter, name) not in self.stopped:
            self.stopped.append((counter, name))
        return self


_SIGNAL_NOTES = {"SIGINT": " (Ctrl-C)", "SIGHUP": " (the terminal closed)"}


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
