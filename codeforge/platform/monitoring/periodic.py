"""One background thread that does a piece of work again and again (alert evaluation,
retention sweeps, following job output, remote-write), so each part holds a `Periodic`
instead of its own start/stop/loop. The scraper (its own schedule per target) and the log
writer (woken by its queue) keep their own loops."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

__all__ = ["Periodic"]

log = logging.getLogger("codeforge.monitoring")


class Periodic:
    """Calls `tick` every `interval_s()` seconds on a daemon thread named `name` until
    `stop()`. `tick` may return the seconds to wait before its next call instead (0: at once,
    for a backlog; more: a backoff). An exception is logged with `what` and the work runs
    again after the interval: a database away for a moment must not end the loop."""

    def __init__(
        self,
        name: str,
        what: str,
        interval_s: Callable[[], float],
        tick: Callable[[], float | None],
        *,
        join_s: float = 10.0,
    ) -> None:
        self.name, self.what = name, what
        self._interval_s, self._tick, self._join_s = interval_s, tick, join_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        """True once `stop()` was called: long work checks it between steps."""
        return self._stop.is_set()

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._join_s)
            self._thread = None

    def _run(self) -> None:
        wait = self._interval_s()
        while not self._stop.wait(wait):
            try:
                asked = self._tick()
            except Exception:
                log.exception("%s failed; it runs again next interval", self.what)
                asked = None
            wait = self._interval_s() if asked is None else asked
