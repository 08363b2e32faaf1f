"""One `Monitoring` per platform (data dir and database): its telemetry stores and the loops
that feed and watch them (scraper, remote-write, log writer, alert evaluator, retention).

Service functions, protocol endpoints and background services reach it with
`monitoring_for(settings)`; the capability's background service starts its loops after the
platform's crash cleanups and stops them when the platform stops. Parts are made on first
use, so an operation answered on a platform built by hand still finds its store."""

from __future__ import annotations

import importlib
import logging
import threading
from typing import TYPE_CHECKING, Any

from codeforge.platform.monitoring.settings import MonitoringSettings
from codeforge.platform.monitoring.storage import StoreHome
from codeforge.platform.settings import Settings

if TYPE_CHECKING:
    from codeforge.platform.db import Database

__all__ = ["PARTS", "Monitoring", "MonitoringService", "monitoring_for"]

log = logging.getLogger("codeforge.monitoring")

# name -> "module:Class". Each class is built as Class(monitoring); one with `start()` and
# `stop()` is a loop, started in this order and stopped in reverse.
PARTS: dict[str, str] = {
    "metrics": "codeforge.platform.monitoring.metrics.tsdb:MetricsStore",
    "logs": "codeforge.platform.monitoring.logs.store:LogStore",
    "traces": "codeforge.platform.monitoring.traces.store:TraceStore",
    "errors": "codeforge.platform.monitoring.errors.store:ErrorStore",
    "notifier": "codeforge.platform.monitoring.alerts.notify:Notifier",
    "scraper": "codeforge.platform.monitoring.metrics.scraper:Scraper",
    "remote_write": "codeforge.platform.monitoring.metrics.remote_write:RemoteWriter",
    "job_output": "codeforge.platform.monitoring.logs.jobs:JobOutputFollower",
    "alerts": "codeforge.platform.monitoring.alerts.evaluator:AlertEvaluator",
}


class Monitoring:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = MonitoringSettings()
        self.home = StoreHome(settings)
        self.db: Database | None = None  # the platform's state (targets, rules); set by the service
        self._parts: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._started: list[Any] = []

    def part(self, name: str) -> Any:
        with self._lock:
            found = self._parts.get(name)
            if found is None:
                module, cls = PARTS[name].split(":")
                found = self._parts[name] = getattr(importlib.import_module(module), cls)(self)
            return found

    # Any: the parts import this module for their own `Monitoring` argument, so naming their
    # types here would make an import circle.
    @property
    def metrics(self) -> Any:
        return self.part("metrics")

    @property
    def logs(self) -> Any:
        return self.part("logs")

    @property
    def traces(self) -> Any:
        return self.part("traces")

    @property
    def errors(self) -> Any:
        return self.part("errors")

    @property
    def notifier(self) -> Any:
        return self.part("notifier")

    def start(self, db: Database) -> None:
        self.db = db
        for name in PARTS:
            part = self.part(name)
            if hasattr(part, "start"):
                part.start()
                self._started.append(part)

    def stop(self) -> None:
        while self._started:
            part = self._started.pop()
            try:
                part.stop()
            except Exception:
                log.exception("monitoring part failed to stop", extra={"part": type(part).__name__})
        with self._lock:
            for part in self._parts.values():
                close = getattr(part, "close", None)
                if close is not None:
                    close()
            self._parts.clear()


_INSTANCES: dict[tuple[str, str], Monitoring] = {}
_INSTANCES_LOCK = threading.Lock()


def monitoring_for(settings: Settings) -> Monitoring:
    key = (str(settings.data_dir), settings.resolved_database_url)
    with _INSTANCES_LOCK:
        found = _INSTANCES.get(key)
        if found is None:
            found = _INSTANCES[key] = Monitoring(settings)
        return found


class MonitoringService:
    """The capability's background service: starts the loops, stops them with the platform."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db

    def start(self) -> None:
        monitoring_for(self.settings).start(self.db)

    def stop(self) -> None:
        key = (str(self.settings.data_dir), self.settings.resolved_database_url)
        with _INSTANCES_LOCK:
            found = _INSTANCES.pop(key, None)
        if found is not None:
            found.stop()
