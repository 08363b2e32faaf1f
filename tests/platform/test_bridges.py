"""Bridge sessions, terminals and forwards as operations: attach per role and organization,
reports replacing the snapshot, list, close with ownership, close requests delivered once,
bad input, audit, staleness; and the CLI and catalog derived from the declarations."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from codeforge.platform.app import create_app
from codeforge.platform.auth.models import ApiToken, User
from codeforge.platform.auth.tokens import issue_token
from codeforge.platform.bridges.models import BridgeReport
from codeforge.platform.bridges.service import forget_gone_bridges
from codeforge.platform.db import utcnow
from codeforge.platform.settings import Settings
from tests.conftest import RunningPlatform, require
from tests.platform.conftest import PG_ADMIN, Org, PlatformUnderTest, _postgres_up

OPENED = "2026-11-29T21:00:00+00:00"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def put(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformUnderTest]:
    """One platform per backend for the whole module: each test uses bridge and session ids
    of its own, so they share it without seeing each other's state."""
    base = tmp_path_factory.mktemp("bridges")
    dropped: str | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{base / 'state.db'}"
    else:
        require("postgresql", _postgres_up(), f"no PostgreSQL at {PG_ADMIN}")
        dropped = f"cf_test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{dropped}"')
        url = f"postgresql+psycopg://{PG_ADMIN.rsplit('/', 1)[0].split('://', 1)[1]}/{dropped}"
    app = create_app(Settings(data_dir=base / "data", database_url=url, instance_id="test"))
    with TestClient(app) as api:
        yield PlatformUnderTest(api, app.state.platform)
    if dropped:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dropped}" WITH (FORCE)')


@pytest.fixture(scope="module")
def org(put: PlatformUnderTest) -> Org:
    return put.new_org("acme")


@pytest.fixture(scope="module")
def other(put: PlatformUnderTest) -> Org:
    return put.new_org("rival", project="rival-demo")


def ids() -> tuple[str, str, str]:
    """A bridge id and two session ids no other test uses."""
    tag = uuid.uuid4().hex[:8]
    return f"bridge-{tag}", f"s-{tag}-a", f"s-{tag}-b"


def session(sid: str, username: str, *resources: tuple[str, str, str], state: str = "connected") -> dict[str, Any]:
    return {
        "id": sid,
        "username": username,
        "opened_at": OPENED,
        "state": state,
        "channels": ["lsp", "terminal"],
        "resources": [{"kind": k, "id": i, "label": label} for k, i, label in resources],
    }


def report(org: Org, bridge: str, *sessions: dict[str, Any], who: str = "developer") -> list[dict[str, str]]:
    body = {
        "project": "demo",
        "bridge": bridge,
        "url": "ws://127.0.0.1:9000",
        "workspace": "/srv/demo",
        "sessions": list(sessions),
    }
    return list(org.ok(who, "bridges.report", body)["close"])


def listed(org: Org, bridge: str, who: str = "viewer") -> dict[str, dict[str, Any]]:
    items = org.ok(who, "bridges.list", {"project": "demo"})["items"]
    return {s["id"]: s for s in items if s["bridge"] == bridge}


def attach_body(bridge: str, sid: str, project: str = "demo", channel: str = "lsp") -> dict[str, str]:
    return {"project": project, "bridge": bridge, "session": sid, "channel": channel, "client": "127.0.0.1"}


def audit(org: Org, operation: str) -> list[dict[str, Any]]:
    return list(org.ok("owner", "audit.list", {"operation": operation, "limit": 1000})["items"])


@pytest.mark.parametrize("role", ["owner", "admin", "developer"])
def test_attach_allowed_with_write(org: Org, role: str) -> None:
    bridge, sid, _ = ids()
    assert org.ok(role, "bridges.attach", attach_body(bridge, sid)) == {
        "username": f"acme-{role}",
        "role": role,
        "organization": "acme",
    }
    entry = next(e for e in audit(org, "bridges.attach") if e["target"] == f"demo/{sid}/lsp")
    assert entry["actor"] == f"acme-{role}" and entry["outcome"] == "succeeded"


