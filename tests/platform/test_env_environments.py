"""Variables per deployment environment: a shared value (`all`, what every variable was before)
or production's, preview's or development's own; what each environment gets (its own over the
shared), where each value comes from, and the difference between two sets, through the HTTP API
on SQLite and PostgreSQL. Secrets stay secret in every answer, audit record, job event and log."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text

from codeforge.catalog.errors import BadInput
from codeforge.platform.auth.models import Project
from codeforge.platform.db import MIGRATIONS, Database
from codeforge.platform.env.service import diff, effective, resolve, secret_names
from tests.platform.conftest import Org, PlatformUnderTest

SECRET = "s3cr3t-prod-value-that-must-not-leak"
SHARED_SECRET = "s3cr3t-shared-value-that-must-not-leak"
PREVIEW_SECRET = "s3cr3t-preview-value-that-must-not-leak"
ALL_SECRETS = (SECRET, SHARED_SECRET, PREVIEW_SECRET)


def _set(org: Org, name: str, value: str, environment: str | None = None, *, secret: bool = False) -> Any:
    body: dict[str, Any] = {"project": "demo", "name": name, "value": value, "secret": secret}
    if environment is not None:
        body["environment"] = environment
    return org.ok("developer", "env.set", body)


def _listed(org: Org, environment: str | None = None, who: str = "viewer") -> dict[str, Any]:
    body: dict[str, Any] = {"project": "demo"}
    if environment is not None:
        body["environment"] = environment
    listed: dict[str, Any] = org.ok(who, "env.list", body)
    return listed


def _by_name(listed: dict[str, Any]) -> dict[str, tuple[str | None, str]]:
    return {i["name"]: (i["value"], i["environment"]) for i in listed["items"]}


def _no_secret_in(content: str) -> None:
    for value in ALL_SECRETS:
        assert value not in content


def _job_result(org: Org, job: dict[str, Any]) -> tuple[str, Any]:
    events = org.api.get(
        f"/api/v1/jobs/{job['job_id']}/events", headers={"Authorization": f"Bearer {org.tokens['owner']}"}
    )
    return events.text, org.ok("developer", "jobs.get", {"id": job["job_id"]})


def _seed(org: Org) -> None:
    _set(org, "API_URL", "https://shared")
    _set(org, "API_URL", "https://prod", "production")
    _set(org, "LOG_LEVEL", "debug")
    _set(org, "LOG_LEVEL", "debug", "preview")  # the same as the shared one
    _set(org, "ONLY_PROD", "1", "production")
    _set(org, "TOKEN", SHARED_SECRET, secret=True)
    _set(org, "TOKEN", SECRET, "production", secret=True)
    _set(org, "TOKEN", PREVIEW_SECRET, "preview", secret=True)
    _set(org, "DEV_ONLY", "yes", "development")


def test_shared_values_list_as_before_and_say_what_each_environment_overrides(org: Org) -> None:
    _seed(org)
    shared = _listed(org)
    assert shared["environment"] == "all"
    assert _by_name(shared) == {
        "API_URL": ("https://shared", "all"),
        "LOG_LEVEL": ("debug", "all"),
        "TOKEN": (None, "all"),
    }
    assert shared["overrides"] == {
        "production": ["API_URL", "ONLY_PROD", "TOKEN"],
        "preview": ["LOG_LEVEL", "TOKEN"],
        "development": ["DEV_ONLY"],
    }
    assert _listed(org, "all") == shared  # `all` given is the default
    _no_secret_in(str(shared))


def test_each_environment_gets_its_own_values_over_the_shared_ones(org: Org) -> None:
    _seed(org)
    production = _listed(org, "production")
    assert production["environment"] == "production" and production["overrides"] == {}
    assert _by_name(production) == {
        "API_URL": ("https://prod", "production"),
        "LOG_LEVEL": ("debug", "all"),
        "ONLY_PROD": ("1", "production"),
        "TOKEN": (None, "production"),
    }
    assert _by_name(_listed(org, "development")) == {
        "API_URL": ("https://shared", "all"),
        "DEV_ONLY": ("yes", "development"),
        "LOG_LEVEL": ("debug", "all"),
        "TOKEN": (None, "all"),
    }
    assert [i["name"] for i in _listed(org, "preview")["items"]] == ["API_URL", "LOG_LEVEL", "TOKEN"]
    for environment in ("all", "production", "preview", "development"):
        _no_secret_in(str(_listed(org, environment)))


def test_reveal_gives_what_the_environment_gets_and_says_from_where(org: Org) -> None:
    _seed(org)

    def reveal(name: str, environment: str | None = None) -> Any:
        body = {"project": "demo", "name": name} | ({"environment": environment} if environment else {})
        return org.ok("developer", "env.reveal", body)

    assert reveal("TOKEN") == {"name": "TOKEN", "value": SHARED_SECRET, "environment": "all"}
    assert reveal("TOKEN", "production") == {"name": "TOKEN", "value": SECRET, "environment": "production"}
    assert reveal("TOKEN", "development") == {"name": "TOKEN", "value": SHARED_SECRET, "environment": "all"}
    assert reveal("ONLY_PROD", "production")["value"] == "1"
    missing = org.call("developer", "env.reveal", {"project": "demo", "name": "ONLY_PROD"})
    assert missing.status_code == 404 and "env list" in missing.json()["fix"]
    assert (
        org.call("viewer", "env.reveal", {"project": "demo", "name": "TOKEN", "environment": "production"}).status_code
        == 403
    )


def test_unset_removes_only_the_environment_asked(org: Org) -> None:
    _seed(org)
    removed = org.ok("developer", "env.unset", {"project": "demo", "name": "API_URL", "environment": "production"})
    assert removed == {"name": "API_URL", "removed": True}
    assert _by_name(_listed(org, "production"))["API_URL"] == ("https://shared", "all")  # falls back
    again = org.call("developer", "env.unset", {"project": "demo", "name": "API_URL", "environment": "production"})
    assert again.status_code == 404
    assert "production" in again.json()["detail"] and "--environment production" in again.json()["fix"]
    # Removing the shared value leaves the environments' own.
    org.ok("developer", "env.unset", {"project": "demo", "name": "TOKEN"})
    assert "TOKEN" not in _by_name(_listed(org))
    assert _by_name(_listed(org, "production"))["TOKEN"] == (None, "production")
    assert "TOKEN" not in _by_name(_listed(org, "development"))


def test_a_name_may_change_kind_per_environment(org: Org) -> None:
    """Secret in production, plain elsewhere: each row keeps its own kind."""
    _set(org, "STRIPE_KEY", "pk_test_plain")
    _set(org, "STRIPE_KEY", SECRET, "production", secret=True)
    assert _by_name(_listed(org)) == {"STRIPE_KEY": ("pk_test_plain", "all")}
    assert _by_name(_listed(org, "production")) == {"STRIPE_KEY": (None, "production")}
    assert _by_name(_listed(org, "preview")) == {"STRIPE_KEY": ("pk_test_plain", "all")}


def test_import_into_one_environment(org: Org) -> None:
    _set(org, "KEEP", "shared")
    _set(org, "KEEP", "prod-old", "production")
    job = org.ok(
        "developer",
        "env.import",
        {
            "project": "demo",
            "content": f"KEEP=prod-new\nADDED={SECRET}",
            "secret": True,
            "overwrite": False,
            "environment": "production",
        },
    )
    events, finished = _job_result(org, job)
    assert '"succeeded"' in events and SECRET not in events
    assert finished["result"] == {"imported": 1, "skipped": 1, "names": ["ADDED"]}
    assert _by_name(_listed(org)) == {"KEEP": ("shared", "all")}  # the shared values are untouched
    production = _by_name(_listed(org, "production"))
    assert production == {"ADDED": (None, "production"), "KEEP": ("prod-old", "production")}
    revealed = org.ok("developer", "env.reveal", {"project": "demo", "name": "ADDED", "environment": "production"})
    assert revealed["value"] == SECRET


def test_diff_between_environments_names_secret_changes_without_values(org: Org) -> None:
    _seed(org)
    response = org.call("viewer", "env.diff", {"project": "demo", "environment": "production", "against": "preview"})
    assert response.status_code == 200, response.text
    _no_secret_in(response.text)
    result = response.json()
    assert (result["environment"], result["against"]) == ("production", "preview")
    assert result["added"] == []
    assert [(c["name"], c["change"], c["secret"]) for c in result["removed"]] == [("ONLY_PROD", "removed", False)]
    changed = {c["name"]: c for c in result["changed"]}
    assert set(changed) == {"API_URL", "TOKEN"}
    assert (changed["API_URL"]["before"], changed["API_URL"]["after"]) == ("https://prod", "https://shared")
    assert changed["TOKEN"] == {"name": "TOKEN", "change": "changed", "secret": True, "before": None, "after": None}
    assert result["unchanged"] == ["LOG_LEVEL"] and result["unchecked"] == []
    lines = result["text"].splitlines()
    assert lines[0] == "production → preview: 0 added, 1 removed, 2 changed, 1 unchanged"
    assert "~ TOKEN (secret): changed" in lines and '~ API_URL: "https://prod" → "https://shared"' in lines
    assert "- ONLY_PROD" in lines
    # The other way round, and against the shared values alone.
    back = org.ok("viewer", "env.diff", {"project": "demo", "environment": "preview", "against": "production"})
    assert [c["name"] for c in back["added"]] == ["ONLY_PROD"] and back["added"][0]["after"] == "1"
    shared = org.ok("viewer", "env.diff", {"project": "demo", "environment": "all", "against": "development"})
    assert [(c["name"], c["after"]) for c in shared["added"]] == [("DEV_ONLY", "yes")]
    assert shared["changed"] == [] and shared["removed"] == []


def test_diff_against_a_proposed_file(org: Org) -> None:
    _seed(org)
    content = f"API_URL=https://prod\nNEW_FLAG=on\nTOKEN={SECRET}\nLOG_LEVEL=info\n"
    full = org.ok("developer", "env.diff", {"project": "demo", "environment": "production", "content": content})
    assert full["against"] == "proposed"
    assert [(c["name"], c["after"]) for c in full["added"]] == [("NEW_FLAG", "on")]
    assert [c["name"] for c in full["removed"]] == ["ONLY_PROD"]
    assert [(c["name"], c["before"], c["after"]) for c in full["changed"]] == [("LOG_LEVEL", "debug", "info")]
    assert full["unchanged"] == ["API_URL", "TOKEN"]  # the proposed secret equals production's
    partial = org.ok(
        "developer",
        "env.diff",
        {"project": "demo", "environment": "production", "content": f"TOKEN={PREVIEW_SECRET}\n", "partial": True},
    )
    assert partial["removed"] == [] and partial["added"] == []
    assert partial["changed"] == [{"name": "TOKEN", "change": "changed", "secret": True, "before": None, "after": None}]
    assert "TOKEN (secret): changed" in partial["text"]
    # Proposed values said to be secrets show no value, even where nothing is secret now.
    hidden = org.ok(
        "developer",
        "env.diff",
        {"project": "demo", "environment": "preview", "content": "BRAND_NEW=visible?\nAPI_URL=x", "secret": True},
    )
    assert [(c["name"], c["secret"], c["after"]) for c in hidden["added"]] == [("BRAND_NEW", True, None)]
    assert [(c["name"], c["before"], c["after"]) for c in hidden["changed"]] == [("API_URL", None, None)]
    assert "visible?" not in str(hidden)
    for result in (full, partial, hidden):
        _no_secret_in(str(result))


def test_a_viewer_cannot_confirm_a_guess_of_a_secret(org: Org) -> None:
    """Comparing a proposed value with a stored secret tells whether the guess is right: that
    needs the reveal permission, as reading the secret does."""
    _set(org, "TOKEN", SECRET, "production", secret=True)
    _set(org, "PLAIN", "p")
    for guess in (SECRET, "wrong-guess"):
        result = org.ok(
            "viewer",
            "env.diff",
            {"project": "demo", "environment": "production", "content": f"TOKEN={guess}\nPLAIN=p", "partial": True},
        )
        assert result["unchecked"] == ["TOKEN"] and result["changed"] == [] and result["unchanged"] == ["PLAIN"]
        assert "? TOKEN (secret): not compared" in result["text"]
        _no_secret_in(str(result))


def test_environments_are_audited_without_values(
    put: PlatformUnderTest, org: Org, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _set(org, "TOKEN", SHARED_SECRET, secret=True)
    _set(org, "TOKEN", SECRET, "production", secret=True)
    org.ok("developer", "env.reveal", {"project": "demo", "name": "TOKEN", "environment": "production"})
    org.ok("viewer", "env.diff", {"project": "demo", "environment": "production", "against": "all"})
    records = org.ok("admin", "audit.list", {"limit": 1000})["items"]
    targets = {(r["operation"], r["target"]) for r in records}
    assert ("env.set", "demo/TOKEN") in targets and ("env.set", "demo/TOKEN production") in targets
    assert ("env.reveal", "demo/TOKEN production") in targets
    assert ("env.diff", "demo production") in targets
    _no_secret_in(str(records))
    _no_secret_in(caplog.text)
    with put.platform.db.engine.connect() as conn:
        _no_secret_in(str(conn.execute(text("SELECT * FROM env_variables")).fetchall()))


@pytest.mark.parametrize(
    ("op", "body", "field"),
    [
        ("env.set", {"name": "A", "value": "x", "environment": "staging"}, "environment"),
        ("env.set", {"name": "A", "value": "x", "environment": "Production"}, "environment"),
        ("env.set", {"name": "ÄPI_KEY", "value": "x", "environment": "production"}, "name"),
        ("env.set", {"name": "名前", "value": "x"}, "name"),
        ("env.set", {"name": "API_KEY\u200b", "value": "x"}, "name"),  # a zero-width space
        ("env.list", {"environment": "prod"}, "environment"),
        ("env.list", {"environment": ""}, "environment"),
        ("env.reveal", {"name": "A", "environment": 3}, "environment"),
        ("env.unset", {"name": "A", "environment": ["production"]}, "environment"),
        ("env.import", {"content": "A=1", "environment": "qa"}, "environment"),
        ("env.diff", {"environment": "staging", "against": "production"}, "environment"),
        ("env.diff", {"against": "production"}, "environment"),
        ("env.diff", {"environment": "production", "against": "qa"}, "against"),
        ("env.diff", {"environment": "production"}, "against"),
        ("env.diff", {"environment": "production", "against": "preview", "content": "A=1"}, "against"),
        ("env.diff", {"environment": "production", "against": "production"}, "against"),
        ("env.diff", {"environment": "production", "against": "preview", "partial": True}, "partial"),
        ("env.diff", {"environment": "production", "content": "ÜBER=1"}, "content line 1"),
        ("env.diff", {"environment": "production", "content": f"OK=1\n9BAD={SECRET}"}, "content line 2"),
    ],
)
def test_bad_input_names_the_field_and_the_fix(org: Org, op: str, body: dict[str, Any], field: str) -> None:
    response = org.call("developer", op, {"project": "demo", **body})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/bad-input")
    assert [e["field"] for e in problem["errors"]] == [field]
    assert problem["errors"][0]["fix"]
    if (field == "environment" and op != "env.diff") or body.get("environment") == "staging":
        assert "production" in problem["errors"][0]["fix"]  # the fix lists the environments
    assert SECRET not in response.text
    assert org.ok("viewer", "env.list", {"project": "demo"}) == {"items": [], "environment": "all", "overrides": {}}


def test_unicode_values_round_trip_per_environment(org: Org) -> None:
    _set(org, "GREETING", "grüße 👋")
    _set(org, "GREETING", "こんにちは", "preview")
    assert _by_name(_listed(org, "preview"))["GREETING"] == ("こんにちは", "preview")
    result = org.ok("viewer", "env.diff", {"project": "demo", "environment": "all", "against": "preview"})
    assert result["changed"][0]["before"] == "grüße 👋" and '"こんにちは"' in result["text"]


@pytest.mark.parametrize(
    ("role", "can_edit", "can_reveal"),
    [("viewer", False, False), ("developer", True, True), ("admin", True, True), ("owner", True, True)],
)
def test_each_role(org: Org, role: str, can_edit: bool, can_reveal: bool) -> None:
    org.ok(
        "developer",
        "env.set",
        {"project": "demo", "name": "TOKEN", "value": SECRET, "secret": True, "environment": "production"},
    )
    edits = [
        ("env.set", {"name": "A", "value": "1", "environment": "preview"}),
        ("env.import", {"content": "B=2", "environment": "development"}),
        ("env.unset", {"name": "A", "environment": "preview"}),
    ]
    for op, body in edits:
        response = org.call(role, op, {"project": "demo", **body})
        assert (response.status_code < 300) == can_edit, (op, response.text)
        if not can_edit:
            assert response.status_code == 403
    reveal = org.call(role, "env.reveal", {"project": "demo", "name": "TOKEN", "environment": "production"})
    assert reveal.status_code == (200 if can_reveal else 403)
    for body in ({}, {"environment": "production"}):
        assert org.call(role, "env.list", {"project": "demo", **body}).status_code == 200
    compared = org.call(role, "env.diff", {"project": "demo", "environment": "production", "against": "preview"})
    assert compared.status_code == 200 and SECRET not in compared.text
    outsider = org.call(role, "env.diff", {"project": "elsewhere", "environment": "production", "against": "preview"})
    assert outsider.status_code == 404


def test_python_api_for_deployments(put: PlatformUnderTest, org: Org) -> None:
    _seed(org)
    platform = put.platform
    with platform.db.session() as session:
        project_id = session.scalars(select(Project.id).where(Project.slug == "demo")).one()
        production = effective(session, platform.cipher, project_id, "production")
        assert production == {"API_URL": "https://prod", "LOG_LEVEL": "debug", "ONLY_PROD": "1", "TOKEN": SECRET}
        assert effective(session, platform.cipher, project_id, "all")["TOKEN"] == SHARED_SECRET
        sources = {
            n: (r.environment, r.secret) for n, r in resolve(session, platform.cipher, project_id, "preview").items()
        }
        assert sources == {"API_URL": ("all", False), "LOG_LEVEL": ("preview", False), "TOKEN": ("preview", True)}
        hidden = secret_names(session, project_id, "production")
        assert hidden == {"TOKEN"}
        with pytest.raises(BadInput) as bad:
            effective(session, platform.cipher, project_id, "staging")
        assert bad.value.errors[0].field == "environment"
    # What a deploy would change, from what the running release got.
    deployed = {"API_URL": "https://old", "TOKEN": "old-secret-value", "GONE": "x"}
    change = diff(deployed, production, secret=hidden | {"GONE"}, environment="production", against="release 7")
    assert [c.name for c in change.added] == ["LOG_LEVEL", "ONLY_PROD"]
    assert [(c.name, c.secret, c.before) for c in change.removed] == [("GONE", True, None)]
    assert [(c.name, c.before, c.after) for c in change.changed] == [
        ("API_URL", "https://old", "https://prod"),
        ("TOKEN", None, None),
    ]
    assert change.text.startswith("production → release 7: 2 added, 1 removed, 2 changed, 0 unchanged")
    assert "old-secret-value" not in change.model_dump_json() and SECRET not in change.model_dump_json()


def _alembic(db: Database, target: str, *, down: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, target)


def test_migration_keeps_existing_rows_as_shared(put: PlatformUnderTest, org: Org) -> None:
    """Down to the revision before, a variable set there as before, then up again: it is the
    shared value, and the unique key is (project, name, environment) on each backend."""
    _set(org, "OLD", "kept")
    _set(org, "OLD", "prod-only", "production")
    db = Database(str(put.platform.db.engine.url.render_as_string(hide_password=False)))
    try:
        _alembic(db, "0018_deployments", down=True)
        with db.engine.begin() as conn:
            rows = conn.execute(text("SELECT name, value_encrypted FROM env_variables")).fetchall()
            assert [r[0] for r in rows] == ["OLD"]  # an environment's own value cannot stay
            project_id = conn.execute(text("SELECT id FROM projects WHERE slug = 'demo'")).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO env_variables (id, project_id, name, secret, value_encrypted, updated_at, updated_by)"
                    " VALUES ('legacyrow', :p, 'LEGACY', :s, :v, CURRENT_TIMESTAMP, 'old-release')"
                ),
                {"p": project_id, "s": True, "v": put.platform.cipher.encrypt(SECRET)},
            )
        _alembic(db, "head")
        with db.engine.connect() as conn:
            stored = conn.execute(text("SELECT name, environment FROM env_variables ORDER BY name")).fetchall()
        assert [tuple(r) for r in stored] == [("LEGACY", "all"), ("OLD", "all")]
    finally:
        db.dispose()
    listed = _listed(org)
    assert _by_name(listed) == {"LEGACY": (None, "all"), "OLD": ("kept", "all")} and listed["overrides"] == {}
    assert (
        org.ok("developer", "env.reveal", {"project": "demo", "name": "LEGACY", "environment": "preview"})["value"]
        == SECRET
    )
    # Both keys work after the upgrade: one name, two environments.
    _set(org, "LEGACY", "prod", "production")
    _set(org, "LEGACY", "prod-again", "production")
    assert _by_name(_listed(org, "production"))["LEGACY"] == ("prod-again", "production")
    assert _by_name(_listed(org))["LEGACY"] == (None, "all")
