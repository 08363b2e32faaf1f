"""Real Yjs clients (Node: yjs + y-websocket) and a pycrdt client converge through a room."""

from __future__ import annotations

import asyncio

from tests.collab.conftest import CollabServer, NodeClient, PyClient, eventually


async def test_two_yjs_clients_and_a_pycrdt_client_converge(collab_server: CollabServer) -> None:
    first = await NodeClient.start(collab_server.url, "app.py")
    second = await NodeClient.start(collab_server.url, "app.py")
    py = await PyClient.connect(f"{collab_server.url}/app.py")
    try:
        original = (collab_server.workspace / "app.py").read_text()
        await first.event("synced")
        await second.event("synced")
        await asyncio.wait_for(py.synced.wait(), 20)
        assert await first.text() == original == str(py.text)
        # Concurrent edits from all three, at the same places.
        await first.command("insert", index=0, text="# first\n")
        await second.command("insert", index=0, text="# second\n")
        with py.doc.transaction():
            py.text.insert(0, "# python ✓\n")
        await first.command("append", text="# end 🎉\n")
        room = collab_server.hub.get("app.py")
        assert room is not None

        async def converged() -> bool:
            texts = {await first.text(), await second.text(), str(py.text), str(room.text)}
            return len(texts) == 1

        await eventually(converged, "the four copies to converge")
        final = await first.text()
        for line in ("# first\n", "# second\n", "# python ✓\n", "# end 🎉\n"):
            assert final.count(line) == 1
        assert final.endswith(original + "# end 🎉\n")
    finally:
        await first.close()
        await second.close()
        await py.close()
