"""File sync end to end: a real `codeforge bridge` process and real `codeforge connect --sync`."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.bridge.conftest import BridgeProcess, ConnectProcess, make_workspace
from tests.conftest import ROOT, RunningPlatform


def _eventually(check: Callable[[], bool], what: str, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _names(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name != ".codeforge")


def test_connect_sync_once_through_a_real_bridge(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, tmp_path: Path
) -> None:
    local = tmp_path / "laptop"
    (local / "src/pkg").mkdir(parents=True)
    (local / "src/pkg/mod.py").write_text("VALUE = 1\n")
    (local / "blob.bin").write_bytes(bytes(range(256)) * 4000)
    (local / "ünï.txt").write_text("unicode name\n")
    done = subprocess.run(
        [sys.executable, "-m", "codeforge", "connect", live_bridge.url, "--sync", str(local), "--once"],
        env=live_platform.env, capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "in sync" in done.stderr
    workspace = live_bridge.folder
    assert (workspace / "src/pkg/mod.py").read_text() == "VALUE = 1\n"
    assert (workspace / "blob.bin").read_bytes() == bytes(range(256)) * 4000
    assert (workspace / "ünï.txt").exists()
    assert (local / "codeforge.yaml").read_text() == (workspace / "codeforge.yaml").read_text()  # and back
    # Again: nothing is sent twice.
    again = subprocess.run(
        [sys.executable, "-m", "codeforge", "connect", live_bridge.url, "--sync", str(local), "--once"],
        env=live_platform.env, capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0 and "in sync: 0 files transferred" in again.stderr, again.stderr


def test_an_editor_hears_sync_status_and_conflicts(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, tmp_path: Path
) -> None:
    """`codeforge connect URL --sync DIR` as an editor starts it: the LSP relay with sync
    beside it. A file changed on both sides since the last sync is kept twice and the
    editor is told; then changes flow both ways while it watches."""
    local = tmp_path / "editor"
    local.mkdir()
    (local / "notes.md").write_text("first\n")
    once = subprocess.run(
        [sys.executable, "-m", "codeforge", "connect", live_bridge.url, "--sync", str(local), "--once"],
        env=live_platform.env, capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert once.returncode == 0, once.stderr
    workspace = live_bridge.folder
    (workspace / "notes.md").write_text("workspace edit\n")
    (local / "notes.md").write_text("local edit\n")
    connect = ConnectProcess(live_bridge.url, live_platform.env, ["--sync", str(local)], stderr_path=tmp_path / "c.log")
    editor = connect.start()
    try:
        editor.initialize(local)
        shown = editor.wait_notification("window/showMessage", lambda p: "changed on both sides" in p["message"])
        editor.wait_notification("codeforge/syncStatus", lambda p: p.get("phase") == "watching")
        copies = sorted(p.name for p in workspace.glob("notes.md.conflict-workspace-*"))
        assert len(copies) == 1 and copies[0] in shown["message"]
        assert (workspace / "notes.md").read_text() == (local / "notes.md").read_text() == "local edit\n"
        _eventually((local / copies[0]).exists, "the workspace's version locally")
        assert (local / copies[0]).read_text() == "workspace edit\n"
        (local / "live.txt").write_text("typed in the editor\n")
        _eventually((workspace / "live.txt").exists, "a local change in the workspace")
        (workspace / "from_terminal.txt").write_text("made in the workspace\n")
        _eventually((local / "from_terminal.txt").exists, "a workspace change locally")
    finally:
        connect.stop()


def test_a_restarted_bridge_resyncs_without_loss_or_duplicates(
    bridge_factory: Callable[..., BridgeProcess], live_platform: RunningPlatform, tmp_path: Path
) -> None:
    """The bridge is killed and started again while an editor syncs: changes made on both
    sides meanwhile arrive, nothing is duplicated or reported as a conflict."""
    workspace = make_workspace(tmp_path / "ws", live_platform.project)
    bridge = bridge_factory(workspace)
    local = tmp_path / "laptop"
    local.mkdir()
    (local / "before.txt").write_text("synced before the restart\n")
    connect = ConnectProcess(bridge.url, live_platform.env, ["--sync", str(local)], stderr_path=tmp_path / "c.log")
    editor = connect.start()
    try:
        editor.initialize(local)
        editor.wait_notification("codeforge/syncStatus", lambda p: p.get("phase") == "watching")
        _eventually((workspace / "before.txt").exists, "before.txt in the workspace")
        bridge.restart(kill=True)
        (local / "while_down.txt").write_text("made locally while the bridge was down\n")
        (workspace / "ws_while_down.txt").write_text("made in the workspace meanwhile\n")
        _eventually((workspace / "while_down.txt").exists, "the local change after the restart", 90)
        _eventually((local / "ws_while_down.txt").exists, "the workspace change after the restart", 90)
        assert _names(local) == _names(workspace)
        assert not [n for n in _names(local) if ".conflict-" in n]
        assert (local / "before.txt").read_text() == "synced before the restart\n"
    finally:
        connect.stop()
