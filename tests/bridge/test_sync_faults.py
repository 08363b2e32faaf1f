"""File sync under attack and under faults: paths leaving the workspace, a full disk."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeforge.bridge.link import Link, memory_pair
from codeforge.bridge.sync.client import SyncEvent, run_sync
from codeforge.bridge.sync.protocol import PROTOCOL_VERSION, Message, decode, encode, encode_entries
from codeforge.bridge.sync.server import serve_folder
from codeforge.bridge.sync.tree import hash_bytes
from tests.bridge.sync_helpers import Pair, tree, write
from tests.conftest import require


async def _exchange(workspace: Path, messages: list[bytes]) -> list[Message]:
    """Act as a hostile client: hello, then `messages`, then everything the server says
    until it answers sync_end."""
    a, b = memory_pair()
    server = asyncio.ensure_future(serve_folder(b, workspace))
    await a.send(encode("hello", {"sync_id": "attacker", "v": PROTOCOL_VERSION, "partials": {}}))
    assert decode(await a.receive()).kind == "manifest"
    for message in messages:
        await a.send(message)
    await a.send(encode("sync_end"))
    said: list[Message] = []
    while True:
        reply = decode(await asyncio.wait_for(a.receive(), 30))
        if reply.kind == "sync_end":
            break
        said.append(reply)
    await a.close()
    await asyncio.wait_for(server, 30)
    return said


def _files(*items: tuple[str, bytes]) -> bytes:
    header = [{"p": p, "h": hash_bytes(d), "m": 0o644, "mt": 0, "prev": None, "n": len(d)} for p, d in items]
    return encode("files", {"items": header}, b"".join(d for _, d in items))


async def test_paths_outside_the_workspace_are_refused(tmp_path: Path) -> None:
    workspace, outside = tmp_path / "workspace", tmp_path / "outside"
    workspace.mkdir()
    outside.mkdir()
    write(outside / "victim.txt", "keep me")
    write(workspace / "ok.txt", "fine")
    (workspace / "escape_dir").symlink_to(outside)
    evil = [
        "../escaped.txt",
        "/tmp/absolute.txt",
        "sub/../../climbed.txt",
        "escape_dir/through_link.txt",
        ".git/hooks/post-checkout",
        ".codeforge/sync-state/pair-attacker.json",
    ]
    said = await _exchange(
        workspace,
        [
            _files(*((p, b"pwned") for p in evil), ("fine/new.txt", b"allowed")),
            encode("link", {"p": "evil_link", "target": "../outside/victim.txt", "prev": None}),
            encode("link", {"p": "abs_link", "target": "/etc/passwd", "prev": None}),
            encode("delete", {"p": "../outside/victim.txt", "prev": hash_bytes(b"keep me")}),
            encode("delete", {"p": "escape_dir/victim.txt", "prev": hash_bytes(b"keep me")}),
            encode("move", {"src": "ok.txt", "dst": "../moved.txt", "h": hash_bytes(b"fine")}),
            encode(
                "chunk",
                {
                    "p": "../big.bin",
                    "h": "0" * 32,
                    "m": 0o644,
                    "mt": 0,
                    "prev": None,
                    "size": 1,
                    "off": 0,
                    "last": True,
                },
                b"x",
            ),
            encode("want", {"items": [["../outside/victim.txt", None, 0]]}),
        ],
    )
    errors = [m.header["message"] for m in said if m.kind == "notice" and m.header["kind"] == "error"]
    text = "\n".join(errors)
    for path in [
        *evil,
        "evil_link",
        "abs_link",
        "../outside/victim.txt",
        "escape_dir/victim.txt",
        "../moved.txt",
        "../big.bin",
    ]:
        assert repr(path) in text or path in text, (path, text)
    assert "leaves the synced folder" in text and "absolute paths are not allowed" in text
    assert "is a symbolic link" in text and "never writes inside .git" in text
    assert "points outside the synced folder" in text
    # Nothing escaped, nothing outside was touched, the one good file arrived.
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert (outside / "victim.txt").read_text() == "keep me"
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/absolute.txt").exists()
    assert not (workspace / ".git").exists() and (workspace / "ok.txt").read_text() == "fine"
    assert (workspace / "fine/new.txt").read_bytes() == b"allowed"
    assert not [m for m in said if m.kind == "files"]  # the want of an outside path sent nothing


async def test_garbage_messages_get_clear_errors(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    said = await _exchange(workspace, [b"\x00\x00\x00\x05nope!", encode("no-such-kind"), encode("files", {"items": 3})])
    errors = [m.header["message"] for m in said if m.kind == "notice"]
    assert any("not JSON" in e for e in errors) and any("unknown sync message kind" in e for e in errors)
    assert any("malformed files message" in e for e in errors)


async def test_a_client_with_a_bad_hello_is_closed(tmp_path: Path) -> None:
    a, b = memory_pair()
    server = asyncio.ensure_future(serve_folder(b, tmp_path))
    await a.send(encode("hello", {"sync_id": "../../x", "v": PROTOCOL_VERSION}))
    await asyncio.wait_for(server, 30)
    assert b.closed and "sync_id" in b.close_reason


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: a real full disk (needs root; skipped elsewhere)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, text=True
    )
    require("tmpfs", done.returncode == 0, f"cannot mount a tmpfs ({done.stderr.strip()}): needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("fsync", [False, True], ids=["default", "fsync"])
async def test_a_full_disk_leaves_no_half_file_and_says_so(tmp_path: Path, tiny_disk: Path, fsync: bool) -> None:
    local = tmp_path / "local"
    if fsync:  # flushed before the renames: the same guarantee, by another path
        for root in (local, tiny_disk):
            write(root / ".codeforge/sync.yaml", "fsync: true\n")
    write(local / "ok.txt", "small\n")
    big = os.urandom(3 * 1024 * 1024)
    write(local / "big.bin", big)
    for i in range(4):
        write(local / f"batch/s{i}.bin", os.urandom(300 * 1024))
    pair = Pair(local, tiny_disk)
    run = await pair.once()
    assert run.rc == 1
    errors = [e.message for e in run.kinds("error")]
    assert any("no space left on the device writing big.bin" in e for e in errors), errors
    assert any("no space left on the device writing batch/" in e for e in errors), errors
    remote = tree(tiny_disk)
    assert remote["ok.txt"] == b"small\n"
    assert "big.bin" not in remote
    # Whatever arrived is complete; no temporary or partial file stays behind.
    for rel, content in remote.items():
        if rel.startswith("batch/s"):
            assert content == (local / rel).read_bytes()
        assert ".cfsync-" not in rel and not rel.endswith(".part"), rel
    partials = tiny_disk / ".codeforge/sync-state/partial"
    assert not partials.exists() or not list(partials.iterdir())
    assert sum(1 for rel in remote if rel.startswith("batch/s")) < 4


async def test_a_hostile_workspace_cannot_write_outside_the_local_folder(tmp_path: Path) -> None:
    """The local half checks the workspace's paths as strictly as the workspace checks its."""
    local = tmp_path / "local"
    local.mkdir()
    a, b = memory_pair()

    async def hostile() -> None:
        assert decode(await b.receive()).kind == "hello"
        good, evil = b"ok", b"pwned"
        entries = [
            ["../evil.txt", "f", hash_bytes(evil), 0o644, len(evil), None, 0],
            ["ok.txt", "f", hash_bytes(good), 0o644, len(good), None, 0],
        ]
        await b.send(encode("manifest", {"partials": {}}, encode_entries(entries)))
        while True:
            message = decode(await b.receive())
            if message.kind == "want":
                await b.send(_files(("ok.txt", good), ("../evil.txt", evil), ("/abs/evil.txt", evil)))
                await b.send(encode("link", {"p": "up", "target": "../../etc/passwd", "prev": None}))
            if message.kind == "sync_end":
                await b.send(encode("sync_end"))
                return

    server = asyncio.ensure_future(hostile())

    async def dial(channel: str, params: dict[str, str]) -> Link:
        return a

    events: list[SyncEvent] = []
    rc = await run_sync(dial, local, watch=False, on_event=events.append)
    await asyncio.wait_for(server, 30)
    errors = "\n".join(e.message for e in events if e.kind == "error")
    assert rc == 1
    assert "'../evil.txt'" in errors and "'/abs/evil.txt'" in errors and "'up'" in errors, errors
    assert not (tmp_path / "evil.txt").exists() and not Path("/abs/evil.txt").exists()
    assert (local / "ok.txt").read_bytes() == b"ok" and not (local / "up").is_symlink()


