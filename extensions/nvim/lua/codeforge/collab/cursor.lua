--- Our cursor, selection and visible lines to the server (`codeforge/collab/cursor`), in the
--- client's offset encoding, while we are in a session. Moves are coalesced: at most one
--- notification per `M.delay` ms, carrying where the cursor is when it goes out.
local positions = require('codeforge.collab.positions')

local M = {}

M.delay = 50 -- ms
M.sent = 0 -- notifications sent (:checkhealth, tests)
local GROUP = 'codeforge.collab.cursor'
local timer = nil ---@type uv.uv_timer_t|nil
local pending_win = nil ---@type integer|nil
local last = nil ---@type string|nil the last notification, encoded: a repeat is not sent again

local VISUAL = { v = 'char', V = 'line', ['\22'] = 'block' }

--- The codeforge client serving `buf`, if any.
local function client_for(buf)
  local client = require('codeforge.client').get()
  if client and client.attached_buffers and client.attached_buffers[buf] then
    return client
  end
end

--- {anchor, head} of the window's cursor (and visual selection), as LSP positions.
function M.selection(win, encoding)
  win = win == 0 and vim.api.nvim_get_current_win() or win
  local buf = vim.api.nvim_win_get_buf(win)
  local cursor = vim.api.nvim_win_get_cursor(win)
  local h_row, h_col = cursor[1] - 1, cursor[2]
  local a_row, a_col = h_row, h_col
  local kind = win == vim.api.nvim_get_current_win() and VISUAL[vim.fn.mode():sub(1, 1)] or nil
  if kind then
    local v = vim.fn.getpos('v')
    a_row, a_col = v[2] - 1, v[3] - 1
    if kind == 'line' then
      -- Whole lines: from the start of the first to the end of the last, in the direction
      -- the person selected.
      local forward = a_row <= h_row
      local last_row = forward and h_row or a_row
      local last_len = #(vim.api.nvim_buf_get_lines(buf, last_row, last_row + 1, false)[1] or '')
      if forward then
        a_col, h_col = 0, last_len
      else
        a_col, h_col = last_len, 0
      end
    else
      -- Visual mode includes the character under the cursor: the range ends after it.
      local forward = a_row < h_row or (a_row == h_row and a_col <= h_col)
      local row, col = forward and h_row or a_row, forward and h_col or a_col
      local line = vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
      if col < #line then
        local after = vim.str_byteindex(line, 'utf-32', vim.str_utfindex(line, 'utf-32', col, false) + 1, false)
        if forward then
          h_col = after
        else
          a_col = after
        end
      end
    end
  end
  return { anchor = positions.to_lsp(buf, a_row, a_col, encoding), head = positions.to_lsp(buf, h_row, h_col, encoding) }
end

--- The notification for window `win`, or nil when its buffer is not the server's.
function M.params(win)
  win = win == 0 and vim.api.nvim_get_current_win() or win
  if not vim.api.nvim_win_is_valid(win) then
    return nil
  end
  local buf = vim.api.nvim_win_get_buf(win)
  local client = client_for(buf)
  if not client then
    return nil
  end
  local encoding = client.offset_encoding or 'utf-16'
  local first, last_line = vim.fn.line('w0', win) - 1, vim.fn.line('w$', win) - 1
  local last_text = vim.api.nvim_buf_get_lines(buf, last_line, last_line + 1, false)[1] or ''
  local params = {
    uri = vim.uri_from_bufnr(buf),
    selections = { M.selection(win, encoding) },
    visibleRange = {
      start = { line = first, character = 0 },
      ['end'] = { line = last_line, character = vim.str_utfindex(last_text, encoding, #last_text, false) },
    },
  }
  return params, client
end

--- Send where the cursor of `win` (default: the current window) is now, unless unchanged.
function M.send(win)
  local params, client = M.params(win or vim.api.nvim_get_current_win())
  if not params or not client then
    return false
  end
  local encoded = vim.json.encode(params)
  if encoded == last then
    return false
  end
  last = encoded
  M.sent = M.sent + 1
  return client:notify('codeforge/collab/cursor', params)
end

--- A move: sent within `M.delay` ms, with the position it has then.
function M.schedule()
  pending_win = vim.api.nvim_get_current_win()
  if timer and timer:is_active() then
    return
  end
  timer = timer or vim.uv.new_timer()
  timer:start(M.delay, 0, function()
    vim.schedule(function()
      local win = pending_win
      pending_win = nil
      if win and vim.api.nvim_win_is_valid(win) then
        M.send(win)
      end
    end)
  end)
end

--- Follow the cursor from now on (we are in a session).
function M.start()
  local group = vim.api.nvim_create_augroup(GROUP, { clear = true })
  vim.api.nvim_create_autocmd({ 'CursorMoved', 'CursorMovedI', 'ModeChanged', 'WinScrolled', 'BufEnter' }, {
    group = group,
    callback = M.schedule,
    desc = 'CodeForge: send the cursor to the collaboration session',
  })
  last = nil
  M.schedule()
end

function M.stop()
  pcall(vim.api.nvim_del_augroup_by_name, GROUP)
  if timer then
    timer:stop()
  end
  pending_win, last = nil, nil
end

function M.active()
  local ok, autocmds = pcall(vim.api.nvim_get_autocmds, { group = GROUP, event = 'CursorMoved' })
  return ok and #autocmds > 0
end

return M
