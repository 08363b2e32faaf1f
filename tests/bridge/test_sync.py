"""File sync: both halves over a memory link, on real folders (see docs/bridge.md, "File sync")."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from codeforge.bridge.link import Link, memory_pair
from codeforge.bridge.sync.client import SyncEvent, run_sync
from codeforge.bridge.sync.protocol import CHUNK_SIZE, SMALL_FILE
from codeforge.bridge.sync.server import serve_folder
from tests.bridge.sync_helpers import Counting, Pair, stop, tree, wait_for, write

LARGE = 3 * CHUNK_SIZE + 12345  # four chunks


@pytest.fixture
def pair(tmp_path: Path) -> Pair:
    local, workspace = tmp_path / "local", tmp_path / "workspace"
    local.mkdir()
    workspace.mkdir()
    return Pair(local, workspace)


def fixture_tree(root: Path) -> None:
    write(root / "README.md", "# demo\n")
    write(root / "src/app/main.py", "print('hi')\n")
    write(root / "src/app/run.sh", "#!/bin/sh\necho run\n", mode=0o755)
    write(root / "assets/logo.bin", bytes(range(256)) * 40)
    large = os.urandom(LARGE)
    write(root / "data/large.bin", large)
    write(root / "data/same_content.bin", large)  # two large files with one hash, in flight at once
    write(root / "naïve/日本語 ファイル.txt", "ünïcödé\n")
    write(root / ".gitignore", "*.log\nbuild/\n")
    write(root / "debug.log", "ignored by .gitignore\n")
    write(root / "build/out.o", b"ignored folder")
    write(root / ".git/HEAD", "ref: refs/heads/main\n")
    write(root / ".codeforge/sync.yaml", "ignore:\n  - secrets/\n")
    write(root / "secrets/key.pem", "ignored by sync.yaml")
    (root / "empty").mkdir()
    (root / "src/app/link.py").symlink_to("main.py")
    (root / "outward").symlink_to("/etc/hostname")
    (root / "climb").symlink_to("../../elsewhere")


SYNCED = {
    "README.md",
    "src/app/main.py",
    "src/app/run.sh",
    "assets/logo.bin",
    "data/large.bin",
    "data/same_content.bin",
    "naïve/日本語 ファイル.txt",
    ".gitignore",
    ".codeforge/sync.yaml",
    "src/app/link.py",
}
NOT_SYNCED = {"debug.log", "build", "build/out.o", ".git", "secrets", "outward", "climb"}


async def test_initial_sync_of_a_fixture_tree_then_nothing_resent(pair: Pair) -> None:
    fixture_tree(pair.local)
    first = await pair.once()
    assert first.rc == 0, first.events
    local, remote = tree(pair.local), tree(pair.workspace)
    for rel in SYNCED:
        assert remote[rel] == local[rel], rel
    assert "empty" in remote
    assert not NOT_SYNCED & set(remote), NOT_SYNCED & set(remote)
    assert remote["src/app/link.py"] == ("link", "main.py")
    assert stat.S_IMODE(os.stat(pair.workspace / "src/app/run.sh").st_mode) == 0o755
    warnings = " ".join(e.message for e in first.kinds("warning"))
    assert "outward -> /etc/hostname points outside" in warnings and "climb" in warnings
    progress = [e for e in first.kinds("status") if e.data.get("phase") == "initial"]
    assert progress and progress[0].data["files_total"] == len(SYNCED) - 1  # the link is not a file
    assert first.final["bytes_done"] == first.final["bytes_total"] >= LARGE
    # Nothing that arrived is sent again: a second run sends no file content at all.
    second = await pair.once()
    assert second.rc == 0 and second.final["bytes_sent"] == 0 and second.final["files_done"] == 0
    assert second.final["unchanged"] >= len(SYNCED)


async def test_workspace_files_come_back_and_renames_move(pair: Pair) -> None:
    fixture_tree(pair.local)
    write(pair.workspace / "server/notes.txt", "from the workspace\n")
    assert (await pair.once()).rc == 0
    assert (pair.local / "server/notes.txt").read_text() == "from the workspace\n"
    # Rename and delete locally: the rename is a move on the workspace, no content sent.
    os.rename(pair.local / "data/large.bin", pair.local / "data/renamed.bin")
    os.unlink(pair.local / "README.md")
    run = await pair.once()
    assert run.rc == 0 and run.final["bytes_sent"] == 0
    assert not (pair.workspace / "data/large.bin").exists() and not (pair.workspace / "README.md").exists()
    assert (pair.workspace / "data/renamed.bin").read_bytes() == (pair.local / "data/renamed.bin").read_bytes()
    # The same in the workspace: the local side moves its copy instead of fetching it.
    os.rename(pair.workspace / "assets/logo.bin", pair.workspace / "assets/logo2.bin")
    os.unlink(pair.workspace / "src/app/main.py")
    run = await pair.once()
    assert run.rc == 0 and run.final["files_done"] == 0
    assert not (pair.local / "assets/logo.bin").exists() and (pair.local / "assets/logo2.bin").exists()
    assert not (pair.local / "src/app/main.py").exists()
    assert synced_part(pair.local) == tree(pair.workspace)


def synced_part(root: Path) -> dict[str, object]:
    return {k: v for k, v in tree(root).items() if k.split("/")[0] not in NOT_SYNCED}


async def test_a_file_changed_on_both_sides_keeps_both(pair: Pair) -> None:
    write(pair.local / "shared.txt", "base\n")
    assert (await pair.once()).rc == 0
    write(pair.local / "shared.txt", "local edit\n")
    write(pair.workspace / "shared.txt", "workspace edit\n")
    run = await pair.once()
    assert run.rc == 0, run.events
    conflicts = run.kinds("conflict")
    assert len(conflicts) == 1 and conflicts[0].data["path"] == "shared.txt"
    copy = conflicts[0].data["copy"]
    assert copy.startswith("shared.txt.conflict-workspace-")
    for side in (pair.local, pair.workspace):
        assert (side / "shared.txt").read_text() == "local edit\n"
        assert (side / copy).read_text() == "workspace edit\n"
    # Settled: the next run finds nothing to do.
    again = await pair.once()
    assert again.final["bytes_sent"] == 0 and not again.kinds("conflict")


async def test_changes_flow_both_ways_while_watching(pair: Pair) -> None:
    write(pair.local / "a.txt", "one\n")
    client, server, link, events = await pair.watching()
    try:
        await wait_for(lambda: (pair.workspace / "a.txt").exists(), "a.txt in the workspace")
        write(pair.local / "sub/dir/new.txt", "made locally\n")
        write(pair.workspace / "from_ws.bin", b"\x00\xff" * 1000)
        await wait_for(lambda: (pair.workspace / "sub/dir/new.txt").exists(), "a new local file in the workspace")
        await wait_for(lambda: (pair.local / "from_ws.bin").exists(), "a workspace file locally")
        assert (pair.local / "from_ws.bin").read_bytes() == b"\x00\xff" * 1000
        # Edits, a rename, a delete, a mode change, each way.
        write(pair.workspace / "a.txt", "two\n")
        await wait_for(lambda: (pair.local / "a.txt").read_text() == "two\n", "the workspace's edit locally")
        os.rename(pair.local / "sub/dir/new.txt", pair.local / "sub/moved.txt")
        await wait_for(lambda: (pair.workspace / "sub/moved.txt").exists(), "the local rename in the workspace")
        assert not (pair.workspace / "sub/dir/new.txt").exists()
        os.unlink(pair.workspace / "from_ws.bin")
        await wait_for(lambda: not (pair.local / "from_ws.bin").exists(), "the workspace's delete locally")
        os.chmod(pair.local / "a.txt", 0o600)
        await wait_for(
            lambda: stat.S_IMODE(os.stat(pair.workspace / "a.txt").st_mode) == 0o600, "the mode in the workspace"
        )
        # A whole folder renamed locally.
        write(pair.local / "pkg/one.py", "1\n")
        write(pair.local / "pkg/two.py", "2\n")
        await wait_for(lambda: (pair.workspace / "pkg/two.py").exists(), "pkg in the workspace")
        os.rename(pair.local / "pkg", pair.local / "pkg2")
        await wait_for(lambda: (pair.workspace / "pkg2/two.py").exists(), "the renamed folder in the workspace")
        await wait_for(lambda: not (pair.workspace / "pkg").exists(), "the old folder gone")
        # Echo suppression: what sync wrote is not sent back; the link goes quiet.
        write(pair.workspace / "echo.txt", "x" * 50_000)
        await wait_for(lambda: (pair.local / "echo.txt").exists(), "echo.txt locally")
        sent = link.sent_bytes
        write(pair.local / "marker.txt", "m")  # something that must go out, after any echo would have
        await wait_for(lambda: (pair.workspace / "marker.txt").exists(), "marker in the workspace")
        assert link.sent_bytes - sent < 5_000  # the marker only, not echo.txt's 50 kB
        assert not [e for e in events if e.kind in ("error", "conflict")], events
        assert tree(pair.local) == tree(pair.workspace)
    finally:
        await stop(client, server)


async def test_edits_crossing_while_watching_keep_both(pair: Pair) -> None:
    """Both sides change a file before either hears of the other's change: the workspace
    keeps both versions, the user is told, and both sides end with the same two files."""
    write(pair.local / "doc.txt", "base\n")
    client, server, client_link, server_link, events = await pair.watching_both()
    try:
        await wait_for((pair.workspace / "doc.txt").exists, "doc.txt in the workspace")
        server_link.gate.clear()  # the workspace half is busy: what the client sends waits
        sent = client_link.sent_bytes, server_link.sent_bytes
        write(pair.local / "doc.txt", "local\n")
        await wait_for(lambda: client_link.sent_bytes > sent[0], "the local edit sent")
        write(pair.workspace / "doc.txt", "workspace\n")
        await wait_for(lambda: server_link.sent_bytes > sent[1], "the workspace edit sent")
        server_link.gate.set()
        await wait_for(lambda: any(e.kind == "conflict" for e in events), "the conflict event")
        conflict = next(e for e in events if e.kind == "conflict")
        copy = conflict.data["copy"]
        assert copy.startswith("doc.txt.conflict-workspace-") and conflict.data["path"] == "doc.txt"
        await wait_for((pair.local / copy).exists, "the workspace's version locally")
        for side in (pair.local, pair.workspace):
            assert (side / "doc.txt").read_text() == "local\n"
            assert (side / copy).read_text() == "workspace\n"
        assert tree(pair.local) == tree(pair.workspace)
    finally:
        await stop(client, server)


async def test_killed_mid_sync_resumes_without_resending(pair: Pair) -> None:
    for i in range(300):
        write(pair.local / f"many/f{i:03}.txt", f"file {i}\n" * 200)
    big = os.urandom(LARGE)
    write(pair.local / "zz/big.bin", big)
    small_total = sum(p.stat().st_size for p in (pair.local / "many").iterdir())

    def third_chunk(message: object) -> bool:
        return getattr(message, "kind", "") == "chunk" and message.header["off"] >= 2 * CHUNK_SIZE  # type: ignore[attr-defined]

    first = await pair.once(server_kill_on=third_chunk)
    assert first.rc == 2 and any("run the sync again" in e.message for e in first.kinds("error"))
    assert not (pair.workspace / "zz/big.bin").exists()  # no half file in place
    assert len(list((pair.workspace / "many").iterdir())) == 300  # the small files all arrived
    assert not [p for p in pair.workspace.rglob("*") if ".cfsync-" in p.name]
    second = await pair.once()
    assert second.rc == 0, second.events
    # Only the rest of the large file travelled: no small file, not its first two chunks.
    assert second.final["bytes_sent"] == LARGE - 2 * CHUNK_SIZE
    assert second.client_sent < LARGE - 2 * CHUNK_SIZE + 100_000 < small_total + LARGE - 2 * CHUNK_SIZE
    assert (pair.workspace / "zz/big.bin").read_bytes() == big
    assert not list((pair.workspace / ".codeforge/sync-state/partial").iterdir())


async def test_symlinks_never_lead_out(pair: Pair, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    write(outside / "secret.txt", "outside the tree")
    (pair.local / "linked_dir").symlink_to(outside)
    (pair.local / "inner").mkdir()
    (pair.local / "inner/up").symlink_to("../linked_dir/secret.txt")
    run = await pair.once()
    assert run.rc == 0
    assert not (pair.workspace / "linked_dir").exists() and not (pair.workspace / "inner/up").is_symlink()
    messages = " ".join(e.message for e in run.kinds("warning"))
    assert "linked_dir" in messages and "inner/up" in messages


async def test_unwatchable_tree_says_so_and_rescans(pair: Pair) -> None:
    for name in ("a/x", "a/y", "b/z", "c"):
        (pair.local / name).mkdir(parents=True)
    write(pair.local / ".codeforge/sync.yaml", "max_watches: 2\nrescan_seconds: 0.2\n")
    client, server, _, events = await pair.watching()
    try:
        warning = next(e for e in events if e.kind == "warning" and "not watched" in e.message)
        assert warning.data["unwatched"] and "rescanned every 0.2 s" in warning.message
        assert "max_user_watches" in warning.message
        # A change in every part arrives, watched or not.
        for name in ("a/x", "a/y", "b/z", "c", ""):
            write(pair.local / name / "new.txt", name)
        for name in ("a/x", "a/y", "b/z", "c", ""):
            target = pair.workspace / name / "new.txt"
            await wait_for(target.exists, f"{name}/new.txt")
    finally:
        await stop(client, server)


def test_small_and_large_thresholds_are_consistent() -> None:
    assert SMALL_FILE <= CHUNK_SIZE and LARGE > SMALL_FILE


async def test_a_restarted_bridge_is_synced_again_without_resending(pair: Pair) -> None:
    """The link ends under a watching client (a restarted bridge): it dials again, and the
    new sync sends only what changed meanwhile, in both directions, with no duplicates."""
    write(pair.local / "big.txt", "x" * 300_000)
    servers: list[asyncio.Task[None]] = []
    links: list[tuple[Counting, Link]] = []

    async def dial(channel: str, params: dict[str, str]) -> Link:
        a, b = memory_pair()
        servers.append(asyncio.ensure_future(serve_folder(b, pair.workspace)))
        links.append((Counting(a), b))
        return links[-1][0]  # type: ignore[return-value]

    events: list[SyncEvent] = []
    client = asyncio.ensure_future(run_sync(dial, pair.local, watch=True, on_event=events.append))

    def watching(count: int) -> bool:
        return sum(1 for e in events if e.data.get("phase") == "watching") >= count

    try:
        await wait_for(lambda: watching(1), "the first sync")
        assert links[0][0].sent_bytes > 300_000
        await links[0][1].close("bridge restarted")  # the workspace end goes away
        await asyncio.wait_for(servers[0], 30)
        write(pair.local / "during.txt", "made while the bridge was away")
        write(pair.workspace / "ws_during.txt", "made in the workspace meanwhile")
        await wait_for(lambda: watching(2), "the second sync")
        assert any(e.data.get("phase") == "reconnecting" for e in events)
        await wait_for((pair.workspace / "during.txt").exists, "the local change in the workspace")
        await wait_for((pair.local / "ws_during.txt").exists, "the workspace change locally")
        assert links[1][0].sent_bytes < 20_000  # big.txt was not sent again
        assert tree(pair.local) == tree(pair.workspace)
        assert not [e for e in events if e.kind in ("conflict", "error")], events
    finally:
        await stop(client, servers[-1])


async def test_a_synced_file_that_becomes_ignored_is_left_alone(pair: Pair) -> None:
    write(pair.local / "keep/cache.db", "v1")
    write(pair.workspace / "ws_only/notes.txt", "n1")
    assert (await pair.once()).rc == 0
    # Ignored from now on, on each side: neither side deletes or overwrites the other's copy.
    write(pair.local / ".gitignore", "keep/\n")
    write(pair.local / "keep/cache.db", "v2, local only")
    write(pair.workspace / ".codeforge/sync.yaml", "ignore: [ws_only/]\n")
    run = await pair.once()
    assert run.rc == 0, run.events
    assert (pair.workspace / "keep/cache.db").read_text() == "v1"
    assert (pair.local / "keep/cache.db").read_text() == "v2, local only"
    assert (pair.local / "ws_only/notes.txt").read_text() == "n1"
    assert (pair.workspace / "ws_only/notes.txt").read_text() == "n1"


async def test_a_new_or_reset_workspace_deletes_nothing_here(pair: Pair) -> None:
    """A workspace that lost everything (a new container, a reset) is filled again from
    here; nothing local is deleted because the workspace lacks it."""
    write(pair.local / "src/main.py", "print(1)\n")
    write(pair.local / "big.bin", os.urandom(SMALL_FILE + 10))
    assert (await pair.once()).rc == 0
    shutil.rmtree(pair.workspace)
    pair.workspace.mkdir()
    run = await pair.once()
    assert run.rc == 0, run.events
    assert (pair.local / "src/main.py").read_text() == "print(1)\n"
    assert (pair.workspace / "src/main.py").read_text() == "print(1)\n"
    assert (pair.workspace / "big.bin").read_bytes() == (pair.local / "big.bin").read_bytes()
    # And the other way: a local folder emptied with its record is filled from the workspace.
    shutil.rmtree(pair.local)
    pair.local.mkdir()
    assert (await pair.once()).rc == 0
    assert (pair.local / "src/main.py").read_text() == "print(1)\n"


def test_ignore_rules_nest_like_git_and_bad_settings_are_named(tmp_path: Path) -> None:
    from codeforge.bridge.sync.ignore import Ignorer
    from codeforge.bridge.sync.state import load_config

    write(tmp_path / ".gitignore", "*.log\nbuild/\n")
    write(tmp_path / "sub/.gitignore", "!keep.log\nlocal.txt\n")
    ignorer = Ignorer(tmp_path, ["secrets/", "*.pem"])
    assert ignorer.ignored("a.log", False) and not ignorer.ignored("sub/keep.log", False)
    assert ignorer.ignored("sub/local.txt", False) and not ignorer.ignored("local.txt", False)
    assert ignorer.ignored("build/x/y.c", False) and ignorer.ignored("x/.git/HEAD", False)
    assert ignorer.ignored("secrets/k", False) and ignorer.ignored("deep/key.pem", False)
    assert ignorer.ignored(".codeforge/sync-state/local.json", False)
    assert not ignorer.ignored(".codeforge/sync.yaml", False) and not ignorer.ignored("src/app.py", False)
    write(
        tmp_path / ".codeforge/sync.yaml",
        "ignore: nope\nmax_watches: -1\nrescan_seconds: 0\nfsync: sometimes\ncolour: red\n",
    )
    config, warnings = load_config(tmp_path)
    text = "\n".join(warnings)
    assert "ignore must be a list" in text and "max_watches must be a whole number" in text
    assert "rescan_seconds must be a positive number" in text and "unknown settings colour" in text
    assert "fsync must be true or false" in text
    assert config.ignore == [] and config.max_watches is None and config.rescan_seconds == 5.0
    assert config.fsync is False
    write(tmp_path / ".codeforge/sync.yaml", "fsync: true\n")
    assert load_config(tmp_path) == (replace(config, fsync=True), [])
    write(tmp_path / ".codeforge/sync.yaml", "ignore: [\n")
    assert "cannot be read" in load_config(tmp_path)[1][0]
