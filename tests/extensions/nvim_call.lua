-- One Neovim of the call test (tests/extensions/test_nvim_call.py): the collaboration agent
-- (collab_nvim.lua: connect, run server commands, what was said) plus what the call needs:
-- `:CodeForge …` typed as a person would, the call state and job the plugin keeps, and the
-- lines of the floats it showed (the participant lists).
dofile(vim.fs.joinpath(vim.fs.dirname(debug.getinfo(1, 'S').source:sub(2)), 'collab_nvim.lua'))
local M = _G.CollabE2E

M.floats = {} ---@type table<string, string[]> title -> the lines last shown
local ui = require('codeforge.ui')
local float = ui.float
ui.float = function(title, lines, ...)
  M.floats[title] = vim.deepcopy(lines)
  return float(title, lines, ...)
end

--- `:CodeForge <cmdline>`, scheduled (a command may wait on the server; the RPC must not).
function M.run(cmdline)
  vim.schedule(function()
    vim.cmd('CodeForge ' .. cmdline)
  end)
  return true
end

function M.call_state()
  return require('codeforge.call').state
end

function M.call_job()
  local job = require('codeforge.call').job
  return job and { session = job.session, pid = job.pid, tail = job.tail } or nil
end

function M.float(title)
  return M.floats[title]
end
