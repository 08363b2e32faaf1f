"""`codeforge bridge` as a process: the handshake refuses before any data flows (bad, revoked
or foreign tokens, unknown channels, bad ids, a resume the bridge cannot know), TLS, and a
clear error for a folder it cannot serve. Real websockets clients against a real platform."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from codeforge.bridge.link import DialRefused, LinkClosed
from tests.bridge.conftest import (
    BridgeProcess,
    ConnectProcess,
    connected,
    drop,
    make_workspace,
    member_token,
    self_signed,
)
from tests.conftest import ROOT, RunningPlatform, free_port


async def _refusal(url: str, headers: dict[str, str]) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers=headers, proxy=None):
            pass
    response = refused.value.response
    return response.status_code, (response.body or b"").decode()


def _query() -> str:
    return f"session={uuid.uuid4().hex}&link={uuid.uuid4().hex}"


async def test_unknown_channel_is_404_and_names_the_channels(
    live_bridge: BridgeProcess, live_platform: RunningPlatform
) -> None:
    status, body = await _refusal(
        f"{live_bridge.url}/nope?{_query()}", {"Authorization": f"Bearer {live_platform.token}"}
    )
    assert status == 404
    assert "'nope'" in body and "lsp" in body


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [
        ({}, 401, "no token"),
        ({"Authorization": "Bearer cf_not-a-real-token"}, 401, "token refused"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "no token"),
    ],
)
async def test_a_bad_token_is_refused_before_the_upgrade(
    live_bridge: BridgeProcess, headers: dict[str, str], status: int, words: str
) -> None:
    got, body = await _refusal(f"{live_bridge.url}/lsp?{_query()}", headers)
    assert got == status and words in body
    assert "cf_not-a-real-token" not in body and "dXNlcjpwYXNz" not in body


async def test_bad_ids_and_received_numbers_are_refused(
    live_bridge: BridgeProcess, live_platform: RunningPlatform
) -> None:
    auth = {"Authorization": f"Bearer {live_platform.token}"}
    status, body = await _refusal(f"{live_bridge.url}/lsp?session=a%20b&link=x", auth)
    assert status == 400 and "session" in body
    status, body = await _refusal(f"{live_bridge.url}/lsp?{_query()}", {**auth, "X-CodeForge-Received": "-3"})
    assert status == 400 and "X-CodeForge-Received" in body


async def test_a_resume_the_bridge_does_not_know_is_410(
    live_bridge: BridgeProcess, live_platform: RunningPlatform
) -> None:
    headers = {"Authorization": f"Bearer {live_platform.token}", "X-CodeForge-Resume": "1", "X-CodeForge-Received": "4"}
    status, body = await _refusal(f"{live_bridge.url}/lsp?{_query()}", headers)
    assert status == 410 and "session ended" in body


async def test_a_revoked_token_is_refused_and_cannot_resume(
    live_bridge: BridgeProcess, live_platform: RunningPlatform
) -> None:
    with live_platform.client() as platform:
        created = platform.call("tokens.create", {"name": "laptop", "expires_in_days": 1})
    token = created.token
    async with connected(live_bridge.url, token) as connection:
        link = await connection.dial("lsp", {})
        with live_platform.client() as platform:
            platform.call("tokens.revoke", {"id": created.id})
        # The websocket drops: the resume is checked again, and refused for good.
        drop(link)
        with pytest.raises(LinkClosed) as ended:
            await link.receive()
        assert ended.value.reason.startswith("401")
    async with connected(live_bridge.url, token) as connection:
        with pytest.raises(DialRefused) as refused:
            await connection.dial("lsp", {})
    assert refused.value.status == 401 and "revoked" in refused.value.reason


async def test_a_token_of_another_organization_is_refused(live_bridge: BridgeProcess, other_org_token: str) -> None:
    async with connected(live_bridge.url, other_org_token) as connection:
        with pytest.raises(DialRefused) as refused:
            await connection.dial("lsp", {})
    assert refused.value.status == 403
    assert "organization" in refused.value.reason


async def test_an_expired_token_is_refused(live_bridge: BridgeProcess, live_platform: RunningPlatform) -> None:
    token = member_token(live_platform, "old-timer", "developer", expired=True)
    async with connected(live_bridge.url, token) as connection:
        with pytest.raises(DialRefused) as refused:
            await connection.dial("lsp", {})
    assert refused.value.status == 401 and "expired" in refused.value.reason


async def test_a_viewer_gets_no_terminal(live_bridge: BridgeProcess, live_platform: RunningPlatform) -> None:
    token = member_token(live_platform, "vic-viewer", "viewer")
    async with connected(live_bridge.url, token) as connection:
        with pytest.raises(DialRefused) as refused:
            await connection.dial("terminal", {})
        assert refused.value.status == 403 and "no access" in refused.value.reason
        await connection.dial("lsp", {})  # reads: a read-only guest co-edits nothing


def _run_bridge(platform: RunningPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codeforge", "bridge", *args, "--url", platform.url, "--port", "0"],
        env=platform.env, capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip


def test_a_missing_or_unreadable_folder_is_a_clear_error(live_platform: RunningPlatform, tmp_path: Path) -> None:
    done = _run_bridge(live_platform, str(tmp_path / "nowhere"), "--project", "demo")
    assert done.returncode == 2
    assert "nowhere does not exist" in done.stderr and "Traceback" not in done.stderr
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    done = _run_bridge(live_platform, str(a_file), "--project", "demo")
    assert done.returncode == 2 and "is not a folder" in done.stderr
    if os.geteuid() != 0:  # root reads anything
        locked = tmp_path / "locked"
        locked.mkdir(mode=0)
        try:
            done = _run_bridge(live_platform, str(locked), "--project", "demo")
            assert done.returncode == 2 and "not readable" in done.stderr
        finally:
            locked.chmod(0o755)
    done = _run_bridge(live_platform, str(tmp_path), "--project", "demo", "--cert", str(a_file))
    assert done.returncode == 2 and "--cert and --key" in done.stderr


async def test_tls_with_a_certificate(
    live_platform: RunningPlatform, tmp_path: Path, bridge_factory: Callable[..., BridgeProcess]
) -> None:
    cert, key = self_signed(tmp_path)
    folder = make_workspace(tmp_path / "ws", live_platform.project)
    bridge = bridge_factory(folder, args=["--cert", str(cert), "--key", str(key)])
    assert bridge.url.startswith("wss://")
    url = f"wss://127.0.0.1:{bridge.port}"
    trusting = ssl.create_default_context(cafile=str(cert))
    async with connected(url, live_platform.token, tls=trusting) as connection:
        link = await connection.dial("lsp", {})
        assert link.attached
    # A client that does not trust the certificate never gets to send its token.
    async with connected(url, live_platform.token, tls=ssl.create_default_context()) as connection:
        with pytest.raises(ssl.SSLError):
            await connection.dial("lsp", {})
    # Plain HTTP is not answered.
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{bridge.port}/lsp", timeout=5)
    # `codeforge connect --cafile` trusts it, as an editor would start it.
    process = ConnectProcess(url, live_platform.env, ["--cafile", str(cert)], stderr_path=tmp_path / "connect.log")
    client = process.start()
    try:
        assert "result" in client.initialize(folder)
        client.request("shutdown")
        client.notify("exit")
    finally:
        assert process.stop() == 0, process.stderr()


async def test_a_token_spray_is_cut_off_before_it_gets_the_bridge_blocked(
    live_platform: RunningPlatform, tmp_path: Path, bridge_factory: Callable[..., BridgeProcess]
) -> None:
    # The platform blocks an address after 20 failed sign-ins a minute, and every check
    # comes from the bridge's address: the bridge stops forwarding bad tokens first.
    bridge = bridge_factory(make_workspace(tmp_path / "ws", live_platform.project))

    def failures() -> int:
        return live_platform.logs().count('"path": "/api/v1/bridges/attach"')

    async with connected(bridge.url, live_platform.token) as connection:
        await connection.dial("lsp", {})  # a person at work from this address
    before = failures()
    statuses = []
    for i in range(8):
        status, body = await _refusal(f"{bridge.url}/lsp?{_query()}", {"Authorization": f"Bearer cf_guess-{i}"})
        statuses.append(status)
    assert statuses == [401] * 5 + [429] * 3
    assert "too many refused tokens" in body
    assert failures() - before == 5  # the platform heard five, far from its own limit
    # The person who signed in before is not locked out by the spray from their address.
    async with connected(bridge.url, live_platform.token) as connection:
        assert (await connection.dial("lsp", {})).attached
    # Loopback's standing with the platform is intact: the bridge still reports, people sign in.
    with live_platform.client() as platform:
        assert platform.call("auth.whoami", {}).username == "owner"
        listed = platform.call("bridges.list", {"project": live_platform.project})
    assert bridge.url in [b.url for b in listed.bridges]


async def test_a_platform_that_cannot_be_reached_is_said_not_a_bad_token(
    live_platform: RunningPlatform, tmp_path: Path, bridge_factory: Callable[..., BridgeProcess]
) -> None:
    bridge = bridge_factory(
        make_workspace(tmp_path / "ws", live_platform.project), args=["--url", f"http://127.0.0.1:{free_port()}"]
    )
    async with connected(bridge.url, live_platform.token) as connection:
        with pytest.raises(DialRefused) as refused:
            await connection.dial("lsp", {})
    assert refused.value.status == 503 and "cannot reach the platform" in refused.value.reason


def test_a_broken_codeforge_yaml_without_project_is_a_clear_error(
    live_platform: RunningPlatform, tmp_path: Path
) -> None:
    (tmp_path / "codeforge.yaml").write_text("project: [not, a, slug\n")
    done = _run_bridge(live_platform, str(tmp_path))
    assert done.returncode == 2 and "cannot tell the project" in done.stderr and "Traceback" not in done.stderr


async def test_the_bridge_logs_no_token(live_bridge: BridgeProcess, live_platform: RunningPlatform) -> None:
    status, _ = await _refusal(f"{live_bridge.url}/lsp?{_query()}", {"Authorization": "Bearer cf_logged-never-0042"})
    assert status == 401
    async with connected(live_bridge.url, live_platform.token) as connection:
        await connection.dial("lsp", {})
    logged = live_bridge.log_path.read_text(errors="replace")
    assert "refused" in logged and "session" in logged  # the log does say what happened
    assert live_platform.token not in logged and "cf_logged-never-0042" not in logged


async def test_new_links_of_a_live_session_reuse_its_token_check_but_a_resume_does_not(
    live_bridge: BridgeProcess, live_platform: RunningPlatform
) -> None:
    """A forward opens a link per TCP connection: those go on the session's recent check
    (no platform round trip, no audit record each); a resume is always checked again."""

    def attaches() -> int:
        with live_platform.client() as platform:
            return len(platform.call("audit.list", {"operation": "bridges.attach", "limit": 1000}).items)

    before = attaches()
    async with connected(live_bridge.url, live_platform.token) as connection:
        first = await connection.dial("lsp", {})
        for _ in range(3):
            await connection.dial("ports", {})
        assert attaches() == before + 1
        drop(first)  # the resume asks the platform again
        async with asyncio.timeout(30):
            while attaches() < before + 2:
                await asyncio.sleep(0.1)
        while not first.attached:
            await asyncio.sleep(0.05)
        assert attaches() == before + 2
