"""``model://NAME/VERSION`` and ``dataset://NAME/VERSION``: parsing and the rules for names.

``VERSION`` is a version's name (``v3``, ``train-2026-03``), an alias (``production``) or
``latest``. A trailing slash with no version (``model://summarizer/``) means "the next version
number" where a version is being created. The scheme may be left out where the kind is known
(``summarizer/v3`` on ``assay models show``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from assay.errors import InvalidRequest, closest

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,254}$")
NUMBERED = re.compile(r"^v([1-9][0-9]{0,8})$")
LATEST = "latest"


@dataclass(frozen=True)
class Ref:
    kind: str  # model | dataset
    name: str
    version: str | None  # None: no version given; "": a trailing slash (the next number)

    def __str__(self) -> str:
        return f"{self.kind}://{self.name}/{self.version or ''}"


def parse_ref(text: str, kind: str, *, scheme_required: bool = False) -> Ref:
    """Parse ``kind://name[/version]`` (the scheme optional unless ``scheme_required``)."""
    raw = text.strip()
    prefix = f"{kind}://"
    if raw.startswith(prefix):
        body = raw[len(prefix) :]
    elif scheme_required or "://" in raw:
        raise InvalidRequest(
            f"{text!r} is not a {kind} reference",
            hint=f"write {kind}://NAME/VERSION, e.g. {_example(kind)}",
        )
    else:
        body = raw
    name, slash, version = body.partition("/")
    if not NAME.match(name) or (slash and version and not NAME.match(version)):
        raise InvalidRequest(
            f"{text!r} is not a valid {kind} reference",
            hint=f"names use letters, digits, '-', '_' and '.': {_example(kind)}",
        )
    return Ref(kind, name, version if slash else None)


def check_version_name(kind: str, name: str) -> None:
    if not NAME.match(name) or name == LATEST:
        raise InvalidRequest(
            f"{name!r} cannot name a {kind} version",
            hint="use letters, digits, '-', '_' and '.'; 'latest' is reserved",
        )


def check_alias_name(kind: str, name: str) -> None:
    if not NAME.match(name) or name == LATEST or NUMBERED.match(name):
        raise InvalidRequest(
            f"{name!r} cannot be a {kind} alias",
            hint="use letters, digits, '-', '_' and '.'; 'latest' and vN are version names",
        )


def did_you_mean(wanted: str, known: list[str]) -> str:
    """``"did you mean 'x'? "`` for the closest known name, or nothing."""
    close = closest(wanted, known)
    return f"did you mean {close!r}? " if close else ""


def _example(kind: str) -> str:
    return "model://summarizer/v3" if kind == "model" else "dataset://domain-news/v1"
