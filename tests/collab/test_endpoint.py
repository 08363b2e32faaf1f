"""The bridge's /collab/<session>/<path> endpoint with a real bridge process, the real platform
and real tokens: Yjs clients (Node) and a pycrdt client co-edit through it; a read-only guest
syncs but is refused and told; refusals are HTTP statuses before the upgrade; a removed
participant and an ended session lose their connections; a restarted bridge duplicates
nothing."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.bridge.conftest import BridgeProcess, make_workspace, member_token
from tests.collab.conftest import NodeClient, PyClient, eventually
from tests.conftest import RunningPlatform

pytestmark = pytest.mark.slow


@dataclass
class Cast:
    session: str
    host: str  # tokens
    navigator: str
    guest: str
    outsider: str


@pytest.fixture(scope="module")
def state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bridges' state folder: their collaboration store must land here, not in the workspace."""
    folder = tmp_path_factory.mktemp("state")
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = previous


@pytest.fixture(scope="module")
def members(live_platform: RunningPlatform) -> dict[str, str]:
    return {
        "navigator": member_token(live_platform, "nav-nora", "developer"),
        "guest": member_token(live_platform, "guest-gus", "viewer"),
        "outsider": member_token(live_platform, "out-otto", "developer"),
    }


def new_session(platform: RunningPlatform, members: dict[str, str]) -> Cast:
    from codeforge.client import PlatformClient

    with platform.client() as host:
        session = host.call("collab.start", {"project": platform.project, "title": "pairing"}).id
        navigator = host.call("collab.invite", {"session": session, "role": "navigator"}).token
        guest = host.call("collab.invite", {"session": session, "role": "guest"}).token
    for who, invitation in (("navigator", navigator), ("guest", guest)):
        with PlatformClient(platform.url, members[who]) as client:
            client.call("collab.join", {"invitation": invitation})
    return Cast(session, platform.token, members["navigator"], members["guest"], members["outsider"])


@pytest.fixture
def collab_bridge(
    tmp_path: Path, live_platform: RunningPlatform, state_home: Path, bridge_factory: Callable[..., BridgeProcess]
) -> BridgeProcess:
    folder = make_workspace(tmp_path / "workspace", live_platform.project)
    (folder / "données").mkdir()
    (folder / "données" / "été 😀.py").write_text("# ünïcode\n")
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("[core]\n")
    return bridge_factory(folder, args=["--log-level", "DEBUG"])


def room_url(bridge: BridgeProcess, session: str) -> str:
    return f"{bridge.url}/collab/{session}"


async def refused(url: str, **options: Any) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(url, **options):
            pass
    response = caught.value.response
    return response.status_code, response.body.decode()


async def test_yjs_clients_and_a_pycrdt_client_co_edit_through_the_bridge(
    collab_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str], state_home: Path
) -> None:
    cast = new_session(live_platform, members)
    url = room_url(collab_bridge, cast.session)
    host = await NodeClient.start(url, "app.py", cast.host)
    navigator = await NodeClient.start(url, "app.py", cast.navigator)
    py = await PyClient.connect(f"{url}/app.py", additional_headers={"Authorization": f"Bearer {cast.host}"})
    guest = await NodeClient.start(url, "app.py", cast.guest)
    try:
        original = (collab_bridge.folder / "app.py").read_text()
        for client in (host, navigator, guest):
            await client.event("synced")
        await asyncio.wait_for(py.synced.wait(), 30)
        assert await guest.text() == original
        await host.command("insert", index=0, text="# host\n")
        await navigator.command("append", text="# navigator 🧭\n")
        with py.doc.transaction():
            py.text.insert(0, "# py\n")
        expected_lines = {"# host", "# navigator 🧭", "# py"}

        async def converged() -> bool:
            texts = {await host.text(), await navigator.text(), await guest.text(), str(py.text)}
            return len(texts) == 1 and expected_lines <= set(texts.pop().splitlines())

        await eventually(converged, "host, navigator, guest and the pycrdt client to converge")
        # The guest may read but not write: refused, told, and nobody else sees it.
        await guest.command("insert", index=0, text="# guest was here\n")
        denied = await guest.event("denied")
        assert "guest-gus may not edit app.py" in denied["reason"]
        await host.command("append", text="# after the guest\n")
        await eventually(lambda: "# after the guest" in str(py.text), "the host's later edit")
        assert "guest was here" not in str(py.text) and "guest was here" not in await host.text()
        # Unicode names, percent-encoded or not, are the same room.
        other = await NodeClient.start(url, "données/été 😀.py", cast.navigator)
        encoded = await PyClient.connect(
            f"{url}/{quote('données/été 😀.py')}", additional_headers={"Authorization": f"Bearer {cast.host}"}
        )
        try:
            await other.event("synced")
            await asyncio.wait_for(encoded.synced.wait(), 30)
            assert await other.text() == str(encoded.text) == "# ünïcode\n"
        finally:
            await other.close()
            await encoded.close()
    finally:
        for client in (host, navigator, guest):
            await client.close()
        await py.close()
    # The store is in the bridge's state folder, never in the workspace; no token in the log.
    assert list((state_home / "codeforge" / "collab").glob("*.sqlite"))
    assert not list(collab_bridge.folder.rglob("*.sqlite"))
    log = collab_bridge.logs()
    assert "GET /collab/" in log  # websockets' debug lines are there, scrubbed
    assert cast.guest not in log and cast.navigator not in log and cast.host not in log


