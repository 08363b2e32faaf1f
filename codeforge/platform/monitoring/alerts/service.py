"""The alerts' operations (docs/monitoring.md, Alerts): rules, alerts, silences, channels and
the editor feed's long poll."""

from __future__ import annotations

import re
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from codeforge import catalog
from codeforge.catalog.base import ProjectInput
from codeforge.catalog.errors import BadInput, Conflict, ExternalFailure, FieldProblem, NotFound
from codeforge.catalog.monitoring.times import format_duration, parse_duration_field, parse_time_field
from codeforge.platform.context import Context
from codeforge.platform.db import utcnow
from codeforge.platform.monitoring.alerts.feed import read_feed
from codeforge.platform.monitoring.alerts.models import AlertChannel, AlertRule, AlertSilence, AlertState
from codeforge.platform.monitoring.alerts.notify import Notification, channel_of
from codeforge.platform.monitoring.alerts.silences import LABEL_NAME, active_silences, parse_matchers, silenced_by
from codeforge.platform.monitoring.alerts.sources import check_log_query, check_promql
from codeforge.platform.monitoring.alerts.state import RESOLVED_KEPT
from codeforge.platform.monitoring.runtime import monitoring_for
from codeforge.platform.registry import implements

__all__: list[str] = []

ops = catalog.monitoring.alerts
EDITOR = "editor"
_EMAIL = re.compile(
    r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
_URL = re.compile(r"^https?://[^\s/?#@]+(?::[0-9]{1,5})?(?:[/?#]\S*)?$")
_POLL_S = 0.2


def _bad(field: str, message: str, fix: str) -> BadInput:
    return BadInput.of_fields([FieldProblem(field, message, fix)])


def _moment(field: str, text: str, now: datetime) -> datetime:
    return datetime.fromtimestamp(parse_time_field(field, text, now.timestamp()), UTC)


# ---- rules ------------------------------------------------------------------------------


def _find_rule(session: Session, project_id: str, name: str) -> AlertRule:
    rule = session.scalar(select(AlertRule).where(AlertRule.project_id == project_id, AlertRule.name == name))
    if rule is None:
        raise NotFound(
            f"there is no alert rule {name!r} in this project", fix="see the rules with `codeforge monitoring rules`"
        )
    return rule


def _rule_out(rule: AlertRule, states: Counter[str]) -> catalog.monitoring.alerts.Rule:
    health = "unknown" if rule.last_eval_at is None else ("error" if rule.last_error else "ok")
    return ops.Rule(
        name=rule.name,
        kind=rule.kind,
        expr=rule.expr,
        op=rule.op,
        value=rule.value,
        window=format_duration(rule.window_s),
        for_duration=format_duration(rule.for_s),
        labels=rule.labels,
        annotations=rule.annotations,
        group_by=rule.group_by,
        group_wait=format_duration(rule.group_wait_s),
        group_interval=format_duration(rule.group_interval_s),
        repeat_interval=format_duration(rule.repeat_interval_s),
        health=health,
        last_error=rule.last_error,
        last_evaluated_at=rule.last_eval_at,
        alerts=ops.AlertCounts(**{k: states.get(k, 0) for k in ("pending", "firing", "resolved")}),
        created_by=rule.created_by,
        created_at=rule.created_at,
    )


@implements(ops.RULES)
def rules(ctx: Context, data: ProjectInput) -> catalog.monitoring.alerts.RuleList:
    project = ctx.require_project()
    found = list(
        ctx.session.scalars(select(AlertRule).where(AlertRule.project_id == project.id).order_by(AlertRule.name))
    )
    counts: dict[str, Counter[str]] = {r.id: Counter() for r in found}
    if found:
        for rule_id, state in ctx.session.execute(
            select(AlertState.rule_id, AlertState.state).where(AlertState.rule_id.in_(list(counts)))
        ):
            counts[rule_id][state] += 1
    return ops.RuleList(items=[_rule_out(r, counts[r.id]) for r in found])


def _check_rule(data: catalog.monitoring.alerts.AddRuleInput) -> tuple[str, str]:
    """The rule's kind and expression, checked; BadInput naming the field otherwise."""
    kind = data.kind or ("log" if data.query is not None and data.expr is None else "metric")
    field = "query" if kind == "log" else "expr"
    text = data.query if kind == "log" else data.expr
    other = "expr" if kind == "log" else "query"
    if text is None:
        raise _bad(
            field,
            f"a {kind} rule needs `{field}`",
            f"give `{field}`" + (" (a log query)" if kind == "log" else " (PromQL)"),
        )
    if getattr(data, other) is not None:
        raise _bad(
            other,
            f"a {kind} rule takes `{field}`, not `{other}`",
            f"drop `{other}` or set kind to {'metric' if kind == 'log' else 'log'}",
        )
    try:
        (check_log_query if kind == "log" else check_promql)(text)
    except ValueError as exc:
        raise _bad(field, str(exc), "fix the expression at the column the message names") from None
    if kind == "metric" and (data.op is None) != (data.value is None):
        raise _bad(
            "value" if data.value is None else "op",
            "the threshold form needs both `op` and `value`",
            "give both, or neither",
        )
    for name in data.labels:
        if not LABEL_NAME.match(name) or name == "__name__":
            raise _bad(
                "labels", f"{name!r} is not a label name", "use letters, digits and _, not starting with a digit"
            )
    for name in data.group_by:
        if name != "..." and not LABEL_NAME.match(name):
            raise _bad("group_by", f"{name!r} is not a label name", "list label names, or `...` for every label")
    return kind, text


@implements(ops.ADD_RULE)
def add_rule(ctx: Context, data: catalog.monitoring.alerts.AddRuleInput) -> catalog.monitoring.alerts.Rule:
    project = ctx.require_project()
    kind, text = _check_rule(data)
    window_s = parse_duration_field("window", data.window) if kind == "log" else 0.0
    values: dict[str, object] = {
        "kind": kind,
        "expr": text,
        "op": data.op or (">" if kind == "log" else ""),
        "value": data.value if data.value is not None or kind == "metric" else 0.0,
        "window_s": window_s,
        "for_s": parse_duration_field("for_duration", data.for_duration),
        "labels": dict(data.labels),
        "annotations": dict(data.annotations),
        "group_by": list(data.group_by),
        "group_wait_s": parse_duration_field("group_wait", data.group_wait),
        "group_interval_s": parse_duration_field("group_interval", data.group_interval),
        "repeat_interval_s": parse_duration_field("repeat_interval", data.repeat_interval),
    }
    if kind == "log" and window_s <= 0:
        raise _bad("window", "a log rule's window must be longer than 0s", "give a window such as 5m")
    rule = ctx.session.scalar(select(AlertRule).where(AlertRule.project_id == project.id, AlertRule.name == data.name))
    if rule is not None and not data.replace:
        raise Conflict(
            f"alert rule {data.name!r} exists already", fix="pass replace: true to change it, or pick another name"
        )
    if rule is None:
        rule = AlertRule(project_id=project.id, name=data.name, created_by=ctx.actor.username)
        ctx.session.add(rule)
    else:  # its alerts start over under the new expression
        ctx.session.execute(delete(AlertState).where(AlertState.rule_id == rule.id))
    for key, value in values.items():
        setattr(rule, key, value)
    rule.last_error, rule.last_eval_at, rule.next_eval_at = "", None, None
    ctx.session.flush()
    return _rule_out(rule, Counter())


@implements(ops.REMOVE_RULE)
def remove_rule(ctx: Context, data: catalog.monitoring.alerts.RuleInput) -> catalog.monitoring.alerts.Removed:
    rule = _find_rule(ctx.session, ctx.require_project().id, data.name)
    ctx.session.delete(rule)
    return ops.Removed(removed=data.name)


# ---- alerts -----------------------------------------------------------------------------


@implements(ops.ALERTS)
def alerts(ctx: Context, data: catalog.monitoring.alerts.AlertsInput) -> catalog.monitoring.alerts.AlertList:
    project = ctx.require_project()
    now = utcnow()
    query = select(AlertState, AlertRule.name).join(AlertRule, AlertState.rule_id == AlertRule.id)
    query = query.where(AlertRule.project_id == project.id)
    if data.rule:
        query = query.where(AlertRule.name == data.rule)
    if data.state:
        query = query.where(AlertState.state == data.state)
    elif not data.include_resolved:
        query = query.where(AlertState.state != "resolved")
    silences = active_silences(ctx.session, project.id, now)
    items = []
    for state, rule in ctx.session.execute(query.order_by(AlertRule.name, AlertState.active_since)):
        if state.state == "resolved" and state.resolved_at and now - state.resolved_at >= RESOLVED_KEPT:
            continue
        items.append(
            ops.Alert(
                rule=rule,
                fingerprint=state.fingerprint,
                state=state.state,
                labels=state.labels,
                annotations=state.annotations,
                value=state.last_value,
                active_since=state.active_since,
                fired_at=state.fired_at,
                resolved_at=state.resolved_at,
                silenced_by=silenced_by(silences, state.labels),
            )
        )
    return ops.AlertList(items=items)


# ---- silences ---------------------------------------------------------------------------


def _silence_out(row: AlertSilence, now: datetime) -> catalog.monitoring.alerts.Silence:
    state = "pending" if row.starts_at > now else ("active" if row.ends_at > now else "expired")
    return ops.Silence(
        id=row.id,
        matchers=[f"{m['name']}{m['op']}{m['value']}" for m in row.matchers],
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        state=state,
        comment=row.comment,
        created_by=row.created_by,
        created_at=row.created_at,
    )


@implements(ops.SILENCE)
def silence(ctx: Context, data: catalog.monitoring.alerts.SilenceInput) -> catalog.monitoring.alerts.Silence:
    project = ctx.require_project()
    now = utcnow()
    try:
        matchers = parse_matchers(data.matchers)
    except ValueError as exc:
        raise _bad("matchers", str(exc), 'e.g. ["alertname=HighLatency", "env=~prod|stage"]') from None
    starts = _moment("starts", data.starts, now)
    if data.ends is not None and data.duration is not None:
        raise _bad("ends", "give `ends` or `duration`, not both", "drop one of them")
    if data.ends is not None:
        ends = _moment("ends", data.ends, now)
    else:
        ends = starts + timedelta(seconds=parse_duration_field("duration", data.duration or "1h"))
    if ends <= max(starts, now):
        raise _bad(
            "ends" if data.ends else "duration",
            "the silence would end before it starts or in the past",
            "end it in the future",
        )
    row = AlertSilence(
        project_id=project.id,
        matchers=[{"name": m.name, "op": m.op, "value": m.value} for m in matchers],
        starts_at=starts,
        ends_at=ends,
        comment=data.comment,
        created_by=ctx.actor.username,
    )
    ctx.session.add(row)
    ctx.session.flush()
    return _silence_out(row, now)


@implements(ops.SILENCES)
def silences(ctx: Context, data: catalog.monitoring.alerts.SilencesInput) -> catalog.monitoring.alerts.SilenceList:
    project = ctx.require_project()
    now = utcnow()
    query = select(AlertSilence).where(AlertSilence.project_id == project.id)
    if not data.include_expired:
        query = query.where(AlertSilence.ends_at > now)
    rows = ctx.session.scalars(query.order_by(AlertSilence.starts_at, AlertSilence.id))
    return ops.SilenceList(items=[_silence_out(r, now) for r in rows])


@implements(ops.UNSILENCE)
def unsilence(ctx: Context, data: catalog.monitoring.alerts.SilenceIdInput) -> catalog.monitoring.alerts.Silence:
    project = ctx.require_project()
    row = ctx.session.get(AlertSilence, data.id)
    if row is None or row.project_id != project.id:
        raise NotFound(
            f"there is no silence {data.id} in this project",
            fix="see the silences with `codeforge monitoring silences`",
        )
    now = utcnow()
    if row.ends_at > now:  # expired, as Alertmanager's: kept for the record
        row.ends_at = max(now, row.starts_at)
    return _silence_out(row, now)


# ---- channels ---------------------------------------------------------------------------


def _smtp_warning(ctx: Context) -> str:
    if monitoring_for(ctx.settings).config.smtp_host:
        return ""
    return "no SMTP server is configured (CODEFORGE_MONITORING_SMTP_HOST): email to this channel fails until one is"


def _channel_out(ctx: Context, row: AlertChannel) -> catalog.monitoring.alerts.Channel:
    config = row.config or {}
    return ops.Channel(
        name=row.name,
        kind=row.kind,
        url=str(config.get("url", "")),
        to=list(config.get("to", [])),
        has_token=bool(row.secret),
        timeout_s=config.get("timeout_s"),
        last_sent_at=row.last_sent_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        warning=_smtp_warning(ctx) if row.kind == "email" else "",
    )


def _editor_channel() -> catalog.monitoring.alerts.Channel:
    return ops.Channel(name=EDITOR, kind="editor")


@implements(ops.CHANNELS)
def channels(ctx: Context, data: ProjectInput) -> catalog.monitoring.alerts.ChannelList:
    project = ctx.require_project()
    rows = ctx.session.scalars(
        select(AlertChannel).where(AlertChannel.project_id == project.id).order_by(AlertChannel.name)
    )
    return ops.ChannelList(items=[_editor_channel(), *(_channel_out(ctx, r) for r in rows)])


def _channel_config(data: catalog.monitoring.alerts.AddChannelInput) -> dict[str, object]:
    if data.kind == "webhook":
        if data.to:
            raise _bad("to", "a webhook channel takes `url`, not `to`", "drop `to`, or use kind email")
        if not data.url or not _URL.match(data.url):
            raise _bad(
                "url",
                f"{data.url or ''!r} is not an http(s) URL",
                "give the receiver's URL, e.g. https://hooks.example.com/alerts",
            )
        return {"url": data.url, "timeout_s": data.timeout_s}
    if data.url or data.token:
        raise _bad(
            "url" if data.url else "token",
            "an email channel takes `to`, not a URL or token",
            "drop them, or use kind webhook",
        )
    if not data.to:
        raise _bad("to", "an email channel needs at least one address", 'give `to`, e.g. ["oncall@example.com"]')
    for address in data.to:
        if not _EMAIL.match(address):
            raise _bad("to", f"{address!r} is not an email address", "write addresses as name@example.com")
    return {"to": list(data.to)}


@implements(ops.ADD_CHANNEL)
def add_channel(ctx: Context, data: catalog.monitoring.alerts.AddChannelInput) -> catalog.monitoring.alerts.Channel:
    project = ctx.require_project()
    if data.name == EDITOR:
        raise _bad("name", "`editor` is the editor feed, always there", "pick another name")
    config = _channel_config(data)
    row = ctx.session.scalar(
        select(AlertChannel).where(AlertChannel.project_id == project.id, AlertChannel.name == data.name)
    )
    if row is not None and not data.replace:
        raise Conflict(
            f"channel {data.name!r} exists already", fix="pass replace: true to change it, or pick another name"
        )
    if row is None:
        row = AlertChannel(project_id=project.id, name=data.name, created_by=ctx.actor.username)
        ctx.session.add(row)
    row.kind, row.config = data.kind, config
    row.secret = ctx.cipher.encrypt(data.token) if data.token else None
    row.last_error, row.last_error_at, row.last_sent_at = "", None, None
    ctx.session.flush()
    return _channel_out(ctx, row)


def _find_channel(ctx: Context, name: str) -> AlertChannel:
    project = ctx.require_project()
    row = ctx.session.scalar(
        select(AlertChannel).where(AlertChannel.project_id == project.id, AlertChannel.name == name)
    )
    if row is None:
        raise NotFound(
            f"there is no channel {name!r} in this project", fix="see the channels with `codeforge monitoring channels`"
        )
    return row


@implements(ops.REMOVE_CHANNEL)
def remove_channel(ctx: Context, data: catalog.monitoring.alerts.ChannelInput) -> catalog.monitoring.alerts.Removed:
    if data.name == EDITOR:
        raise _bad("name", "the editor feed cannot be removed", "name a webhook or email channel")
    ctx.session.delete(_find_channel(ctx, data.name))
    return ops.Removed(removed=data.name)


@implements(ops.TEST_CHANNEL)
def test_channel(ctx: Context, data: catalog.monitoring.alerts.ChannelInput) -> catalog.monitoring.alerts.ChannelTest:
    project = ctx.require_project()
    notice = Notification(
        kind="test",
        title=f"Test notification from CodeForge ({project.slug})",
        message=f"{ctx.actor.username} tested channel {data.name!r}; if you read this, it works.",
        pane="alerts",
        labels={"alertname": "CodeForgeTest"},
    )
    notifier = monitoring_for(ctx.settings).notifier
    if data.name == EDITOR:
        notifier.notify(project.id, notice)
        return ops.ChannelTest(name=EDITOR, delivered=True)
    row = _find_channel(ctx, data.name)
    error = notifier.deliver_now(channel_of(row, ctx.cipher), notice, project.slug)
    if error:
        row.last_error, row.last_error_at = error, utcnow()
        raise ExternalFailure(
            f"channel {data.name!r} did not take the test notification: {error}", fix=_fix_for(row.kind)
        )
    row.last_sent_at = utcnow()
    return ops.ChannelTest(name=data.name, delivered=True)


def _fix_for(kind: str) -> str:
    if kind == "email":
        return "check CODEFORGE_MONITORING_SMTP_* and the addresses, then test again"
    return "check that the receiver is up and accepts a POST at the URL (and the token), then test again"


# ---- the editor feed --------------------------------------------------------------------


@implements(ops.NOTIFICATIONS)
def notifications(
    ctx: Context, data: catalog.monitoring.alerts.NotificationsInput
) -> catalog.monitoring.alerts.FeedPage:
    project = ctx.require_project()
    monitoring = monitoring_for(ctx.settings)
    deadline = time.monotonic() + data.wait_s
    while True:
        # A fresh read each turn: rows other replicas wrote count as much as ours.
        if monitoring.db is not None:
            with monitoring.db.session() as session:
                rows = read_feed(session, project.id, data.after, data.limit)
        else:
            rows = read_feed(ctx.session, project.id, data.after, data.limit)
        left = deadline - time.monotonic()
        if rows or data.after is None or left <= 0:
            break
        fed = monitoring.notifier.fed
        with fed:
            fed.wait(min(_POLL_S, left))
    items = [
        ops.FeedItem(
            id=r.id,
            kind=r.kind,
            title=r.title,
            message=r.message,
            pane=r.pane,
            item=r.item,
            labels=r.labels,
            created_at=r.created_at,
        )
        for r in rows
    ]
    cursor = rows[-1].id if rows else (data.after or 0)
    return ops.FeedPage(items=items, cursor=cursor)
