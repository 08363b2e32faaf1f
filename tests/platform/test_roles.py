"""Each role against each operation of the core capabilities, and organizations kept apart."""

from __future__ import annotations

from typing import Any

import pytest

from codeforge.catalog import CATALOG, ROLE_PERMISSIONS, Role
from tests.platform.conftest import Org, PlatformUnderTest

CORE = {"auth", "projects", "members", "tokens", "audit", "jobs", "env", "panes"}


def samples(org: Org) -> dict[str, dict[str, Any]]:
    """A valid input for each core operation (targets exist, so only permission can refuse)."""
    job = org.ok("owner", "env.import", {"project": "demo", "content": "SEED=1"})["job_id"]
    org.ok("owner", "env.set", {"project": "demo", "name": "SEED2", "value": "x", "secret": True})
    token = org.ok("owner", "tokens.create", {"name": "victim"})["id"]
    return {
        "auth.whoami": {},
        "projects.create": {"slug": "fresh"},
        "projects.list": {},
        "projects.delete": {"slug": "demo"},
        "members.add": {"username": "newbie", "role": "viewer"},
        "members.list": {},
        "members.set_role": {"username": "acme-viewer", "role": "viewer"},
        "tokens.create": {"name": "mine"},
        "tokens.list": {},
        "tokens.revoke": {"id": token},
        "audit.list": {},
        "jobs.get": {"id": job},
        "jobs.list": {},
        "jobs.cancel": {"id": job},
        "env.set": {"project": "demo", "name": "A", "value": "1", "secret": True},
        "env.list": {"project": "demo"},
        "env.diff": {"project": "demo", "environment": "production", "against": "all"},
        "env.unset": {"project": "demo", "name": "SEED2"},
        "env.reveal": {"project": "demo", "name": "SEED2"},
        "env.import": {"project": "demo", "content": "B=2"},
        "panes.open": {"project": "demo"},
    }


def test_every_core_operation_has_a_sample(org: Org) -> None:
    core = {name for name, op in CATALOG.items() if op.capability in CORE}
    assert core == set(samples(org))


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_role_matrix(put: PlatformUnderTest, role: str) -> None:
    org = put.new_org("acme")
    for name, body in samples(org).items():
        op = CATALOG[name]
        allowed = op.permission in ROLE_PERMISSIONS[Role(role)]
        response = org.call(role, name, body)
        if allowed:
            assert response.status_code != 403, f"{role} was refused {name}: {response.text}"
        else:
            assert response.status_code == 403, f"{role} was allowed {name}: {response.text}"
            problem = response.json()
            assert problem["title"] == "Permission denied"
            assert role in problem["detail"] and problem["fix"]


def test_viewer_cannot_set_a_secret(org: Org) -> None:
    response = org.call("viewer", "env.set", {"project": "demo", "name": "K", "value": "v", "secret": True})
    assert response.status_code == 403
    assert org.ok("owner", "env.list", {"project": "demo"})["items"] == []
    denied = org.ok("owner", "audit.list", {"operation": "env.set"})["items"][0]
    assert denied["actor"] == "acme-viewer" and denied["outcome"].startswith("denied")


def test_only_owner_grants_ownership(org: Org) -> None:
    assert org.call("admin", "members.add", {"username": "boss", "role": "owner"}).status_code == 403
    assert org.call("admin", "members.set_role", {"username": "acme-viewer", "role": "owner"}).status_code == 403
    assert org.ok("owner", "members.set_role", {"username": "acme-viewer", "role": "owner"})["role"] == "owner"


def test_last_owner_cannot_step_down(org: Org) -> None:
    response = org.call("owner", "members.set_role", {"username": "acme-owner", "role": "admin"})
    assert response.status_code == 409 and "last owner" in response.json()["detail"]


def test_developer_creates_tokens_only_for_self(org: Org) -> None:
    response = org.call("developer", "tokens.create", {"name": "x", "username": "acme-viewer"})
    assert response.status_code == 403
    assert org.ok("developer", "tokens.create", {"name": "x"})["token"].startswith("cf_")
    mine = org.ok("developer", "tokens.list")["items"]
    assert {t["username"] for t in mine} == {"acme-developer"}


def test_other_organization_sees_nothing(put: PlatformUnderTest) -> None:
    acme = put.new_org("acme")
    rival = put.new_org("rival", project="rival-app")
    acme.ok("owner", "env.set", {"project": "demo", "name": "DB_PASSWORD", "value": "hunter2", "secret": True})
    job = acme.ok("owner", "env.import", {"project": "demo", "content": "X=1"})["job_id"]

    for op, body in [
        ("env.list", {"project": "demo"}),
        ("env.reveal", {"project": "demo", "name": "DB_PASSWORD"}),
        ("env.set", {"project": "demo", "name": "EVIL", "value": "1"}),
        ("jobs.get", {"id": job}),
        ("jobs.cancel", {"id": job}),
        ("projects.delete", {"slug": "demo"}),
        ("members.set_role", {"username": "acme-owner", "role": "viewer"}),
    ]:
        response = rival.call("owner", op, body)
        assert response.status_code == 404, f"{op}: {response.text}"

    assert [p["slug"] for p in rival.ok("owner", "projects.list")["items"]] == ["rival-app"]
    assert all(m["username"].startswith("rival") for m in rival.ok("owner", "members.list")["items"])
    assert all(j["project"] != "demo" for j in rival.ok("owner", "jobs.list")["items"])
    assert all(r["actor"].startswith("rival") for r in rival.ok("owner", "audit.list")["items"])
    assert all(t["username"].startswith("rival") for t in rival.ok("owner", "tokens.list")["items"])
    events = put.api.get(f"/api/v1/jobs/{job}/events", headers={"Authorization": f"Bearer {rival.tokens['owner']}"})
    assert events.status_code == 404


