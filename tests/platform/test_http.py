"""The HTTP surface: routes and OpenAPI derived from the catalog, problems, health, metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from codeforge.catalog import CATALOG
from codeforge.platform.app import create_app
from codeforge.platform.settings import Settings
from tests.platform.conftest import Org, PlatformUnderTest


def test_every_operation_has_a_route_and_openapi_entry(put: PlatformUnderTest) -> None:
    spec = put.api.get("/openapi.json").json()
    for op in CATALOG.values():
        entry = spec["paths"][f"/api/v1{op.path}"]["post"]
        assert entry["operationId"] == op.name.replace(".", "_")
        assert entry["summary"] == op.title


def test_catalog_lists_operations_with_schemas(put: PlatformUnderTest) -> None:
    catalog = {e["name"]: e for e in put.api.get("/api/v1/catalog").json()}
    assert set(catalog) == set(CATALOG)
    env_set = catalog["env.set"]
    assert env_set["command"] == "codeforge.env.set" and env_set["permission"] == "edit"
    assert env_set["input_schema"]["properties"]["name"]["pattern"]
    assert env_set["input_schema"]["properties"]["project"]["x-codeforge-context"] == "project"
    assert catalog["env.import"]["long_running"] is True
    assert catalog["env.list"]["lists_resources"] is True
    assert catalog["env.unset"]["destructive"] is True


def test_problems_for_unknown_route_and_bad_json(put: PlatformUnderTest, org: Org) -> None:
    missing = put.api.post("/api/v1/nope/nothing", json={})
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    bad_json = put.api.post(
        "/api/v1/env/list",
        content=b"{not json",
        headers={"Authorization": f"Bearer {org.tokens['owner']}", "content-type": "application/json"},
    )
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["detail"]


def test_health_and_metrics(put: PlatformUnderTest, org: Org) -> None:
    assert put.api.get("/healthz").json()["status"] == "ok"
    org.ok("viewer", "env.list", {"project": "demo"})
    org.call("viewer", "env.set", {"project": "demo", "name": "A", "value": "1"})
    metrics = put.api.get("/metrics").text
    assert 'codeforge_operations_total{operation="env.list",outcome="succeeded"}' in metrics
    assert 'codeforge_operations_total{operation="env.set",outcome="denied"}' in metrics
    assert "codeforge_operation_seconds_bucket" in metrics


def test_undeclared_method_answers_405_with_allow(put: PlatformUnderTest) -> None:
    for method, path, allowed in [
        ("GET", "/api/v1/env/list", "POST"),
        ("DELETE", "/api/v1/catalog", "GET"),
        ("POST", "/api/v1/jobs/x/events", "GET"),
        ("PUT", "/healthz", "GET"),
    ]:
        response = put.api.request(method, path)
        assert response.status_code == 405, (method, path)
        assert allowed in response.headers["allow"], (method, path, response.headers)
        assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture
def slow_poll(tmp_path: Path) -> Iterator[PlatformUnderTest]:
    """A platform whose streams poll the database once a minute: a stream that missed its
    wake-up hangs past the test's timeout instead of arriving a second late."""
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 's.db'}",
        instance_id="test",
        job_events_poll_seconds=60,
    )
    app = create_app(settings)
    with TestClient(app) as api:
        yield PlatformUnderTest(api, app.state.platform)


@pytest.mark.timeout(120)
def test_streams_end_on_the_wake_up_not_the_poll(slow_poll: PlatformUnderTest) -> None:
    """The stream checked for events, then registered its waiter: an event written in between
    woke nobody, and the stream reported the job's end a poll later (2-29 % of requests)."""
    org = slow_poll.new_org("acme")
    headers = {"Authorization": f"Bearer {org.tokens['owner']}"}
    for i in range(60):
        job = org.ok("owner", "env.import", {"project": "demo", "content": f"K{i}=1\nL{i}=2"})
        # Read while the job runs: each event it writes is a wake-up the stream must not lose.
        with slow_poll.api.stream("GET", job["events_url"], headers=headers) as response:
            text = "".join(response.iter_text())
        assert '"succeeded"' in text, text