@pytest.mark.parametrize("channel", ["terminal", "sync", "ssh", "dap", "forward", "lsp-proxy"])
def test_a_viewer_is_refused_the_channels_that_act_on_the_workspace(org: Org, channel: str) -> None:
    bridge, sid, _ = ids()
    refused = org.call("viewer", "bridges.attach", attach_body(bridge, sid, channel=channel))
    assert refused.status_code == 403 and "edit" in refused.json()["detail"]
    entry = next(e for e in audit(org, "bridges.attach") if e["target"] == f"demo/{sid}/{channel}")
    assert entry["actor"] == "acme-viewer" and entry["outcome"].startswith("denied")


@pytest.mark.parametrize("channel", ["lsp", "collab"])
def test_a_viewer_opens_the_language_server_and_rooms(org: Org, channel: str) -> None:
    """A read-only guest of a collaboration session is an organization viewer: it reads."""
    bridge, sid, _ = ids()
    attached = org.ok("viewer", "bridges.attach", attach_body(bridge, sid, channel=channel))
    assert attached["role"] == "viewer"


def test_attach_from_another_organization_is_a_missing_project(org: Org, other: Org) -> None:
    bridge, sid, _ = ids()
    foreign = other.call("owner", "bridges.attach", attach_body(bridge, sid))
    missing = org.call("owner", "bridges.attach", attach_body(bridge, sid, project="no-such-project"))
    assert foreign.status_code == missing.status_code == 404
    # Nothing tells the other organization that `demo` exists here: the same words as for nowhere.
    assert foreign.json()["detail"] == missing.json()["detail"].replace("no-such-project", "demo")
    assert (
        other.ok("owner", "bridges.attach", attach_body(bridge, sid, project="rival-demo"))["organization"] == "rival"
    )


def test_attach_with_bad_revoked_or_expired_token(put: PlatformUnderTest, org: Org) -> None:
    bridge, sid, _ = ids()
    body = attach_body(bridge, sid)
    forged = org.api.post("/api/v1/bridges/attach", json=body, headers={"Authorization": "Bearer cf_forged"})
    assert forged.status_code == 401 and "cf_forged" not in forged.text
    created = org.ok("owner", "tokens.create", {"name": "soon-revoked", "username": "acme-developer"})
    org.ok("owner", "tokens.revoke", {"id": created["id"]})
    revoked = org.api.post("/api/v1/bridges/attach", json=body, headers={"Authorization": f"Bearer {created['token']}"})
    assert revoked.status_code == 401 and created["token"] not in revoked.text
    with put.platform.db.session() as s:
        user = s.query(User).filter_by(username="acme-developer").one()
        token, raw = issue_token(s, user, "expired", 1)
        s.execute(update(ApiToken).where(ApiToken.id == token.id).values(expires_at=utcnow() - timedelta(minutes=1)))
    expired = org.api.post("/api/v1/bridges/attach", json=body, headers={"Authorization": f"Bearer {raw}"})
    assert expired.status_code == 401 and raw not in expired.text


def test_attach_to_another_members_session_is_refused(org: Org) -> None:
    bridge, sid, _ = ids()
    report(org, bridge, session(sid, "acme-developer"))
    assert org.ok("developer", "bridges.attach", attach_body(bridge, sid))["username"] == "acme-developer"
    hijack = org.call("admin", "bridges.attach", attach_body(bridge, sid))
    assert hijack.status_code == 403 and "another member" in hijack.json()["detail"]


