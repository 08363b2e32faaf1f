"""The scraper (part `scraper`): every target of every project on its own interval, as
Prometheus scrapes: the exposition parsed by its content type, samples labelled with the
target's `job`, `instance` and labels (a scraped label of the same name kept as
`exported_<name>`), and the synthetic `up`, `scrape_duration_seconds` and
`scrape_samples_scraped` of each scrape, failed or not.

Scrapes run on a thread pool, so a target that hangs holds one worker until its timeout and
never delays the others; a target still being scraped when it falls due again skips that
turn. Targets are re-read from the platform's database every second, so added and removed
ones take effect without a restart.

Replicas on PostgreSQL each run a scraper over the same targets: before a turn, a scraper
claims it by moving the row's `next_scrape_at` past now (an UPDATE that matches only while it
is due, as alert rules are claimed), so each turn is scraped once whichever replica wakes
first. The outcome (time, up, duration, error, samples) is written to the row, so every
replica answers `monitoring.targets` alike."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update

from codeforge.platform.monitoring.claims import claim_turn
from codeforge.platform.monitoring.metrics.exposition import ACCEPT, ExpositionError, parse
from codeforge.platform.monitoring.metrics.models import ScrapeTarget

if TYPE_CHECKING:
    from codeforge.platform.monitoring.runtime import Monitoring

__all__ = ["PLATFORM_URL", "Health", "Scraper", "TargetSpec"]

log = logging.getLogger("codeforge.monitoring.scraper")

PLATFORM_URL = "platform"  # a target's url naming the platform's own /metrics
_RELOAD_S = 1.0
_WORKERS = 8


@dataclass(frozen=True)
class TargetSpec:
    id: str
    project_id: str
    name: str
    url: str
    interval_s: float
    timeout_s: float
    labels: tuple[tuple[str, str], ...] = ()


@dataclass
class Health:
    up: bool | None = None  # None: not scraped yet
    last_scrape: datetime | None = None
    last_duration_s: float | None = None
    last_error: str = ""
    samples: int | None = None


@dataclass
class _Scheduled:
    spec: TargetSpec
    due: float  # monotonic
    running: bool = False


class _Fetched:
    def __init__(self, url: str, headers: dict[str, str], instance: str) -> None:
        self.url = url
        self.headers = headers
        self.instance = instance


class ScrapeFailed(Exception):
    pass


class Scraper:
    def __init__(self, monitoring: Monitoring) -> None:
        self._monitoring = monitoring
        self._config = monitoring.config
        self._settings = monitoring.settings
        self._targets: dict[str, _Scheduled] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._client = httpx.Client(follow_redirects=True, limits=httpx.Limits(max_connections=64))
        self._platform_token: str | bool | None = False  # False: not read yet

    def wake(self) -> None:
        """Re-read the targets now (after one was added or removed here)."""
        self._wake.set()

    # ---- loop ---------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        self._pool = ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="scrape")
        self._thread = threading.Thread(target=self._loop, name="metrics-scraper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self) -> None:
        self._client.close()

    def _loop(self) -> None:
        next_reload = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_reload or self._wake.is_set():
                self._wake.clear()
                try:
                    self.reload()
                except Exception:
                    log.exception("reading scrape targets failed; retrying")
                next_reload = now + _RELOAD_S
            wait = next_reload - now
            with self._lock:
                for item in self._targets.values():
                    if item.running:
                        continue
                    if item.due <= now:
                        item.running = True
                        # Keep the cadence; a turn missed while running is skipped, not queued.
                        item.due = max(item.due + item.spec.interval_s, now)
                        assert self._pool is not None
                        self._pool.submit(self._run, item)
                    wait = min(wait, item.due - now)
            self._wake.wait(max(0.01, wait))

    def reload(self) -> None:
        db = self._monitoring.db
        if db is None:
            return
        with db.session() as session:
            rows = session.scalars(select(ScrapeTarget)).all()
            specs = {
                row.id: TargetSpec(
                    id=row.id,
                    project_id=row.project_id,
                    name=row.name,
                    url=row.url,
                    interval_s=row.interval_s or self._config.scrape_interval_s,
                    timeout_s=row.timeout_s or self._config.scrape_timeout_s,
                    labels=tuple(sorted((row.labels or {}).items())),
                )
                for row in rows
            }
        with self._lock:
            for gone in set(self._targets) - set(specs):
                del self._targets[gone]
            now = time.monotonic()
            for target_id, spec in specs.items():
                found = self._targets.get(target_id)
                if found is None:
                    self._targets[target_id] = _Scheduled(spec, due=now)
                elif found.spec != spec:
                    found.spec = spec
                    found.due = min(found.due, now + spec.interval_s)

    def _run(self, item: _Scheduled) -> None:
        try:
            if self._claim(item.spec):
                try:
                    health = self.scrape(item.spec)
                except Exception as exc:
                    log.exception("scrape failed", extra={"target": item.spec.name})
                    health = Health(up=False, last_scrape=datetime.now(UTC), last_error=f"internal error: {exc}")
                self._record(item.spec.id, health)
        except Exception:  # the database away for a moment: the next turn tries again
            log.exception("scrape claim or record failed", extra={"target": item.spec.name})
        finally:  # never lose the worker or leave the target marked running
            with self._lock:
                item.running = False
            self._wake.set()

    def _claim(self, spec: TargetSpec) -> bool:
        """This replica scrapes this turn (claims.py); always, with no platform database."""
        db = self._monitoring.db
        return db is None or claim_turn(db, ScrapeTarget.next_scrape_at, spec.id, spec.interval_s, datetime.now(UTC))

    def _record(self, target_id: str, health: Health) -> None:
        db = self._monitoring.db
        if db is None:
            return
        with db.session() as session:
            session.execute(
                update(ScrapeTarget)
                .where(ScrapeTarget.id == target_id)
                .values(
                    last_scrape_at=health.last_scrape,
                    last_up=health.up,
                    last_duration_s=health.last_duration_s,
                    last_error=health.last_error,
                    last_samples=health.samples,
                )
            )

    # ---- one scrape ---------------------------------------------------------------------

    def _platform_target(self) -> _Fetched:
        from codeforge.platform.app import metrics_token  # the app module: imported only when scraping it

        settings = self._settings
        host = settings.host
        if host in ("", "0.0.0.0"):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        netloc = f"[{host}]:{settings.port}" if ":" in host else f"{host}:{settings.port}"
        if self._platform_token is False:
            self._platform_token = metrics_token(settings)
        headers = {"Authorization": f"Bearer {self._platform_token}"} if self._platform_token else {}
        return _Fetched(f"http://{netloc}/metrics", headers, netloc)

    def _resolve(self, spec: TargetSpec) -> _Fetched:
        if spec.url == PLATFORM_URL:
            return self._platform_target()
        parts = urlsplit(spec.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = parts.hostname or ""
        instance = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return _Fetched(spec.url, {}, instance)

    def _fetch(self, target: _Fetched, timeout_s: float) -> tuple[str, str]:
        """The body and content type, read within the timeout as a whole (not per read)."""
        deadline = time.monotonic() + timeout_s
        limit = self._config.max_request_bytes
        headers = {"Accept": ACCEPT, "X-Prometheus-Scrape-Timeout-Seconds": f"{timeout_s:g}", **target.headers}
        try:
            with self._client.stream("GET", target.url, headers=headers, timeout=timeout_s) as response:
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > limit:
                        raise ScrapeFailed(f"the exposition is larger than {limit} bytes")
                    if time.monotonic() > deadline:
                        raise httpx.ReadTimeout("deadline")
                if response.status_code != 200:
                    raise ScrapeFailed(f"server returned HTTP status {response.status_code}")
                content_type = response.headers.get("content-type", "text/plain")
                return body.decode(response.encoding or "utf-8", errors="replace"), content_type
        except httpx.TimeoutException:
            raise ScrapeFailed(f"scrape timeout: no complete answer within {timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise ScrapeFailed(f"{type(exc).__name__}: {exc}") from None

    def scrape(self, spec: TargetSpec) -> Health:
        """Scrape one target now and store what it gave (nothing of a failed scrape but the
        synthetic series); its health afterwards."""
        started = time.time()
        t_ms = int(started * 1000)
        target = self._resolve(spec)
        error = ""
        parsed: list[tuple[dict[str, str], int, float]] = []
        try:
            text, content_type = self._fetch(target, spec.timeout_s)
            parsed = parse(text, content_type, t_ms)
        except ScrapeFailed as exc:
            error = str(exc)
        except ExpositionError as exc:
            error = f"malformed exposition: {exc}"
        duration = time.time() - started

        own = {**dict(spec.labels), "job": spec.name, "instance": target.instance}
        samples: list[tuple[dict[str, str], int, float]] = []
        for labels, ts, value in parsed:
            for name, own_value in own.items():
                if name in labels:
                    labels[f"exported_{name}"] = labels[name]
                labels[name] = own_value
            samples.append((labels, ts, value))
        for name, value in (
            ("up", 0.0 if error else 1.0),
            ("scrape_duration_seconds", duration),
            ("scrape_samples_scraped", float(len(parsed))),
        ):
            samples.append(({**own, "__name__": name}, t_ms, value))
        try:
            self._monitoring.metrics.write(spec.project_id, samples)
        except Exception as exc:
            log.exception("storing a scrape failed", extra={"target": spec.name})
            error = error or f"storing the samples failed: {exc}"
        if error:
            log.info("scrape failed", extra={"target": spec.name, "url": target.url, "error": error})
        return Health(
            up=not error,
            last_scrape=datetime.fromtimestamp(started, UTC),
            last_duration_s=duration,
            last_error=error,
            samples=len(parsed),
        )
