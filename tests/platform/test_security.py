"""Attacks from outside: NUL bytes, credentials in errors, guessing tokens, reading /metrics."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from codeforge.catalog import CATALOG
from codeforge.catalog.errors import scrub_secrets
from codeforge.platform.app import create_app
from codeforge.platform.settings import Settings
from tests.conftest import RunningPlatform
from tests.platform.conftest import Org, PlatformUnderTest

NUL = "a\u0000b"


def _string_fields(schema: dict[str, Any]) -> list[str]:
    """Top-level fields that take text (alone, or among other types)."""
    out = []
    for name, prop in schema.get("properties", {}).items():
        kinds = [prop.get("type")] + [p.get("type") for p in prop.get("anyOf", [])]
        if "string" in kinds and "enum" not in prop and "$ref" not in prop:
            out.append(name)
    return out


def test_nul_is_refused_in_every_string_field_of_every_operation(put: PlatformUnderTest, org: Org) -> None:
    """With PostgreSQL as platform state a NUL reached the database and answered 500."""
    checked = 0
    for op in CATALOG.values():
        for field in _string_fields(op.input.model_json_schema()):
            response = org.call("owner", op.name, {field: NUL})
            assert response.status_code == 422, f"{op.name}.{field}: {response.text}"
            problems = {e["field"]: e for e in response.json()["errors"]}
            assert field in problems and "NUL" in problems[field]["message"], f"{op.name}.{field}: {problems}"
            assert "\u0000" not in response.text
            checked += 1
    assert checked > 30


def test_nul_in_a_valid_request(put: PlatformUnderTest, org: Org) -> None:
    response = org.call("owner", "env.list", {"project": NUL})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "project"
    # Inside a list or a nested value too.
    response = org.call("owner", "env.set", {"project": "demo", "name": "A", "value": "x\u0000y"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "value"
    assert org.ok("owner", "env.list", {"project": "demo"})["items"] == []


def test_huge_last_event_id_is_a_bad_request(put: PlatformUnderTest, org: Org) -> None:
    job = org.ok("owner", "env.import", {"project": "demo", "content": "X=1"})["job_id"]
    headers = {"Authorization": f"Bearer {org.tokens['owner']}"}
    for bad in ("9" * 40, "-1", "abc", "1e3"):
        response = put.api.get(f"/api/v1/jobs/{job}/events", headers={**headers, "Last-Event-ID": bad})
        assert response.status_code == 400, f"{bad}: {response.text}"
        assert response.headers["content-type"] == "application/problem+json"
        assert "Last-Event-ID" in response.json()["detail"]
    resumed = put.api.get(f"/api/v1/jobs/{job}/events", headers={**headers, "Last-Event-ID": "1"})
    assert resumed.status_code == 200


def test_scrubber_masks_passwords_and_keeps_hints() -> None:
    assert scrub_secrets('in URI: "postgresql://admin:S3cret@[::1/db"') == 'in URI: "postgresql://admin:***@[::1/db"'
    assert scrub_secrets("host=h password=S3cret user=u") == "host=h password=*** user=u"
    assert scrub_secrets("{'password': 'S3cret'}") == "{'password': ***}"
    assert scrub_secrets("mysql://root:S3cret@h:3306/x and redis://:S3cret@h") == (
        "mysql://root:***@h:3306/x and redis://:***@h"
    )
    hint = "use postgresql://USER:PASSWORD@HOST:PORT/postgres"
    assert scrub_secrets(hint) == hint


def test_bad_admin_url_never_shows_its_password(live_platform: RunningPlatform) -> None:
    """A malformed IPv6 host made the driver fail with the whole URL, which was logged verbatim."""
    password = "Sup3rSecretPw"
    headers = {"Authorization": f"Bearer {live_platform.token}"}
    seen = []
    for url in (
        f"postgresql://admin:{password}@[::1/postgres",
        f"postgresql://admin:{password}@[::1]:notaport/postgres",
        f"postgresql://admin@h/postgres?password={password}",
    ):
        body = {"name": "leaky", "kind": "postgresql", "admin_url": url}
        response = httpx.post(f"{live_platform.url}/api/v1/engines/register", json=body, headers=headers, timeout=30)
        seen.append(response.text)
        assert response.status_code in (202, 400, 409, 422, 502), response.text
        if response.status_code == 202:
            events_url = live_platform.url + response.json()["events_url"]
            stream = httpx.get(events_url, headers=headers, timeout=60)
            assert '"failed"' in stream.text or '"succeeded"' in stream.text
            seen.append(stream.text)
            job = httpx.post(
                f"{live_platform.url}/api/v1/jobs/get", json={"id": response.json()["job_id"]}, headers=headers
            )
            seen.append(job.text)
    for text in seen:
        assert password not in text
    # The log gets every line that reached it, tracebacks included.
    deadline = time.monotonic() + 30
    while "engines.register" not in live_platform.logs() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "engines.register" in live_platform.logs()
    assert password not in live_platform.logs()


def _limited_app(tmp_path: Path, **settings: Any) -> Any:
    return create_app(Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 's.db'}", **settings))


def test_failed_authentications_are_limited_per_address(put: PlatformUnderTest, org: Org) -> None:
    """600 wrong tokens in a row were all answered 401, none limited, none recorded."""
    limit = put.platform.settings.auth_failures_per_minute
    statuses = []
    for i in range(600):
        response = put.api.post("/api/v1/auth/whoami", json={}, headers={"Authorization": f"Bearer cf_guess{i}"})
        statuses.append(response.status_code)
    assert statuses[:limit] == [401] * limit
    assert set(statuses[limit:]) == {429}
    assert int(response.headers["Retry-After"]) >= 1
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 429 and "wait" in problem["fix"]
    # The address that guessed is refused even with a good token; another address is not.
    limited = put.api.post("/api/v1/auth/whoami", json={}, headers={"Authorization": f"Bearer {org.tokens['owner']}"})
    assert limited.status_code == 429
    elsewhere = TestClient(put.api.app, client=("192.0.2.7", 4000))
    good = elsewhere.post("/api/v1/auth/whoami", json={}, headers={"Authorization": f"Bearer {org.tokens['owner']}"})
    assert good.status_code == 200, good.text
    metrics = elsewhere.get("/metrics").text
    assert f'codeforge_auth_failures_total{{reason="unknown"}} {float(limit)}' in metrics
    assert f"codeforge_auth_rate_limited_total {float(600 - limit + 1)}" in metrics


def test_failed_authentication_is_logged_without_the_token(
    put: PlatformUnderTest, org: Org, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="codeforge.auth")
    put.api.post("/api/v1/auth/whoami", json={}, headers={"Authorization": "Bearer cf_secretguess"})
    records = [r for r in caplog.records if r.name == "codeforge.auth"]
    assert records and records[0].reason == "unknown" and records[0].source == "testclient"  # type: ignore[attr-defined]
    assert "cf_secretguess" not in caplog.text


def test_metrics_are_open_on_loopback(put: PlatformUnderTest) -> None:
    assert put.platform.settings.host == "127.0.0.1"
    assert put.api.get("/metrics").status_code == 200


def test_metrics_need_a_token_beyond_loopback(tmp_path: Path) -> None:
    app = _limited_app(tmp_path, host="0.0.0.0")
    token_file = tmp_path / "data" / "metrics.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    with TestClient(app) as api:
        missing = api.get("/metrics")
        assert missing.status_code == 401 and missing.headers["content-type"] == "application/problem+json"
        assert "metrics.token" in missing.json()["fix"]
        assert api.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        good = api.get("/metrics", headers={"Authorization": f"Bearer {token_file.read_text().strip()}"})
        assert good.status_code == 200 and "codeforge_auth_failures_total" in good.text


def test_metrics_token_setting(tmp_path: Path) -> None:
    with TestClient(_limited_app(tmp_path, metrics_token="scrape-me")) as api:  # even on loopback
        assert api.get("/metrics").status_code == 401
        assert api.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).status_code == 200
    assert not (tmp_path / "data" / "metrics.token").exists()
    with TestClient(_limited_app(tmp_path / "open", host="0.0.0.0", metrics_open=True)) as api:
        assert api.get("/metrics").status_code == 200


def test_log_filter_scrubs_every_record() -> None:
    import logging

    from codeforge.platform.logs import JsonFormatter, ScrubSecrets

    record = logging.LogRecord("x", logging.ERROR, "", 0, "connecting to %s", ("mysql://u:Pw1234@h/db",), None)
    try:
        raise ValueError("bad URI postgresql://u:Pw1234@[::1")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    record.url = "postgresql://u:Pw1234@h"
    assert ScrubSecrets().filter(record)
    line = JsonFormatter().format(record)
    assert "Pw1234" not in line and json.loads(line)["url"] == "postgresql://u:***@h"
    assert "ValueError" in json.loads(line)["exception"]


def test_limiter_window_slides() -> None:
    """The in-process limiter with a clock the test moves: no sleeping."""
    from codeforge.platform.auth.limits import InProcessAuthLimiter

    now = [1000.0]
    limiter = InProcessAuthLimiter(3, 60, max_sources=2, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") == 0
        limiter.failed("10.0.0.1")
        now[0] += 10
    assert limiter.retry_after("10.0.0.1") == 30  # the first failure leaves the window at 1060
    assert limiter.retry_after("10.0.0.2") == 0
    now[0] = 1060.5
    assert limiter.retry_after("10.0.0.1") == 0  # one failure fewer in the last minute
    limiter.failed("10.0.0.2")
    limiter.failed("10.0.0.3")  # beyond max_sources: the least recent address is forgotten
    assert limiter.retry_after("10.0.0.1") == 0