def test_report_then_list(org: Org) -> None:
    bridge, mine, theirs = ids()
    closing = report(
        org,
        bridge,
        session(mine, "acme-developer", ("terminal", "t1", "bash"), ("forward", "f1", "8000 → 18000")),
        session(theirs, "acme-admin", ("terminal", "t2", "python"), state="reconnecting"),
    )
    assert closing == []
    sessions = listed(org, bridge)
    assert set(sessions) == {mine, theirs}
    assert sessions[mine]["username"] == "acme-developer" and sessions[mine]["state"] == "connected"
    assert sessions[mine]["terminals"] == [{"id": "t1", "label": "bash", "closing": False}]
    assert sessions[mine]["forwards"] == [{"id": "f1", "label": "8000 → 18000", "closing": False}]
    assert sessions[mine]["channels"] == ["lsp", "terminal"] and sessions[mine]["opened_at"].startswith("2026-11-29")
    assert sessions[theirs]["state"] == "reconnecting" and sessions[theirs]["forwards"] == []
    info = next(b for b in org.ok("viewer", "bridges.list", {"project": "demo"})["bridges"] if b["id"] == bridge)
    assert info["state"] == "live" and info["url"] == "ws://127.0.0.1:9000" and info["workspace"] == "/srv/demo"
    # Whatever a careless setup put in the bridge's URL, nobody listing it sees a credential.
    body = {"project": "demo", "bridge": bridge, "url": "wss://bob:pw1@[::1]:9443/b?token=cf_abc#x", "sessions": []}
    org.ok("developer", "bridges.report", body)
    shown = org.ok("viewer", "bridges.list", {"project": "demo"})
    assert next(b for b in shown["bridges"] if b["id"] == bridge)["url"] == "wss://[::1]:9443/b"
    assert "pw1" not in str(shown) and "cf_abc" not in str(shown)
    # A report replaces the snapshot: what the bridge no longer holds is no longer listed.
    report(org, bridge, session(mine, "acme-developer"))
    assert set(listed(org, bridge)) == {mine} and listed(org, bridge)[mine]["terminals"] == []


def test_opened_at_as_unix_time(org: Org) -> None:
    """The bridge keeps `time.time()`; the report takes it as it is, and lists it in ISO 8601."""
    bridge, sid, _ = ids()
    report(org, bridge, {**session(sid, "acme-developer"), "opened_at": 1764450000.5})
    assert listed(org, bridge)[sid]["opened_at"].startswith("2025-11-29T21:00:00.5")


def test_reports_are_not_audited_but_refusals_are(org: Org) -> None:
    bridge, sid, _ = ids()
    for _ in range(3):
        report(org, bridge, session(sid, "acme-developer"))
    body = {"project": "demo", "bridge": bridge, "sessions": []}
    assert org.call("viewer", "bridges.report", body).status_code == 403
    entries = [e for e in audit(org, "bridges.report") if e["target"] == f"demo/{bridge}"]
    assert [e["actor"] for e in entries] == ["acme-viewer"] and entries[0]["outcome"].startswith("denied")


