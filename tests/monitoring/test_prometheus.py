"""A real Prometheus (Debian's `prometheus`) as the peer: it scrapes the platform's /metrics,
and receives what the platform remote-writes (its remote-write receiver), read back through
its own query API. Faults: a receiver that refuses (4xx: dropped and counted), one that is
down (kept and retried)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from codeforge.client import PlatformClient
from codeforge.platform.monitoring.runtime import Monitoring
from codeforge.platform.settings import Settings
from tests.conftest import RunningPlatform, free_port, require, start_platform


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def query(self, promql: str) -> list[dict[str, Any]]:
        body = httpx.get(f"{self.url}/api/v1/query", params={"query": promql}, timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]["result"]  # type: ignore[no-any-return]


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, RunningPlatform]]:
    """A platform that remote-writes to a Prometheus that scrapes it."""
    require("prometheus", shutil.which("prometheus") is not None, "install it with scripts/install-test-deps.sh")
    base = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    platform = start_platform(
        base / "platform",
        CODEFORGE_MONITORING_REMOTE_WRITE_URL=f"http://127.0.0.1:{port}/api/v1/write",
        CODEFORGE_MONITORING_REMOTE_WRITE_INTERVAL_S="0.5",
        CODEFORGE_MONITORING_SCRAPE_INTERVAL_S="0.5",
    )
    config = base / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: codeforge\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{platform.port}']\n"
    )
    log = base / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={base / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-remote-write-receiver",
            ],
            stdout=out,
            stderr=out,
        )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", process, log)

    def ready() -> bool:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            return httpx.get(f"{prometheus.url}/-/ready", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for("prometheus to be ready", ready)
        yield prometheus, platform
    finally:
        process.terminate()
        process.wait(10)
        platform.stop()


def test_prometheus_scrapes_the_platforms_metrics(peers: tuple[Prometheus, RunningPlatform]) -> None:
    prometheus, _ = peers
    up = wait_for("prometheus to scrape the platform", lambda: prometheus.query('up{job="codeforge"} == 1'))
    assert up[0]["metric"]["instance"].startswith("127.0.0.1:")
    requests = prometheus.query('codeforge_http_requests_total{job="codeforge"}')
    assert requests and all({"method", "status"} <= set(r["metric"]) for r in requests)


def test_what_the_platform_stores_is_remote_written_to_prometheus(peers: tuple[Prometheus, RunningPlatform]) -> None:
    prometheus, platform = peers
    client = PlatformClient(platform.url, platform.token)
    client.call("monitoring.add_target", {"project": platform.project, "name": "self", "url": "platform"})
    # What the platform's own scraper stored, with the project as a label, read from Prometheus.
    written = wait_for(
        "the platform's samples in prometheus",
        lambda: prometheus.query(f'codeforge_http_requests_total{{job="self", project="{platform.project}"}}'),
    )
    assert {r["metric"]["instance"] for r in written} == {f"127.0.0.1:{platform.port}"}
    up = wait_for("up of the target", lambda: prometheus.query(f'up{{job="self", project="{platform.project}"}}'))
    assert up[0]["value"][1] == "1"
    # Prometheus's job (its own scrape) and the platform's (remote-written) stay apart.
    assert not prometheus.query('codeforge_http_requests_total{job="codeforge", project!=""}')


def test_refused_and_unreachable_receivers(
    peers: tuple[Prometheus, RunningPlatform], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prometheus, _ = peers
    monkeypatch.setenv("CODEFORGE_MONITORING_REMOTE_WRITE_URL", f"http://127.0.0.1:{free_port()}/api/v1/write")
    monitoring = Monitoring(Settings(data_dir=tmp_path))
    writer = monitoring.part("remote_write")
    try:
        now = int(time.time() * 1000)
        monitoring.metrics.write("p-retry", [({"__name__": "cf_retry_test", "k": "v"}, now, 7.0)])
        with pytest.raises(Exception, match="ConnectError"):  # nothing listens: kept for the next try
            writer.send_pending()
        assert writer.sent == 0 and writer.dropped == 0

        monitoring.config.remote_write_url = f"{prometheus.url}/api/v1/write"
        assert writer.send_pending() == 1
        back = wait_for("the retried sample", lambda: prometheus.query('cf_retry_test{project="p-retry"}'))
        assert back[0]["value"][1] == "7"
        assert writer.send_pending() == 0  # sent once: the outbox is empty now

        # A sample Prometheus refuses for good (out of bounds: far in its past) is dropped, counted.
        monitoring.metrics.write("p-retry", [({"__name__": "cf_ancient", "k": "v"}, 1_000, 1.0)])
        assert writer.send_pending() == 0 and writer.dropped == 1
        assert writer.send_pending() == 0 and writer.dropped == 1
    finally:
        monitoring.stop()
