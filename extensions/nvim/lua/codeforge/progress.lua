--- $/progress of the codeforge server: shown in the command line (and kept for :CodeForge cancel).
local M = {}

M.active = {} ---@type table<string|integer, {title: string, message: string, percentage: integer|nil, client_id: integer}>
M.history = {} ---@type string[] every progress line shown, for :CodeForge logs and tests

--- Long-running commands waiting for their job's progress token, oldest first.
local expecting = {} ---@type {title: string, on_cancelled: fun(message: string)}[]
local linked = {} ---@type table<string|integer, fun(message: string)>

--- The server answers a cancelled job's command with error -32800 (RequestCancelled), which
--- Neovim's RPC layer swallows without calling back. So a waiting command is tied to the next
--- progress token with its title, and ended by that progress's "cancelled" end.
function M.expect(title, on_cancelled)
  local entry = { title = title, on_cancelled = on_cancelled }
  expecting[#expecting + 1] = entry
  return function()
    for i, e in ipairs(expecting) do
      if e == entry then
        table.remove(expecting, i)
      end
    end
    for token, fn in pairs(linked) do
      if fn == on_cancelled then
        linked[token] = nil
      end
    end
  end
end

local function show(text)
  text = require('codeforge.secrets').mask_url_passwords(text) -- a job's message may quote a URL
  M.history[#M.history + 1] = text
  require('codeforge.log').append('progress: ' .. text)
  vim.api.nvim_echo({ { 'CodeForge: ', 'Title' }, { text } }, false, {})
end

vim.api.nvim_create_autocmd('LspProgress', {
  group = vim.api.nvim_create_augroup('codeforge.progress', { clear = true }),
  callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    if not client or client.name ~= 'codeforge' then
      return
    end
    local token, value = ev.data.params.token, ev.data.params.value
    if type(value) ~= 'table' then
      return
    end
    local entry = M.active[token] or { title = '', message = '', client_id = client.id }
    if value.kind == 'begin' then
      entry.title = value.title or ''
      for i, e in ipairs(expecting) do
        if e.title == entry.title then
          linked[token] = e.on_cancelled
          table.remove(expecting, i)
          break
        end
      end
    end
    entry.message = value.message or entry.message
    entry.percentage = value.percentage or entry.percentage
    local pct = entry.percentage and (' %3d%%'):format(entry.percentage) or ''
    if value.kind == 'end' then
      M.active[token] = nil
      local on_cancelled = linked[token]
      linked[token] = nil
      if on_cancelled and (value.message or ''):match('^cancelled') then
        vim.schedule(function()
          on_cancelled(entry.title .. ': cancelled')
        end)
      end
      show(('%s: %s'):format(entry.title, value.message or 'done'))
    else
      M.active[token] = entry
      show(('%s%s %s%s'):format(entry.title, pct, entry.message, value.cancellable and '  (:CodeForge cancel)' or ''))
    end
  end,
})

--- Cancel the running jobs (all of them, or the one whose token is given).
---@return integer how many were cancelled
function M.cancel(token)
  local count = 0
  for t, entry in pairs(M.active) do
    if token == nil or t == token then
      local client = vim.lsp.get_client_by_id(entry.client_id)
      if client then
        client:notify('window/workDoneProgress/cancel', { token = t })
        count = count + 1
        show(entry.title .. ': cancelling')
      end
    end
  end
  return count
end

return M