async def test_refusals_come_before_the_upgrade(
    collab_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str], other_org_token: str
) -> None:
    cast = new_session(live_platform, members)
    url = room_url(collab_bridge, cast.session)

    def bearer(token: str) -> dict[str, Any]:
        return {"additional_headers": {"Authorization": f"Bearer {token}"}}

    status, body = await refused(f"{url}/app.py")
    assert status == 401 and "no token" in body
    status, body = await refused(f"{url}/app.py?token=cf_nonsense")
    assert status == 401 and "token refused" in body
    status, body = await refused(f"{url}/app.py", **bearer(cast.outsider))
    assert status == 403 and "participant" in body
    status, body = await refused(f"{url}/app.py", **bearer(other_org_token))
    assert status == 403
    status, body = await refused(f"{room_url(collab_bridge, '0' * 32)}/app.py", **bearer(cast.host))
    assert status == 403
    for path, says in (
        ("%2e%2e/escape.py", "leaves the workspace"),
        ("sub/%2E%2E/%2E%2E/x", "leaves the workspace"),
        (".git/config", "not shared"),
        ("données", "not a regular file"),
        ("nowhere/new.py", "folder does not exist"),
    ):
        status, body = await refused(f"{url}/{path}", **bearer(cast.host))
        assert (status, says in body) == (404, True), (path, body)
    status, body = await refused(f"{collab_bridge.url}/collab/not-a-session/app.py", **bearer(cast.host))
    assert status == 404
    # A new file is a room too; the token may come in the query string (browsers).
    client = await PyClient.connect(f"{url}/brand-new.py?token={cast.host}")
    await asyncio.wait_for(client.synced.wait(), 30)
    assert str(client.text) == ""
    await client.close()
    # Ended: 410 before the upgrade.
    with live_platform.client() as host:
        host.call("collab.end", {"session": cast.session})
    status, body = await refused(f"{url}/app.py", **bearer(cast.host))
    assert status == 410 and "ended" in body


async def test_removed_participants_and_ended_sessions_lose_their_connections(
    collab_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str]
) -> None:
    cast = new_session(live_platform, members)
    url = room_url(collab_bridge, cast.session)
    host = await NodeClient.start(url, "app.py", cast.host)
    navigator = await NodeClient.start(url, "app.py", cast.navigator)
    try:
        await host.event("synced")
        await navigator.event("synced")
        with live_platform.client() as client:
            client.call("collab.remove", {"session": cast.session, "username": "nav-nora"})
        closed = await navigator.event("closed", code=4403)
        assert "no longer a participant" in closed["reason"]
        with live_platform.client() as client:
            client.call("collab.end", {"session": cast.session})
        closed = await host.event("closed", code=4410)
        assert "ended" in closed["reason"]
    finally:
        await host.close()
        await navigator.close()


@pytest.mark.parametrize("crash", [False, True], ids=["stopped", "killed"])
async def test_a_restarted_bridge_duplicates_nothing(
    collab_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str], crash: bool
) -> None:
    cast = new_session(live_platform, members)
    url = room_url(collab_bridge, cast.session)
    first = await NodeClient.start(url, "app.py", cast.host)
    second = await NodeClient.start(url, "app.py", cast.navigator)
    try:
        await first.event("synced")
        await second.event("synced")
        await first.command("insert", index=0, text="# before the restart\n")
        await eventually(lambda: _has(second, "# before the restart"), "the edit at the second client")
        if not crash:
            await asyncio.sleep(0.3)  # not needed for correctness: lets the store batch go out first
        seen = len(first.events)
        await asyncio.to_thread(collab_bridge.restart, crash)
        # y-websocket reconnects by itself; both clients still hold their copies.
        try:
            await first.event("synced", seen)
        except AssertionError:
            raise AssertionError(f"{first.events[seen:]}\n{collab_bridge.logs()[-3000:]}") from None
        await second.command("append", text="# after the restart\n")

        async def settled() -> bool:
            texts = {await first.text(), await second.text()}
            return len(texts) == 1 and "# after the restart" in texts.pop()

        await eventually(settled, "the clients to converge after the restart")
        text = await first.text()
        assert text.count("# before the restart") == 1
        assert text.count("def greet") == 1  # the file's content is not there twice
        fresh = await PyClient.connect(f"{url}/app.py?token={cast.host}")
        await asyncio.wait_for(fresh.synced.wait(), 30)
        await eventually(lambda: str(fresh.text) == text, "a new client to see the same text")
        await fresh.close()
    finally:
        await first.close()
        await second.close()


async def _has(client: NodeClient, line: str) -> bool:
    return line in await client.text()
