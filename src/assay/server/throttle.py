"""Slowing down password guessing at the sign-in form, per name and per client address.

Each failure within ``window`` seconds counts against both the name and the address. The
next attempt waits ``delay × 2^(failures-1)`` (at most ``MAX_DELAY``); after ``failures``
failures the attempt is refused at once with 429 until the oldest failure leaves the window.
A success clears its name's count (the address keeps its own: one account that works does not
buy more guesses at others). In memory: one server process is one throttle.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

MAX_DELAY = 5.0
#: keys kept at most; the stalest go first (a flood of made-up names cannot grow it forever)
MAX_KEYS = 10_000


@dataclass(frozen=True)
class Verdict:
    delay: float
    #: seconds until an attempt is allowed again; None: it is allowed now (after ``delay``)
    retry_after: float | None


class SignInThrottle:
    def __init__(
        self, failures: int, window: float, delay: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.window = window
        self.delay = delay
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}

    def check(self, name: str, address: str) -> Verdict:
        now = self._clock()
        with self._lock:
            counts = [self._recent(key, now) for key in self._keys(name, address)]
        worst = max(counts, key=len)
        if len(worst) >= self.failures:
            return Verdict(0.0, max(1.0, worst[0] + self.window - now))
        delay = min(MAX_DELAY, self.delay * 2 ** (len(worst) - 1)) if worst else 0.0
        return Verdict(delay, None)

    def failed(self, name: str, address: str) -> None:
        now = self._clock()
        with self._lock:
            for key in self._keys(name, address):
                self._recent(key, now).append(now)
                self._seen[key] = self._seen.pop(key)  # the most recent last
            while len(self._seen) > MAX_KEYS:
                del self._seen[next(iter(self._seen))]

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._seen.pop("name:" + name, None)

    def _keys(self, name: str, address: str) -> tuple[str, str]:
        return "name:" + name, "address:" + address

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._seen.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times
