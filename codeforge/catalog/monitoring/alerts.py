"""Alerts (docs/monitoring.md, Alerts): rules on metrics (PromQL) and on log queries, their
alerts' states, silences, the channels notifications go to, and the editor feed."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare

__all__ = [
    "ADD_CHANNEL",
    "ADD_RULE",
    "ALERTS",
    "CHANNELS",
    "NOTIFICATIONS",
    "REMOVE_CHANNEL",
    "REMOVE_RULE",
    "RULES",
    "SILENCE",
    "SILENCES",
    "TEST_CHANNEL",
    "UNSILENCE",
    "AddChannelInput",
    "AddRuleInput",
    "Alert",
    "AlertList",
    "AlertsInput",
    "Channel",
    "ChannelInput",
    "ChannelList",
    "ChannelTest",
    "FeedItem",
    "FeedPage",
    "NotificationsInput",
    "Removed",
    "Rule",
    "RuleInput",
    "RuleList",
    "Silence",
    "SilenceIdInput",
    "SilenceInput",
    "SilenceList",
    "SilencesInput",
]

RULE_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_:.-]{0,99}$"
CHANNEL_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
DURATION = r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$"
SILENCE_ID_PATTERN = r"^[0-9a-f]{32}$"
Comparison = Literal[">", ">=", "<", "<=", "==", "!="]
AlertStateName = Literal["pending", "firing", "resolved"]


def _duration(default: str, what: str) -> str:
    return Field(
        default=default,
        pattern=DURATION,
        description=f"{what}: a duration as Prometheus writes it, e.g. 30s, 5m, 1h30m.",
    )


def _rule_name() -> str:
    return Field(
        pattern=RULE_NAME_PATTERN,
        description="The rule's name (its alerts' `alertname`): letters, digits, _ : . -, starting with a letter or _.",
        json_schema_extra={"x-codeforge-values": "monitoring.rules#name"},
    )


# ---- rules ------------------------------------------------------------------------------


class AddRuleInput(ProjectInput):
    name: str = Field(
        pattern=RULE_NAME_PATTERN,
        description="The rule's name (its alerts' `alertname`): letters, digits, _ : . -, starting with a letter or _.",
    )
    kind: Literal["metric", "log"] | None = Field(
        default=None,
        description="metric: `expr` is PromQL; log: `query` is a log query. Left out: from which is given.",
    )
    expr: str | None = Field(
        default=None,
        min_length=1,
        max_length=10_000,
        description="Metric rules: a PromQL expression; each element of its result is an alert "
        '(e.g. `rate(http_requests_total{code=~"5.."}[5m]) > 0.1`).',
    )
    query: str | None = Field(
        default=None,
        min_length=1,
        max_length=10_000,
        description='Log rules: a log query (e.g. `{service="api"} error -timeout`); its lines are counted over `window`.',
    )
    op: Comparison | None = Field(
        default=None,
        description="Threshold form: compare each element (metric) or the count (log) with `value`. "
        "Log rules default to `>`.",
    )
    value: float | None = Field(default=None, description="The threshold `op` compares with (log rules: default 0).")
    window: str = _duration("5m", "Log rules: the window whose lines are counted")
    for_duration: str = _duration(
        "0s", "How long an alert stays pending before it fires (Prometheus's `for`; 0s fires at once)"
    )
    labels: dict[str, str] = Field(default_factory=dict, max_length=50, description="Labels added to each alert.")
    annotations: dict[str, str] = Field(
        default_factory=dict,
        max_length=50,
        description="Texts of each alert, e.g. summary, description; `{{ $value }}` and `{{ $labels.name }}` are filled in.",
    )
    group_by: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Labels whose values group alerts into one notification (none: one group for the rule; `...`: each alert alone).",
    )
    group_wait: str = _duration("30s", "How long a new group waits before its first notification, to batch alerts")
    group_interval: str = _duration(
        "5m", "How long a group waits before telling about alerts added to or resolved in it"
    )
    repeat_interval: str = _duration("4h", "How often a group still firing is sent again")
    replace: bool = Field(default=False, description="Replace a rule of the same name instead of refusing.")


class AlertCounts(BaseModel):
    pending: int = 0
    firing: int = 0
    resolved: int = 0


class Rule(BaseModel):
    name: str
    kind: Literal["metric", "log"]
    expr: str
    op: str
    value: float | None
    window: str
    for_duration: str
    labels: dict[str, str]
    annotations: dict[str, str]
    group_by: list[str]
    group_wait: str
    group_interval: str
    repeat_interval: str
    health: Literal["ok", "error", "unknown"]
    last_error: str
    last_evaluated_at: datetime | None
    alerts: AlertCounts
    created_by: str
    created_at: datetime


class RuleList(BaseModel):
    items: list[Rule]


class RuleInput(ProjectInput):
    name: str = _rule_name()


class Removed(BaseModel):
    removed: str


# ---- alerts -----------------------------------------------------------------------------


class AlertsInput(ProjectInput):
    rule: str | None = Field(default=None, max_length=100, description="Only this rule's alerts.")
    state: AlertStateName | None = Field(default=None, description="Only alerts in this state.")
    include_resolved: bool = Field(default=False, description="Also alerts resolved in the last 15 minutes.")


class Alert(BaseModel):
    rule: str
    fingerprint: str
    state: AlertStateName
    labels: dict[str, str]
    annotations: dict[str, str]
    value: float | None
    active_since: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    silenced_by: list[str]


class AlertList(BaseModel):
    items: list[Alert]


# ---- silences ---------------------------------------------------------------------------


class SilenceInput(ProjectInput):
    matchers: dict[str, str] | list[str] = Field(
        description='Which alerts: {"alertname": "HighLatency"} (equality) or ["alertname=HighLatency", '
        '"env=~prod|stage", "team!=web"] (= != =~ !~, regexes anchored).',
    )
    duration: str | None = Field(
        default=None,
        pattern=DURATION,
        description="How long from `starts` (e.g. 2h); default 1h unless `ends` is given.",
    )
    starts: str = Field(
        default="now", max_length=64, description="When it starts: RFC 3339, `now`, or a duration ago (15m)."
    )
    ends: str | None = Field(default=None, max_length=64, description="When it ends: RFC 3339 (instead of `duration`).")
    comment: str = Field(default="", max_length=2000, description="Why: shown with the silence.")


class Silence(BaseModel):
    id: str
    matchers: list[str]
    starts_at: datetime
    ends_at: datetime
    state: Literal["active", "pending", "expired"]
    comment: str
    created_by: str
    created_at: datetime


class SilencesInput(ProjectInput):
    include_expired: bool = Field(default=False, description="Also silences that ended.")


class SilenceList(BaseModel):
    items: list[Silence]


class SilenceIdInput(ProjectInput):
    id: str = Field(
        pattern=SILENCE_ID_PATTERN,
        description="The silence's id, as `monitoring.silences` shows it.",
        json_schema_extra={"x-codeforge-values": "monitoring.silences#id"},
    )


# ---- channels ---------------------------------------------------------------------------


class AddChannelInput(ProjectInput):
    name: str = Field(
        pattern=CHANNEL_NAME_PATTERN, description="The channel's name: lowercase letters, digits, - and _."
    )
    kind: Literal["webhook", "email"] = Field(
        description="webhook: POST Alertmanager's webhook JSON; email: over SMTP."
    )
    url: str | None = Field(
        default=None, max_length=2000, description="Webhook: the http(s) URL notifications are POSTed to."
    )
    token: str | None = Field(
        default=None,
        max_length=4000,
        description="Webhook: a bearer token sent with each request; stored encrypted, never shown.",
        json_schema_extra={"format": "password"},
    )
    timeout_s: float = Field(default=10.0, ge=0.1, le=60, description="Webhook: seconds to wait for an answer.")
    to: list[str] = Field(default_factory=list, max_length=50, description="Email: the addresses notifications go to.")
    replace: bool = Field(default=False, description="Replace a channel of the same name instead of refusing.")


class Channel(BaseModel):
    name: str
    kind: Literal["webhook", "email", "editor"]
    url: str = ""
    to: list[str] = Field(default_factory=list)
    has_token: bool = False
    timeout_s: float | None = None
    last_sent_at: datetime | None = None
    last_error: str = ""
    last_error_at: datetime | None = None
    warning: str = ""


class ChannelList(BaseModel):
    items: list[Channel]


class ChannelInput(ProjectInput):
    name: str = Field(
        max_length=63,
        description="The channel's name, as `monitoring.channels` shows it (`editor` is the editor feed).",
        json_schema_extra={"x-codeforge-values": "monitoring.channels#name"},
    )


class ChannelTest(BaseModel):
    name: str
    delivered: bool
    error: str = ""


# ---- the editor feed --------------------------------------------------------------------


class NotificationsInput(ProjectInput):
    after: int | None = Field(
        default=None, ge=0, description="The cursor of the last page; left out: the newest notifications, at once."
    )
    wait_s: float = Field(
        default=0.0, ge=0, le=25, description="Seconds to wait for one when there is none yet (≤ 25)."
    )
    limit: int = Field(default=100, ge=1, le=500, description="At most this many.")


class FeedItem(BaseModel):
    id: int
    kind: str
    title: str
    message: str
    pane: str
    item: str
    labels: dict[str, str]
    created_at: datetime


class FeedPage(BaseModel):
    items: list[FeedItem]
    cursor: int


RULES = declare(
    Operation("monitoring.rules", "List alert rules with their health", ProjectInput, RuleList, Permission.VIEW)
)
ADD_RULE = declare(
    Operation(
        "monitoring.add_rule", "Add an alert rule", AddRuleInput, Rule, Permission.EDIT, target="{project}/{name}"
    )
)
REMOVE_RULE = declare(
    Operation(
        "monitoring.remove_rule",
        "Remove an alert rule and its alerts",
        RuleInput,
        Removed,
        Permission.EDIT,
        destructive=True,
        target="{project}/{name}",
    )
)
ALERTS = declare(Operation("monitoring.alerts", "List current alerts", AlertsInput, AlertList, Permission.VIEW))
SILENCE = declare(
    Operation("monitoring.silence", "Silence alerts", SilenceInput, Silence, Permission.EDIT, target="{project}")
)
SILENCES = declare(Operation("monitoring.silences", "List silences", SilencesInput, SilenceList, Permission.VIEW))
UNSILENCE = declare(
    Operation(
        "monitoring.unsilence", "End a silence", SilenceIdInput, Silence, Permission.EDIT, target="{project}/{id}"
    )
)
CHANNELS = declare(
    Operation("monitoring.channels", "List notification channels", ProjectInput, ChannelList, Permission.VIEW)
)
ADD_CHANNEL = declare(
    Operation(
        "monitoring.add_channel",
        "Add a notification channel",
        AddChannelInput,
        Channel,
        Permission.MANAGE,
        target="{project}/{name}",
    )
)
REMOVE_CHANNEL = declare(
    Operation(
        "monitoring.remove_channel",
        "Remove a notification channel",
        ChannelInput,
        Removed,
        Permission.MANAGE,
        destructive=True,
        target="{project}/{name}",
    )
)
TEST_CHANNEL = declare(
    Operation(
        "monitoring.test_channel",
        "Send a test notification to a channel",
        ChannelInput,
        ChannelTest,
        Permission.EDIT,
        target="{project}/{name}",
    )
)
NOTIFICATIONS = declare(
    Operation(
        "monitoring.notifications",
        "Wait for alert and error notifications",
        NotificationsInput,
        FeedPage,
        Permission.VIEW,
        audit_success=False,
        palette=False,
    )
)
