"""Start and stop of what capabilities run beside requests: crash cleanups, then background
services (schedulers, sweepers, supervisors), in manifest order; stopped in reverse.

The platform calls `start()` once its database is migrated and before it accepts work, and
`stop()` after its jobs have ended (see `Platform.stop`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from codeforge.platform.manifest import BackgroundService, Capability, CrashCleanup, Runtime

__all__ = ["Lifecycle"]

log = logging.getLogger("codeforge.lifecycle")


class _CleanupSweeper:
    """Runs the cleanups that ask to run again every `every` seconds, each on its own period."""

    def __init__(self, runtime: Runtime, cleanups: Sequence[tuple[str, CrashCleanup]]) -> None:
        self.runtime = runtime
        self.cleanups = cleanups
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for owner, cleanup in self.cleanups:
            thread = threading.Thread(
                target=self._loop, args=(owner, cleanup), name=f"codeforge-cleanup-{owner}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _loop(self, owner: str, cleanup: CrashCleanup) -> None:
        assert cleanup.every is not None
        while not self._stop.wait(cleanup.every):
            run_cleanup(self.runtime, owner, cleanup)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)


def run_cleanup(runtime: Runtime, owner: str, cleanup: CrashCleanup) -> None:
    """One run of a cleanup; a failure is logged, never stops the platform."""
    try:
        removed = list(cleanup.run(runtime))
    except Exception:
        log.exception("crash cleanup failed", extra={"capability": owner, "cleanup": cleanup.name})
        return
    if removed:
        log.warning(
            "cleaned up after an interrupted process",
            extra={"capability": owner, "cleanup": cleanup.name, "removed": removed},
        )


class Lifecycle:
    def __init__(self, capabilities: Sequence[Capability], runtime: Runtime) -> None:
        self.capabilities = capabilities
        self.runtime = runtime
        self._running: list[tuple[str, BackgroundService]] = []

    def start(self) -> None:
        """Cleanups first (nothing runs yet that could race them), then background services."""
        for cap in self.capabilities:
            for cleanup in cap.cleanup:
                run_cleanup(self.runtime, cap.name, cleanup)
        repeated = [(cap.name, c) for cap in self.capabilities for c in cap.cleanup if c.every]
        if repeated:
            self._start("crash cleanups", _CleanupSweeper(self.runtime, repeated))
        for cap in self.capabilities:
            for background in cap.background:
                self._start(f"{cap.name}: {background.name}", background.factory(self.runtime))

    def _start(self, name: str, service: BackgroundService) -> None:
        service.start()
        self._running.append((name, service))
        log.info("background service started", extra={"service": name})

    def stop(self) -> None:
        """Stop every started service, last started first; one failing does not keep the
        others running."""
        while self._running:
            name, service = self._running.pop()
            try:
                service.stop()
            except Exception:
                log.exception("background service failed to stop", extra={"service": name})

    @property
    def running(self) -> list[str]:
        return [name for name, _ in self._running]