RANK = {role.value: i for i, role in enumerate(Role)}  # viewer < developer < admin < owner


@pytest.mark.parametrize("caller", [r.value for r in Role])
@pytest.mark.parametrize("target", [r.value for r in Role])
def test_token_for_another_member(org: Org, caller: str, target: str) -> None:
    """Minting a token for someone else needs manage, and never for a higher role (an admin
    minting an owner's token would act as that owner and could then make itself owner)."""
    response = org.call(caller, "tokens.create", {"name": "minted", "username": f"acme-{target}"})
    if caller == target:
        assert response.status_code == 200, response.text
    elif RANK[caller] < RANK["admin"] or RANK[target] > RANK[caller]:
        assert response.status_code == 403, response.text
        assert response.json()["fix"]
    else:
        assert response.status_code == 200, response.text
    if response.status_code == 200 and caller != target:
        audit = org.ok("owner", "audit.list", {"operation": "tokens.create"})["items"][0]
        assert audit["actor"] == f"acme-{caller}" and f"acme-{target}" in audit["target"]


def test_admin_cannot_mint_an_owner_token_then_become_owner(org: Org) -> None:
    """The reported escalation, end to end."""
    response = org.call("admin", "tokens.create", {"name": "x", "username": "acme-owner"})
    assert response.status_code == 403, response.text
    assert org.call("admin", "members.set_role", {"username": "acme-admin", "role": "owner"}).status_code == 403
    assert org.ok("owner", "auth.whoami")["role"] == "owner"
    roles = {m["username"]: m["role"] for m in org.ok("owner", "members.list")["items"]}
    assert roles["acme-admin"] == "admin"


@pytest.mark.parametrize("caller", [r.value for r in Role])
@pytest.mark.parametrize("new_role", [r.value for r in Role])
def test_add_member_with_a_role(org: Org, caller: str, new_role: str) -> None:
    response = org.call(caller, "members.add", {"username": f"new-{new_role}", "role": new_role})
    allowed = RANK[caller] >= RANK["admin"] and RANK[new_role] <= RANK[caller]
    assert (response.status_code == 200) == allowed, response.text
    if not allowed:
        assert response.status_code == 403


@pytest.mark.parametrize("caller", [r.value for r in Role])
@pytest.mark.parametrize("target", ["viewer", "developer", "admin"])
@pytest.mark.parametrize("new_role", [r.value for r in Role])
def test_set_role_of_another_member(org: Org, caller: str, target: str, new_role: str) -> None:
    """Nobody changes the role of a member above them, or grants a role above their own."""
    org.ok("owner", "members.add", {"username": "second-owner", "role": "owner"})
    body = {"username": f"acme-{target}", "role": new_role}
    response = org.call(caller, "members.set_role", body)
    allowed = RANK[caller] >= RANK["admin"] and max(RANK[target], RANK[new_role]) <= RANK[caller]
    assert (response.status_code == 200) == allowed, response.text
    # An owner's role is changed only by an owner.
    owner_change = org.call(caller, "members.set_role", {"username": "second-owner", "role": "viewer"})
    assert (owner_change.status_code == 200) == (caller == "owner"), owner_change.text


def test_last_owner_cannot_be_demoted_by_another_owner_either(org: Org) -> None:
    org.ok("owner", "members.add", {"username": "second-owner", "role": "owner"})
    org.ok("owner", "members.set_role", {"username": "second-owner", "role": "admin"})
    response = org.call("owner", "members.set_role", {"username": "acme-owner", "role": "developer"})
    assert response.status_code == 409 and "last owner" in response.json()["detail"]


@pytest.mark.parametrize("caller", [r.value for r in Role])
def test_tokens_of_higher_roles_are_out_of_reach(org: Org, caller: str) -> None:
    """Listing and revoking others' tokens needs manage, and reaches only roles up to the caller's."""
    victims = {
        t["username"]: t["id"] for t in org.ok("owner", "tokens.list")["items"] if t["username"].startswith("acme-")
    }
    seen = {t["username"] for t in org.ok(caller, "tokens.list")["items"]}
    for target, token_id in victims.items():
        target_role = target.removeprefix("acme-")
        reachable = target_role == caller or (RANK[caller] >= RANK["admin"] and RANK[target_role] <= RANK[caller])
        assert (target in seen) == reachable, (caller, target)
        if target_role == caller:
            continue  # revoking your own token would end this test's session
        response = org.call(caller, "tokens.revoke", {"id": token_id})
        assert (response.status_code == 200) == reachable, (caller, target, response.text)
        if not reachable:
            assert response.status_code == 404