def test_close_own_others_and_delivery_once(org: Org) -> None:
    bridge, mine, theirs = ids()
    report(
        org,
        bridge,
        session(mine, "acme-developer", ("terminal", "t-mine", "bash")),
        session(theirs, "acme-admin", ("forward", "f-theirs", "5432")),
    )
    own = org.ok("developer", "bridges.close", {"project": "demo", "kind": "terminal", "id": "t-mine"})
    assert own == {"kind": "terminal", "id": "t-mine", "bridge": bridge, "requested": True}
    refused = org.call("developer", "bridges.close", {"project": "demo", "kind": "session", "id": theirs})
    problem = refused.json()
    assert refused.status_code == 403 and "manage" in problem["detail"] and "acme-admin" in problem["fix"]
    refused = org.call("developer", "bridges.close", {"project": "demo", "kind": "forward", "id": "f-theirs"})
    assert refused.status_code == 403
    assert org.call("viewer", "bridges.close", {"project": "demo", "kind": "session", "id": theirs}).status_code == 403
    org.ok("owner", "bridges.close", {"project": "demo", "kind": "forward", "id": "f-theirs"})
    org.ok("admin", "bridges.close", {"project": "demo", "kind": "session", "id": mine})  # manage: anyone's
    org.ok("admin", "bridges.close", {"project": "demo", "kind": "session", "id": mine})  # twice: one request
    sessions = listed(org, bridge)
    assert sessions[mine]["closing"] and sessions[mine]["terminals"][0]["closing"]
    assert sessions[theirs]["forwards"][0]["closing"] and not sessions[theirs]["closing"]
    delivered = report(org, bridge, *[session(s, u) for s, u in ((mine, "acme-developer"), (theirs, "acme-admin"))])
    assert delivered == [
        {"kind": "terminal", "id": "t-mine"},
        {"kind": "forward", "id": "f-theirs"},
        {"kind": "session", "id": mine},
    ]
    assert report(org, bridge, session(theirs, "acme-admin")) == []  # delivered once
    entries = [e for e in audit(org, "bridges.close") if e["target"].startswith("demo/")]
    outcomes = {(e["actor"], e["target"], e["outcome"].split(":")[0]) for e in entries}
    assert ("acme-developer", "demo/terminal/t-mine", "succeeded") in outcomes
    assert ("acme-developer", f"demo/session/{theirs}", "denied") in outcomes
    assert ("acme-admin", f"demo/session/{mine}", "succeeded") in outcomes


def test_close_requests_go_to_their_own_bridge(org: Org) -> None:
    first, sid, _ = ids()
    second, other_sid, _ = ids()
    report(org, first, session(sid, "acme-developer"))
    report(org, second, session(other_sid, "acme-developer"))
    org.ok("developer", "bridges.close", {"project": "demo", "kind": "session", "id": sid})
    assert report(org, second, session(other_sid, "acme-developer")) == []
    assert report(org, first, session(sid, "acme-developer")) == [{"kind": "session", "id": sid}]


def test_close_unknown_id_is_404_with_the_fix(org: Org) -> None:
    missing = org.call("developer", "bridges.close", {"project": "demo", "kind": "terminal", "id": "nope"})
    problem = missing.json()
    assert missing.status_code == 404 and "'nope'" in problem["detail"] and "bridges list" in problem["fix"]
    bridge, sid, _ = ids()
    report(org, bridge, session(sid, "acme-developer", ("terminal", "t9", "bash")))
    # A terminal's id is not a forward's.
    assert org.call("developer", "bridges.close", {"project": "demo", "kind": "forward", "id": "t9"}).status_code == 404


@pytest.mark.parametrize(
    ("op", "body", "field"),
    [
        ("bridges.close", {"kind": "window", "id": "x"}, "kind"),
        ("bridges.close", {"kind": "session", "id": ""}, "id"),
        ("bridges.close", {"kind": "session", "id": "tërminal"}, "id"),
        ("bridges.close", {"kind": "session", "id": "a\x00b"}, "id"),
        ("bridges.close", {"kind": "session", "id": "a b"}, "id"),
        ("bridges.close", {"kind": "session"}, "id"),
        ("bridges.attach", {"bridge": "b", "session": "s", "channel": "LSP!"}, "channel"),
        ("bridges.attach", {"bridge": "b/../c", "session": "s", "channel": "lsp"}, "bridge"),
        ("bridges.attach", {"bridge": "b", "session": "s", "channel": "lsp", "extra": 1}, "extra"),
        ("bridges.report", {"bridge": "b", "sessions": [{**session("s", "u"), "state": "asleep"}]}, "sessions.0.state"),
        (
            "bridges.report",
            {"bridge": "b", "sessions": [session("s", "u", ("window", "w", ""))]},
            "sessions.0.resources.0.kind",
        ),
        (
            "bridges.report",
            {"bridge": "b", "sessions": [{**session("s", "u"), "opened_at": "yesterday"}]},
            "sessions.0.opened_at",
        ),
        ("bridges.report", {"bridge": "b", "sessions": [{**session("s", "u"), "username": "x\x00"}]}, "sessions"),
    ],
)
def test_bad_input_names_the_field(org: Org, op: str, body: dict[str, Any], field: str) -> None:
    response = org.call("owner", op, {"project": "demo", **body})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    fields = [e["field"] for e in problem["errors"]]
    assert any(f == field or f.startswith(field + ".") for f in fields), fields
    assert all(e["fix"] for e in problem["errors"])
    assert "\x00" not in response.text and "tërminal" not in response.text


