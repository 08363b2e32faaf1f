"""Agents in VS Code end to end: the extension built and installed with the users' command into a
real VS Code (code-server 4.100.3), driven by playwright-core in headless Chromium, against the
real `codeforge lsp` and a live platform whose model is a ReplayServer scripted to fix calc.py's
bug (the turns of tests/lsp/test_agents_editor.py).

The failing test's diagnostic is VS Code's own: a task in the project's .vscode/tasks.json runs
pytest and its problem matcher puts the failure on the test's line. "Fix with agent" on it (Ctrl+.)
→ progress → the change in VS Code's Refactor Preview, where changes that need confirmation come
unticked: the person ticks calc.py and applies → the extension's notification offers Save, Undo
and Show Transcript → saved, the test passes (and the task finds no problem); the transcript and
cost in a webview pane; Undo (confirmed) restores calc.py and the failure; a second run Discarded
leaves it untouched. The journey is extensions/vscode/e2e/agents.mjs; a screenshot per step goes
to test-artifacts/vscode-agents/, with code-server's and the platform's logs when it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeforge.platform.agents.replay import ReplayServer
from tests.conftest import RunningPlatform, start_platform
from tests.extensions.conftest import ARTIFACTS, codeforge_bin
from tests.extensions.vscode_harness import (
    BASE_SETTINGS,
    CodeServer,
    journey_env,
    keep_artifacts,
    passed_steps,
    run_journey,
)
from tests.lsp.test_agents_editor import BUGGY, FIX_TURNS, TEST

pytestmark = pytest.mark.slow

# Steps the journey must report, in order.
STEPS = [
    "failing-test-diagnostic",
    "fix-with-agent-preview",
    "apply-save-test-passes",
    "transcript-pane-cost",
    "undo-restores",
    "discard-leaves-file",
]

# pytest's one-line tracebacks (`--tb=line`: "/abs/path.py:5: assert -1 == 5") as VS Code problems.
TASKS = {
    "version": "2.0.0",
    "tasks": [
        {
            "label": "pytest",
            "type": "process",
            "command": sys.executable,
            "args": ["-m", "pytest", "-q", "--tb=line", "--color=no", "-p", "no:cacheprovider"],
            "group": "test",
            "presentation": {"reveal": "always", "panel": "shared", "clear": True},
            "problemMatcher": {
                "owner": "pytest",
                "source": "pytest",
                "fileLocation": "absolute",
                "severity": "error",
                "pattern": {"regexp": r"^(/.+\.py):(\d+): (.+)$", "file": 1, "line": 2, "message": 3},
            },
        }
    ],
}


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[RunningPlatform]:
    """A platform whose projects' folder holds the workspace; the sandbox's `python` is this
    interpreter's (with pytest), as a developer's PATH would have it."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    running = start_platform(tmp_path / "platform", CODEFORGE_PROJECTS_ROOT=str(tmp_path / "projects"), PATH=path)
    yield running
    running.stop()


def _project(folder: Path, slug: str) -> Path:
    (folder / "tests").mkdir(parents=True)
    (folder / ".vscode").mkdir()
    (folder / "codeforge.yaml").write_text(f"project: {slug}\n")
    (folder / "pytest.ini").write_text("[pytest]\npythonpath = .\n")
    (folder / "calc.py").write_text(BUGGY)
    (folder / "tests" / "test_calc.py").write_text(TEST)
    (folder / ".vscode" / "tasks.json").write_text(json.dumps(TASKS, indent=2))
    return folder


@pytest.mark.timeout(900)
def test_vscode_fix_with_agent(code_server: CodeServer, platform: RunningPlatform, tmp_path: Path) -> None:
    artifacts = ARTIFACTS / "vscode-agents"
    shutil.rmtree(artifacts, ignore_errors=True)
    home = code_server.home(tmp_path)
    project = _project(tmp_path / "projects" / "shop", platform.project)
    # Two runs, each the same fix: the first applied (then undone), the second discarded.
    with ReplayServer(FIX_TURNS + FIX_TURNS) as model:
        with platform.client() as client:
            client.call(
                "agents.configure",
                {
                    "project": platform.project,
                    "base_url": model.base_url,
                    "model": "replay-model",
                    "api_key": "sk-test",
                    # A price, so the pane has a cost to show (USD per million tokens).
                    "prices": {"replay-model": {"input_per_mtok": 300.0, "output_per_mtok": 600.0}},
                },
            )
        try:
            report = _journey(code_server, platform, home, project, tmp_path, artifacts)
        except BaseException:
            keep_artifacts(home, artifacts, platform.log_path)
            raise
        served = model.served
    assert passed_steps(report) == STEPS, report
    assert len(list(artifacts.glob("*.png"))) == len(STEPS), sorted(p.name for p in artifacts.glob("*.png"))
    # What the person saw is what happened: calc.py as it was, the test failing again.
    assert (project / "calc.py").read_text() == BUGGY
    assert (project / "tests" / "test_calc.py").read_text() == TEST
    with platform.client() as client:
        runs = client.call("agents.list", {"project": platform.project}).items
        states = [[h.state for f in client.call("agents.show", {"run": r.id}).changes for h in f.hunks] for r in runs]
    # Newest first: the discarded run, then the applied one that was undone.
    assert states == [["rejected"], ["undone"]], (states, served)


def _journey(
    code_server: CodeServer, platform: RunningPlatform, home: Path, project: Path, tmp_path: Path, artifacts: Path
) -> str:
    settings = {
        **BASE_SETTINGS,
        # Desktop VS Code's default; in a browser (code-server) it is "afterDelay", which would save
        # the applied change before the person chose to.
        "files.autoSave": "off",
        "codeforge.server.command": str(codeforge_bin()),
        "codeforge.server.args": ["lsp"],
        "codeforge.platform.url": platform.url,
        "codeforge.platform.token": platform.token,
    }
    assert platform.process is not None
    editor_env = {k: v for k, v in platform.env.items() if k != "VIRTUAL_ENV"}
    with code_server.running(home, project, editor_env, settings) as (url, _pid):
        env = journey_env(url, artifacts, tmp_path, PROJECT_DIR=str(project), PYTHON=sys.executable)
        done = run_journey("agents.mjs", env, home, artifacts, timeout=600)
    return done.stdout + done.stderr