def _chunk(rel: str, digest: str, size: int, offset: int, data: bytes) -> bytes:
    header = {"p": rel, "h": digest, "m": 0o644, "mt": 0, "prev": None, "size": size, "off": offset}
    return encode("chunk", header | {"last": offset + len(data) == size}, data)


async def test_a_damaged_large_file_is_refused_whether_checked_on_arrival_or_on_resume(tmp_path: Path) -> None:
    """A large file is checked against its hash as its chunks arrive, or, when it continues a
    partial file of an earlier link, by reading it: either way a damaged one is not put in place."""
    from codeforge.bridge.sync.state import partial_key

    workspace = tmp_path / "workspace"
    workspace.mkdir()
    good, other = os.urandom(3 * 1024 * 1024), os.urandom(3 * 1024 * 1024)
    half = len(good) // 2
    # A partial of each resumed file, as an earlier link left them.
    partials = workspace / ".codeforge/sync-state/partial"
    partials.mkdir(parents=True)
    (partials / f"{partial_key(hash_bytes(good), 'resumed.bin')}.part").write_bytes(good[:half])
    (partials / f"{partial_key(hash_bytes(good), 'resumed_bad.bin')}.part").write_bytes(other[:half])
    said = await _exchange(
        workspace,
        [
            # Fresh, in order: one whose content is not what its hash says, one that is.
            _chunk("fresh_bad.bin", hash_bytes(good), len(good), 0, good[:half]),
            _chunk("fresh_bad.bin", hash_bytes(good), len(good), half, other[half:]),
            _chunk("fresh.bin", hash_bytes(good), len(good), 0, good[:half]),
            _chunk("fresh.bin", hash_bytes(good), len(good), half, good[half:]),
            # Resumed at the partial's length.
            _chunk("resumed.bin", hash_bytes(good), len(good), half, good[half:]),
            _chunk("resumed_bad.bin", hash_bytes(good), len(good), half, good[half:]),
        ],
    )
    errors = "\n".join(m.header["message"] for m in said if m.kind == "notice" and m.header["kind"] == "error")
    assert "fresh_bad.bin arrived damaged" in errors and "resumed_bad.bin arrived damaged" in errors, errors
    assert "fresh.bin arrived" not in errors and "resumed.bin arrived" not in errors, errors
    assert (workspace / "fresh.bin").read_bytes() == good
    assert (workspace / "resumed.bin").read_bytes() == good
    assert not (workspace / "fresh_bad.bin").exists() and not (workspace / "resumed_bad.bin").exists()
    assert not list(partials.iterdir())  # damaged partials are removed, completed ones moved
