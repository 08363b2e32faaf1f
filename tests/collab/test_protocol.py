"""The y-websocket wire format: what y-protocols writes is read, what we write y-protocols
reads (checked against the Node implementation), and malformed input is a ProtocolError that
names what was wrong."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from pycrdt import Doc, Text

from codeforge.collab import protocol
from codeforge.collab.protocol import ProtocolError
from tests.collab.conftest import NODE_DIR
from tests.conftest import require


def test_sync_messages_round_trip() -> None:
    doc: Doc = Doc()
    doc.get("content", type=Text).insert(0, "héllo 😀")
    state, update = doc.get_state(), doc.get_update()
    assert protocol.parse(protocol.step1(state)) == protocol.Message(protocol.SYNC, protocol.STEP1, state)
    assert protocol.parse(protocol.step2(update)) == protocol.Message(protocol.SYNC, protocol.STEP2, update)
    assert protocol.parse(protocol.update_message(update)).payload == update
    assert protocol.decode_state_vector(state) == {doc.client_id: len("héllo 😀".encode("utf-16-le")) // 2}


def test_awareness_and_auth_round_trip() -> None:
    entries = [(1, 3, '{"user":{"name":"ada"}}'), (2**32 - 1, 0, "null")]
    message = protocol.parse(protocol.awareness_message(entries))
    assert message.kind == protocol.AWARENESS
    assert protocol.decode_awareness(message.payload) == entries
    denied = protocol.parse(protocol.permission_denied("guests read only ✓"))
    assert (denied.kind, denied.reason) == (protocol.AUTH, "guests read only ✓")
    assert protocol.parse(protocol.query_awareness()).kind == protocol.QUERY_AWARENESS


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"\x07", "unknown message type 7"),
        (b"\x00\x05\x00", "unknown step 5"),
        (b"\x00\x02\x05ab", "says 5 bytes, 2 follow"),
        (b"\x00\x02", "truncated"),
        (b"\x00\x02\x01a!", "unexpected bytes"),
        (b"\x00" + b"\xff" * 9, "not a number"),
        (b"\x02\x00\x02\xff\xfe", "not UTF-8"),
        (b"\x03junk", "unexpected bytes"),
    ],
)
def test_malformed_messages_say_what_is_wrong(data: bytes, says: str) -> None:
    with pytest.raises(ProtocolError, match=says):
        protocol.parse(data)


@pytest.mark.parametrize(
    ("entries", "says"),
    [
        (b"\x01\x01\x01\x03{x}", "not JSON"),
        (b"\x01\x01\x01\x02[]", "not an object or null"),
        (b"\x63\x01", "says 99 states"),
        (b"\x02\x01\x01\x04null", "truncated"),
    ],
)
def test_malformed_awareness_says_what_is_wrong(entries: bytes, says: str) -> None:
    with pytest.raises(ProtocolError, match=says):
        protocol.decode_awareness(entries)


def test_y_protocols_reads_what_we_write_and_we_read_what_it_writes() -> None:
    node = shutil.which("node")
    require("node", node is not None and (NODE_DIR / "node_modules" / "y-protocols").is_dir(), "node + y-protocols")
    assert node is not None
    awareness = protocol.awareness_message([(7, 2, '{"user":{"name":"zoë 😀"}}')])
    denied = protocol.permission_denied("no ✋")
    script = r"""
import * as decoding from 'lib0/decoding'
import * as encoding from 'lib0/encoding'
import * as awarenessProtocol from 'y-protocols/awareness'
import * as auth from 'y-protocols/auth'
import * as Y from 'yjs'
const [aw, denied] = process.argv.slice(1).map(s => new Uint8Array(Buffer.from(s, 'hex')))
const d = decoding.createDecoder(aw); decoding.readVarUint(d)
const update = decoding.readVarUint8Array(d)
const doc = new Y.Doc(); const awareness = new awarenessProtocol.Awareness(doc)
awarenessProtocol.applyAwarenessUpdate(awareness, update, 'test')
let reason = null
const a = decoding.createDecoder(denied); decoding.readVarUint(a)
auth.readAuthMessage(a, doc, (_d, r) => { reason = r })
const e = encoding.createEncoder(); encoding.writeVarUint(e, 1)
awareness.setLocalState({ n: 'ü' })
encoding.writeVarUint8Array(e, awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID]))
console.log(JSON.stringify({ state: awareness.getStates().get(7), reason, theirs: Buffer.from(encoding.toUint8Array(e)).toString('hex'), id: doc.clientID }))
awareness.destroy()
"""
    done = subprocess.run(
        [node, "--input-type=module", "-e", script, awareness.hex(), denied.hex()],
        capture_output=True, text=True, cwd=NODE_DIR, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["state"] == {"user": {"name": "zoë 😀"}}
    assert answer["reason"] == "no ✋"
    theirs = protocol.parse(bytes.fromhex(answer["theirs"]))
    [(client, clock, text)] = protocol.decode_awareness(theirs.payload)
    assert (client, clock, json.loads(text)) == (answer["id"], 1, {"n": "ü"})
