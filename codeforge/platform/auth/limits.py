"""Rate limits on failed authentication, per source address.

`AuthLimiter` is the interface the HTTP layer uses; `InProcessAuthLimiter` keeps its counts
in this process. Replicas behind one load balancer each count on their own, so an attacker
gets at most N times the limit; a shared implementation (a PostgreSQL table or Redis keyed by
address and minute) can replace it behind the same two methods.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Protocol

__all__ = ["AuthLimiter", "InProcessAuthLimiter"]


class AuthLimiter(Protocol):
    def retry_after(self, source: str) -> int:
        """Seconds until `source` may try again; 0 when it may try now."""
        ...

    def failed(self, source: str) -> None:
        """Record one failed authentication from `source`."""
        ...


class InProcessAuthLimiter:
    """A sliding window of failures per address: `limit` failures within `window` seconds
    block the address until the oldest of them leaves the window."""

    def __init__(
        self,
        limit: int,
        window: float = 60.0,
        *,
        max_sources: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.max_sources = max_sources  # bounded memory under a spray from many addresses
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, source: str, now: float) -> deque[float] | None:
        times = self._failures.get(source)
        if times is None:
            return None
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[source]
            return None
        return times

    def retry_after(self, source: str) -> int:
        now = self._clock()
        with self._lock:
            times = self._recent(source, now)
            if times is None or len(times) < self.limit:
                return 0
            return max(1, math.ceil(times[-self.limit] + self.window - now))

    def failed(self, source: str) -> None:
        now = self._clock()
        with self._lock:
            times = self._recent(source, now) or deque(maxlen=self.limit)
            times.append(now)
            self._failures[source] = times
            self._failures.move_to_end(source)
            while len(self._failures) > self.max_sources:
                self._failures.popitem(last=False)
