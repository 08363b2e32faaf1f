"""Grouping as Alertmanager's: a rule's alerts are grouped by the values of its `group_by`
labels (none: one group per rule; `...`: every alert its own group). A new group's first
notification waits `group_wait` so alerts that start together go in one message; after that a
group is sent again when it changed (an alert fired or resolved), at most every
`group_interval`, and unchanged every `repeat_interval` while something fires. Silenced
alerts take no part. Pure: the caller passes `now` and stores what `mark_sent` changed."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from codeforge.platform.monitoring.alerts.models import AlertRule, AlertSilence, AlertState
from codeforge.platform.monitoring.alerts.silences import silenced_by

__all__ = ["Group", "due_groups", "group_of", "mark_sent"]

EVERY_LABEL = "..."


@dataclass
class Group:
    key: str
    labels: dict[str, str]
    alerts: list[AlertState]  # firing ones first, then those resolved since the last message

    @property
    def firing(self) -> list[AlertState]:
        return [a for a in self.alerts if a.state == "firing"]

    @property
    def status(self) -> str:
        return "firing" if self.firing else "resolved"


def group_of(rule: AlertRule, labels: dict[str, str]) -> tuple[str, dict[str, str]]:
    names = list(rule.group_by or [])
    chosen = dict(labels) if EVERY_LABEL in names else {n: labels.get(n, "") for n in names}
    return f"{rule.id}:{json.dumps(sorted(chosen.items()))}", chosen


def _alive(row: AlertState) -> bool:
    """In a group: firing, or resolved and not yet told so."""
    return row.state == "firing" or (row.state == "resolved" and row.notified == "firing")


def due_groups(
    rule: AlertRule, rows: Sequence[AlertState], silences: Sequence[AlertSilence], now: datetime
) -> Iterator[Group]:
    groups: dict[str, Group] = {}
    for row in rows:
        if not _alive(row) or silenced_by(silences, row.labels):
            continue
        key, labels = group_of(rule, row.labels)
        groups.setdefault(key, Group(key, labels, [])).alerts.append(row)
    for group in groups.values():
        firing = group.firing
        resolved = [a for a in group.alerts if a.state == "resolved"]
        sent = [a.last_notified_at for a in group.alerts if a.notified == "firing" and a.last_notified_at]
        if not sent:
            if not firing or (now - min(a.fired_at or now for a in firing)).total_seconds() < rule.group_wait_s:
                continue
        else:
            since = (now - max(sent)).total_seconds()
            changed = bool(resolved) or any(a.notified != "firing" for a in firing)
            if not ((changed and since >= rule.group_interval_s) or (firing and since >= rule.repeat_interval_s)):
                continue
        group.alerts = sorted(firing, key=lambda a: a.fingerprint) + sorted(resolved, key=lambda a: a.fingerprint)
        yield group


def mark_sent(group: Group, now: datetime) -> None:
    for row in group.alerts:
        row.notified, row.last_notified_at = row.state, now
