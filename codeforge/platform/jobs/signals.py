"""Wakes event streams when a job in this process writes an event.

Streams also poll the database, so events written by another replica arrive too,
only a little later.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress

__all__ = ["JobSignals", "Listener"]


class Listener:
    """One stream's registered waiter (see JobSignals.listen)."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def clear(self) -> None:
        self.event.clear()

    async def wait(self, timeout: float) -> None:
        """Until notified since the last clear(), or `timeout` seconds."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self.event.wait(), timeout)


class JobSignals:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = defaultdict(set)

    def notify(self, job_id: str) -> None:
        """Callable from any thread."""
        with self._lock:
            waiters = list(self._waiters.get(job_id, ()))
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    @contextmanager
    def listen(self, job_id: str) -> Iterator[Listener]:
        """A waiter registered for as long as the block runs. Clear it, then check for
        events, then wait: a notify that lands between the check and the wait is kept,
        not lost until the next poll."""
        listener = Listener()
        entry = (asyncio.get_running_loop(), listener.event)
        with self._lock:
            self._waiters[job_id].add(entry)
        try:
            yield listener
        finally:
            with self._lock:
                self._waiters[job_id].discard(entry)
                if not self._waiters[job_id]:
                    del self._waiters[job_id]
