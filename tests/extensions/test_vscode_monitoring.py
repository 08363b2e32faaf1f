"""Production errors in VS Code end to end: the extension built and installed with the users'
command into a real VS Code (code-server 4.100.3), driven by playwright-core in headless Chromium,
against the real `codeforge lsp` and the shared monitoring platform (`monitored`).

The workspace opens with no production problem. Then, into the running session, a real Python
exception's traceback (raised from files under a deployed-looking path) is ingested as a JSON log
line, with a second traceback whose frames are no project file's: the editor feed says errors
changed, and VS Code's Problems panel shows one Error at shop/orders.py's raising line, source
"codeforge production" (the foreign one gives nothing). Ctrl+. there offers "Fix with the Bug
Fixer agent", "Resolve error" and "Show error"; Show error opens the error's pane; Resolve error
clears the problem, and the platform has the group resolved. The journey is
extensions/vscode/e2e/monitoring.mjs; a screenshot per step goes to
test-artifacts/vscode-monitoring/, with code-server's and the platform's logs when it fails.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RunningPlatform
from tests.extensions.conftest import ARTIFACTS, codeforge_bin
from tests.extensions.vscode_harness import (
    BASE_SETTINGS,
    VSCODE,
    CodeServer,
    finish_journey,
    journey_env,
    keep_artifacts,
    passed_steps,
)
from tests.lsp.test_monitoring_editor import (
    RAISING_LINE,
    _deployed,
    _foreign_traceback,
    _ingest,
    _raise_from,
    _require_ops,
    _workspace,
)
from tests.monitoring_platform import new_project

pytestmark = pytest.mark.slow

# Steps the journey must report, in order.
STEPS = [
    "workspace-no-production-errors",
    "production-error-diagnostic",
    "quick-fixes-offered",
    "show-error-pane",
    "resolve-clears",
]
INGEST_CUE = "# ingest"


@pytest.mark.timeout(600)
def test_vscode_production_error_diagnostic_quick_fixes_resolve(
    code_server: CodeServer, monitored: RunningPlatform, tmp_path: Path
) -> None:
    _require_ops(monitored, "monitoring.errors", "monitoring.triage")
    artifacts = ARTIFACTS / "vscode-monitoring"
    shutil.rmtree(artifacts, ignore_errors=True)
    home = code_server.home(tmp_path)
    project = new_project(monitored)
    folder = _workspace(tmp_path, project)
    tracebacks = [
        "checkout failed\n" + _raise_from(_deployed(tmp_path / "server"), ["apple", "kiwi"]),
        "failed\n" + _foreign_traceback(tmp_path),
    ]
    try:
        report = _journey(code_server, monitored, home, folder, project, tracebacks, tmp_path, artifacts)
    except BaseException:
        keep_artifacts(home, artifacts, monitored.log_path)
        raise
    assert passed_steps(report) == STEPS, report
    assert len(list(artifacts.glob("*.png"))) == len(STEPS), sorted(p.name for p in artifacts.glob("*.png"))
    # What the person saw is what the platform has: two groups, the one shown now resolved.
    with monitored.client() as client:
        groups = client.call("monitoring.errors", {"project": project}).items
    assert sorted((g.type, g.state) for g in groups) == [("KeyError", "resolved"), ("RuntimeError", "unresolved")], (
        groups
    )


def _journey(
    code_server: CodeServer,
    platform: RunningPlatform,
    home: Path,
    folder: Path,
    project: str,
    tracebacks: list[str],
    tmp_path: Path,
    artifacts: Path,
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
        env = journey_env(
            url, artifacts, tmp_path, PROJECT_DIR=str(folder), PROJECT=project, RAISING_LINE=str(RAISING_LINE)
        )
        journey = subprocess.Popen(
            ["node", "e2e/monitoring.mjs"],
            cwd=VSCODE,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert journey.stdin is not None and journey.stdout is not None
        lines: list[str] = []
        try:
            for line in journey.stdout:
                lines.append(line)
                if line.strip() == INGEST_CUE:
                    for message in tracebacks:
                        _ingest(platform, project, message)
                    journey.stdin.write("ingested\n")
                    journey.stdin.flush()
            journey.wait(60)
        finally:
            if journey.poll() is None:
                journey.kill()
                journey.wait()
    report = "".join(lines)
    finish_journey(report, journey.returncode, home, artifacts)
    return report
