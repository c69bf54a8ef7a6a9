"""What the server has just checked, kept for a moment so the next request need not ask the
catalog again: the actor an API token stands for, the project a path names.

A ``Memo`` holds each value for ``seconds`` (the server uses ``MEMO_SECONDS``) and at most
``size`` values; anything older is asked for again. What it may cost, written where a user reads
it (docs/server.md "Accounts"): a token revoked, or a role changed, by *another* process — the
``assay server tokens revoke`` command, say — is still honoured for up to that long. Through the
server's own API the memo is cleared at once (``clear``), so a revocation there holds from the
next request.

Only the SHA-256 digest of a token is ever a key here, never the token.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

#: how long a checked token or a found project is trusted without asking the catalog again
MEMO_SECONDS = 2.0


class Memo(Generic[K, V]):
    def __init__(self, seconds: float = MEMO_SECONDS, size: int = 10_000) -> None:
        self.seconds = seconds
        self.size = size
        self._kept: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get(key)
            if kept is None:
                return None
            if kept[0] <= now:
                del self._kept[key]
                return None
            return kept[1]

    def put(self, key: K, value: V) -> None:
        if self.seconds <= 0:
            return
        with self._lock:
            self._kept[key] = (time.monotonic() + self.seconds, value)
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
