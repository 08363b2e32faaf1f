"""Alerts (docs/monitoring.md, Alerts): the state machine and Alertmanager's grouping stepped
through explicit times, then the real thing on the shared platform: a metric rule scraped from
an exposition this test serves goes pending -> firing -> resolved, Alertmanager webhook JSON
(version 4) reaches a receiver on loopback, two alerts go in one call, silences mute, the
editor feed long-polls, a log rule counts ingested lines, a webhook that hangs or fails keeps
nothing else waiting, and a real SMTP server (aiosmtpd) receives the alert email."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from codeforge.platform.monitoring.alerts.grouping import due_groups, mark_sent
from codeforge.platform.monitoring.alerts.models import AlertRule, AlertSilence
from codeforge.platform.monitoring.alerts.silences import parse_matchers, silenced_by
from codeforge.platform.monitoring.alerts.sources import Element
from codeforge.platform.monitoring.alerts.state import advance, render
from codeforge.platform.monitoring.records import Matcher
from tests.conftest import RunningPlatform, free_port, start_platform
from tests.monitoring_platform import FAST

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def rule(**overrides: Any) -> AlertRule:
    values: dict[str, Any] = {
        "id": "r1",
        "name": "HighLatency",
        "labels": {"severity": "page"},
        "annotations": {"summary": "latency {{ $value }}s on {{ $labels.instance }}"},
        "for_s": 60.0,
        "group_by": [],
        "group_wait_s": 30.0,
        "group_interval_s": 300.0,
        "repeat_interval_s": 3600.0,
    }
    values.update(overrides)
    return AlertRule(**values)


# ---- the state machine and grouping, step by step ---------------------------------------


def test_state_machine_is_prometheus_s() -> None:
    r = rule()
    rows: list[Any] = []

    def step(seconds: float, *elements: Element) -> Any:
        moved = advance(r, rows, list(elements), at(seconds))
        rows.extend(moved.added)
        for gone in moved.removed:
            rows.remove(gone)
        return moved

    slow = Element({"__name__": "latency", "instance": "a"}, 2.5)
    step(0, slow)
    assert [(a.state, a.labels) for a in rows] == [
        ("pending", {"instance": "a", "severity": "page", "alertname": "HighLatency"})
    ]
    assert rows[0].annotations == {"summary": "latency 2.5s on a"}
    step(59, slow)
    assert rows[0].state == "pending"
    step(60, slow)
    assert (rows[0].state, rows[0].fired_at) == ("firing", at(60))
    step(61)
    assert (rows[0].state, rows[0].resolved_at) == ("resolved", at(61))
    step(62, slow)  # back: pending again, `for` counts afresh
    assert (rows[0].state, rows[0].active_since, rows[0].fired_at) == ("pending", at(62), None)
    step(63)  # a pending alert that goes never fired: dropped without a word
    assert rows == []

    r0 = rule(for_s=0.0)
    fired = advance(r0, [], [Element({}, 1.0)], at(0)).added
    assert fired[0].state == "firing"  # for: 0 fires at once
    twins = advance(r0, [], [Element({"__name__": "a"}, 1), Element({"__name__": "b"}, 2)], at(0))
    assert "alertname" in twins.duplicate and len(twins.added) == 1  # same labels once __name__ goes


def test_grouping_waits_batches_and_repeats_as_alertmanager() -> None:
    r = rule(for_s=0.0)
    rows = advance(r, [], [Element({"instance": "a"}, 1), Element({"instance": "b"}, 1)], at(0)).added
    assert list(due_groups(r, rows, [], at(29))) == []  # group_wait
    (group,) = due_groups(r, rows, [], at(30))
    assert len(group.alerts) == 2 and group.status == "firing"  # two alerts, one notification
    mark_sent(group, at(30))
    assert list(due_groups(r, rows, [], at(100))) == []  # nothing changed, no repeat yet
    more = advance(
        r, rows, [Element({"instance": "a"}, 1), Element({"instance": "b"}, 1), Element({"instance": "c"}, 1)], at(200)
    )
    rows += more.added
    assert list(due_groups(r, rows, [], at(200))) == []  # changed, but within group_interval
    (group,) = due_groups(r, rows, [], at(330))
    assert len(group.firing) == 3
    mark_sent(group, at(330))
    advance(r, rows, [Element({"instance": "a"}, 1), Element({"instance": "b"}, 1)], at(700))  # c resolves
    (group,) = due_groups(r, rows, [], at(700))
    assert [a.state for a in group.alerts] == ["firing", "firing", "resolved"]
    mark_sent(group, at(700))
    assert list(due_groups(r, rows, [], at(4299))) == []
    (group,) = due_groups(r, rows, [], at(4300))  # repeat_interval
    assert len(group.alerts) == 2

    by_instance = rule(for_s=0.0, group_by=["instance"], group_wait_s=0.0)
    rows = advance(by_instance, [], [Element({"instance": "a"}, 1), Element({"instance": "b"}, 1)], at(0)).added
    assert sorted(g.labels["instance"] for g in due_groups(by_instance, rows, [], at(0))) == ["a", "b"]

    muted = AlertSilence(id="s1", matchers=[{"name": "instance", "op": "=", "value": "a"}])
    assert [g.labels["instance"] for g in due_groups(by_instance, rows, [muted], at(0))] == ["b"]
    assert silenced_by([muted], rows[0].labels) == ["s1"]


def test_matchers_durations_and_templates() -> None:
    parsed = parse_matchers(["alertname=HighLatency", 'env=~"prod|stage"', "team!=web", "host!~db.*"])
    labels = {"alertname": "HighLatency", "env": "prod", "team": "api", "host": "web1"}
    assert all(m.accepts(labels) for m in parsed)
    assert not Matcher("env", "=~", "pro").accepts(labels)  # anchored, as Prometheus's
    assert parse_matchers({"alertname": "X"}) == [Matcher("alertname", "=", "X")]
    for bad, says in [
        (["nope"], "is not label=value"),
        (["1x=a"], "is not label=value"),
        (["env=~(prod"], "does not compile"),
        (["env=~.*"], "match every alert"),
        ([], "at least one matcher"),
    ]:
        with pytest.raises(ValueError, match=says):
            parse_matchers(bad)
    assert render("{{ $value }} {{ .Labels.job }} {{$labels.none}}!", {"job": "api"}, 0.25) == "0.25 api !"


# ---- real peers on loopback -------------------------------------------------------------


@dataclass
class Receiver:
    """A webhook receiver: /ok records and answers 200, /fail answers 500, /hang sleeps."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        received = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                if self.path.startswith("/hang"):
                    time.sleep(3)
                status = 500 if self.path.startswith("/fail") else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def url(self, path: str) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def bodies(self, path: str, alertname: str = "") -> list[dict[str, Any]]:
        return [
            c["body"]
            for c in list(self.calls)
            if c["path"] == path and (not alertname or c["body"].get("commonLabels", {}).get("alertname") == alertname)
        ]

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()


