"""The `workspaces` pane through a real `codeforge up` (docs/workspaces.md, "Editors"): the
empty state, then workspaces (state, runtime, files, ports with links, limits) and a
snapshot on the timeline with what it captured and what it did not; environment values never
shown, user text from a devcontainer.json escaped."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from codeforge.client import PlatformClient
from tests.conftest import RunningPlatform, start_platform
from tests.workspaces.test_service import run

ENV = {"CODEFORGE_WORKSPACES_PORT_RANGE": "24300-24399", "CODEFORGE_WORKSPACES_MAX_PER_PROJECT": "4"}

SCRIPT = "<script>alert('env')</script>"
DB_PASSWORD = "hunter2-pane-secret"
HOSTILE_FEATURE = "ghcr.io/evil/<img src=x onerror=alert(1)>-ünïcødé:1"


@pytest.fixture(scope="module")
def platform(btrfs_volume: Path) -> Iterator[RunningPlatform]:
    base = btrfs_volume / f"ws-pane-{os.getpid()}"
    running = start_platform(base, CODEFORGE_PROJECTS_ROOT=str(base / "projects"), **ENV)
    yield running
    running.stop()


def open_pane(client: PlatformClient, platform: RunningPlatform, fmt: str = "html") -> str:
    link = run(client, "panes.open", {"project": platform.project, "pane": "workspaces"})
    parts = urlsplit(link["url"])
    query = parts.query + ("&format=text" if fmt == "text" else "")
    page = httpx.get(f"{platform.url}{parts.path}?{query}", timeout=30)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html" if fmt == "html" else "text/plain")
    return page.text


def test_workspaces_pane(platform: RunningPlatform) -> None:
    p = platform.project
    with PlatformClient(platform.url, platform.token, timeout=120) as client:
        empty = open_pane(client, platform)
        for text in ("Workspaces of", "no workspaces yet", "no snapshots yet", "0 workspace(s)", "no warm pool"):
            assert text in empty, text
        assert "<svg" not in empty  # no timeline without snapshots

        # The project's database (its URL, with a password, in the project's DATABASE_URL).
        run(client, "databases.create", {"project": p, "name": "main"})
        db_url = run(client, "env.reveal", {"project": p, "name": "DATABASE_URL"})["value"]
        db_password = urlsplit(db_url).password
        assert db_password

        # Variables the workspace sees that are hostile or secret: never shown.
        secret_url = f"postgresql://app:{DB_PASSWORD}@db.example:5432/app"
        run(client, "env.set", {"project": p, "name": "API_KEY", "value": SCRIPT})
        run(client, "env.set", {"project": p, "name": "OTHER_URL", "value": secret_url, "secret": True})
        plain = run(client, "workspaces.create", {"project": p, "name": "plain", "template": "empty"})
        assert plain["state"] == "running"
        snap = run(client, "workspaces.snapshot", {"project": p, "name": "plain", "snapshot": "plain-first"})
        snap_branch = snap["databases"][0]["database"]
        run(client, "workspaces.clone", {"project": p, "source": "plain", "name": "plain-copy"})

        # A devcontainer.json with user text shown in notes, a forwarded port and a secret value.
        folder = Path(platform.env["CODEFORGE_PROJECTS_ROOT"]) / "hostile"
        (folder / ".devcontainer").mkdir(parents=True)
        (folder / ".devcontainer" / "devcontainer.json").write_text(
            json.dumps(
                {
                    "image": "debian:bookworm",
                    "forwardPorts": [3000],
                    "containerEnv": {"TOKEN": SCRIPT + "-ctr-secret"},
                    "features": {HOSTILE_FEATURE: {}},
                }
            ),
            encoding="utf-8",
        )
        odd = run(client, "workspaces.create", {"project": p, "name": "odd", "folder": str(folder), "memory_mb": 512})
        odd_port = next(x["host"] for x in odd["ports"] if x["service"] == "port-3000")

        html = open_pane(client, platform)
        text = open_pane(client, platform, "text")
        for page in (html, text):
            for shown in (
                "plain",
                "odd",
                "running",
                "local",
                "empty",
                plain["files"],
                "plain-first",
                "port-3000",
                f"http://127.0.0.1:{odd_port}",
                "512 MiB memory",
                "running processes",  # this kernel refuses CRIU: the snapshot says it did not capture them
                "environment (sealed; values not shown)",
                "3 workspace(s) (3 running) · 1 snapshot(s)",
                f"DATABASE_URL → {snap_branch}",
                "plain-copy-main",
                "its own branch",
                "shared with the project",
            ):
                assert shown in page, shown
            # Environment values never appear, escaped or not; the password nowhere either.
            for secret in (
                "alert('env')",
                "alert(&#x27;env&#x27;)",
                "&lt;script&gt;",
                DB_PASSWORD,
                "ctr-secret",
                db_password,
            ):
                assert secret not in page, secret
            assert "postgresql://" not in page  # no database URL at all
        assert "<script>" not in html  # no live refresh on this pane, so no script at all
        assert snap["processes"] in text
        # The devcontainer's feature name is shown, escaped, its unicode intact.
        assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;-ünïcødé:1" in html
        assert "<img src=x onerror=alert(1)>-ünïcødé:1" in text
        # The timeline: an SVG chart with one line for plain's snapshots.
        assert '<svg class="chart"' in html and 'data-series="plain"' in html
        assert "Snapshot timeline" in text

        # A snapshot outlives its workspace: shown as of a deleted one.
        for name in ("plain", "odd", "plain-copy"):
            run(client, "workspaces.delete", {"project": p, "name": name})
        after = open_pane(client, platform)
        assert "no workspaces yet" in after and "plain-first" in after and "(deleted workspace)" in after
        run(client, "workspaces.delete_snapshot", {"project": p, "snapshot": "plain-first"})
        assert "no snapshots yet" in open_pane(client, platform)
