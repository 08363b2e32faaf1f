"""The alert state machine, as Prometheus's alerting rules: an element of the rule's result is
an alert, pending when it appears, firing once it has been present for the rule's `for` (at
once for `for: 0`), resolved when it is gone (a pending alert that goes is dropped: it never
fired). Resolved alerts are kept a while, as Prometheus keeps them, then removed. Pure: the
caller passes `now` and the rows, and stores what changed."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from codeforge.platform.monitoring.alerts.models import AlertRule, AlertState
from codeforge.platform.monitoring.alerts.sources import Element

__all__ = ["RESOLVED_KEPT", "Transition", "advance", "alert_labels", "fingerprint", "render"]

RESOLVED_KEPT = timedelta(minutes=15)
_TEMPLATE = re.compile(
    r"{{\s*(\$value|\.Value|\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)|\.Labels\.([a-zA-Z_][a-zA-Z0-9_]*))\s*}}"
)


def fingerprint(labels: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(labels.items())).encode()).hexdigest()[:16]


def alert_labels(rule: AlertRule, element: Mapping[str, str]) -> dict[str, str]:
    """The element's labels without the metric name, the rule's labels over them, and
    `alertname` (Prometheus's order)."""
    labels = {k: v for k, v in element.items() if k != "__name__"}
    labels.update(rule.labels or {})
    labels["alertname"] = rule.name
    return labels


def _number(value: float) -> str:
    return f"{value:g}"


def render(template: str, labels: Mapping[str, str], value: float) -> str:
    """`{{ $value }}` and `{{ $labels.name }}` (or `.Value`, `.Labels.name`) filled in; other text kept."""

    def fill(match: re.Match[str]) -> str:
        name = match[2] or match[3]
        return labels.get(name, "") if name else _number(value)

    return _TEMPLATE.sub(fill, template)


@dataclass
class Transition:
    added: list[AlertState] = field(default_factory=list)
    removed: list[AlertState] = field(default_factory=list)
    duplicate: str = ""  # a label set two elements share once the rule's labels apply


def advance(rule: AlertRule, rows: Sequence[AlertState], elements: Sequence[Element], now: datetime) -> Transition:
    """Move the rule's alerts to `now` given the elements its expression has now."""
    out = Transition()
    current = {row.fingerprint: row for row in rows}
    seen: set[str] = set()
    for element in elements:
        labels = alert_labels(rule, element.labels)
        fp = fingerprint(labels)
        if fp in seen:
            out.duplicate = json.dumps(labels, sort_keys=True)
            continue
        seen.add(fp)
        row = current.get(fp)
        if row is None:
            row = AlertState(rule_id=rule.id, fingerprint=fp, state="pending", active_since=now, notified="")
            out.added.append(row)
        elif row.state == "resolved":  # back again: a new alert as far as `for` goes
            row.state, row.active_since, row.fired_at, row.resolved_at = "pending", now, None, None
        row.labels = labels
        row.last_value = element.value
        row.annotations = {k: render(v, labels, element.value) for k, v in (rule.annotations or {}).items()}
        if row.state == "pending" and (now - row.active_since).total_seconds() >= rule.for_s:
            row.state, row.fired_at = "firing", now
    for fp, row in current.items():
        if fp in seen:
            continue
        if row.state == "pending":
            out.removed.append(row)
        elif row.state == "firing":
            row.state, row.resolved_at = "resolved", now
        elif row.resolved_at is not None and now - row.resolved_at >= RESOLVED_KEPT:
            out.removed.append(row)
    return out
