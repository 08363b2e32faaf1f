"""Building, installing and running the VS Code extension in a real code-server for tests.

The journeys share what is the same for all of them: code-server itself, and the extension
built and installed once per session with the users' command (`install.sh`, which packages it:
type check, bundle, .vsix) into one extensions folder (the `code_server` fixture of
tests/extensions/conftest.py). Each journey still runs its own code-server process, with its own
user data (settings, logs, state), its own environment (its platform's login) and its own
Chromium profile, so nothing one journey does is seen by another.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningPlatform, free_port, require
from tests.extensions.conftest import EXTENSIONS, run_logged

__all__ = [
    "BASE_SETTINGS",
    "VSCODE",
    "CodeServer",
    "code_server_bin",
    "editor_env",
    "ensure_npm_deps",
    "extension_logs",
    "finish_journey",
    "install_code_server",
    "install_extension",
    "journey_env",
    "keep_artifacts",
    "node_env",
    "passed_steps",
    "run_journey",
    "running_code_server",
]

VSCODE = EXTENSIONS / "vscode"
INSTALL_SCRIPT = VSCODE / "scripts" / "install-code-server.sh"
# The one command users run (`make vscode`): build the extension and install it into an editor.
USER_INSTALL_SCRIPT = VSCODE / "scripts" / "install.sh"

# User settings every journey starts from: no dialogs, tips, telemetry or update checks.
BASE_SETTINGS: dict[str, object] = {
    "security.workspace.trust.enabled": False,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "telemetry.telemetryLevel": "off",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "update.mode": "none",
}


def ensure_npm_deps() -> None:
    """node and the extension's pinned npm packages (npm ci from package-lock.json)."""
    require("node", shutil.which("node") is not None and shutil.which("npm") is not None, "node/npm not on PATH")
    if not (VSCODE / "node_modules" / ".package-lock.json").exists():
        run_logged(["npm", "ci", "--no-audit", "--no-fund"], cwd=VSCODE)


def code_server_dirs(home: Path, extensions: Path | None = None) -> tuple[list[str], dict[str, str]]:
    """code-server's options and environment that keep everything it writes under `home`;
    its extensions in `extensions` (default: `home`/extensions)."""
    user, xdg = home / "user-data", home / "xdg"
    extensions = extensions if extensions is not None else home / "extensions"
    for path in (user / "User", extensions, xdg):
        path.mkdir(parents=True, exist_ok=True)
    config = home / "config.yaml"
    config.write_text("auth: none\ncert: false\n")
    # XDG folders keep code-server out of the home folder.
    env = {"XDG_CONFIG_HOME": str(xdg), "XDG_DATA_HOME": str(xdg)}
    return ["--config", str(config), "--user-data-dir", str(user), "--extensions-dir", str(extensions)], env


def install_extension(binary: Path, home: Path) -> str:
    """Build and install the extension into code-server with the users' command (install.sh)."""
    ensure_npm_deps()
    options, xdg = code_server_dirs(home)
    env = {**node_env(), **xdg}
    return run_logged(
        ["bash", str(USER_INSTALL_SCRIPT), "--editor", str(binary), "--", *options], cwd=home, env=env, timeout=600
    )


