"""Environment variables and secrets: encrypted at rest, masked, revealed only with permission,
never in logs, list output or audit records."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from tests.platform.conftest import Org, PlatformUnderTest

SECRET = "s3cr3t-value-that-must-not-leak"


def test_set_list_reveal_unset(org: Org) -> None:
    org.ok("developer", "env.set", {"project": "demo", "name": "API_URL", "value": "https://x"})
    org.ok("developer", "env.set", {"project": "demo", "name": "TOKEN", "value": SECRET, "secret": True})
    items = {i["name"]: i for i in org.ok("viewer", "env.list", {"project": "demo"})["items"]}
    assert items["API_URL"]["value"] == "https://x"
    assert items["TOKEN"]["value"] is None and items["TOKEN"]["secret"] is True
    assert org.ok("developer", "env.reveal", {"project": "demo", "name": "TOKEN"})["value"] == SECRET
    assert org.call("viewer", "env.reveal", {"project": "demo", "name": "TOKEN"}).status_code == 403
    org.ok("developer", "env.set", {"project": "demo", "name": "TOKEN", "value": "rotated", "secret": True})
    assert org.ok("developer", "env.reveal", {"project": "demo", "name": "TOKEN"})["value"] == "rotated"
    assert org.ok("developer", "env.unset", {"project": "demo", "name": "TOKEN"}) == {"name": "TOKEN", "removed": True}
    missing = org.call("developer", "env.unset", {"project": "demo", "name": "TOKEN"})
    assert missing.status_code == 404 and "env list" in missing.json()["fix"]


def test_reveal_is_audited_without_the_value(put: PlatformUnderTest, org: Org) -> None:
    org.ok("developer", "env.set", {"project": "demo", "name": "TOKEN", "value": SECRET, "secret": True})
    org.ok("developer", "env.reveal", {"project": "demo", "name": "TOKEN"})
    record = org.ok("admin", "audit.list", {"operation": "env.reveal"})["items"][0]
    assert record["actor"] == "acme-developer" and record["target"] == "demo/TOKEN"
    assert record["outcome"] == "succeeded" and record["source"]
    assert SECRET not in str(org.ok("owner", "audit.list", {"limit": 1000}))


def test_values_encrypted_at_rest(put: PlatformUnderTest, org: Org) -> None:
    org.ok("developer", "env.set", {"project": "demo", "name": "PLAIN", "value": "visible-value"})
    org.ok("developer", "env.set", {"project": "demo", "name": "TOKEN", "value": SECRET, "secret": True})
    with put.platform.db.engine.connect() as conn:
        dump = str(conn.execute(text("SELECT * FROM env_variables")).fetchall())
    assert SECRET not in dump and "visible-value" not in dump


def test_secret_absent_from_logs(org: Org, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    org.ok("developer", "env.set", {"project": "demo", "name": "TOKEN", "value": SECRET, "secret": True})
    org.ok("developer", "env.reveal", {"project": "demo", "name": "TOKEN"})
    bad = org.call("developer", "env.set", {"project": "demo", "name": "1BAD", "value": SECRET})
    assert bad.status_code == 422 and SECRET not in bad.text  # bad input is never echoed back
    job = org.ok("developer", "env.import", {"project": "demo", "content": f"K={SECRET}", "secret": True})
    events = org.api.get(
        f"/api/v1/jobs/{job['job_id']}/events", headers={"Authorization": f"Bearer {org.tokens['developer']}"}
    )
    assert "succeeded" in events.text and SECRET not in events.text
    assert any("env.set" in str(getattr(r, "operation", "")) for r in caplog.records)
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"project": "demo", "name": "", "value": "x"}, "name"),
        ({"project": "demo", "name": "has space", "value": "x"}, "name"),
        ({"project": "demo", "name": "A"}, "value"),
        ({"project": "demo", "name": "A", "value": "x", "colour": "red"}, "colour"),
        ({"name": "A", "value": "x"}, "project"),
        ({"project": "demo", "name": "A", "value": "x", "secret": "maybe"}, "secret"),
    ],
)
def test_bad_input_names_field_and_fix(org: Org, body: dict[str, object], field: str) -> None:
    response = org.call("developer", "env.set", body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"].endswith("/bad-input")
    assert [e["field"] for e in problem["errors"]] == [field]
    assert problem["errors"][0]["fix"]


def test_unknown_project_is_not_found(org: Org) -> None:
    response = org.call("developer", "env.list", {"project": "nope"})
    assert response.status_code == 404 and "nope" in response.json()["detail"]


def test_import_rejects_bad_lines_and_changes_nothing(org: Org) -> None:
    response = org.call("developer", "env.import", {"project": "demo", "content": "GOOD=1\n9BAD=2\nnovalue\n"})
    assert response.status_code == 202
    job = org.api.get(
        f"/api/v1/jobs/{response.json()['job_id']}/events", headers={"Authorization": f"Bearer {org.tokens['owner']}"}
    )
    assert "content line 2" in job.text and "content line 3" in job.text and '"failed"' in job.text
    assert org.ok("developer", "env.list", {"project": "demo"})["items"] == []


def test_import_respects_overwrite(org: Org) -> None:
    org.ok("developer", "env.set", {"project": "demo", "name": "KEEP", "value": "old"})
    job = org.ok("developer", "env.import", {"project": "demo", "content": "KEEP=new\nADD=1", "overwrite": False})
    org.api.get(f"/api/v1/jobs/{job['job_id']}/events", headers={"Authorization": f"Bearer {org.tokens['owner']}"})
    result = org.ok("developer", "jobs.get", {"id": job["job_id"]})["result"]
    assert result == {"imported": 1, "skipped": 1, "names": ["ADD"]}
    items = {i["name"]: i["value"] for i in org.ok("developer", "env.list", {"project": "demo"})["items"]}
    assert items == {"KEEP": "old", "ADD": "1"}


def test_deleting_a_project_removes_its_variables(org: Org) -> None:
    org.ok("developer", "env.set", {"project": "demo", "name": "A", "value": "1"})
    org.ok("admin", "projects.delete", {"slug": "demo"})
    org.ok("admin", "projects.create", {"slug": "demo"})
    assert org.ok("developer", "env.list", {"project": "demo"})["items"] == []


def test_list_shows_each_new_value(org: Org) -> None:
    """Listed values are memoized by ciphertext: a new value is a new ciphertext, never a stale text."""
    for value in ("one", "two", "one"):
        org.ok("developer", "env.set", {"project": "demo", "name": "PLAIN", "value": value})
        items = org.ok("viewer", "env.list", {"project": "demo"})["items"]
        assert [(i["name"], i["value"]) for i in items] == [("PLAIN", value)]
    org.ok("developer", "env.set", {"project": "demo", "name": "PLAIN", "value": "hidden", "secret": True})
    assert org.ok("viewer", "env.list", {"project": "demo"})["items"][0]["value"] is None


def test_a_failed_operation_is_audited_and_a_success_once(put: PlatformUnderTest, org: Org) -> None:
    """A success's record is written in the operation's transaction, a failure's in its own."""
    org.ok("developer", "env.set", {"project": "demo", "name": "A", "value": "x"})
    assert org.call("developer", "env.unset", {"project": "demo", "name": "MISSING"}).status_code == 404
    records = org.ok("admin", "audit.list", {"limit": 1000})["items"]
    sets = [r for r in records if r["operation"] == "env.set" and r["target"] == "demo/A"]
    unsets = [r for r in records if r["operation"] == "env.unset"]
    assert [r["outcome"] for r in sets] == ["succeeded"]
    assert [r["outcome"] for r in unsets] == ["failed: Not found"]