@dataclass
class Exposition:
    """A scrape target: Prometheus text whose samples the test sets."""

    text: str = ""
    server: ThreadingHTTPServer | None = None

    def start(self) -> Exposition:
        me = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = me.text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/metrics"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()


@dataclass
class Api:
    platform: RunningPlatform
    tokens: dict[str, str]

    def call(self, op: str, body: dict[str, Any], who: str = "owner", timeout: float = 30) -> httpx.Response:
        return httpx.post(
            f"{self.platform.url}/api/v1/{op.replace('.', '/')}",
            json=body,
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=timeout,
        )

    def ok(self, op: str, body: dict[str, Any], who: str = "owner") -> Any:
        response = self.call(op, body, who)
        assert response.status_code < 300, (op, response.text)
        return response.json()

    def problem(self, op: str, body: dict[str, Any], status: int, who: str = "owner") -> dict[str, Any]:
        response = self.call(op, body, who)
        assert response.status_code == status, (op, response.status_code, response.text)
        return dict(response.json())


def wait_for(check: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


@pytest.fixture(scope="module")
def api(monitored: RunningPlatform) -> Api:
    found = Api(monitored, {"owner": monitored.token})
    suffix = uuid.uuid4().hex[:6]
    for role in ("viewer", "developer"):
        username = f"alerts-{role}-{suffix}"
        found.ok("members.add", {"username": username, "role": role})
        found.tokens[role] = found.ok("tokens.create", {"name": "t", "username": username})["token"]
    return found


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


def alerts_of(api: Api, project: str, name: str, **body: Any) -> list[dict[str, Any]]:
    return list(api.ok("monitoring.alerts", {"project": project, "rule": name, **body})["items"])


def feed(api: Api, project: str, after: int | None = None, wait_s: float = 0) -> dict[str, Any]:
    body: dict[str, Any] = {"project": project, "wait_s": wait_s}
    if after is not None:
        body["after"] = after
    return dict(api.ok("monitoring.notifications", body))


def test_metric_rule_pending_firing_resolved_with_webhook_and_feed(api: Api, project: str, receiver: Receiver) -> None:
    exposition = Exposition("queue_depth 10\n").start()
    try:
        api.ok("monitoring.add_target", {"project": project, "name": "app", "url": exposition.url, "interval": "500ms"})
        api.ok(
            "monitoring.add_channel",
            {
                "project": project,
                "name": "hook",
                "kind": "webhook",
                "url": receiver.url("/ok"),
                "token": "s3cret-token",
            },
        )
        shown = api.ok("monitoring.channels", {"project": project})["items"]
        assert {c["name"]: c["has_token"] for c in shown} == {"editor": False, "hook": True}
        assert "s3cret-token" not in json.dumps(shown)
        api.ok(
            "monitoring.add_rule",
            {
                "project": project,
                "name": "DeepQueue",
                "expr": 'queue_depth{job="app"}',
                "op": ">",
                "value": 5,
                "for_duration": "3s",
                "group_wait": "0s",
                "group_interval": "1s",  # resolved goes out at the group's next interval
                "labels": {"severity": "page"},
                "annotations": {"summary": "queue at {{ $value }}"},
            },
        )
        pending = wait_for(
            lambda: [a for a in alerts_of(api, project, "DeepQueue") if a["state"] == "pending"], "pending"
        )
        assert pending[0]["labels"]["severity"] == "page" and pending[0]["value"] == 10
        firing = wait_for(lambda: [a for a in alerts_of(api, project, "DeepQueue") if a["state"] == "firing"], "firing")
        since, fired = (datetime.fromisoformat(firing[0][k]) for k in ("active_since", "fired_at"))
        assert fired - since >= timedelta(seconds=3)  # pending for `for`
        (sent,) = wait_for(lambda: receiver.bodies("/ok", "DeepQueue"), "the firing webhook")
        assert sent["version"] == "4" and sent["status"] == "firing" and sent["receiver"] == "hook"
        assert sent["commonAnnotations"] == {"summary": "queue at 10"}
        (alert,) = sent["alerts"]
        assert alert["labels"] == {
            "alertname": "DeepQueue",
            "job": "app",
            "instance": alert["labels"]["instance"],
            "severity": "page",
        }
        assert alert["endsAt"] == "0001-01-01T00:00:00Z" and len(alert["fingerprint"]) == 16
        assert [c["auth"] for c in receiver.calls if c["body"] is sent] == ["Bearer s3cret-token"]

        exposition.text = "queue_depth 1\n"
        wait_for(lambda: len(receiver.bodies("/ok", "DeepQueue")) == 2, "the resolved webhook")
        resolved = receiver.bodies("/ok", "DeepQueue")[1]
        assert resolved["status"] == "resolved" and resolved["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
        assert alerts_of(api, project, "DeepQueue") == []
        assert alerts_of(api, project, "DeepQueue", include_resolved=True)[0]["state"] == "resolved"

        items = feed(api, project)["items"]
        assert [(i["kind"], i["pane"], i["item"]) for i in items] == [
            ("alert.firing", "alerts", "DeepQueue"),
            ("alert.resolved", "alerts", "DeepQueue"),
        ]
        assert items[0]["title"] == "[FIRING:1] DeepQueue"
        (listed,) = api.ok("monitoring.rules", {"project": project}, who="viewer")["items"]
        assert listed["health"] == "ok" and listed["for_duration"] == "3s" and listed["last_error"] == ""
    finally:
        exposition.stop()


def test_two_alerts_grouped_into_one_webhook_call(api: Api, project: str, receiver: Receiver) -> None:
    exposition = Exposition('disk_free{mount="/"} 1\ndisk_free{mount="/var"} 2\ndisk_free{mount="/home"} 90\n').start()
    try:
        api.ok(
            "monitoring.add_target", {"project": project, "name": "node", "url": exposition.url, "interval": "500ms"}
        )
        api.ok(
            "monitoring.add_channel",
            {"project": project, "name": "hook", "kind": "webhook", "url": receiver.url("/ok")},
        )
        api.ok(
            "monitoring.add_rule",
            {
                "project": project,
                "name": "DiskFull",
                "expr": "disk_free < 10",
                "group_wait": "2s",
                "group_interval": "1m",
            },
        )
        (sent,) = wait_for(lambda: receiver.bodies("/ok", "DiskFull"), "the grouped webhook")
        assert sorted(a["labels"]["mount"] for a in sent["alerts"]) == ["/", "/var"]
        assert sent["groupLabels"] == {} and sent["commonLabels"]["alertname"] == "DiskFull"
        assert "mount" not in sent["commonLabels"]
    finally:
        exposition.stop()


def test_silence_mutes_until_it_ends(api: Api, project: str, receiver: Receiver) -> None:
    api.ok(
        "monitoring.add_channel", {"project": project, "name": "hook", "kind": "webhook", "url": receiver.url("/ok")}
    )
    silence = api.ok(
        "monitoring.silence",
        {
            "project": project,
            "matchers": ["alertname=Muted", "team=~ops|sre"],
            "duration": "1h",
            "comment": "deploying",
        },
    )
    assert silence["state"] == "active" and silence["matchers"] == ["alertname=Muted", "team=~ops|sre"]
    for name in ("Muted", "Loud"):
        api.ok(
            "monitoring.add_rule",
            {"project": project, "name": name, "expr": "vector(1)", "labels": {"team": "ops"}, "group_wait": "0s"},
        )
    wait_for(lambda: receiver.bodies("/ok", "Loud"), "the unsilenced rule's webhook")
    (muted,) = wait_for(lambda: alerts_of(api, project, "Muted", state="firing"), "the silenced alert fires")
    assert muted["silenced_by"] == [silence["id"]]
    assert receiver.bodies("/ok", "Muted") == []  # evaluated in the same turns as Loud, told nobody
    assert [i["item"] for i in feed(api, project)["items"]] == ["Loud"]

    ended = api.ok("monitoring.unsilence", {"project": project, "id": silence["id"]})
    assert ended["state"] == "expired"
    assert api.ok("monitoring.silences", {"project": project})["items"] == []
    assert len(api.ok("monitoring.silences", {"project": project, "include_expired": True})["items"]) == 1
    wait_for(lambda: receiver.bodies("/ok", "Muted"), "the webhook once the silence ended")


def test_editor_feed_long_poll(api: Api, project: str) -> None:
    cursor = feed(api, project)["cursor"]
    got: dict[str, Any] = {}
    poller = threading.Thread(target=lambda: got.update(feed(api, project, after=cursor, wait_s=20)))
    poller.start()
    api.ok("monitoring.test_channel", {"project": project, "name": "editor"}, who="developer")
    poller.join(timeout=25)
    (item,) = got["items"]
    assert item["kind"] == "test" and item["pane"] == "alerts" and got["cursor"] == item["id"] > cursor
    assert feed(api, project, after=got["cursor"], wait_s=0.3) == {"items": [], "cursor": got["cursor"]}


def test_log_rule_counts_ingested_lines(api: Api, monitored: RunningPlatform, project: str) -> None:
    api.ok(
        "monitoring.add_rule",
        {
            "project": project,
            "name": "PaymentsFailing",
            "query": '"payment failed"',
            "window": "5m",
            "op": ">=",
            "value": 3,
        },
    )
    lines = "\n".join(json.dumps({"level": "error", "message": f"payment failed for order {n}"}) for n in range(3))
    response = httpx.post(
        f"{monitored.url}/ingest/{project}/logs?service=shop",
        content=lines,
        headers={"Authorization": f"Bearer {monitored.token}"},
        timeout=30,
    )
    assert response.status_code < 300, response.text
    (alert,) = wait_for(lambda: alerts_of(api, project, "PaymentsFailing", state="firing"), "the log rule fires")
    assert alert["value"] == 3 and alert["labels"] == {"alertname": "PaymentsFailing"}


def test_failing_expression_and_stuck_webhooks_stall_nothing(api: Api, project: str, receiver: Receiver) -> None:
    for name, url in [("hang", receiver.url("/hang")), ("fail", receiver.url("/fail")), ("good", receiver.url("/ok"))]:
        api.ok(
            "monitoring.add_channel", {"project": project, "name": name, "kind": "webhook", "url": url, "timeout_s": 1}
        )
    api.ok("monitoring.add_rule", {"project": project, "name": "Broken", "expr": "up[5m]"})
    api.ok("monitoring.add_rule", {"project": project, "name": "Fine", "expr": "vector(1)", "group_wait": "0s"})
    wait_for(lambda: receiver.bodies("/ok", "Fine"), "the good webhook, beside a hanging and a failing one")
    rules = {r["name"]: r for r in api.ok("monitoring.rules", {"project": project})["items"]}
    assert rules["Broken"]["health"] == "error" and "range vector" in rules["Broken"]["last_error"]
    assert rules["Fine"]["health"] == "ok" and rules["Fine"]["alerts"]["firing"] == 1

    def channel_errors() -> dict[str, str]:
        listed = api.ok("monitoring.channels", {"project": project})["items"]
        found = {c["name"]: c["last_error"] for c in listed}
        return found if found["hang"] and found["fail"] else {}

    errors = wait_for(channel_errors, "both bad channels record their error")
    assert "answered 500" in errors["fail"] and "did not answer within 1 s" in errors["hang"]
    assert len(receiver.bodies("/fail", "Fine")) == 3  # retried with back-off
    refused = api.problem("monitoring.test_channel", {"project": project, "name": "hang"}, 502)
    assert "did not answer within 1 s" in refused["detail"]

    # Evaluation went on meanwhile: the rule was evaluated after the stuck deliveries began.
    def evaluated_at() -> datetime:
        listed = api.ok("monitoring.rules", {"project": project})["items"]
        return datetime.fromisoformat(next(r for r in listed if r["name"] == "Fine")["last_evaluated_at"])

    first = datetime.fromisoformat(rules["Fine"]["last_evaluated_at"])
    wait_for(lambda: evaluated_at() > first, "later evaluations")


def test_bad_input_names_the_field(api: Api, project: str) -> None:
    def bad(op: str, body: dict[str, Any], status: int = 422) -> str:
        return json.dumps(api.problem(op, {"project": project, **body}, status))

    assert "1:" in bad("monitoring.add_rule", {"name": "X", "expr": "rate(http_requests_total[5m)"})  # line:column
    assert "expr" in bad("monitoring.add_rule", {"name": "X", "expr": "sum(("})
    assert "query" in bad("monitoring.add_rule", {"name": "X", "query": '{service="api"'})
    assert "for_duration" in bad("monitoring.add_rule", {"name": "X", "expr": "up", "for_duration": "5 minutes"})
    assert "largest to smallest" in bad("monitoring.add_rule", {"name": "X", "expr": "up", "for_duration": "30m1h"})
    assert "value" in bad("monitoring.add_rule", {"name": "X", "expr": "up", "op": ">"})
    assert "name" in bad("monitoring.add_rule", {"name": "9 lives", "expr": "up"})
    api.ok("monitoring.add_rule", {"project": project, "name": "Once", "expr": "up"})
    assert "replace" in bad("monitoring.add_rule", {"name": "Once", "expr": "up"}, 409)
    assert (
        api.ok("monitoring.add_rule", {"project": project, "name": "Once", "expr": "up == 0", "replace": True})["expr"]
        == "up == 0"
    )
    assert "monitoring rules" in bad("monitoring.remove_rule", {"name": "Nope"}, 404)
    assert api.ok("monitoring.remove_rule", {"project": project, "name": "Once"}) == {"removed": "Once"}

    assert "not an email address" in bad(
        "monitoring.add_channel", {"name": "mail", "kind": "email", "to": ["ops at example"]}
    )
    assert "http(s) URL" in bad("monitoring.add_channel", {"name": "h", "kind": "webhook", "url": "ftp://x/y"})
    assert "matchers" in bad("monitoring.silence", {"matchers": ["env~prod"]})
    assert "ends" in bad("monitoring.silence", {"matchers": {"a": "b"}, "ends": "tomorrow"})
    assert "monitoring silences" in bad("monitoring.unsilence", {"id": uuid.uuid4().hex}, 404)
    assert "monitoring channels" in bad("monitoring.test_channel", {"name": "nope"}, 404)
    # Email without an SMTP server: stored, with a warning; a test says what to set.
    added = api.ok(
        "monitoring.add_channel", {"project": project, "name": "mail", "kind": "email", "to": ["ops@example.com"]}
    )
    assert "CODEFORGE_MONITORING_SMTP_HOST" in added["warning"]
    assert "CODEFORGE_MONITORING_SMTP_HOST" in bad("monitoring.test_channel", {"name": "mail"}, 502)


def test_permissions(api: Api, project: str) -> None:
    rule_body = {"project": project, "name": "ByViewer", "expr": "up"}
    api.problem("monitoring.add_rule", rule_body, 403, who="viewer")
    api.problem("monitoring.silence", {"project": project, "matchers": {"a": "b"}}, 403, who="viewer")
    channel = {"project": project, "name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/x"}
    api.problem("monitoring.add_channel", channel, 403, who="developer")
    api.ok("monitoring.add_channel", channel)
    api.problem("monitoring.remove_channel", {"project": project, "name": "hook"}, 403, who="developer")
    api.ok("monitoring.add_rule", rule_body, who="developer")
    assert [r["name"] for r in api.ok("monitoring.rules", {"project": project}, who="viewer")["items"]] == ["ByViewer"]
    assert api.ok("monitoring.notifications", {"project": project}, who="viewer")["items"] == []


def test_alert_email_reaches_a_real_smtp_server(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class KeepBytes:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
            return "250 OK"

    port = free_port()
    smtp = Controller(KeepBytes(), hostname="127.0.0.1", port=port)
    smtp.start()
    platform = start_platform(
        tmp_path / "smtp",
        CODEFORGE_MONITORING_SMTP_HOST="127.0.0.1",
        CODEFORGE_MONITORING_SMTP_PORT=str(port),
        CODEFORGE_MONITORING_SMTP_FROM="alerts@codeforge.test",
        **FAST,
    )
    try:
        api = Api(platform, {"owner": platform.token})
        body = {"project": "demo"}
        api.ok("monitoring.add_channel", {**body, "name": "oncall", "kind": "email", "to": ["oncall@example.com"]})
        assert api.ok("monitoring.test_channel", {**body, "name": "oncall"})["delivered"]
        api.ok(
            "monitoring.add_rule",
            {
                **body,
                "name": "AlwaysOn",
                "expr": "vector(1)",
                "group_wait": "0s",
                "annotations": {"summary": "it is on"},
            },
        )
        wait_for(lambda: len(received) == 2, "the alert email")
        (to, test), (to2, alert) = received
        assert to == to2 == ["oncall@example.com"] and test["From"] == "alerts@codeforge.test"
        assert "Test notification" in test["Subject"]
        assert alert["Subject"] == "[FIRING:1] AlwaysOn"
        text = alert.get_payload(decode=True).decode()
        assert "it is on" in text and "alertname=AlwaysOn" in text
        assert api.ok("monitoring.channels", body)["items"][1]["last_error"] == ""
    finally:
        platform.stop()
        smtp.stop()
