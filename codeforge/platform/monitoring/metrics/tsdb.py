"""The metrics store (part `metrics`): series and samples per project, on SQLite or PostgreSQL
as the platform's state is, with retention and downsampling in a loop of its own.

Writing is the hot path (a scrape of 10,000 series every 15 s per target): series ids are
cached in memory by label set, so a scrape of known series is one transaction of one
executemany (SQLite) or one `unnest` insert (PostgreSQL), and only new series pay for their
canonical JSON and hash. Reading finds the project's series (by metric name when the
selector names one), matches labels in Python (anchored regexes as Prometheus's) and reads
the samples of the matches by index range, raw and downsampled merged."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from codeforge.platform.monitoring.metrics.backends import PostgresBackend, SqliteBackend, StoreBackend
from codeforge.platform.monitoring.periodic import Periodic
from codeforge.platform.monitoring.records import Matcher, SeriesData, matches

if TYPE_CHECKING:
    from codeforge.platform.monitoring.runtime import Monitoring

__all__ = ["MetricsStore", "Sample", "canonical"]

log = logging.getLogger("codeforge.monitoring.metrics")

# (labels including __name__, time in Unix ms, value)
Sample = tuple[Mapping[str, str], int, float]
_CACHE_LIMIT = 500_000  # series ids kept in memory; past it the cache starts afresh
_CACHE_TTL_S = 3600.0  # ids are re-read hourly, so one a retention sweep removed is not reused for long


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(labels: Mapping[str, str]) -> str:
    """The label set as JSON with sorted keys and no spaces: one text per series."""
    return _ENCODER.encode(labels)


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


class MetricsStore:
    def __init__(self, monitoring: Monitoring) -> None:
        self._config = monitoring.config
        home = monitoring.home
        self.backend: StoreBackend = (
            PostgresBackend(home.pg) if home.postgres else SqliteBackend(lambda: home.sqlite("metrics"))
        )
        self._ids: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._ids_since = time.monotonic()
        self._labels: dict[int, dict[str, str]] = {}  # series id -> labels (never change for an id)
        self._cache_lock = threading.Lock()
        self._retention = Periodic(
            "metrics-retention",
            "the metrics retention sweep",
            lambda: self._config.retention_interval_s,
            self._sweep_and_log,
        )
        self.last_sweep: tuple[int, int, int] | None = None  # (raw removed, downsampled removed, series removed)

    # ---- writing ------------------------------------------------------------------------

    @property
    def outbox(self) -> bool:
        """Whether stored samples also queue for remote-write."""
        return bool(self._config.remote_write_url)

    def write(self, project_id: str, samples: Iterable[Sample]) -> int:
        """Store samples (a time and value for a series twice: the last wins); the number stored."""
        self._expire_cache()
        known: list[tuple[int, int, float]] = []
        fresh: dict[str, list[tuple[int, float]]] = {}  # hash -> its samples
        new_series: dict[str, tuple[str, str]] = {}  # hash -> (name, canonical labels)
        new_keys: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {}
        ids = self._ids
        count = 0
        for labels, t_ms, value in samples:
            count += 1
            key = (project_id, tuple(sorted(labels.items())))
            sid = ids.get(key)
            if sid is not None:
                known.append((sid, t_ms, value))
                continue
            text = canonical(labels)
            h = _hash(text)
            if h not in new_series:
                new_series[h] = (labels.get("__name__", ""), text)
                new_keys[h] = key
                fresh[h] = []
            fresh[h].append((t_ms, value))
        if count == 0:
            return 0

        def rows(new_ids: dict[str, int]) -> list[tuple[int, int, float]]:
            for h, points in fresh.items():
                sid = new_ids[h]
                known.extend((sid, t, v) for t, v in points)
            return known

        created = self.backend.write(
            project_id, [(h, name, text) for h, (name, text) in new_series.items()], rows, self.outbox
        )
        with self._cache_lock:
            for h, sid in created.items():
                ids[new_keys[h]] = sid
        return count

    def _expire_cache(self) -> None:
        if len(self._ids) > _CACHE_LIMIT or time.monotonic() - self._ids_since > _CACHE_TTL_S:
            with self._cache_lock:
                self._ids = {}
                self._labels = {}
                self._ids_since = time.monotonic()

    # ---- reading ------------------------------------------------------------------------

    def _matching(self, project_id: str, matchers: Sequence[Matcher]) -> list[tuple[int, dict[str, str]]]:
        name = next((m.value for m in matchers if m.name == "__name__" and m.op == "="), None)
        found: list[tuple[int, dict[str, str]]] = []
        cache = self._labels
        for sid, text in self.backend.series_of(project_id, name):
            labels = cache.get(sid)
            if labels is None:
                labels = cache[sid] = json.loads(text)
            if matches(labels, matchers):
                found.append((sid, labels))
        return found

    def select(self, project_id: str, matchers: Sequence[Matcher], start_ms: int, end_ms: int) -> list[SeriesData]:
        """The series matching every matcher with their samples in [start_ms, end_ms], oldest
        first; series without a sample there are left out. Sorted by labels."""
        chosen = dict(self._matching(project_id, matchers))
        if not chosen:
            return []
        out: dict[int, SeriesData] = {}
        for sid, t, v in self.backend.samples(sorted(chosen), start_ms, end_ms):
            data = out.get(sid)
            if data is None:
                data = out[sid] = SeriesData(dict(chosen[sid]), [], [])
            if data.times_ms and data.times_ms[-1] == t:  # raw and downsampled both hold it
                data.values[-1] = v
                continue
            data.times_ms.append(t)
            data.values.append(v)
        return sorted(out.values(), key=lambda d: sorted(d.labels.items()))

    def series(
        self, project_id: str, matchers: Sequence[Matcher], start_ms: int | None = None, end_ms: int | None = None
    ) -> list[dict[str, str]]:
        """Label sets of the matching series (with a sample in the range, when one is given)."""
        chosen = self._matching(project_id, matchers)
        if start_ms is not None or end_ms is not None:
            alive = self.backend.with_samples(
                [sid for sid, _ in chosen], start_ms if start_ms is not None else 0, end_ms or 2**62
            )
            chosen = [(sid, labels) for sid, labels in chosen if sid in alive]
        return sorted((dict(labels) for _, labels in chosen), key=lambda d: sorted(d.items()))

    def label_names(
        self,
        project_id: str,
        matchers: Sequence[Matcher] = (),
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[str]:
        names: set[str] = set()
        for labels in self.series(project_id, matchers, start_ms, end_ms):
            names.update(labels)
        return sorted(names)

    def label_values(
        self,
        project_id: str,
        name: str,
        matchers: Sequence[Matcher] = (),
        start_ms: int | None = None,
        end_ms: int | None = None,
    ) -> list[str]:
        values = {labels[name] for labels in self.series(project_id, matchers, start_ms, end_ms) if name in labels}
        return sorted(values)

    # ---- retention ----------------------------------------------------------------------

    def sweep(self, now_ms: int | None = None) -> tuple[int, int, int]:
        """Downsample raw samples past raw retention (whole steps only: the last sample of
        each), drop downsampled ones past theirs and series left without samples."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        step_ms = self._config.downsample_step_s * 1000
        raw_before = int(now_ms - self._config.raw_retention_h * 3_600_000) // step_ms * step_ms
        downsampled_before = int(now_ms - self._config.downsampled_retention_d * 86_400_000)
        removed = self.backend.sweep(raw_before, step_ms, downsampled_before)
        if removed[2]:
            with self._cache_lock:  # ids of removed series must not be written again
                self._ids = {}
                self._labels = {}
        self.last_sweep = removed
        return removed

    def start(self) -> None:
        self._retention.start()

    def stop(self) -> None:
        self._retention.stop()

    def _sweep_and_log(self) -> None:
        removed = self.sweep()
        if any(removed):
            log.info(
                "metrics retention",
                extra={"raw_removed": removed[0], "downsampled_removed": removed[1], "series_removed": removed[2]},
            )

    def close(self) -> None:
        self.backend.close()
