"""collab.call_*: calls in collaboration sessions against the real platform on SQLite and
PostgreSQL: every operation with every platform role and session role (host, driver,
navigator, guest, not a participant, another organization), the bridge's join and report,
the mute request handed over once in a report's answer, ending (the call, the session), bad
input, and the audit log (report and show leave no record; their refusals do)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from codeforge.catalog import CATALOG, calls
from codeforge.platform.collab.lookup import PALETTE
from tests.platform.collab_helpers import add_member, audit, cast, platform_on, problem
from tests.platform.conftest import Org, PlatformUnderTest

UNKNOWN = "0" * 32
BRIDGE = "bridge-1"
CALL_OPS = sorted(n for n in CATALOG if n.startswith("collab.call_"))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def put(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformUnderTest]:
    """One platform per backend for the module: each test starts sessions of its own."""
    with platform_on(request.param, tmp_path_factory.mktemp("calls")) as put:
        yield put


@pytest.fixture(scope="module")
def org(put: PlatformUnderTest) -> Org:
    org = put.new_org("acme")
    add_member(org, "dev2", "developer")
    add_member(org, "dev3", "developer")
    add_member(org, "bridge", "developer")  # the bridge's own token: a developer not in any session
    return org


@pytest.fixture(scope="module")
def rival(put: PlatformUnderTest) -> Org:
    return put.new_org("rival", project="demo-rival")


def u(org: Org, key: str) -> str:
    return f"{org.slug}-{key}"


@dataclass
class Crew:
    """A session with every session role: the host (developer), a driver who does not host
    (dev2), a navigator (admin, an organization admin), a guest (viewer); the owner (admin+)
    and dev3 are not in it."""

    id: str


def crew(org: Org) -> Crew:
    c = cast(org)
    org.ok("developer", "collab.set_role", {"session": c.id, "username": u(org, "dev2"), "role": "driver"})
    return Crew(c.id)


def joined_at(second: int = 0) -> str:
    return datetime(2026, 11, 30, 5, 0, second, tzinfo=UTC).isoformat()


def person(org: Org, key: str, **fields: Any) -> dict[str, Any]:
    return {"username": u(org, key), "muted": False, "joined_at": joined_at(), **fields}


def report(org: Org, sid: str, people: list[dict[str, Any]], who: str = "bridge") -> dict[str, Any]:
    return dict(org.ok(who, "collab.call_report", {"session": sid, "bridge": BRIDGE, "participants": people}))


def show(org: Org, sid: str, who: str = "developer") -> dict[str, Any]:
    return dict(org.ok(who, "collab.call_show", {"session": sid}))


# ---- join and start ---------------------------------------------------------------------


def test_join_starts_the_call_and_answers_the_member(org: Org) -> None:
    c = crew(org)
    joined = org.ok("developer", "collab.call_join", {"session": c.id})
    assert joined["member"] == {
        "username": u(org, "developer"),
        "name": u(org, "developer"),
        "color": PALETTE[0],
        "role": "driver",
        "host": True,
    }
    call = joined["call"]
    assert call["session"] == c.id and call["state"] == "active" and call["started_by"] == u(org, "developer")
    assert call["ended_at"] is None and call["reported_at"] is None
    assert call["participants"] == [] and call["pending_mutes"] == []
    assert datetime.fromisoformat(call["started_at"]) <= datetime.now(UTC)
    # Everyone else joins the same call, with their own role.
    for who, role in (("dev2", "driver"), ("admin", "navigator"), ("viewer", "guest")):
        again = org.ok(who, "collab.call_join", {"session": c.id})
        assert again["call"]["started_at"] == call["started_at"] and again["call"]["started_by"] == call["started_by"]
        assert again["member"]["role"] == role and again["member"]["host"] is False
    assert show(org, c.id) == call
    assert org.ok("dev2", "collab.call_start", {"session": c.id}) == call


def test_first_joins_at_once_get_one_call(org: Org) -> None:
    """Several people join a session with no call at the same moment: one call, everyone in it."""
    c = crew(org)
    who = ["developer", "dev2", "admin", "developer", "dev2", "admin"]
    barrier = threading.Barrier(len(who))

    def join(key: str) -> Any:
        barrier.wait(timeout=60)
        return org.call(key, "collab.call_join", {"session": c.id})

    with ThreadPoolExecutor(len(who)) as pool:
        answers = list(pool.map(join, who))
    assert [a.status_code for a in answers] == [200] * len(who), [a.text for a in answers]
    assert len({a.json()["call"]["started_at"] for a in answers}) == 1
    assert show(org, c.id)["state"] == "active"


def test_a_guest_listens_but_does_not_start(org: Org) -> None:
    c = crew(org)
    refused = problem(org, "viewer", "collab.call_join", {"session": c.id}, 409)
    assert "guest" in refused["detail"] and "no call" in refused["detail"] and refused["fix"]
    refused = problem(org, "viewer", "collab.call_start", {"session": c.id}, 403)
    assert "guest" in refused["detail"] and refused["fix"]
    assert problem(org, "viewer", "collab.call_show", {"session": c.id}, 404)  # still none
    started = org.ok("admin", "collab.call_start", {"session": c.id})  # a navigator may
    assert started["started_by"] == u(org, "admin")
    assert org.ok("viewer", "collab.call_join", {"session": c.id})["member"]["role"] == "guest"


def test_a_developer_made_guest_cannot_start(org: Org) -> None:
    c = crew(org)
    org.ok("developer", "collab.set_role", {"session": c.id, "username": u(org, "dev2"), "role": "guest"})
    assert problem(org, "dev2", "collab.call_start", {"session": c.id}, 403)
    assert problem(org, "dev2", "collab.call_join", {"session": c.id}, 409)


# Who may do what, in a session with a call going (Crew): the owner and dev3 are outside it.
MATRIX: dict[str, set[str]] = {
    "collab.call_start": {"developer", "dev2", "admin"},
    "collab.call_join": {"developer", "dev2", "admin", "viewer"},
    "collab.call_show": {"developer", "dev2", "admin", "viewer", "owner"},
    "mute yourself": {"developer", "dev2", "admin", "viewer"},
    "mute another": {"developer"},
    "collab.call_end": {"developer", "admin", "owner"},
    # The bridge's own token: any member who may edit, as bridges.report.
    "collab.call_report": {"developer", "dev2", "admin", "owner", "dev3", "bridge"},
}


@pytest.mark.parametrize("who", ["developer", "dev2", "admin", "viewer", "owner", "dev3"])
def test_role_matrix(org: Org, who: str) -> None:
    for case, allowed in MATRIX.items():
        c = crew(org)
        org.ok("developer", "collab.call_start", {"session": c.id})
        op, body = case, {"session": c.id}
        if case == "mute yourself":
            op, body = "collab.call_mute", {"session": c.id, "username": u(org, who)}
        elif case == "mute another":
            op = "collab.call_mute"
            body["username"] = u(org, "dev2") if who != "dev2" else u(org, "admin")
        elif op == "collab.call_report":
            body.update(bridge=BRIDGE, participants=[])
        response = org.call(who, op, body)
        if who in allowed:
            assert response.status_code == 200, (case, who, response.text)
        else:
            # Someone outside the session is refused before anything else, themselves included.
            assert response.status_code == 403, (case, who, response.text)
            assert response.json()["fix"], (case, who)


def test_another_organization_sees_nothing(org: Org, rival: Org) -> None:
    c = crew(org)
    org.ok("developer", "collab.call_start", {"session": c.id})
    for op in CALL_OPS:
        body: dict[str, Any] = {"session": c.id}
        if op == "collab.call_mute":
            body["username"] = u(rival, "owner")
        if op == "collab.call_report":
            body.update(bridge=BRIDGE, participants=[])
        missing = problem(rival, "owner", op, body, 404)
        assert c.id in missing["detail"] and "collab list" in missing["fix"], op
        # The same answer as an id no one has.
        assert problem(rival, "owner", op, {**body, "session": UNKNOWN}, 404)["detail"] == missing["detail"].replace(
            c.id, UNKNOWN
        )
    assert show(org, c.id)["state"] == "active"  # the rival ended nothing


# ---- report and mute ----------------------------------------------------------------------


def test_report_is_what_show_answers(org: Org) -> None:
    c = crew(org)
    org.ok("developer", "collab.call_join", {"session": c.id})
    people = [
        person(org, "developer", talking=True, sharing="screen", joined_at=joined_at(1)),
        person(org, "dev2", watching=u(org, "developer"), joined_at=joined_at(2)),
        person(org, "viewer", muted=True, sharing=None, watching=None, joined_at=joined_at(3)),
    ]
    assert report(org, c.id, people) == {"state": "active", "mutes": []}
    call = show(org, c.id, "viewer")
    assert call["reported_at"] is not None
    assert call["participants"] == [
        {
            "username": u(org, "developer"),
            "name": u(org, "developer"),
            "color": PALETTE[0],
            "role": "driver",
            "host": True,
            "muted": False,
            "muted_by_host": False,
            "talking": True,
            "sharing": "screen",
            "watching": None,
            "joined_at": joined_at(1).replace("+00:00", "Z"),
        },
        {
            "username": u(org, "dev2"),
            "name": u(org, "dev2"),
            "color": PALETTE[1],
            "role": "driver",
            "host": False,
            "muted": False,
            "muted_by_host": False,
            "talking": False,
            "sharing": None,
            "watching": u(org, "developer"),
            "joined_at": joined_at(2).replace("+00:00", "Z"),
        },
        {
            "username": u(org, "viewer"),
            "name": u(org, "viewer"),
            "color": PALETTE[3],
            "role": "guest",
            "host": False,
            "muted": True,
            "muted_by_host": False,
            "talking": False,
            "sharing": None,
            "watching": None,
            "joined_at": joined_at(3).replace("+00:00", "Z"),
        },
    ]
    # A role change shows at once; someone removed from the session is left out; an empty
    # report empties the call (it stays active until ended).
    org.ok("developer", "collab.set_role", {"session": c.id, "username": u(org, "dev2"), "role": "navigator"})
    org.ok("developer", "collab.remove", {"session": c.id, "username": u(org, "viewer")})
    listed = show(org, c.id)["participants"]
    assert [(p["username"], p["role"]) for p in listed] == [
        (u(org, "developer"), "driver"),
        (u(org, "dev2"), "navigator"),
    ]
    # Watching someone who is not in the session reads null.
    report(org, c.id, [person(org, "dev2", watching=u(org, "viewer")), person(org, "developer", watching="ghost")])
    assert [p["watching"] for p in show(org, c.id)["participants"]] == [None, None]
    report(org, c.id, [])
    assert show(org, c.id)["participants"] == [] and show(org, c.id)["state"] == "active"


def test_mute_is_handed_to_the_bridge_once(org: Org) -> None:
    c = crew(org)
    org.ok("developer", "collab.call_join", {"session": c.id})
    host, dev2 = u(org, "developer"), u(org, "dev2")
    report(org, c.id, [person(org, "developer"), person(org, "dev2")])
    # The host mutes dev2: pending, not applied yet.
    call = org.ok("developer", "collab.call_mute", {"session": c.id, "username": dev2})
    assert call["pending_mutes"] == [{"username": dev2, "muted": True}]
    assert [p["muted"] for p in call["participants"]] == [False, False]
    # dev2 unmutes and mutes themselves again before the bridge reports: the last one counts.
    org.ok("dev2", "collab.call_mute", {"session": c.id, "username": dev2, "muted": False})
    assert show(org, c.id)["pending_mutes"] == [{"username": dev2, "muted": False}]
    org.ok("dev2", "collab.call_mute", {"session": c.id, "username": dev2})
    org.ok("developer", "collab.call_mute", {"session": c.id, "username": host})
    pending = show(org, c.id)["pending_mutes"]
    assert sorted(pending, key=lambda m: m["username"]) == sorted(
        [{"username": dev2, "muted": True}, {"username": host, "muted": True}], key=lambda m: m["username"]
    )
    # The bridge's report takes them, once.
    answer = report(org, c.id, [person(org, "developer"), person(org, "dev2")])
    assert answer["state"] == "active"
    assert sorted(answer["mutes"], key=lambda m: m["username"]) == sorted(pending, key=lambda m: m["username"])
    assert show(org, c.id)["pending_mutes"] == []
    assert report(org, c.id, [person(org, "developer"), person(org, "dev2")])["mutes"] == []
    # The report after shows them applied.
    report(org, c.id, [person(org, "developer", muted=True), person(org, "dev2", muted=True, muted_by_host=True)])
    applied = {p["username"]: (p["muted"], p["muted_by_host"]) for p in show(org, c.id)["participants"]}
    assert applied == {host: (True, False), dev2: (True, True)}


def test_mute_refusals(org: Org) -> None:
    c = crew(org)
    dev2 = u(org, "dev2")
    # No call yet.
    missing = problem(org, "developer", "collab.call_mute", {"session": c.id, "username": dev2}, 404)
    assert "no call" in missing["detail"] and "call-start" in missing["fix"]
    org.ok("developer", "collab.call_start", {"session": c.id})
    # The host mutes, never unmutes, another.
    refused = problem(org, "developer", "collab.call_mute", {"session": c.id, "username": dev2, "muted": False}, 403)
    assert "unmute" in refused["detail"] and dev2 in refused["fix"]
    # Only the host mutes others (a driver neither).
    refused = problem(org, "dev2", "collab.call_mute", {"session": c.id, "username": u(org, "admin")}, 403)
    assert "only the host" in refused["detail"] and f"call-mute {c.id} {dev2}" in refused["fix"]
    # Someone not in the session, or no one at all.
    for nobody in (u(org, "owner"), "nobody"):
        refused = problem(org, "developer", "collab.call_mute", {"session": c.id, "username": nobody}, 404)
        assert "not a participant" in refused["detail"] and "call-show" in refused["fix"]
    # After the call ended: 410, start a new one.
    org.ok("developer", "collab.call_end", {"session": c.id})
    gone = problem(org, "dev2", "collab.call_mute", {"session": c.id, "username": dev2}, 410)
    assert "ended" in gone["detail"] and "call-start" in gone["fix"]


# ---- ending -------------------------------------------------------------------------------


def test_end_the_call(org: Org) -> None:
    c = crew(org)
    first = org.ok("developer", "collab.call_join", {"session": c.id})["call"]
    report(org, c.id, [person(org, "developer")])
    org.ok("developer", "collab.call_mute", {"session": c.id, "username": u(org, "developer")})
    assert problem(org, "dev2", "collab.call_end", {"session": c.id}, 403)  # a driver who does not host
    ended = org.ok("developer", "collab.call_end", {"session": c.id})
    assert ended["state"] == "ended" and ended["ended_at"] is not None and ended["started_at"] == first["started_at"]
    assert ended["participants"] == [] and ended["pending_mutes"] == []
    assert org.ok("developer", "collab.call_end", {"session": c.id}) == ended  # again: as it is
    assert show(org, c.id, "viewer") == ended
    # The bridge's next report is told, with no mutes (the pending one went with the call).
    assert report(org, c.id, [person(org, "developer")]) == {"state": "ended", "mutes": []}
    assert show(org, c.id) == ended  # a late report changes nothing
    # A guest finds no call; a new one starts afresh.
    assert problem(org, "viewer", "collab.call_join", {"session": c.id}, 409)
    second = org.ok("dev2", "collab.call_join", {"session": c.id})["call"]
    assert second["state"] == "active" and second["started_by"] == u(org, "dev2") and second["participants"] == []
    assert show(org, c.id) == second


@pytest.mark.parametrize("who", ["admin", "owner"])
def test_an_admin_ends_a_call(org: Org, who: str) -> None:
    c = crew(org)
    org.ok("developer", "collab.call_start", {"session": c.id})
    assert org.ok(who, "collab.call_end", {"session": c.id})["state"] == "ended"


def test_no_call_to_end_or_show(org: Org) -> None:
    c = crew(org)
    for op in ("collab.call_end", "collab.call_show"):
        missing = problem(org, "developer", op, {"session": c.id}, 404)
        assert "no call" in missing["detail"] and "call-start" in missing["fix"]
    refused = problem(org, "bridge", "collab.call_report", {"session": c.id, "bridge": BRIDGE, "participants": []}, 404)
    assert "never had a call" in refused["detail"] and "call_join" in refused["fix"]


def test_ending_the_session_ends_its_call(org: Org) -> None:
    c = crew(org)
    org.ok("developer", "collab.call_join", {"session": c.id})
    report(org, c.id, [person(org, "developer"), person(org, "viewer")])
    org.ok("developer", "collab.call_mute", {"session": c.id, "username": u(org, "viewer")})
    session = org.ok("developer", "collab.end", {"session": c.id})
    call = show(org, c.id, "dev2")
    assert call["state"] == "ended" and call["ended_at"] == session["ended_at"]
    assert call["participants"] == [] and call["pending_mutes"] == []
    assert report(org, c.id, [person(org, "developer")]) == {"state": "ended", "mutes": []}
    for who, op, body in (
        ("developer", "collab.call_join", {"session": c.id}),
        ("viewer", "collab.call_join", {"session": c.id}),
        ("developer", "collab.call_start", {"session": c.id}),
        ("developer", "collab.call_mute", {"session": c.id, "username": u(org, "developer")}),
    ):
        gone = problem(org, who, op, body, 410)
        assert "ended" in gone["detail"] and gone["fix"], op
    assert org.ok("developer", "collab.call_end", {"session": c.id}) == call  # answered as it is


def test_ending_a_session_without_a_call(org: Org) -> None:
    c = crew(org)
    assert org.ok("developer", "collab.end", {"session": c.id})["state"] == "ended"
    assert problem(org, "developer", "collab.call_show", {"session": c.id}, 404)


# ---- bad input ----------------------------------------------------------------------------


def _body(op: str, sid: str) -> dict[str, Any]:
    body: dict[str, Any] = {"session": sid}
    if op == "collab.call_mute":
        body["username"] = "acme-developer"
    if op == "collab.call_report":
        body.update(bridge=BRIDGE, participants=[])
    return body


@pytest.mark.parametrize("op", CALL_OPS)
def test_malformed_and_unknown_sessions(org: Org, op: str) -> None:
    who = "bridge" if op == "collab.call_report" else "owner"
    missing = problem(org, who, op, _body(op, UNKNOWN), 404)
    assert UNKNOWN in missing["detail"] and "collab list" in missing["fix"]
    for bad in ("nope", "A" * 32, UNKNOWN + "0", "", 7, None, "0" * 31 + "\x00"):
        refused = problem(org, who, op, _body(op, bad), 422)  # type: ignore[arg-type]
        assert refused["errors"][0]["field"] == "session", (bad, refused)
        assert refused["errors"][0]["fix"]
    empty = problem(org, who, op, {}, 422)
    required = {n for n, f in CATALOG[op].input.model_fields.items() if f.is_required()}
    assert {e["field"] for e in empty["errors"]} == required
    assert "bogus" in {e["field"] for e in problem(org, who, op, {**_body(op, UNKNOWN), "bogus": 1}, 422)["errors"]}


@pytest.mark.parametrize("username", ["", "Ann", "ann smith", "a" * 64, "-ann", "ann/../x", "ann\x00"])
def test_bad_usernames(org: Org, username: str) -> None:
    refused = problem(org, "developer", "collab.call_mute", {"session": UNKNOWN, "username": username}, 422)
    assert refused["errors"][0]["field"] == "username" and refused["errors"][0]["fix"]


def test_bad_mute_flag(org: Org) -> None:
    body = {"session": UNKNOWN, "username": "acme-developer", "muted": "perhaps"}
    assert problem(org, "developer", "collab.call_mute", body, 422)["errors"][0]["field"] == "muted"


def test_bad_reports(org: Org) -> None:
    c = crew(org)
    org.ok("developer", "collab.call_start", {"session": c.id})
    good = person(org, "developer")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"bridge": ""}, "bridge"),
        ({"bridge": "a bridge"}, "bridge"),
        ({"bridge": "b" * 129}, "bridge"),
        ({"participants": "everyone"}, "participants"),
        ({"participants": [good] * (calls.MAX_REPORTED + 1)}, "participants"),
        ({"participants": [good, person(org, "dev2"), good]}, "participants.2.username"),
        ({"participants": [{**good, "username": "Not A Name"}]}, "participants.0.username"),
        ({"participants": [{k: v for k, v in good.items() if k != "muted"}]}, "participants.0.muted"),
        ({"participants": [{k: v for k, v in good.items() if k != "joined_at"}]}, "participants.0.joined_at"),
        ({"participants": [{**good, "joined_at": "2026-11-30T05:00:00"}]}, "participants.0.joined_at"),
        ({"participants": [{**good, "joined_at": "yesterday"}]}, "participants.0.joined_at"),
        ({"participants": [{**good, "sharing": "window"}]}, "participants.0.sharing"),
        ({"participants": [{**good, "watching": "Bob!"}]}, "participants.0.watching"),
        ({"participants": [{**good, "talking": "loudly"}]}, "participants.0.talking"),
        ({"participants": [{**good, "extra": 1}]}, "participants.0.extra"),
        ({"participants": [good, "ann"]}, "participants.1"),
    ]
    for change, field in cases:
        body = {"session": c.id, "bridge": BRIDGE, "participants": [good], **change}
        refused = problem(org, "bridge", "collab.call_report", body, 422)
        assert field in {e["field"] for e in refused["errors"]}, (change if len(str(change)) < 300 else field, refused)
        assert all(e["fix"] for e in refused["errors"])
    assert show(org, c.id)["reported_at"] is None  # none of them was stored
    # At the limit it is accepted.
    many = [person(org, "developer")] + [
        {"username": f"guest{i}", "muted": True, "joined_at": joined_at()} for i in range(calls.MAX_REPORTED - 1)
    ]
    assert report(org, c.id, many)["state"] == "active"
    assert [p["username"] for p in show(org, c.id)["participants"]] == [u(org, "developer")]  # only participants


# ---- audit and catalog --------------------------------------------------------------------


def test_audit(org: Org) -> None:
    c = crew(org)
    ops = ("collab.call_join", "collab.call_start", "collab.call_mute", "collab.call_end", "collab.call_report")
    before = {op: len(audit(org, op)) for op in (*ops, "collab.call_show")}
    org.ok("developer", "collab.call_join", {"session": c.id})
    org.ok("dev2", "collab.call_start", {"session": c.id})
    org.ok("developer", "collab.call_mute", {"session": c.id, "username": u(org, "dev2")})
    report(org, c.id, [person(org, "developer")])
    report(org, c.id, [person(org, "developer")])
    show(org, c.id)
    org.ok("developer", "collab.call_end", {"session": c.id})
    records = org.ok("owner", "audit.list", {"limit": 1000})["items"]
    seen = {(r["operation"], r["actor"], r["target"]) for r in records if r["outcome"] == "succeeded"}
    expected = {
        ("collab.call_join", u(org, "developer"), c.id),
        ("collab.call_start", u(org, "dev2"), c.id),
        ("collab.call_mute", u(org, "developer"), f"{c.id}/{u(org, 'dev2')}"),
        ("collab.call_end", u(org, "developer"), c.id),
    }
    assert expected <= seen, expected - seen
    # Reports (every 2 s) and shows leave no record when they succeed...
    assert len(audit(org, "collab.call_report")) == before["collab.call_report"]
    assert len(audit(org, "collab.call_show")) == before["collab.call_show"]
    # ...but their refusals do.
    problem(org, "viewer", "collab.call_report", {"session": c.id, "bridge": BRIDGE, "participants": []}, 403)
    problem(org, "dev3", "collab.call_show", {"session": c.id}, 403)
    refused = audit(org, "collab.call_report")
    assert len(refused) == before["collab.call_report"] + 1 and refused[0]["outcome"].startswith("denied")
    assert refused[0]["target"] == f"{c.id}/{BRIDGE}" and refused[0]["actor"] == u(org, "viewer")
    assert len(audit(org, "collab.call_show")) == before["collab.call_show"] + 1
    refusal = problem(org, "viewer", "collab.call_start", {"session": c.id}, 403)
    assert refusal and audit(org, "collab.call_start")[0]["outcome"].startswith("denied")


def test_catalog_entries(org: Org) -> None:
    described = {op["name"]: op for op in org.api.get("/api/v1/catalog").json()}
    assert set(CALL_OPS) == {
        "collab.call_start",
        "collab.call_show",
        "collab.call_mute",
        "collab.call_end",
        "collab.call_join",
        "collab.call_report",
    } and set(CALL_OPS) <= set(described)
    hidden = {n for n in CALL_OPS if not described[n]["palette"]}
    # join and report are the bridge's; editors start a call by joining it (codeforge.call.join)
    assert hidden == {"collab.call_join", "collab.call_report", "collab.call_start"}
    assert described["collab.call_end"]["destructive"] and described["collab.call_report"]["permission"] == "edit"
    # Each has its REST route (the CLI's `codeforge collab call-start` comes from the same entry).
    for name in CALL_OPS:
        assert described[name]["path"] == "/collab/" + name.split(".")[1]
    paths = org.api.get("/openapi.json").json()["paths"]
    assert {f"/api/v1/collab/{n.split('.')[1]}" for n in CALL_OPS} <= set(paths)
