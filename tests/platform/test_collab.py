"""collab.*: sessions, invitations, participants and roles, admission for the bridge, comment
threads and reviews, against the real platform on SQLite and PostgreSQL: every operation, every
platform role and session role, bad input, expiry, the end of a session, other organizations,
the audit log, and the invitation token kept out of the audit log and the platform's log."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from codeforge.catalog import CATALOG, collab
from codeforge.platform.collab.lookup import PALETTE
from codeforge.platform.collab.models import CollabInvitation
from codeforge.platform.db import utcnow
from tests.platform.collab_helpers import add_member, audit, cast, invite, platform_on, problem, start
from tests.platform.conftest import Org, PlatformUnderTest

UNKNOWN = "0" * 32
UNICODE_TITLE = "Ревью 🚀 代码 é\u0301"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def put(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformUnderTest]:
    """One platform per backend for the module: each test starts sessions of its own."""
    with platform_on(request.param, tmp_path_factory.mktemp("collab")) as put:
        yield put


@pytest.fixture(scope="module")
def org(put: PlatformUnderTest) -> Org:
    org = put.new_org("acme")
    add_member(org, "dev2", "developer")
    add_member(org, "dev3", "developer")
    org.ok("owner", "projects.create", {"slug": "other"})
    return org


@pytest.fixture(scope="module")
def rival(put: PlatformUnderTest) -> Org:
    return put.new_org("rival", project="demo-rival")


def roles_of(session: dict[str, Any]) -> dict[str, str]:
    return {p["username"]: p["role"] for p in session["participants"]}


def u(org: Org, key: str) -> str:
    """The username behind a token key (`owner` is `acme-owner`, `dev2` is `acme-dev2`)."""
    return f"{org.slug}-{key}"


# ---- sessions ---------------------------------------------------------------------------


def test_start_makes_the_caller_host_and_driver(org: Org) -> None:
    session = start(org, title=UNICODE_TITLE, mode="pair")
    assert session["title"] == UNICODE_TITLE and session["mode"] == "pair" and session["project"] == "demo"
    assert session["host"] == session["driver"] == u(org, "developer")
    assert session["state"] == "active" and session["ended_at"] is None and len(session["id"]) == 32
    assert session["participants"] == [
        {
            "username": u(org, "developer"),
            "name": u(org, "developer"),
            "color": PALETTE[0],
            "role": "driver",
            "host": True,
        }
    ]
    assert datetime.fromisoformat(session["created_at"]) <= datetime.now(UTC)
    assert org.ok("developer", "collab.show", {"session": session["id"]}) == session
    assert start(org)["mode"] == "free"  # defaults: free mode, no title


@pytest.mark.parametrize("role", ["owner", "admin", "developer"])
def test_start_by_developer_and_above(org: Org, role: str) -> None:
    assert start(org, role)["host"] == u(org, role)


def test_start_refused_to_a_viewer(org: Org) -> None:
    refused = problem(org, "viewer", "collab.start", {"project": "demo"}, 403)
    assert refused["title"] == "Permission denied" and "viewer" in refused["detail"] and refused["fix"]


def test_invite_and_join_with_the_token_or_the_link(org: Org) -> None:
    session = start(org)
    sid = session["id"]
    invitation = invite(org, sid, role="navigator")
    assert invitation["role"] == "navigator" and invitation["token"].startswith("cfi_")
    assert invitation["link"] == f"codeforge://collab/join?session={sid}&invitation={invitation['token']}"
    expires = datetime.fromisoformat(invitation["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=23, minutes=58) < expires <= timedelta(hours=24)  # the default: a day
    assert org.ok("developer", "collab.invite", {"session": sid})["role"] == "navigator"  # the default role

    joined = org.ok("dev2", "collab.join", {"invitation": invitation["token"]})
    assert roles_of(joined) == {u(org, "developer"): "driver", u(org, "dev2"): "navigator"}
    # The same invitation serves several people until it expires; the whole link works too.
    joined = org.ok("dev3", "collab.join", {"invitation": invitation["link"]})
    assert list(roles_of(joined)) == [u(org, "developer"), u(org, "dev2"), u(org, "dev3")]  # host first
    colors = [p["color"] for p in joined["participants"]]
    assert colors == list(PALETTE[:3]) and len(set(colors)) == 3
    # Joining again changes nothing, the host's included (a host is never demoted by joining).
    assert org.ok("dev3", "collab.join", {"invitation": invitation["token"]}) == joined
    assert org.ok("developer", "collab.join", {"invitation": invitation["token"]}) == joined

    admitted = org.ok("dev2", "collab.admit", {"session": sid})
    assert admitted["participant"] == {
        "username": u(org, "dev2"),
        "name": u(org, "dev2"),
        "color": PALETTE[1],
        "role": "navigator",
        "host": False,
    }
    assert admitted["session"] == joined


def test_invitation_roles_and_expiry_limits(org: Org) -> None:
    sid = start(org)["id"]
    driver = invite(org, sid, "driver", expires_in_minutes=collab.INVITATION_TTL_MAX_MINUTES)
    assert datetime.fromisoformat(driver["expires_at"]) - datetime.now(UTC) > timedelta(days=6, hours=23)
    assert roles_of(org.ok("dev2", "collab.join", {"invitation": driver["token"]}))[u(org, "dev2")] == "driver"
    guest = invite(org, sid, "guest", expires_in_minutes=1)
    assert roles_of(org.ok("dev3", "collab.join", {"invitation": guest["token"]}))[u(org, "dev3")] == "guest"
    for bad, field in (
        ({"expires_in_minutes": 0}, "expires_in_minutes"),
        ({"expires_in_minutes": collab.INVITATION_TTL_MAX_MINUTES + 1}, "expires_in_minutes"),
        ({"expires_in_minutes": "soon"}, "expires_in_minutes"),
        ({"role": "owner"}, "role"),
        ({"role": "host"}, "role"),
    ):
        refused = problem(org, "developer", "collab.invite", {"session": sid, **bad}, 422)
        assert refused["errors"][0]["field"] == field and refused["errors"][0]["fix"]


def test_a_viewer_takes_part_as_a_guest_at_most(org: Org) -> None:
    sid = start(org)["id"]
    joined = org.ok("viewer", "collab.join", {"invitation": invite(org, sid, "driver")["token"]})
    assert roles_of(joined)[u(org, "viewer")] == "guest"
    refused = problem(
        org, "developer", "collab.set_role", {"session": sid, "username": u(org, "viewer"), "role": "navigator"}, 403
    )
    assert "guest" in refused["detail"] and "developer role" in refused["fix"]
    assert org.ok("viewer", "collab.admit", {"session": sid})["participant"]["role"] == "guest"


@pytest.mark.parametrize("who", ["dev2", "viewer", "admin", "owner"])
def test_only_the_host_invites(org: Org, who: str) -> None:
    c = cast(org)  # dev2 and admin navigate, viewer is a guest, owner is not in it
    refused = problem(org, who, "collab.invite", {"session": c.id, "role": "guest"}, 403)
    assert "only the host" in refused["detail"] and u(org, "developer") in refused["fix"]


def test_expired_invitation(put: PlatformUnderTest, org: Org) -> None:
    sid = start(org)["id"]
    invitation = invite(org, sid, expires_in_minutes=5)
    with put.platform.db.session() as session:
        session.execute(
            update(CollabInvitation)
            .where(CollabInvitation.id == invitation["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    refused = problem(org, "dev2", "collab.join", {"invitation": invitation["link"]}, 410)
    assert "expired" in refused["detail"] and "new invitation" in refused["fix"]
    assert problem(org, "dev2", "collab.admit", {"session": sid}, 403)


def test_join_with_a_wrong_or_foreign_invitation(org: Org, rival: Org) -> None:
    sid = start(org)["id"]
    token = invite(org, sid)["token"]
    for wrong in ("cfi_nothing", token[:-2], f"codeforge://collab/join?session={sid}&invitation=cfi_x"):
        refused = problem(org, "dev2", "collab.join", {"invitation": wrong}, 404)
        assert "no such invitation" in refused["detail"] and "whole link" in refused["fix"]
    refused = problem(org, "dev2", "collab.join", {"invitation": f"codeforge://collab/join?session={sid}"}, 422)
    assert refused["errors"][0]["field"] == "invitation"
    # Another organization's member holding a leaked token is told what anyone is for a wrong one.
    assert "no such invitation" in problem(rival, "owner", "collab.join", {"invitation": token}, 404)["detail"]
    assert problem(rival, "owner", "collab.admit", {"session": sid}, 404)
    assert token not in str(org.ok("developer", "collab.show", {"session": sid}))


def test_end_voids_everything(org: Org) -> None:
    c = cast(org)
    spare = invite(org, c.id)["token"]
    assert problem(org, "dev2", "collab.end", {"session": c.id}, 403)  # a navigator may not
    ended = org.ok("developer", "collab.end", {"session": c.id})
    assert ended["state"] == "ended" and ended["ended_at"] is not None
    for who in ("developer", "dev2", "viewer", "admin"):
        gone = problem(org, who, "collab.admit", {"session": c.id}, 410)
        assert gone["title"] == "Gone" and "ended" in gone["detail"] and gone["fix"]
    assert "ended" in problem(org, "dev3", "collab.join", {"invitation": spare}, 410)["detail"]
    for op, body in (
        ("collab.invite", {"session": c.id}),
        ("collab.leave", {"session": c.id}),
        ("collab.set_mode", {"session": c.id, "mode": "pair"}),
        ("collab.set_role", {"session": c.id, "username": u(org, "dev2"), "role": "guest"}),
        ("collab.remove", {"session": c.id, "username": u(org, "dev2")}),
        ("collab.handover", {"session": c.id, "username": u(org, "dev2")}),
    ):
        problem(org, "developer" if op != "collab.leave" else "dev2", op, body, 410)
    # Still there to read, and ending again answers it as it is.
    assert org.ok("dev2", "collab.show", {"session": c.id}) == ended
    assert org.ok("developer", "collab.end", {"session": c.id}) == ended


@pytest.mark.parametrize(("who", "allowed"), [("owner", True), ("admin", True), ("dev2", False), ("viewer", False)])
def test_end_by_the_host_or_an_admin(org: Org, who: str, allowed: bool) -> None:
    c = cast(org)
    if allowed:
        assert org.ok(who, "collab.end", {"session": c.id})["state"] == "ended"
    else:
        refused = problem(org, who, "collab.end", {"session": c.id}, 403)
        assert "host" in refused["detail"] and "admin" in refused["detail"]


@pytest.mark.parametrize("who", ["dev2", "viewer", "admin", "owner"])
def test_only_the_host_sets_roles_and_mode_and_removes(org: Org, who: str) -> None:
    c = cast(org)
    target = u(org, "viewer") if who != "viewer" else u(org, "dev2")
    for op, body in (
        ("collab.set_role", {"session": c.id, "username": target, "role": "guest"}),
        ("collab.set_role", {"session": c.id, "username": u(org, who), "role": "driver"}),  # not even oneself
        ("collab.set_mode", {"session": c.id, "mode": "pair"}),
        ("collab.remove", {"session": c.id, "username": target}),
    ):
        assert "only the host" in problem(org, who, op, body, 403)["detail"]
    assert org.ok("developer", "collab.show", {"session": c.id})["mode"] == "free"


def test_host_sets_roles_and_mode(org: Org) -> None:
    c = cast(org, mode="pair")
    dev2 = u(org, "dev2")
    out = org.ok("developer", "collab.set_role", {"session": c.id, "username": dev2, "role": "driver"})
    assert roles_of(out)[dev2] == "driver" and out["driver"] == u(org, "developer")  # pair driver unchanged
    assert org.ok("developer", "collab.set_mode", {"session": c.id, "mode": "free"})["mode"] == "free"
    assert org.ok("developer", "collab.set_mode", {"session": c.id, "mode": "pair"})["mode"] == "pair"
    # The host keeps a role that edits.
    refused = problem(
        org, "developer", "collab.set_role", {"session": c.id, "username": u(org, "developer"), "role": "guest"}, 409
    )
    assert "host" in refused["detail"]
    assert org.ok(
        "developer", "collab.set_role", {"session": c.id, "username": u(org, "developer"), "role": "navigator"}
    )
    # Someone not in it.
    missing = problem(
        org, "developer", "collab.set_role", {"session": c.id, "username": u(org, "dev3"), "role": "guest"}, 404
    )
    assert "not a participant" in missing["detail"] and "collab show" in missing["fix"]


def test_handover(org: Org) -> None:
    c = cast(org, mode="pair")
    host, dev2, admin = u(org, "developer"), u(org, "dev2"), u(org, "admin")
    # A navigator who does not drive may not take the wheel.
    assert "driver" in problem(org, "dev2", "collab.handover", {"session": c.id, "username": dev2}, 403)["detail"]
    out = org.ok("developer", "collab.handover", {"session": c.id, "username": dev2})
    assert out["driver"] == dev2 and roles_of(out)[dev2] == "driver" and roles_of(out)[host] == "navigator"
    assert org.ok("dev2", "collab.admit", {"session": c.id})["session"]["driver"] == dev2
    # The driver hands on; the host may take it back at any time.
    out = org.ok("dev2", "collab.handover", {"session": c.id, "username": admin})
    assert out["driver"] == admin and roles_of(out)[dev2] == "navigator"
    assert org.ok("developer", "collab.handover", {"session": c.id, "username": host})["driver"] == host
    # Not to a guest, not to someone outside it.
    guest = problem(org, "developer", "collab.handover", {"session": c.id, "username": u(org, "viewer")}, 409)
    assert "guest" in guest["detail"] and "set-role" in guest["fix"]
    problem(org, "developer", "collab.handover", {"session": c.id, "username": u(org, "owner")}, 404)
    # A driver made a guest, or leaving, gives the driving back to the host.
    org.ok("developer", "collab.handover", {"session": c.id, "username": dev2})
    out = org.ok("developer", "collab.set_role", {"session": c.id, "username": dev2, "role": "guest"})
    assert out["driver"] == host
    org.ok("developer", "collab.handover", {"session": c.id, "username": admin})
    assert org.ok("admin", "collab.leave", {"session": c.id})["driver"] == host


def test_leave_and_come_back(org: Org) -> None:
    sid = start(org)["id"]
    invitation = invite(org, sid)
    org.ok("dev2", "collab.join", {"invitation": invitation["token"]})
    out = org.ok("dev2", "collab.leave", {"session": sid})
    assert u(org, "dev2") not in roles_of(out)
    assert "not a participant" in problem(org, "dev2", "collab.admit", {"session": sid}, 403)["detail"]
    assert problem(org, "dev2", "collab.leave", {"session": sid}, 403)
    assert u(org, "dev2") in roles_of(org.ok("dev2", "collab.join", {"invitation": invitation["token"]}))
    # The host cannot leave: ending is the way out.
    refused = problem(org, "developer", "collab.leave", {"session": sid}, 409)
    assert "host" in refused["detail"] and "collab end" in refused["fix"]


def test_removed_participant_needs_a_new_invitation(org: Org) -> None:
    sid = start(org)["id"]
    old = invite(org, sid)["token"]
    org.ok("dev2", "collab.join", {"invitation": old})
    out = org.ok("developer", "collab.remove", {"session": sid, "username": u(org, "dev2")})
    assert u(org, "dev2") not in roles_of(out)
    assert problem(org, "dev2", "collab.admit", {"session": sid}, 403)
    assert "removed you" in problem(org, "dev2", "collab.join", {"invitation": old}, 403)["detail"]
    assert u(org, "dev2") in roles_of(org.ok("dev2", "collab.join", {"invitation": invite(org, sid)["token"]}))
    assert (
        "host"
        in problem(org, "developer", "collab.remove", {"session": sid, "username": u(org, "developer")}, 409)["detail"]
    )
    problem(org, "developer", "collab.remove", {"session": sid, "username": u(org, "owner")}, 404)


def test_admit_and_show_per_role(org: Org) -> None:
    c = cast(org)
    expected = {"developer": "driver", "dev2": "navigator", "admin": "navigator", "viewer": "guest"}
    for who, role in expected.items():
        admitted = org.ok(who, "collab.admit", {"session": c.id})
        assert admitted["participant"]["role"] == role and admitted["participant"]["host"] == (who == "developer")
        assert org.ok(who, "collab.show", {"session": c.id})["id"] == c.id
    # The owner is not in it: not admitted, but (as an admin) may look at it.
    refused = problem(org, "owner", "collab.admit", {"session": c.id}, 403)
    assert "not a participant" in refused["detail"] and "invitation" in refused["fix"]
    assert org.ok("owner", "collab.show", {"session": c.id})["id"] == c.id
    assert "not a participant" in problem(org, "dev3", "collab.show", {"session": c.id}, 403)["detail"]


# Who may do what in a pair session whose host (developer) handed the driving to dev2: the
# admin navigates, the viewer is a guest, the owner (admin+) and dev3 are not in it.
SESSION_MATRIX: dict[str, set[str]] = {
    "collab.show": {"developer", "dev2", "admin", "viewer", "owner"},
    "collab.admit": {"developer", "dev2", "admin", "viewer"},
    "collab.invite": {"developer"},
    "collab.set_mode": {"developer"},
    "collab.set_role": {"developer"},
    "collab.remove": {"developer"},
    "collab.handover": {"developer", "dev2"},
    "collab.end": {"developer", "admin", "owner"},
    "collab.leave": {"dev2", "admin", "viewer"},
}


@pytest.mark.parametrize("who", ["developer", "dev2", "admin", "viewer", "owner", "dev3"])
def test_session_role_matrix(org: Org, who: str) -> None:
    for op, allowed in SESSION_MATRIX.items():
        c = cast(org, mode="pair")
        org.ok("developer", "collab.handover", {"session": c.id, "username": u(org, "dev2")})
        body = {"session": c.id}
        if op in ("collab.set_role", "collab.remove", "collab.handover"):
            body["username"] = u(org, "admin")
        if op == "collab.set_role":
            body["role"] = "guest"
        if op == "collab.set_mode":
            body["mode"] = "free"
        response = org.call(who, op, body)
        if who in allowed:
            assert response.status_code == 200, (op, who, response.text)
        else:  # the host may not leave (409); everyone else is refused (403)
            expected = 409 if (op, who) == ("collab.leave", "developer") else 403
            assert response.status_code == expected, (op, who, response.text)
            assert response.json()["fix"], (op, who)


def test_admit_is_not_audited_but_its_refusals_are(org: Org) -> None:
    c = cast(org)
    before = len(audit(org, "collab.admit"))
    org.ok("dev2", "collab.admit", {"session": c.id})
    org.ok("viewer", "collab.admit", {"session": c.id})
    assert len(audit(org, "collab.admit")) == before
    problem(org, "dev3", "collab.admit", {"session": c.id}, 403)
    refusals = audit(org, "collab.admit")
    assert len(refusals) == before + 1 and refusals[0]["outcome"].startswith("denied")
    assert refusals[0]["target"] == c.id and refusals[0]["actor"] == u(org, "dev3")


def test_unknown_and_malformed_ids(org: Org) -> None:
    for op in ("collab.show", "collab.admit", "collab.invite", "collab.leave", "collab.end"):
        missing = problem(org, "owner", op, {"session": UNKNOWN}, 404)
        assert UNKNOWN in missing["detail"] and "collab list" in missing["fix"]
        for bad in ("nope", "A" * 32, UNKNOWN + "0", ""):
            refused = problem(org, "owner", op, {"session": bad}, 422)
            assert refused["errors"][0]["field"] == "session" and "32 lowercase hex" in refused["errors"][0]["fix"]
    for op in ("collab.reply", "collab.resolve", "collab.reopen", "collab.move"):
        body = {"thread": UNKNOWN, "body": "x", "line": 1}
        body = {k: v for k, v in body.items() if k in CATALOG[op].input.model_fields}
        assert "collab comments" in problem(org, "owner", op, body, 404)["fix"]
    for op in ("collab.review_show", "collab.review_close"):
        assert "collab reviews" in problem(org, "owner", op, {"review": UNKNOWN}, 404)["fix"]


@pytest.mark.parametrize("op", sorted(n for n in CATALOG if n.startswith("collab.")))
def test_empty_body_and_unknown_fields(org: Org, op: str) -> None:
    required = [name for name, info in CATALOG[op].input.model_fields.items() if info.is_required()]
    assert required, op  # every collab operation names what it acts on
    refused = problem(org, "owner", op, {}, 422)
    assert {e["field"] for e in refused["errors"]} == set(required)
    assert all(e["fix"] == f"add `{e['field']}`" for e in refused["errors"])
    extra = problem(org, "owner", op, {"bogus": 1}, 422)
    assert "bogus" in {e["field"] for e in extra["errors"]}


def test_overlong_and_wrong_values(org: Org) -> None:
    sid = start(org)["id"]
    for op, body, field in (
        ("collab.start", {"project": "demo", "title": "x" * 201}, "title"),
        ("collab.start", {"project": "demo", "mode": "solo"}, "mode"),
        ("collab.set_mode", {"session": sid, "mode": "solo"}, "mode"),
        ("collab.set_role", {"session": sid, "username": "x" * 64, "role": "guest"}, "username"),
        ("collab.join", {"invitation": "x" * 2001}, "invitation"),
        ("collab.comment", {"project": "demo", "path": "a", "line": 0, "body": "b" * 20_001}, "body"),
        ("collab.comment", {"project": "demo", "path": "a", "line": -1, "body": "b"}, "line"),
        ("collab.comment", {"project": "demo", "path": "a", "line": 0, "body": ""}, "body"),
        ("collab.comment", {"project": "demo", "path": "a", "line": 0, "body": "b", "anchor": "A" * 1025}, "anchor"),
        ("collab.comment", {"project": "demo", "path": "a", "line": 0, "body": "b", "anchor": "not base64!"}, "anchor"),
        ("collab.comment", {"project": "demo", "path": "p" * 4097, "line": 0, "body": "b"}, "path"),
        ("collab.move", {"thread": UNKNOWN, "line": "two"}, "line"),
    ):
        refused = problem(org, "developer", op, body, 422)
        assert field in {e["field"] for e in refused["errors"]}, (op, refused)
    # A title of only whitespace is an empty title; unicode is kept as given.
    assert start(org, title="   ")["title"] == ""


def test_other_organizations_see_nothing(org: Org, rival: Org) -> None:
    c = cast(org)
    thread = org.ok("developer", "collab.comment", {"project": "demo", "path": "a.py", "line": 1, "body": "hi"})
    review = org.ok(
        "developer", "collab.review_create", {"project": "demo", "title": "t", "base_ref": "HEAD", "files": []}
    )
    for op, body in (
        ("collab.show", {"session": c.id}),
        ("collab.admit", {"session": c.id}),
        ("collab.invite", {"session": c.id}),
        ("collab.leave", {"session": c.id}),
        ("collab.end", {"session": c.id}),
        ("collab.handover", {"session": c.id, "username": "rival-owner"}),
        ("collab.reply", {"thread": thread["id"], "body": "x"}),
        ("collab.resolve", {"thread": thread["id"]}),
        ("collab.move", {"thread": thread["id"], "line": 3}),
        ("collab.review_show", {"review": review["id"]}),
        ("collab.review_close", {"review": review["id"]}),
    ):
        refused = problem(rival, "owner", op, body, 404)
        assert "your organization" in refused["detail"], (op, refused)
    # Nor through a project of theirs, nor by naming ours.
    assert rival.ok("owner", "collab.list", {"project": "demo-rival"})["items"] == []
    assert rival.ok("owner", "collab.comments", {"project": "demo-rival"})["items"] == []
    assert problem(rival, "owner", "collab.list", {"project": "demo"}, 404)
    assert problem(rival, "owner", "collab.comments", {"project": "demo"}, 404)
    assert org.ok("dev2", "collab.show", {"session": c.id})["state"] == "active"


def test_list_own_sessions_or_all_as_admin(org: Org) -> None:
    mine = start(org, "dev3", title="dev3's")
    ended = start(org, "dev3", title="dev3's ended")
    org.ok("dev3", "collab.end", {"session": ended["id"]})
    listed = {s["id"] for s in org.ok("dev3", "collab.list", {"project": "demo", "limit": 500})["items"]}
    assert {mine["id"], ended["id"]} <= listed
    # dev2 is in none of them; an admin sees every session of the project.
    assert not {mine["id"], ended["id"]} & {
        s["id"] for s in org.ok("dev2", "collab.list", {"project": "demo"})["items"]
    }
    every = {s["id"] for s in org.ok("admin", "collab.list", {"project": "demo", "limit": 500})["items"]}
    assert {mine["id"], ended["id"]} <= every
    active = org.ok("dev3", "collab.list", {"project": "demo", "state": "active", "limit": 500})["items"]
    assert mine["id"] in {s["id"] for s in active} and all(s["state"] == "active" for s in active)
    assert len(org.ok("admin", "collab.list", {"project": "demo", "limit": 1})["items"]) == 1
    assert problem(org, "admin", "collab.list", {"project": "demo", "limit": 501}, 422)
    assert org.ok("dev3", "collab.list", {"project": "other"})["items"] == []
    assert "catalog" not in str(org.ok("dev3", "collab.list", {"project": "demo"}))


# ---- comments ---------------------------------------------------------------------------


def comment(org: Org, who: str = "developer", **body: Any) -> dict[str, Any]:
    return dict(
        org.ok(who, "collab.comment", {"project": "demo", "path": "src/app.py", "line": 4, "body": "why?", **body})
    )


def test_threads_reply_resolve_reopen_move(org: Org) -> None:
    thread = comment(org, anchor="AQIDBA==", quote="    return x  ", body="Why **this**? ✓")
    assert thread["path"] == "src/app.py" and thread["line"] == 4 and thread["state"] == "open"
    assert thread["anchor"] == "AQIDBA==" and thread["session"] is None and thread["review"] is None
    assert [(c["author"], c["body"]) for c in thread["comments"]] == [(u(org, "developer"), "Why **this**? ✓")]
    tid = thread["id"]
    replied = org.ok("dev2", "collab.reply", {"thread": tid, "body": "because"})
    assert [c["author"] for c in replied["comments"]] == [u(org, "developer"), u(org, "dev2")]
    assert org.ok("dev2", "collab.resolve", {"thread": tid})["state"] == "resolved"
    assert org.ok("dev2", "collab.resolve", {"thread": tid})["state"] == "resolved"  # twice: same
    assert org.ok("developer", "collab.reopen", {"thread": tid})["state"] == "open"
    assert org.ok("developer", "collab.move", {"thread": tid, "line": 9}) == {"thread": tid, "line": 9}
    listed = org.ok("viewer", "collab.comments", {"project": "demo", "path": "src/app.py"})["items"]
    assert next(t for t in listed if t["id"] == tid)["line"] == 9


def test_who_may_comment(org: Org) -> None:
    # Without a session: developer and above; a viewer reads only.
    for who in ("owner", "admin", "developer"):
        comment(org, who)
    assert (
        "viewer"
        in problem(org, "viewer", "collab.comment", {"project": "demo", "path": "a", "line": 0, "body": "b"}, 403)[
            "detail"
        ]
    )
    outside = comment(org)
    for op, body in (
        ("collab.reply", {"thread": outside["id"], "body": "x"}),
        ("collab.resolve", {"thread": outside["id"]}),
        ("collab.reopen", {"thread": outside["id"]}),
        ("collab.move", {"thread": outside["id"], "line": 1}),
    ):
        assert "session you take part in" in problem(org, "viewer", op, body, 403)["detail"]
    # In a session, its guest (a viewer) comments, replies and resolves.
    c = cast(org)
    mine = comment(org, "viewer", session=c.id)
    assert mine["session"] == c.id
    assert org.ok("viewer", "collab.reply", {"thread": mine["id"], "body": "ok"})["comments"][1]["author"] == u(
        org, "viewer"
    )
    assert org.ok("viewer", "collab.resolve", {"thread": mine["id"]})["state"] == "resolved"
    assert org.ok("viewer", "collab.move", {"thread": mine["id"], "line": 2})["line"] == 2
    # Once it ended, the guest is out; a developer still may reply.
    org.ok("developer", "collab.end", {"session": c.id})
    assert problem(org, "viewer", "collab.reply", {"thread": mine["id"], "body": "late"}, 403)
    assert org.ok("dev3", "collab.reply", {"thread": mine["id"], "body": "late"})
    assert problem(
        org,
        "developer",
        "collab.comment",
        {"project": "demo", "path": "a", "line": 0, "body": "b", "session": c.id},
        410,
    )


def test_comment_session_must_be_of_the_project(org: Org) -> None:
    c = cast(org)
    refused = problem(
        org,
        "developer",
        "collab.comment",
        {"project": "other", "path": "a", "line": 0, "body": "b", "session": c.id},
        422,
    )
    assert refused["errors"][0]["field"] == "session"
    assert problem(
        org,
        "developer",
        "collab.comment",
        {"project": "demo", "path": "a", "line": 0, "body": "b", "session": UNKNOWN},
        404,
    )
    assert problem(
        org,
        "developer",
        "collab.comment",
        {"project": "demo", "path": "a", "line": 0, "body": "b", "review": UNKNOWN},
        404,
    )


@pytest.mark.parametrize("path", ["/etc/passwd", "../up.py", "src/../../x", "a//b", "./a", "C:/x", "a\nb", "src/"])
def test_bad_paths(org: Org, path: str) -> None:
    refused = problem(
        org, "developer", "collab.comment", {"project": "demo", "path": path, "line": 0, "body": "b"}, 422
    )
    assert refused["errors"][0]["field"] == "path" and "relative to the workspace root" in refused["errors"][0]["fix"]


def test_comments_filters_and_limit(org: Org) -> None:
    c = cast(org)
    path = f"filters/{uuid.uuid4().hex}.py"
    a = comment(org, path=path, session=c.id)
    b = comment(org, path=path)
    org.ok("developer", "collab.resolve", {"thread": b["id"]})

    def ids(**body: Any) -> list[str]:
        return [t["id"] for t in org.ok("viewer", "collab.comments", {"project": "demo", **body})["items"]]

    assert ids(path=path) == [b["id"], a["id"]]  # newest first
    assert ids(path=path, state="open") == [a["id"]]
    assert ids(path=path, state="resolved") == [b["id"]]
    assert ids(path=path, session=c.id) == [a["id"]]
    assert ids(path=path, limit=1) == [b["id"]]
    assert ids(project="other") == []
    assert problem(org, "viewer", "collab.comments", {"project": "demo", "path": "../x"}, 422)


# ---- reviews ----------------------------------------------------------------------------

FILES = [
    {
        "path": "src/app.py",
        "hunks": [
            {
                "old_start": 1,
                "old_lines": 2,
                "new_start": 1,
                "new_lines": 3,
                "lines": [" def f():", "-    return 1", "+    return 2  ", "+"],
            }
        ],
    },
    {"path": "docs/ré 😀.md", "hunks": []},
]


def test_reviews(org: Org) -> None:
    review = org.ok(
        "developer",
        "collab.review_create",
        {"project": "demo", "title": UNICODE_TITLE, "base_ref": "HEAD", "files": FILES},
    )
    assert review["title"] == UNICODE_TITLE and review["author"] == u(org, "developer") and review["state"] == "open"
    assert review["files"] == FILES  # diff lines kept exactly, leading and trailing spaces included
    rid = review["id"]
    listed = org.ok("viewer", "collab.reviews", {"project": "demo"})["items"]
    assert next(r for r in listed if r["id"] == rid)["paths"] == ["src/app.py", "docs/ré 😀.md"]
    thread = comment(org, "dev2", review=rid, path="src/app.py", line=2)
    shown = org.ok("viewer", "collab.review_show", {"review": rid})
    assert [t["id"] for t in shown["threads"]] == [thread["id"]] and shown["files"] == FILES
    assert [t["id"] for t in org.ok("viewer", "collab.comments", {"project": "demo", "review": rid})["items"]] == [
        thread["id"]
    ]
    # Closed by its author or an admin; then no new threads on it.
    assert "manage" in problem(org, "dev2", "collab.review_close", {"review": rid}, 403)["detail"]
    assert problem(org, "viewer", "collab.review_close", {"review": rid}, 403)
    closed = org.ok("admin", "collab.review_close", {"review": rid})
    assert closed["state"] == "closed" and closed["closed_at"]
    assert org.ok("developer", "collab.review_close", {"review": rid}) == closed
    assert (
        "closed"
        in problem(
            org, "dev2", "collab.comment", {"project": "demo", "path": "a", "line": 0, "body": "b", "review": rid}, 409
        )["detail"]
    )
    assert rid in {r["id"] for r in org.ok("viewer", "collab.reviews", {"project": "demo", "state": "closed"})["items"]}
    assert rid not in {
        r["id"] for r in org.ok("viewer", "collab.reviews", {"project": "demo", "state": "open"})["items"]
    }
    assert problem(
        org, "viewer", "collab.review_create", {"project": "demo", "title": "t", "base_ref": "HEAD", "files": []}, 403
    )


def test_review_limits(org: Org) -> None:
    base = {"project": "demo", "title": "big", "base_ref": "HEAD"}
    hunk = {"old_start": 0, "old_lines": 0, "new_start": 1, "new_lines": 20_000, "lines": ["+x"] * 20_000}
    too_many = [{"path": f"f{i}.py", "hunks": [hunk]} for i in range(6)]  # 120,000 lines
    refused = problem(org, "developer", "collab.review_create", {**base, "files": too_many}, 422)
    assert "too large" in refused["detail"] and refused["errors"][0]["field"] == "files"
    twice = [{"path": "a.py", "hunks": []}, {"path": "a.py", "hunks": []}]
    assert (
        problem(org, "developer", "collab.review_create", {**base, "files": twice}, 422)["errors"][0]["field"]
        == "files.1.path"
    )
    for bad, field in (
        ({"title": ""}, "title"),
        ({"base_ref": "r" * 257}, "base_ref"),
        ({"files": [{"path": "/abs", "hunks": []}]}, "files.0.path"),
        ({"files": [{"path": "a", "hunks": [{**hunk, "old_start": -1}]}]}, "files.0.hunks.0.old_start"),
        ({"files": [{"path": "a", "hunks": [{**hunk, "lines": ["x"] * 20_001}]}]}, "files.0.hunks.0.lines"),
        ({"files": [{"path": "a", "hunks": [{**hunk, "lines": []}]}]}, "files.0.hunks.0.lines"),
        ({"files": "a.py"}, "files"),
    ):
        refused = problem(org, "developer", "collab.review_create", {**base, **bad}, 422)
        assert field in {e["field"] for e in refused["errors"]}, (bad, refused)
    # Many wrong items: the answer names how many and lists the first 50, not every one.
    empty = [{"path": "a.py", "hunks": [{**hunk, "lines": []}] * 60}]
    refused = problem(org, "developer", "collab.review_create", {**base, "files": empty}, 422)
    assert refused["detail"] == "60 field(s) need fixing (the first 50 are listed)"
    assert len(refused["errors"]) == 50


# ---- audit, secrets, catalog ------------------------------------------------------------


def test_every_change_is_audited_and_the_token_is_nowhere(org: Org, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sid = start(org, title="audited")["id"]
    invitation = invite(org, sid, "guest")
    org.ok("dev2", "collab.join", {"invitation": invitation["link"]})
    org.ok("developer", "collab.set_role", {"session": sid, "username": u(org, "dev2"), "role": "navigator"})
    org.ok("developer", "collab.set_mode", {"session": sid, "mode": "pair"})
    org.ok("developer", "collab.handover", {"session": sid, "username": u(org, "dev2")})
    org.ok("dev2", "collab.leave", {"session": sid})
    org.ok("dev3", "collab.join", {"invitation": invitation["token"]})
    org.ok("developer", "collab.remove", {"session": sid, "username": u(org, "dev3")})
    thread = comment(org, session=sid)
    org.ok("developer", "collab.reply", {"thread": thread["id"], "body": "r"})
    org.ok("developer", "collab.resolve", {"thread": thread["id"]})
    org.ok("developer", "collab.reopen", {"thread": thread["id"]})
    moves = len(audit(org, "collab.move"))
    org.ok("developer", "collab.move", {"thread": thread["id"], "line": 7})
    review = org.ok(
        "developer", "collab.review_create", {"project": "demo", "title": "audited", "base_ref": "HEAD", "files": []}
    )
    org.ok("developer", "collab.review_close", {"review": review["id"]})
    org.ok("developer", "collab.end", {"session": sid})

    expected = {
        ("collab.start", u(org, "developer"), "demo"),
        ("collab.invite", u(org, "developer"), f"{sid}/guest"),
        ("collab.join", u(org, "dev2"), ""),
        ("collab.set_role", u(org, "developer"), f"{sid}/{u(org, 'dev2')}/navigator"),
        ("collab.set_mode", u(org, "developer"), f"{sid}/pair"),
        ("collab.handover", u(org, "developer"), f"{sid}/{u(org, 'dev2')}"),
        ("collab.leave", u(org, "dev2"), sid),
        ("collab.join", u(org, "dev3"), ""),
        ("collab.remove", u(org, "developer"), f"{sid}/{u(org, 'dev3')}"),
        ("collab.comment", u(org, "developer"), "demo/src/app.py"),
        ("collab.reply", u(org, "developer"), thread["id"]),
        ("collab.resolve", u(org, "developer"), thread["id"]),
        ("collab.reopen", u(org, "developer"), thread["id"]),
        ("collab.review_create", u(org, "developer"), "demo/audited"),
        ("collab.review_close", u(org, "developer"), review["id"]),
        ("collab.end", u(org, "developer"), sid),
    }
    records = org.ok("owner", "audit.list", {"limit": 1000})["items"]
    seen = {(r["operation"], r["actor"], r["target"]) for r in records if r["outcome"] == "succeeded"}
    assert expected <= seen, expected - seen
    assert len(audit(org, "collab.move")) == moves  # keystroke rate: not audited
    token = invitation["token"]
    secret = token.removeprefix("cfi_")
    assert not [r for r in records if secret in str(r)]
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "collab.invite" in logged and secret not in logged
    # Nor in any later answer about the session.
    assert secret not in str(org.ok("developer", "collab.show", {"session": sid}))


def test_catalog_marks_what_editors_do_not_show(put: PlatformUnderTest, org: Org) -> None:
    described = {op["name"]: op for op in org.api.get("/api/v1/catalog").json()}
    collab_ops = {n for n in described if n.startswith("collab.")}
    assert collab_ops == {n for n in CATALOG if n.startswith("collab.")}
    hidden = {n for n in collab_ops if not described[n]["palette"]}
    # Machine-called, or wrapped by the language server's own codeforge.collab.* command.
    assert {"collab.admit", "collab.move"} <= hidden
    assert {"collab.list", "collab.show", "collab.comments", "collab.reviews", "collab.review_show"}.isdisjoint(hidden)
    assert not described["bridges.attach"]["palette"] and not described["bridges.report"]["palette"]
    invite_op = described["collab.invite"]
    assert invite_op["output_secrets"] == ["token", "link"] and invite_op["reveals"]
    assert described["collab.join"]["input_schema"]["properties"]["invitation"]["format"] == "password"
    assert described["collab.list"]["lists_resources"]
    assert described["collab.end"]["destructive"] and described["collab.remove"]["destructive"]


def test_gone_reaches_a_client_as_gone(org: Org) -> None:
    """The bridge calls through PlatformClient: a 410 problem becomes errors.Gone again."""
    from codeforge.catalog.errors import CodeForgeError, Gone

    sid = start(org)["id"]
    org.ok("developer", "collab.end", {"session": sid})
    body = org.call("developer", "collab.admit", {"session": sid})
    err = CodeForgeError.from_problem(body.json(), body.status_code)
    assert isinstance(err, Gone) and err.status == 410