def code_server_bin() -> Path:
    """code-server 4.100.3 from the cache folder, installed by the (idempotent) script."""
    require("chromium", Path("/usr/bin/chromium").exists(), "apt-get install -y chromium")
    require("ripgrep", shutil.which("rg") is not None, "apt-get install -y ripgrep")
    done = subprocess.run(["bash", str(INSTALL_SCRIPT)], capture_output=True, text=True, timeout=900, check=False)
    require("code-server", done.returncode == 0, f"{INSTALL_SCRIPT} failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class CodeServer:
    """code-server with the extension installed (by install.sh) into `extensions`."""

    binary: Path
    extensions: Path
    # What install.sh printed (tsc, esbuild, vsce, --install-extension).
    install_log: str

    def home(self, tmp_path: Path) -> Path:
        """A journey's own code-server folder (user data, logs, XDG folders)."""
        home = tmp_path / "code-server"
        home.mkdir()
        return home

    def running(
        self, home: Path, folder: Path, env: Mapping[str, str], settings: Mapping[str, object]
    ) -> AbstractContextManager[tuple[str, int]]:
        """code-server serving `folder` with these user settings: see `running_code_server`."""
        return running_code_server(self.binary, home, folder, env, settings, extensions=self.extensions)


def install_code_server(base: Path) -> CodeServer:
    """code-server, and the extension built and installed into `base`/extensions."""
    binary = code_server_bin()
    log = install_extension(binary, base)
    installed = sorted(p.name for p in (base / "extensions").iterdir() if p.is_dir())
    assert any(name.startswith("codeforge.codeforge-") for name in installed), (installed, log[-4000:])
    return CodeServer(binary=binary, extensions=base / "extensions", install_log=log)


@contextmanager
def running_code_server(
    binary: Path,
    home: Path,
    folder: Path,
    env: Mapping[str, str],
    settings: Mapping[str, object],
    *,
    extensions: Path | None = None,
) -> Iterator[tuple[str, int]]:
    """code-server (the extension installed by `install_extension`, into `extensions` or
    `home`/extensions) serving `folder`; yields its URL and pid. Its output goes to
    `home`/code-server.log."""
    common, xdg = code_server_dirs(home, extensions)
    (home / "user-data" / "User" / "settings.json").write_text(json.dumps(settings, indent=2))
    env = {**env, **xdg}
    port = free_port()
    log = (home / "code-server.log").open("wb")
    process = subprocess.Popen(
        [
            str(binary),
            *common,
            "--auth",
            "none",
            "--bind-addr",
            f"127.0.0.1:{port}",
            "--disable-telemetry",
            "--disable-update-check",
            "--disable-workspace-trust",
            str(folder),
        ],
        cwd=home,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"code-server exited:\n{(home / 'code-server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("code-server did not answer /healthz within 60 s")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def keep_artifacts(home: Path, artifacts: Path, platform_log: Path | None) -> None:
    """After a failure: code-server's log, its log folder (the extension's output channel, the
    extension host) and the platform's log go beside the screenshots, where CI keeps them."""
    artifacts.mkdir(parents=True, exist_ok=True)
    if (home / "code-server.log").exists():
        shutil.copy2(home / "code-server.log", artifacts / "code-server.log")
    logs = home / "user-data" / "logs"
    if logs.is_dir():
        shutil.copytree(logs, artifacts / "code-server-logs", dirs_exist_ok=True)
    if platform_log is not None and platform_log.exists():
        shutil.copy2(platform_log, artifacts / "platform.log")


def extension_logs(home: Path) -> str:
    """The CodeForge output channel and the extension host log, for a failure message."""
    parts = []
    for pattern in ("**/CodeForge.log", "**/exthost.log"):
        for path in sorted((home / "user-data" / "logs").glob(pattern)):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}")
    return "\n".join(parts)


def node_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("CODEFORGE_")}


def editor_env(platform: RunningPlatform, *, codeforge_on_path: bool = False) -> dict[str, str]:
    """What an editor on the developer's machine has: the stored login of `codeforge up`
    (the platform's environment, no virtual environment), and with `codeforge_on_path`,
    `codeforge` on PATH."""
    env = {k: v for k, v in platform.env.items() if k != "VIRTUAL_ENV"}
    if codeforge_on_path:
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def journey_env(url: str, artifacts: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of an e2e/*.mjs journey: code-server's URL, where screenshots go, an
    empty Chromium profile of its own, and the journey's own variables."""
    return {
        **node_env(),
        "CODE_SERVER_URL": url,
        "ARTIFACTS_DIR": str(artifacts),
        "BROWSER_PROFILE": str(tmp_path / "chromium"),
        **extra,
    }


def finish_journey(report: str, returncode: int, home: Path, artifacts: Path) -> None:
    """The journey's report goes to journey.log beside its screenshots (one line per step); a
    journey that failed fails the test with its report and the extension's logs."""
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "journey.log").write_text(report)
    if returncode != 0:
        pytest.fail(f"journey failed:\n{report[-6000:]}\n{extension_logs(home)}")


def run_journey(
    script: str, env: Mapping[str, str], home: Path, artifacts: Path, *, timeout: float
) -> subprocess.CompletedProcess[str]:
    """`node e2e/SCRIPT` to its end; see `finish_journey`."""
    done = subprocess.run(
        ["node", f"e2e/{script}"],
        cwd=VSCODE,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    finish_journey(done.stdout + done.stderr, done.returncode, home, artifacts)
    return done


def passed_steps(output: str) -> list[str]:
    """The steps a journey reported done ("ok NAME ..." lines), in order."""
    return [line.split()[1] for line in output.splitlines() if line.startswith("ok ")]
