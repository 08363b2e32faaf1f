"""Workspaces in VS Code end to end: the extension built and installed with the users' command
into a real VS Code (code-server 4.100.3), driven by playwright-core in headless Chromium, against
the real `codeforge lsp` and a platform with the local runtime.

One journey from the Workspaces view, create → clone → switch: "+" asks name, template and
runtime and the workspace shows "running · local"; "Clone Workspace…" on its row asks the clone's
name; the clone's "Switch to Workspace…" points the remote connection at the bridge
`workspaces.connect` gives: the status bar names that bridge, the language server comes back
through it, the view marks the clone current and the file open before stays open. The journey
is extensions/vscode/e2e/workspaces.mjs; a screenshot per step goes to
test-artifacts/vscode-workspaces/, with code-server's and the platform's logs when it fails.
Nothing the extension logged holds the token."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import RunningPlatform
from tests.extensions.conftest import ARTIFACTS, codeforge_bin
from tests.extensions.test_nvim_workspaces import delete_workspaces
from tests.extensions.vscode_harness import (
    BASE_SETTINGS,
    CodeServer,
    extension_logs,
    journey_env,
    keep_artifacts,
    passed_steps,
    run_journey,
)

pytestmark = pytest.mark.slow

ENV = {"CODEFORGE_WORKSPACES_PORT_RANGE": "24800-24849", "CODEFORGE_WORKSPACES_RUNTIME": "local"}
STEPS = ["workspaces-view", "create", "clone", "switch"]


@pytest.mark.timeout(600)
def test_vscode_workspaces_create_clone_switch(
    code_server: CodeServer, platform_factory: Callable[..., RunningPlatform], project_dir: Path, tmp_path: Path
) -> None:
    platform = platform_factory(**ENV)
    artifacts = ARTIFACTS / "vscode-workspaces"
    shutil.rmtree(artifacts, ignore_errors=True)
    home = code_server.home(tmp_path)
    (project_dir / "notes.txt").write_text("open before the switch\n")
    try:
        report = _journey(code_server, platform, home, project_dir, tmp_path, artifacts)
        with platform.client() as client:
            items = client.call("workspaces.list", {"project": platform.project}).items
    except BaseException:
        keep_artifacts(home, artifacts, platform.log_path)
        raise
    finally:
        left = delete_workspaces(platform)
    assert passed_steps(report) == STEPS, report
    assert len(list(artifacts.glob("*.png"))) == len(STEPS), sorted(p.name for p in artifacts.glob("*.png"))
    # What the person saw is what the platform has.
    assert sorted((w.name, w.state) for w in items) == [("ws-copy", "running"), ("ws-main", "running")], items
    logs = extension_logs(home)
    assert platform.token not in logs, "the token is in the extension's logs"
    assert not left, f"{left}\n--- platform log\n{platform.logs()[-4000:]}"


def _journey(
    code_server: CodeServer, platform: RunningPlatform, home: Path, folder: Path, tmp_path: Path, artifacts: Path
) -> str:
    settings = {
        **BASE_SETTINGS,
        "codeforge.server.command": str(codeforge_bin()),
        "codeforge.server.args": ["lsp"],
        "codeforge.platform.url": platform.url,
        "codeforge.platform.token": platform.token,
    }
    editor_env = {k: v for k, v in platform.env.items() if k != "VIRTUAL_ENV"}
    with code_server.running(home, folder, editor_env, settings) as (url, _pid):
        env = journey_env(url, artifacts, tmp_path, PROJECT_DIR=str(folder), PROJECT=platform.project)
        done = run_journey("workspaces.mjs", env, home, artifacts, timeout=420)
    return done.stdout + done.stderr
