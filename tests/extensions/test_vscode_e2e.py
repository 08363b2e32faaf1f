"""VS Code end to end: the packaged extension in a real VS Code (code-server 4.100.3), driven by
playwright-core in headless Chromium, against a real `codeforge lsp` and platform.

The journey itself is extensions/vscode/e2e/journey.mjs; screenshots of each step go to
test-artifacts/vscode/.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RunningPlatform
from tests.extensions.conftest import ARTIFACTS, codeforge_bin, env_names
from tests.extensions.vscode_harness import (
    VSCODE,
    code_server_bin,
    extension_logs,
    node_env,
    package_vsix,
    running_code_server,
)

pytestmark = pytest.mark.slow

# Steps the journey must report, in order.
STEPS = [
    "open-project",
    "codeforge-yaml-diagnostic",
    "apply-code-action",
    "run-operation-wrong-entry-refused",
    "run-operation-result",
    "platform-error",
    "job-progress",
    "job-result",
    "destructive-confirmation",
    "destructive-result",
    "job-cancel",
    "job-logs",
    "open-pane",
    "resource-tree",
    "resource-item-operation",
    "server-restarts-after-crash",
]


def _env_file(path: Path, count: int) -> Path:
    path.write_text("".join(f"IMPORTED_{i}=value-{i}\n" for i in range(count)))
    return path


@pytest.mark.timeout(900)
def test_vscode_journey(live_platform: RunningPlatform, project_dir: Path, tmp_path: Path) -> None:
    binary = code_server_bin()
    vsix = package_vsix()
    # Big enough that the import job's progress stays on screen for a while, and the cancelled
    # one is still running when Cancel is pressed.
    _env_file(project_dir / "big.env", 20_000)
    _env_file(project_dir / "huge.env", 400_000)
    artifacts = ARTIFACTS / "vscode"
    shutil.rmtree(artifacts, ignore_errors=True)
    settings = {
        "security.workspace.trust.enabled": False,
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": False,
        "telemetry.telemetryLevel": "off",
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "update.mode": "none",
        # The extension's typed settings, sent to `codeforge lsp` as initializationOptions.
        "codeforge.server.command": str(codeforge_bin()),
        "codeforge.server.args": ["lsp"],
        "codeforge.platform.url": live_platform.url,
        "codeforge.platform.token": live_platform.token,
    }
    home = tmp_path / "code-server"
    with running_code_server(binary, vsix, home, project_dir, live_platform.env, settings) as (url, pid):
        env = {
            **node_env(),
            "CODE_SERVER_URL": url,
            "CODE_SERVER_PID": str(pid),
            "PROJECT_DIR": str(project_dir),
            "ARTIFACTS_DIR": str(artifacts),
            "BROWSER_PROFILE": str(tmp_path / "chromium"),
        }
        done = subprocess.run(
            ["node", "e2e/journey.mjs"], cwd=VSCODE, env=env, capture_output=True, text=True, timeout=840, check=False
        )
        report = done.stdout + done.stderr
        artifacts.mkdir(parents=True, exist_ok=True)
        (artifacts / "journey.log").write_text(report)  # one line per step, beside its screenshots
        if done.returncode != 0:
            pytest.fail(f"journey failed:\n{report[-6000:]}\n{extension_logs(home)}")
    passed = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("ok ")]
    assert passed == STEPS, report
    screenshots = sorted(p.name for p in artifacts.glob("*.png"))
    assert len(screenshots) == len(STEPS), screenshots
    # What the journey did reached the platform.
    names = env_names(live_platform)
    assert {"LOG_LEVEL", "API_KEY", "IMPORTED_0", "IMPORTED_19999"} <= names
    assert "IMPORTED_1" not in names, "the confirmed env.unset did not remove it"
    # The cancelled import wrote nothing.
    assert "IMPORTED_399999" not in names
