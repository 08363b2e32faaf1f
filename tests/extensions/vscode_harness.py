"""Building, installing and running the VS Code extension in a real code-server for tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port, require
from tests.extensions.conftest import EXTENSIONS, run_logged

__all__ = [
    "VSCODE",
    "code_server_bin",
    "ensure_npm_deps",
    "extension_logs",
    "install_extension",
    "keep_artifacts",
    "node_env",
    "running_code_server",
]

VSCODE = EXTENSIONS / "vscode"
INSTALL_SCRIPT = VSCODE / "scripts" / "install-code-server.sh"
# The one command users run (`make vscode`): build the extension and install it into an editor.
USER_INSTALL_SCRIPT = VSCODE / "scripts" / "install.sh"


def ensure_npm_deps() -> None:
    """node and the extension's pinned npm packages (npm ci from package-lock.json)."""
    require("node", shutil.which("node") is not None and shutil.which("npm") is not None, "node/npm not on PATH")
    if not (VSCODE / "node_modules" / ".package-lock.json").exists():
        run_logged(["npm", "ci", "--no-audit", "--no-fund"], cwd=VSCODE)


def code_server_dirs(home: Path) -> tuple[list[str], dict[str, str]]:
    """code-server's options and environment that keep everything it writes under `home`."""
    user, extensions, xdg = home / "user-data", home / "extensions", home / "xdg"
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


@contextmanager
def running_code_server(
    binary: Path, home: Path, folder: Path, env: dict[str, str], settings: dict[str, object]
) -> Iterator[tuple[str, int]]:
    """code-server (the extension installed by `install_extension`) serving `folder`; yields
    its URL and pid. Its output goes to `home`/code-server.log."""
    common, xdg = code_server_dirs(home)
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
