"""How the ``assay`` command takes Ctrl-C, SIGTERM and SIGHUP, and what it says after one.

All three take the path Ctrl-C always took: ``Interrupted`` (a ``KeyboardInterrupt``) is raised
in the main thread, once. The execution being run, or every execution of the pipeline run being
driven, is stopped — TERM, a grace, KILL, to its whole process tree — and recorded ``stopped``;
a pipeline run is let go of, resumable. Then the command says what was stopped and what
continues it, and exits with 128 + the signal's number. A second signal does not interrupt that
settling: it only cuts the grace short (``process.hurry``).
"""

from __future__ import annotations

import contextlib
import signal
import sys
from types import FrameType

from assay.cli.literal import visible
from assay.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []
_said: list[str] = []  # what the command said about the signal, if it did


def install() -> None:
    """Take the signals in this process (the CLI's entry point calls it; tests in-process do not)."""
    for number in SIGNALS:
        signal.signal(number, _on_signal)


def _on_signal(number: int, _frame: FrameType | None) -> None:
    if _received:
        # NOTE: not imported here: a module is loaded already if anything runs to be hurried.
        process = sys.modules.get("assay.runtime.process")
        if process is not None:
            process.hurry()
        return
    _received.append(number)
    raise Interrupted(signal.Signals(number).name, number)


def ending(code: int) -> int:
    """The exit code of the command: 128 + the signal's number if a signal ended it. One that
    ended before it had anything to stop (while starting) says only that."""
    if not _received or code == 0:
        return code
    if not _said:
        say(f"assay: {Interrupted(signal.Signals(_received[0]).name).reason}")
    return 128 + _received[0]


def say(text: str) -> None:
    """A line on stderr, shown literally; nothing if the terminal is gone (SIGHUP)."""
    _said.append(text)
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(visible(text) + "\n")
        sys.stderr.flush()


def say_execution(exc: Interrupted, step: str, rerun: str) -> None:
    """After ``assay run``: which execution was stopped, and that nothing continues it."""
    if not exc.stopped:
        say(f"{exc.reason}: stopped before an execution of {step!r} was recorded; nothing ran")
        return
    counter, _ = exc.stopped[0]
    say(
        f"stopped execution #{counter} ({step}): {exc.reason}; it is recorded `stopped`.\n"
        f"A single execution is not continued: `{rerun}` runs it again."
    )


def say_pipeline(exc: Interrupted) -> None:
    """After ``assay pipeline run | resume | approve``: what was stopped, what continues the run."""
    if exc.pipeline_run is None:
        say(f"{exc.reason}: stopped before a pipeline run was recorded; nothing ran")
        return
    counter = exc.pipeline_run
    stopped = ", ".join(f"#{n} ({node})" for n, node in sorted(exc.stopped))
    say(
        f"pipeline run #{counter} {exc.reason}: "
        + (
            f"stopped executions {stopped} (recorded `stopped`); "
            if stopped
            else "no execution was running; "
        )
        + "nothing drives the run now.\n"
        f"Continue it with `assay pipeline resume {counter}` (what completed is not run again), "
        f"or end it with `assay pipeline stop {counter}`."
    )
