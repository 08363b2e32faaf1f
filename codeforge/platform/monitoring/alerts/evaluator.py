"""The AlertEvaluator (part `alerts`): every `eval_interval_s` each rule that is due is claimed
(one row update moving its `next_eval_at` forward, so of several replicas one evaluates it),
its expression evaluated outside any transaction, then its alerts advanced (`state.advance`)
and the groups that are due sent to the Notifier, all in one transaction, notices queued only
once it committed. A rule whose expression fails keeps its alerts as they were and shows the
error (`monitoring.rules`); nothing a rule does stops the loop."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from codeforge.platform.db import utcnow
from codeforge.platform.monitoring.alerts.grouping import Group, due_groups, mark_sent
from codeforge.platform.monitoring.alerts.models import AlertRule, AlertState
from codeforge.platform.monitoring.alerts.notify import Notification
from codeforge.platform.monitoring.alerts.silences import active_silences
from codeforge.platform.monitoring.alerts.sources import Element, evaluate_rule
from codeforge.platform.monitoring.alerts.state import advance
from codeforge.platform.monitoring.claims import claim_turn
from codeforge.platform.monitoring.periodic import Periodic

__all__ = ["AlertEvaluator", "alert_notification", "rfc3339"]

log = logging.getLogger("codeforge.monitoring.alerts")

ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt of an alert still firing


def rfc3339(moment: datetime | None) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z") if moment else ZERO_TIME


def alert_notification(rule: AlertRule, group: Group, external_url: str) -> Notification:
    alerts = [
        {
            "status": a.state,
            "labels": dict(a.labels),
            "annotations": dict(a.annotations),
            "startsAt": rfc3339(a.fired_at or a.active_since),
            "endsAt": rfc3339(a.resolved_at) if a.state == "resolved" else ZERO_TIME,
            "generatorURL": f"{external_url}/api/v1/monitoring/rules",
            "fingerprint": a.fingerprint,
        }
        for a in group.alerts
    ]
    firing = len(group.firing)
    suffix = f" ({' '.join(v for v in group.labels.values() if v)})" if any(group.labels.values()) else ""
    title = f"[FIRING:{firing}] {rule.name}{suffix}" if firing else f"[RESOLVED] {rule.name}{suffix}"
    lines = []
    for a in group.alerts:
        shown = a.annotations.get("summary") or ", ".join(
            f"{k}={v}" for k, v in sorted(a.labels.items()) if k != "alertname"
        )
        value = f" (value {a.last_value:g})" if a.last_value is not None else ""
        lines.append(f"{a.state}: {shown or rule.name}{value}")
    return Notification(
        kind="alert.firing" if firing else "alert.resolved",
        title=title,
        message="\n".join(lines),
        pane="alerts",
        item=rule.name,
        labels={"alertname": rule.name, **group.labels},
        alerts=alerts,
        group_key=group.key,
        group_labels=dict(group.labels),
    )


class AlertEvaluator:
    def __init__(self, monitoring: Any) -> None:
        self.monitoring = monitoring
        self.interval_s = float(monitoring.config.eval_interval_s)
        self._loop = Periodic("monitoring-alerts", "alert evaluation", lambda: self.interval_s, self._tick)

    def start(self) -> None:
        self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def _tick(self) -> None:
        self.run_once()

    def run_once(self, now: datetime | None = None) -> int:
        """Evaluate every rule that is due and this replica claims; how many it evaluated."""
        db = self.monitoring.db
        if db is None:
            return 0
        now = now or utcnow()
        with db.session() as session:
            due = list(
                session.scalars(
                    select(AlertRule.id).where(or_(AlertRule.next_eval_at.is_(None), AlertRule.next_eval_at <= now))
                )
            )
        done = 0
        for rule_id in due:
            if self._loop.stopping:
                break
            if not self._claim(rule_id, now):
                continue
            try:
                self.evaluate(rule_id, now)
                done += 1
            except Exception:
                log.exception("alert rule evaluation failed", extra={"rule_id": rule_id})
        return done

    def _claim(self, rule_id: str, now: datetime) -> bool:
        return claim_turn(self.monitoring.db, AlertRule.next_eval_at, rule_id, self.interval_s, now)

    def evaluate(self, rule_id: str, now: datetime) -> None:
        db = self.monitoring.db
        with db.session() as session:
            rule = session.get(AlertRule, rule_id)
        if rule is None:
            return
        elements: list[Element] = []
        error = ""
        try:
            elements = evaluate_rule(self.monitoring, rule.project_id, rule, int(now.timestamp() * 1000))
        except Exception as exc:
            error = str(exc) or type(exc).__name__
        notices: list[Notification] = []
        with db.session() as session:
            rule = session.get(AlertRule, rule_id)
            if rule is None:  # removed meanwhile
                return
            rule.last_eval_at, rule.last_error = now, error
            if error:
                return
            rows = list(session.scalars(select(AlertState).where(AlertState.rule_id == rule_id)))
            moved = advance(rule, rows, elements, now)
            if moved.duplicate:
                rule.last_error = (
                    f"two elements have the same labels once the rule's labels apply ({moved.duplicate}); "
                    "keep a label that tells them apart, or aggregate with sum by (...)"
                )
            for row in moved.added:
                session.add(row)
            for row in moved.removed:
                session.delete(row)
            live = [r for r in rows if r not in moved.removed] + moved.added
            silences = active_silences(session, rule.project_id, now)
            external = self.monitoring.settings.resolved_public_url
            for group in due_groups(rule, live, silences, now):
                notices.append(alert_notification(rule, group, external))
                mark_sent(group, now)
            project_id = rule.project_id
        for notice in notices:
            self.monitoring.notifier.notify(project_id, notice)
