"""Secret values: which parameters and environment variables hold them, and how they are kept.

A name is secret when one of its words (split at ``-``, ``_``, ``.`` and camelCase) is
``token``, ``password``, ``passwd``, ``pwd``, ``secret``, ``key``, ``apikey`` or
``credentials``, or ends in ``token``/``password``/``secret`` (any case: ``API_KEY``,
``hf_token``, ``db-password``, ``githubToken``) — but not ``max-new-tokens``, ``tokenizer``
or ``keyword`` — or when ``assay.yaml`` names it under ``secrets:``.
A secret's value reaches the process and nothing else: the catalog keeps its name and a
digest (``secret:sha256:…``, salted with the project's id, so the same value gives the same
digest and reuse still works), and every printout shows ``***``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MASK = "***"
DIGEST_PREFIX = "secret:sha256:"
_WORDS = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_SECRET_WORDS = frozenset({"token", "password", "passwd", "pwd", "secret", "key", "apikey", "credentials"})
_SECRET_ENDINGS = ("token", "password", "secret")
_SHORTEST_REDACTED = 4  # a shorter value is not searched for in text (it would mask too much)


def looks_secret(name: str) -> bool:
    words = [w.lower() for w in _WORDS.split(name) if w]
    return any(w in _SECRET_WORDS or w.endswith(_SECRET_ENDINGS) for w in words)


@dataclass(frozen=True)
class Secrets:
    """The secret names of one project (``marked``: from ``assay.yaml``) and its digest salt."""

    salt: str
    marked: frozenset[str] = frozenset()

    def is_secret(self, name: str) -> bool:
        return name in self.marked or looks_secret(name)

    def digest(self, name: str, value: Any) -> str:
        text = value if isinstance(value, str) else repr(value)
        material = "\0".join(("assay-secret", self.salt, name, text)).encode("utf-8", "surrogatepass")
        return DIGEST_PREFIX + hashlib.sha256(material).hexdigest()

    def masked(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` as shown and stored: a secret's value is ``***``."""
        return {
            name: MASK if self.is_secret(name) and value is not None else value
            for name, value in values.items()
        }

    def digests(self, values: Mapping[str, Any]) -> dict[str, str]:
        """Name → digest of each secret value in ``values``."""
        return {
            name: self.digest(name, value)
            for name, value in values.items()
            if self.is_secret(name) and value is not None
        }

    def for_facts(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` as reuse compares them: a secret's value by its digest."""
        found = self.digests(values)
        return {name: found.get(name, value) for name, value in values.items()}

    def redactor(self, *value_maps: Mapping[str, Any]) -> Redactor:
        values = [
            str(value)
            for values in value_maps
            for name, value in values.items()
            if self.is_secret(name) and value is not None
        ]
        return Redactor(values)


class Redactor:
    """Replaces the given secret values wherever they appear in a text (a command, a log line)."""

    def __init__(self, values: Iterable[str]) -> None:
        found = sorted({v for v in values if len(v) >= _SHORTEST_REDACTED}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, found))) if found else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def __call__(self, text: str) -> str:
        return text if self._pattern is None else self._pattern.sub(MASK, text)
