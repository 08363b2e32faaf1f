"""VS Code end to end: the extension built and installed with the users' command
(`extensions/vscode/scripts/install.sh`, which `make vscode` runs) into a real VS Code
(code-server 4.100.3), driven by playwright-core in headless Chromium, against a real
`codeforge lsp` and platform.

The journey itself is extensions/vscode/e2e/journey.mjs; screenshots of each step go to
test-artifacts/vscode/, with code-server's logs and the platform's log when it fails.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from codeforge.catalog.errors import CodeForgeError
from codeforge.catalog.jobs import Job
from codeforge.client import JobRef
from tests.conftest import RunningPlatform, require
from tests.extensions.conftest import ARTIFACTS, codeforge_bin, env_names
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

# Steps the journey must report, in order.
STEPS = [
    "open-project",
    "codeforge-yaml-diagnostic",
    "apply-code-action",
    "run-operation-wrong-entry-refused",
    "run-operation-result",
    "operation-without-fields",
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
    "databases-reveal",
    "reveal-leaves-no-trace",
    "server-restarts-after-crash",
    "status-shows-platform-down",
]


# The PostgreSQL server the database tests use (tests/platform/databases/conftest.py).
EXTERNAL_PG = os.environ.get("CODEFORGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _call(platform: RunningPlatform, name: str, data: dict[str, Any]) -> Any:
    """A platform call outside the editor (set-up, clean-up), following a job to its end."""
    with platform.client() as client:
        out = client.call(name, data)
        if isinstance(out, JobRef):
            for _ in client.events(out.job_id):
                pass
            job: Job = client.job(out.job_id)
            assert job.state.value == "succeeded", f"{name}: {job.error}"
            return job.result
        return out.model_dump(mode="json")


def _pooled_database(platform: RunningPlatform) -> tuple[str, str]:
    """A database of the demo project with a pooled URL, as `databases.reveal` shows it with
    its password (the value VS Code once wrote to notifications and logs); its name and password."""
    where = urlsplit(EXTERNAL_PG)
    try:
        socket.create_connection((where.hostname or "127.0.0.1", where.port or 5432), timeout=2).close()
        up = True
    except OSError:
        up = False
    require("postgresql", up, f"no PostgreSQL at {where.hostname}:{where.port}")
    require("pgbouncer", shutil.which("pgbouncer") is not None, "apt-get install -y pgbouncer")
    _call(platform, "engines.register", {"name": "ext", "kind": "postgresql", "admin_url": EXTERNAL_PG})
    name = f"vs{secrets.token_hex(4)}"
    project = platform.project
    _call(platform, "databases.create", {"project": project, "name": name, "engine": "ext", "env_var": "SHOP_DB_URL"})
    _call(platform, "databases.pool", {"project": project, "name": name, "enabled": True})
    urls = _call(platform, "databases.reveal", {"project": project, "name": name})
    password = urlsplit(urls["pooled_url"] or "").password
    assert password, f"databases.reveal gave no pooled URL with a password: {urls['pooling']}"
    return name, password


def _env_file(path: Path, count: int) -> Path:
    path.write_text("".join(f"IMPORTED_{i}=value-{i}\n" for i in range(count)))
    return path


@pytest.mark.timeout(900)
def test_vscode_journey(
    code_server: CodeServer, live_platform: RunningPlatform, project_dir: Path, tmp_path: Path
) -> None:
    artifacts = ARTIFACTS / "vscode"
    shutil.rmtree(artifacts, ignore_errors=True)
    home = code_server.home(tmp_path)
    database, password = _pooled_database(live_platform)
    try:
        _journey(code_server, live_platform, project_dir, tmp_path, home, artifacts, database, password)
    except BaseException:
        keep_artifacts(home, artifacts, live_platform.log_path)
        raise
    finally:
        # The journey's last step stops the platform; the module's other users need it back.
        if live_platform.process is None or live_platform.process.poll() is not None:
            live_platform.stop()
            live_platform.start()
        with contextlib.suppress(CodeForgeError):
            _call(
                live_platform, "databases.delete", {"project": live_platform.project, "name": database, "cascade": True}
            )
    # What the journey did reached the platform.
    names = env_names(live_platform)
    assert {"LOG_LEVEL", "API_KEY", "IMPORTED_0", "IMPORTED_19999"} <= names
    assert "IMPORTED_1" not in names, "the confirmed env.unset did not remove it"
    # The cancelled import wrote nothing.
    assert "IMPORTED_399999" not in names


def _journey(
    code_server: CodeServer,
    live_platform: RunningPlatform,
    project_dir: Path,
    tmp_path: Path,
    home: Path,
    artifacts: Path,
    database: str,
    password: str,
) -> None:
    # Big enough that the import job's progress stays on screen for a while, and the cancelled
    # one is still running when Cancel is pressed.
    _env_file(project_dir / "big.env", 20_000)
    _env_file(project_dir / "huge.env", 400_000)
    # `codeforge` in the project's own virtual environment, where the extension looks first
    # when "codeforge.server.command" is not set (the extension host's PATH has no venv).
    venv_bin = project_dir / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "codeforge").symlink_to(codeforge_bin())
    settings = {
        **BASE_SETTINGS,
        # The extension's typed settings, sent to `codeforge lsp` as initializationOptions.
        "codeforge.server.args": ["lsp"],
        "codeforge.platform.url": live_platform.url,
        "codeforge.platform.token": live_platform.token,
    }
    assert live_platform.process is not None
    platform_env = {k: v for k, v in live_platform.env.items() if k != "VIRTUAL_ENV"}
    # No codeforge on the editor's PATH: only the project's .venv can provide it.
    platform_env["PATH"] = os.pathsep.join(
        p for p in platform_env.get("PATH", "").split(os.pathsep) if not (Path(p) / "codeforge").exists()
    )
    with code_server.running(home, project_dir, platform_env, settings) as (url, pid):
        env = journey_env(
            url,
            artifacts,
            tmp_path,
            CODE_SERVER_PID=str(pid),
            PROJECT_DIR=str(project_dir),
            LOG_FILES_DIR=str(home / "user-data" / "logs"),
            PLATFORM_PID=str(live_platform.process.pid),
            DATABASE_NAME=database,
            DATABASE_PASSWORD=password,
        )
        done = run_journey("journey.mjs", env, home, artifacts, timeout=840)
    report = done.stdout + done.stderr
    assert passed_steps(done.stdout) == STEPS, report
    screenshots = sorted(p.name for p in artifacts.glob("*.png"))
    assert len(screenshots) == len(STEPS), screenshots
    # The language server came from the project's .venv, found without any setting.
    log = extension_logs(home)
    assert f"starting {venv_bin / 'codeforge'} lsp" in log, log[-3000:]
