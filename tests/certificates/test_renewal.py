"""Automatic renewal (docs/certificates.md, "Renewal"), on a real platform, Pebble and BIND.

The platform here renews every certificate on every check (CODEFORGE_ACME_RENEW_DAYS is past
Pebble's five-year validity) every half second, and waits an hour after a failure. Its own
loop renews a fresh certificate; once the project loses its domain the renewal fails, the
old certificate stays served, people are told through monitoring (the editors' feed) weeks
before expiry, and the expiry gauge is queryable with PromQL. (test_issue.py has a second
replica renew what is due at a time it is given.)"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from codeforge.client import PlatformClient
from codeforge.platform.certificates.renewal import EXPIRY_METRIC
from codeforge.platform.db import Database
from codeforge.platform.settings import Settings
from tests.certificates.conftest import certs_platform, own_domain, run
from tests.certificates.test_issue import key_and_chain, secret_parts, verify_chain
from tests.conftest import RunningPlatform
from tests.servers.bind import Bind
from tests.servers.pebble import Pebble

RENEWING = {
    "CODEFORGE_ACME_RENEW_DAYS": "100000",
    "CODEFORGE_ACME_RENEW_INTERVAL_S": "0.5",
    "CODEFORGE_ACME_RETRY_AFTER_S": "3600",
}


@pytest.fixture(scope="module")
def platform(pebble: Pebble, bind_server: Bind, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    running = certs_platform(tmp_path_factory.mktemp("renewing-platform"), pebble, bind_server, **RENEWING)
    yield running
    running.stop()


def until(what: str, check: Callable[[], Any], seconds: float = 120) -> Any:
    """Poll `check` until it returns something truthy (a deadline only against hanging)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.25)
    raise AssertionError(f"never happened: {what}")


def remove_domain(platform: RunningPlatform, client: PlatformClient, domain: str) -> None:
    if any(op["name"] == "domains.remove" for op in client.catalog()):
        run(client, "domains.remove", {"project": platform.project, "domain": domain, "force": True})
        return
    from sqlalchemy import delete

    from codeforge.platform.domains.models import DomainRow

    db = Database(Settings(data_dir=platform.data_dir).resolved_database_url)
    try:
        with db.session() as session:
            session.execute(delete(DomainRow).where(DomainRow.name == domain))
    finally:
        db.dispose()


def test_the_loop_renews_and_a_failure_alerts(
    client: PlatformClient, platform: RunningPlatform, pebble: Pebble, bind_server: Bind
) -> None:
    p = platform.project
    own_domain(platform, client, bind_server, "certs.test", p)
    first = run(client, "certificates.issue", {"project": p, "domain": "certs.test"})

    renewed = until(
        "the loop renews the certificate",
        lambda: (
            (c := run(client, "certificates.show", {"project": p, "domain": "certs.test"}))["serial"] != first["serial"]
            and c
        ),
    )
    assert renewed["renewed_at"] and renewed["renewal_failures"] == 0

    remove_domain(platform, client, "certs.test")
    failed = until(
        "a renewal fails",
        lambda: (
            (c := run(client, "certificates.show", {"project": p, "domain": "certs.test"}))["renewal_failures"] and c
        ),
    )
    assert failed["state"] == "failed" and "certs.test is not a verified domain" in failed["renewal_error"]
    # The old certificate is still served, and valid.
    kept = key_and_chain(platform, "certs.test")
    assert kept is not None
    verify_chain(kept[0], pebble.root_pem(), "certs.test")

    def notice() -> dict[str, Any] | None:
        page = run(client, "monitoring.notifications", {"project": p, "limit": 100})
        return next((n for n in page["items"] if n["kind"] == "certificate.renewal_failed"), None)

    told = until("people are told", notice)
    assert told["item"] == "certs.test" and told["pane"] == "certificates"
    assert "could not be renewed: it expires in" in told["title"] and "not a verified domain" in told["message"]

    def gauge() -> list[dict[str, Any]]:
        answer = run(
            client, "monitoring.query", {"project": p, "query": f'{EXPIRY_METRIC}{{certificate="certs.test"}}'}
        )
        return cast(list[dict[str, Any]], answer["series"])

    series = until("the expiry gauge is written", gauge)
    seconds_left = float(series[0]["values"][-1][1])
    assert 300 * 86400 < seconds_left < 6 * 366 * 86400

    shown = run(client, "panes.open", {"project": p, "pane": "certificates"})
    assert shown["url"]
    for part in secret_parts(kept[1]):
        assert part not in platform.logs()
