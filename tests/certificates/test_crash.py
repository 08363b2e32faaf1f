"""A platform killed in the middle of a DNS-01 order (docs/certificates.md, "Crash safety"):
the TXT record it published and the challenge it recorded are removed by the crash cleanup
when it starts again, and nothing half-issued is stored; cancelled, the order takes them down
itself. Then the pane, as people see it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from codeforge.client import PlatformClient
from tests.certificates.conftest import certs_platform, own_domain, run
from tests.certificates.test_issue import challenge_rows
from tests.conftest import RunningPlatform
from tests.servers.bind import Bind
from tests.servers.pebble import Pebble


@pytest.fixture(scope="module")
def platform(pebble: Pebble, bind_server: Bind, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    # A long wait after publishing the TXT record: the order is surely under way when killed.
    running = certs_platform(
        tmp_path_factory.mktemp("crash-platform"), pebble, bind_server, CODEFORGE_ACME_DNS_PROPAGATION_S="600"
    )
    yield running
    running.stop()


def test_cancelled_mid_order_leaves_nothing(platform: RunningPlatform, bind_server: Bind) -> None:
    p = platform.project
    with PlatformClient(platform.url, platform.token, timeout=60) as client:
        own_domain(platform, client, bind_server, "example.test", p)
        ref = client.call("certificates.issue", {"project": p, "domain": "example.test", "challenge": "dns-01"})
        deadline = time.monotonic() + 120
        while not bind_server.query("_acme-challenge.example.test", "TXT"):
            assert time.monotonic() < deadline, "the TXT record never appeared"
            time.sleep(0.1)
        client.cancel(ref.job_id)
        job = client.wait(ref.job_id)
        assert job.state.value == "cancelled", job
        assert bind_server.query("_acme-challenge.example.test", "TXT") == []
        assert challenge_rows(platform) == []
        assert run(client, "certificates.list", {"project": p})["items"] == []


def test_killed_mid_order_leaves_nothing(platform: RunningPlatform, pebble: Pebble, bind_server: Bind) -> None:
    p = platform.project
    with PlatformClient(platform.url, platform.token, timeout=60) as client:
        own_domain(platform, client, bind_server, "shop.test", p)
        ref = client.call("certificates.issue", {"project": p, "domain": "shop.test", "challenge": "dns-01"})
        deadline = time.monotonic() + 120
        while not bind_server.query("_acme-challenge.shop.test", "TXT"):
            assert time.monotonic() < deadline, "the TXT record never appeared"
            time.sleep(0.1)
    assert challenge_rows(platform) == [("dns-01", "shop.test")]

    platform.kill()
    assert bind_server.query("_acme-challenge.shop.test", "TXT")  # left behind by the dead process
    platform.start()  # the crash cleanup runs before it serves

    assert bind_server.query("_acme-challenge.shop.test", "TXT") == []
    assert challenge_rows(platform) == []
    assert "challenges of interrupted orders" in platform.logs()
    with PlatformClient(platform.url, platform.token, timeout=60) as client:
        job = client.job(ref.job_id)
        assert job.state.value in ("failed", "cancelled"), job
        assert run(client, "certificates.list", {"project": p})["items"] == []


def pane_text(client: PlatformClient, platform: RunningPlatform) -> str:
    link = run(client, "panes.open", {"project": platform.project, "pane": "certificates"})
    parts = urlsplit(link["url"])
    page = httpx.get(f"{platform.url}{parts.path}?{parts.query}&format=text", timeout=30)
    assert page.status_code == 200, page.text
    return page.text


def test_the_pane(platform: RunningPlatform, bind_server: Bind) -> None:
    p = platform.project
    with PlatformClient(platform.url, platform.token, timeout=120) as client:
        empty = pane_text(client, platform)
        for text in ("Certificates of demo", "no certificates yet", "Days left", "renewed 30 days before expiry"):
            assert text in empty, text
        own_domain(platform, client, bind_server, "certs.test", p)
        issued = run(client, "certificates.issue", {"project": p, "domain": "certs.test, www.certs.test"})
        shown = pane_text(client, platform)
    for text in ("1 certificate(s)", "certs.test, www.certs.test", "valid", issued["issuer"], str(issued["days_left"])):
        assert text in shown, text
    assert "PRIVATE KEY" not in shown
