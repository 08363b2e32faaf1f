"""The OpenAPI document: what it declares, and a property test of the whole API against it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from codeforge.catalog import CATALOG
from tests.conftest import ROOT, RunningPlatform, require, start_platform
from tests.platform.conftest import PG_ADMIN, PlatformUnderTest, _postgres_up

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# Deeper runs on demand: CODEFORGE_SCHEMATHESIS_EXAMPLES=200 CODEFORGE_SCHEMATHESIS_SEED=7 pytest …
EXAMPLES = os.environ.get("CODEFORGE_SCHEMATHESIS_EXAMPLES", "5")
SEED = os.environ.get("CODEFORGE_SCHEMATHESIS_SEED", "1")


def _spec(put: PlatformUnderTest) -> dict[str, Any]:
    spec: dict[str, Any] = put.api.get("/openapi.json").json()
    return spec


def test_bearer_scheme_is_declared_and_applied(put: PlatformUnderTest) -> None:
    spec = _spec(put)
    schemes = spec["components"]["securitySchemes"]
    assert [s for s in schemes.values() if s["type"] == "http" and s["scheme"].lower() == "bearer"]
    name = next(iter(schemes))
    for op in CATALOG.values():
        assert spec["paths"][f"/api/v1{op.path}"]["post"]["security"] == [{name: []}], op.name
    assert spec["paths"]["/api/v1/jobs/{job_id}/events"]["get"]["security"] == [{name: []}]
    # Public routes: the health check, the catalog, and panes (their link is signed).
    for path in ("/healthz", "/api/v1/catalog", "/panes/{name}"):
        assert "security" not in spec["paths"][path]["get"], path


def test_error_answers_are_declared_with_problem_bodies(put: PlatformUnderTest) -> None:
    spec = _spec(put)
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    for op in CATALOG.values():
        responses = spec["paths"][f"/api/v1{op.path}"]["post"]["responses"]
        assert ("202" if op.long_running else "200") in responses
        for status in ("400", "401", "403", "404", "409", "422", "429", "500"):
            assert responses[status]["content"]["application/problem+json"]["schema"] == PROBLEM_REF, (op.name, status)
        assert "Retry-After" in responses["429"]["headers"]
    events = spec["paths"]["/api/v1/jobs/{job_id}/events"]["get"]["responses"]
    for status in ("400", "401", "403", "404", "422", "429"):
        assert events[status]["content"]["application/problem+json"]["schema"] == PROBLEM_REF, status
    assert "itemSchema" in events["200"]["content"]["text/event-stream"]
    assert "JobEvent" in spec["components"]["schemas"]
    panes = spec["paths"]["/panes/{name}"]["get"]["responses"]
    assert {"200", "401", "403", "404", "422"} <= set(panes)
    assert panes["422"]["content"]["application/problem+json"]["schema"] == PROBLEM_REF


def _schemathesis(platform: RunningPlatform) -> None:
    """Every phase (examples, coverage with undeclared methods, fuzzing, stateful) against a
    real platform with an owner token. It fails on any 5xx, any response that breaks its
    schema, any status code or header the document does not declare, and a 405 without Allow.
    Two checks judge pydantic, not the document: its lax coercion (0 is false) and limits a
    JSON Schema cannot state (each path component under 255 bytes)."""
    st = Path(sys.executable).parent / "st"
    # Most operations act inside a project: name the platform's own most of the time, so the
    # calls reach the services instead of stopping at "no such project".
    config = platform.data_dir.parent / "schemathesis.toml"
    config.write_text(
        f'[dictionaries.projects]\nvalues = ["{platform.project}"]\n\n'
        '[parameters]\n"body.project" = { dictionary = "projects", probability = 0.7 }\n'
        # Long-polls (monitoring.tail, monitoring.notifications) wait up to wait_s by design.
        '"body.wait_s" = 0\n'
    )
    result = subprocess.run(
        [
            str(st),
            "--config-file",
            str(config),
            "run",
            f"{platform.url}/openapi.json",
            "--header",
            f"Authorization: Bearer {platform.token}",
            "--checks",
            "all",
            "--exclude-checks",
            "negative_data_rejection,positive_data_acceptance",
            "--max-examples",
            EXAMPLES,
            "--seed",
            SEED,
            "--continue-on-failure",
            "--max-failures",
            "100",
            "--request-timeout",
            "30",
            # Generated bodies reach each schema's limits (a review of 1,000 files): validating
            # one takes seconds on a busy 2-core machine. Slowness is for benchmarks/ to judge.
            "--max-response-time",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"},
    )
    report = result.stdout[-20000:] + result.stderr[-3000:]
    if result.returncode != 0:  # the whole report, which the assertion below cuts to its end
        kept = ROOT / "test-artifacts" / "schemathesis" / f"{platform.data_dir.parent.name}.txt"
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(result.stdout + result.stderr)
        report = f"(whole report: {kept})\n" + report
    assert result.returncode == 0, report
    assert "passed" in result.stdout, report


@pytest.fixture
def sqlite_platform(tmp_path: Path) -> Iterator[RunningPlatform]:
    # One client address sends thousands of requests, some with broken tokens on purpose.
    running = start_platform(tmp_path, CODEFORGE_AUTH_FAILURES_PER_MINUTE="100000")
    yield running
    running.stop()


@pytest.fixture
def postgres_platform(tmp_path: Path) -> Iterator[RunningPlatform]:
    require("postgresql", _postgres_up(), f"no PostgreSQL at {PG_ADMIN}")
    name = f"cf_openapi_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://{PG_ADMIN.rsplit('/', 1)[0].split('://', 1)[1]}/{name}"
    running = start_platform(tmp_path, CODEFORGE_AUTH_FAILURES_PER_MINUTE="100000", CODEFORGE_DATABASE_URL=url)
    yield running
    running.stop()
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
def test_api_conforms_to_its_document_on_sqlite(sqlite_platform: RunningPlatform) -> None:
    _schemathesis(sqlite_platform)


@pytest.mark.slow
def test_api_conforms_to_its_document_on_postgresql(postgres_platform: RunningPlatform) -> None:
    """With PostgreSQL as platform state, a NUL byte in 37 text fields answered 500."""
    _schemathesis(postgres_platform)
