"""The HTTP surface: routes and OpenAPI derived from the catalog, problems, health, metrics."""

from __future__ import annotations

from codeforge.catalog import CATALOG
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