def test_silent_bridge_is_stale_then_forgotten(put: PlatformUnderTest, org: Org) -> None:
    bridge, sid, _ = ids()
    report(org, bridge, session(sid, "acme-developer", ("terminal", "t1", "bash")))
    org.ok("developer", "bridges.close", {"project": "demo", "kind": "terminal", "id": "t1"})

    def silent_for(age: timedelta) -> None:
        with put.platform.db.session() as s:
            s.execute(update(BridgeReport).where(BridgeReport.bridge == bridge).values(last_seen=utcnow() - age))

    silent_for(timedelta(minutes=1))
    assert listed(org, bridge)[sid]["state"] == "stale"
    info = next(b for b in org.ok("viewer", "bridges.list", {"project": "demo"})["bridges"] if b["id"] == bridge)
    assert info["state"] == "stale"
    assert forget_gone_bridges(put.platform.db) == [] or bridge not in " ".join(forget_gone_bridges(put.platform.db))
    silent_for(timedelta(days=2))
    assert any(bridge in line for line in forget_gone_bridges(put.platform.db))
    assert listed(org, bridge) == {}
    # Its close request went with it: a bridge coming back under that id starts clean.
    assert report(org, bridge, session(sid, "acme-developer")) == []


# The surfaces derived from the declarations, against a real `codeforge up`.


def cli(platform: RunningPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    env = platform.env | {"COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "codeforge", *args], env=env, capture_output=True, text=True, timeout=120, cwd=Path.cwd()
    )


def test_cli_and_catalog(live_platform: RunningPlatform) -> None:
    with live_platform.client() as client:
        names = {op["name"]: op for op in client.catalog()}
        assert {"bridges.attach", "bridges.report", "bridges.list", "bridges.close"} <= set(names)
        assert names["bridges.list"]["lists_resources"] and names["bridges.close"]["destructive"]
        assert names["bridges.report"]["output_secrets"] == [] and names["bridges.list"]["output_secrets"] == []
        me = client.call("auth.whoami", {}).username
        client.call(
            "bridges.report",
            {
                "project": "demo",
                "bridge": "cli-bridge",
                "sessions": [session("cli-s", me, ("terminal", "cli-t", "zsh"))],
            },
        )
    listed_out = cli(live_platform, "bridges", "list", "--json")
    assert listed_out.returncode == 0, listed_out.stderr
    item = next(i for i in json.loads(listed_out.stdout)["items"] if i["id"] == "cli-s")
    assert item["terminals"][0]["id"] == "cli-t" and live_platform.token not in listed_out.stdout
    text = cli(live_platform, "bridges", "list")
    assert text.returncode == 0 and "cli-s" in text.stdout, text.stderr
    help_text = cli(live_platform, "bridges", "close", "--help")
    assert help_text.returncode == 0 and "session, terminal, forward or debug" in help_text.stdout
    closed = cli(live_platform, "bridges", "close", "terminal", "cli-t", "--yes", "--json")
    assert closed.returncode == 0 and json.loads(closed.stdout)["bridge"] == "cli-bridge", closed.stderr
    wrong = cli(live_platform, "bridges", "close", "window", "cli-t", "--yes")
    assert (
        wrong.returncode == 2
        and "kind" in wrong.stderr
        and "'session', 'terminal', 'forward' or 'debug'" in wrong.stderr
    )
    unknown = cli(live_platform, "bridges", "close", "terminal", "nope", "--yes")
    assert unknown.returncode == 1 and "bridges list" in unknown.stderr
