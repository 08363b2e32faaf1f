"""CallServer with real aiortc peers in-process: who hears whom, controls, drops, refusals."""

from __future__ import annotations

import asyncio

from codeforge.collab.rtc import CallServer
from tests.call.conftest import Client, join, member, power, wait_for

FREQS = {"ann": 400.0, "bob": 700.0, "cyd": 1100.0}
HEARD = -40.0  # dB re full scale: a 0.25 tone through Opus is about -12; leakage stays under -60
SETTLE = 0.3  # seconds of the newest mix the checks read (after it stabilised)


async def _hear(clients: list[Client], seconds: float = 1.2) -> None:
    """Let audio flow until every client has `seconds` of recording."""
    await wait_for(
        lambda: all(c.recorder is not None and c.recorder.length >= seconds * 48000 for c in clients),
        what="recordings",
    )


async def test_three_participants_each_hear_the_others_but_not_themselves(
    call_server: CallServer, clients: list[Client]
) -> None:
    for name in ("ann", "bob", "cyd"):
        clients.append(await join(call_server, member(name, host=name == "ann"), freq=FREQS[name]))
    await _hear(clients)
    for client in clients:
        heard = client.recording(SETTLE)
        for name, freq in FREQS.items():
            level = power(heard, freq)
            if name == client.username:
                assert level < HEARD, f"{client.username} hears themselves at {level:.1f} dB"
            else:
                assert level > HEARD, f"{client.username} does not hear {name} ({level:.1f} dB)"
    state = clients[0].joined.call.state()
    assert [p["username"] for p in state["participants"]] == ["ann", "bob", "cyd"]
    assert state["state"] == "active"
    await wait_for(lambda: all(p["talking"] for p in clients[0].joined.call.state()["participants"]), what="talking")
    assert call_server.stats()["participants"] == 3


async def test_a_muted_participant_and_a_guest_are_not_in_the_mix(
    call_server: CallServer, clients: list[Client]
) -> None:
    ann = await join(call_server, member("ann", host=True), freq=FREQS["ann"])
    bob = await join(call_server, "bob", freq=FREQS["bob"])
    cyd = await join(call_server, member("cyd", "guest"), freq=FREQS["cyd"])
    clients += [ann, bob, cyd]
    call = ann.joined.call
    call.mute("bob", True, by="bob")
    await _hear(clients)
    mark = ann.recorder.length if ann.recorder else 0
    await wait_for(lambda: ann.recorder is not None and ann.recorder.length > mark + 0.5 * 48000)
    heard = ann.recording(SETTLE)
    assert power(heard, FREQS["bob"]) < HEARD  # muted
    assert power(heard, FREQS["cyd"]) < HEARD  # a guest is never mixed
    guest_hears = cyd.recording(SETTLE)
    assert power(guest_hears, FREQS["ann"]) > HEARD  # guests listen
    me = {p["username"]: p for p in call.state()["participants"]}
    assert me["bob"]["muted"] and not me["bob"]["talking"] and not me["cyd"]["talking"]
    await asyncio.sleep(0)
