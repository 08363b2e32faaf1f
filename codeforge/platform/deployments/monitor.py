"""Automatic rollback's eyes (docs/deployments.md, "Monitoring"): the new release's error rate
and p99 latency from monitoring's metrics store, which the edge feeds from its access logs
(`codeforge_edge_requests_total{project,route,group,region,code}` and the histogram
`codeforge_edge_request_duration_seconds`, group = release id). A release's series are its
own from its first request, so the counters' values are its totals: no window to miss."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass

from codeforge.platform.monitoring.metrics.promql.evaluator import evaluate_instant
from codeforge.platform.monitoring.metrics.promql.parser import parse
from codeforge.platform.monitoring.metrics.promql.values import Vector
from codeforge.platform.monitoring.runtime import monitoring_for
from codeforge.platform.settings import Settings

__all__ = ["Health", "Verdict", "judge", "read_health"]

REQUESTS = "codeforge_edge_requests_total"
BUCKETS = "codeforge_edge_request_duration_seconds_bucket"


@dataclass(frozen=True)
class Health:
    """One release's (and region's) traffic so far."""

    group: str
    region: str
    requests: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None

    @property
    def error_rate(self) -> float:
        return 100.0 * self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True)
class Verdict:
    bad: bool
    reason: str


def _vector(settings: Settings, project_id: str, query: str) -> list[tuple[dict[str, str], float]]:
    store = monitoring_for(settings).metrics
    value = evaluate_instant(store, project_id, parse(query), int(time.time() * 1000), warnings=[])
    if not isinstance(value, Vector):
        return []
    return [(dict(labels), float(v)) for labels, v in value.samples]


def _quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus's histogram_quantile over (upper bound, cumulative count) pairs, in ms."""
    buckets = sorted(buckets)
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound * 1000
            span = count - lower_count
            frac = (rank - lower_count) / span if span > 0 else 1.0
            return (lower_bound + (bound - lower_bound) * frac) * 1000
        lower_bound, lower_count = bound, count
    return lower_bound * 1000


def read_health(
    settings: Settings, project_id: str, route: str, groups: list[str] | None = None, *, by_region: bool = False
) -> list[Health]:
    """Totals per release (and region) of `route`."""
    sel = f'route="{route}"'
    if groups:
        sel += ',group=~"' + "|".join(groups) + '"'
    by = "group, region" if by_region else "group"
    totals = _vector(settings, project_id, f"sum by ({by}, code) ({REQUESTS}{{{sel}}})")
    hist = _vector(settings, project_id, f"sum by ({by}, le) ({BUCKETS}{{{sel}}})")
    reqs: dict[tuple[str, str], int] = defaultdict(int)
    errs: dict[tuple[str, str], int] = defaultdict(int)
    for labels, v in totals:
        key = (labels.get("group", ""), labels.get("region", "") if by_region else "")
        reqs[key] += int(v)
        if labels.get("code", "").startswith("5"):
            errs[key] += int(v)
    buckets: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for labels, v in hist:
        key = (labels.get("group", ""), labels.get("region", "") if by_region else "")
        try:
            buckets[key].append((float(labels.get("le", "+Inf")), v))
        except ValueError:
            continue
    out = []
    for key in sorted(set(reqs) | set(buckets)):
        out.append(
            Health(key[0], key[1], reqs[key], errs[key], _quantile(0.5, buckets[key]), _quantile(0.99, buckets[key]))
        )
    return out


def judge(health: Health | None, max_error_rate: float, max_p99_ms: float | None, min_requests: int) -> Verdict:
    """Over a threshold (once it has served `min_requests`) is bad, with the figures."""
    if health is None or health.requests < min_requests:
        seen = health.requests if health else 0
        return Verdict(False, f"{seen} requests so far, judged from {min_requests}")
    if health.error_rate > max_error_rate:
        return Verdict(
            True,
            f"error rate {health.error_rate:.1f}% ({health.errors} of {health.requests}) is over {max_error_rate:g}%",
        )
    if max_p99_ms is not None and health.p99_ms is not None and health.p99_ms > max_p99_ms:
        return Verdict(True, f"p99 latency {health.p99_ms:.0f} ms is over {max_p99_ms:g} ms")
    return Verdict(False, f"error rate {health.error_rate:.1f}% over {health.requests} requests")
