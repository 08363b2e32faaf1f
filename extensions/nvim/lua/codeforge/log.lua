--- Job logs and everything the language server logs (window/logMessage), kept in a scratch
--- buffer that :CodeForge logs opens. The log keeps history, so it never holds a URL's password.
local secrets = require('codeforge.secrets')

local M = {}

M.lines = {}
local MAX_LINES = 5000
local NAME = 'codeforge://logs'

local function buffer()
  local buf = vim.fn.bufnr('^' .. NAME .. '$')
  if buf == -1 then
    buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buf, NAME)
    vim.bo[buf].buftype = 'nofile'
    vim.bo[buf].bufhidden = 'hide'
    vim.bo[buf].swapfile = false
    vim.bo[buf].filetype = 'log'
  end
  return buf
end

function M.append(line)
  local stamp = os.date('%H:%M:%S')
  local new = {}
  for part in secrets.mask_url_passwords(tostring(line)):gmatch('[^\n]+') do
    new[#new + 1] = stamp .. ' ' .. part
  end
  vim.list_extend(M.lines, new)
  if #M.lines > MAX_LINES then
    M.lines = vim.list_slice(M.lines, #M.lines - MAX_LINES + 1)
  end
  local buf = vim.fn.bufnr('^' .. NAME .. '$')
  if buf ~= -1 then
    vim.api.nvim_buf_set_lines(buf, -1, -1, false, new)
  end
end

function M.on_log_message(_, params)
  M.append(params and params.message or '')
end

local LEVELS = { vim.log.levels.ERROR, vim.log.levels.WARN, vim.log.levels.INFO, vim.log.levels.DEBUG }

--- Server messages go through vim.notify (so notification plugins show them) and the log.
function M.on_show_message(_, params)
  local message = secrets.mask_url_passwords(params and params.message or '')
  M.append(message)
  -- Some of the server's messages name it already (those a VS Code notification shows alone).
  local shown = message:find('^CodeForge: ') and message or ('CodeForge: ' .. message)
  vim.notify(shown, LEVELS[params and params.type or 3] or vim.log.levels.INFO)
  return vim.NIL
end

function M.open()
  local buf = buffer()
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, M.lines)
  vim.cmd('botright split')
  vim.api.nvim_win_set_buf(0, buf)
  vim.api.nvim_win_set_cursor(0, { math.max(1, #M.lines), 0 })
  return buf
end

return M
