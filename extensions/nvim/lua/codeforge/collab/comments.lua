--- Review comments (`codeforge/collab/comments {uri, threads}`): one extmark per thread at its
--- line with "💬 author: first line (n) ✓" as virtual text, and a float with the whole thread
--- (reply, resolve, reopen from there). The marks move with edits made here; the server sends
--- each thread's current line after edits from anywhere (its anchors are CRDT positions), and
--- that replaces them.
local positions = require('codeforge.collab.positions')

local M = {}

M.ns = vim.api.nvim_create_namespace('codeforge.collab.comments')
M.by_uri = {} ---@type table<string, table[]> threads per document, as last sent
M.marks = {} ---@type table<integer, table<integer, table>> buffer -> extmark id -> thread

local function text(value)
  return (value ~= nil and value ~= vim.NIL) and tostring(value) or nil
end

local function define_groups()
  vim.api.nvim_set_hl(0, 'CodeForgeCollabComment', { link = 'DiagnosticInfo', default = true })
  vim.api.nvim_set_hl(0, 'CodeForgeCollabCommentResolved', { link = 'Comment', default = true })
end

--- "💬 ana: first line of the first comment (3) ✓ resolved"
function M.summary(thread)
  local comments = type(thread.comments) == 'table' and thread.comments or {}
  local first = comments[1] or {}
  local body = vim.split(text(first.body) or '', '\n', { plain = true })[1]
  if vim.fn.strchars(body) > 60 then
    body = vim.fn.strcharpart(body, 0, 59) .. '…'
  end
  local out = ('💬 %s: %s'):format(text(first.author) or '?', body)
  if #comments > 1 then
    out = out .. (' (%d)'):format(#comments)
  end
  if text(thread.state) == 'resolved' then
    out = out .. ' ✓ resolved'
  end
  if thread.detached == true then
    -- The text it was on is gone: it stays at its last line, and says so.
    out = out .. ' ⚠ ' .. (text(thread.note) or 'its text was removed')
  end
  return out
end

function M.render(buf, uri)
  define_groups()
  vim.api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
  M.marks[buf] = {}
  local count = vim.api.nvim_buf_line_count(buf)
  for _, thread in ipairs(M.by_uri[uri] or {}) do
    local line = tonumber(thread.line)
    if line then
      local row = math.max(0, math.min(line, count - 1))
      local resolved = text(thread.state) == 'resolved'
      local id = vim.api.nvim_buf_set_extmark(buf, M.ns, row, 0, {
        virt_text = { { M.summary(thread), resolved and 'CodeForgeCollabCommentResolved' or 'CodeForgeCollabComment' } },
        virt_text_pos = 'eol',
        priority = 120,
        strict = false,
      })
      M.marks[buf][id] = thread
    end
  end
end

--- `codeforge/collab/comments {uri, threads}`.
function M.on_comments(params)
  if type(params) ~= 'table' or type(params.uri) ~= 'string' then
    return
  end
  local threads = {}
  for _, thread in ipairs(type(params.threads) == 'table' and params.threads or {}) do
    if type(thread) == 'table' and text(thread.id) then
      threads[#threads + 1] = thread
    end
  end
  M.by_uri[params.uri] = threads
  local buf = positions.buffer_of(params.uri)
  if buf then
    M.render(buf, params.uri)
  end
end

function M.on_buffer(buf)
  local uri = vim.uri_from_bufnr(buf)
  if M.by_uri[uri] then
    M.render(buf, uri)
  end
end

--- A thread this editor changed (comment, reply, resolve, reopen): shown at once, without
--- waiting for the server's next notification.
function M.update(uri, thread)
  if type(thread) ~= 'table' or not text(thread.id) then
    return
  end
  local threads = M.by_uri[uri] or {}
  local replaced = false
  for i, t in ipairs(threads) do
    if text(t.id) == text(thread.id) then
      -- A thread already shown keeps its line: the server's notifications own lines (an
      -- answer can be older than the last of them, and a line from the platform lags).
      threads[i] = vim.tbl_extend('force', t, thread, { line = t.line })
      replaced = true
    end
  end
  if not replaced then
    threads[#threads + 1] = thread
  end
  M.by_uri[uri] = threads
  local buf = positions.buffer_of(uri)
  if buf then
    M.render(buf, uri)
  end
end

--- The threads drawn in `buf` with the rows their marks are at now: {thread, row}.
function M.threads(buf)
  buf = buf == 0 and vim.api.nvim_get_current_buf() or buf
  local out = {}
  local marks = M.marks[buf] or {}
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(buf, M.ns, 0, -1, {})) do
    if marks[mark[1]] then
      out[#out + 1] = { thread = marks[mark[1]], row = mark[2] }
    end
  end
  return out
end

--- The threads at row `row` (0-based) of `buf`.
function M.at(buf, row)
  return vim.tbl_map(
    function(t)
      return t.thread
    end,
    vim.tbl_filter(function(t)
      return t.row == row
    end, M.threads(buf))
  )
end

--- Find a thread by id in every document we know: thread, uri.
function M.find(id)
  for uri, threads in pairs(M.by_uri) do
    for _, t in ipairs(threads) do
      if text(t.id) == tostring(id) then
        return t, uri
      end
    end
  end
end

--- The lines of the thread float.
function M.lines(thread)
  local lines = {
    ('Thread %s · %s%s'):format(text(thread.id), text(thread.state) or 'open', text(thread.review) and (' · review ' .. text(thread.review)) or ''),
  }
  for _, c in ipairs(type(thread.comments) == 'table' and thread.comments or {}) do
    lines[#lines + 1] = ''
    -- (createdAt in notifications, created_at in a command's answer: the platform's thread)
    local at = text(c.createdAt) or text(c.created_at)
    lines[#lines + 1] = ('%s%s:'):format(text(c.author) or '?', at and (' · ' .. at) or '')
    for _, l in ipairs(vim.split(text(c.body) or '', '\n', { plain = true })) do
      lines[#lines + 1] = '  ' .. l
    end
  end
  lines[#lines + 1] = ''
  lines[#lines + 1] = text(thread.state) == 'resolved' and 'r reply · o reopen · q close' or 'r reply · x resolve · q close'
  return lines
end

M.float_win = nil ---@type integer|nil

--- Show `thread` in a float; keys run the thread's commands (`run(name, thread)`).
function M.show(thread, run)
  local lines = M.lines(thread)
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].filetype = 'markdown'
  vim.b[buf].codeforge_thread = text(thread.id)
  local width = 20
  for _, l in ipairs(lines) do
    width = math.max(width, vim.fn.strdisplaywidth(l))
  end
  if M.float_win and vim.api.nvim_win_is_valid(M.float_win) then
    vim.api.nvim_win_close(M.float_win, true)
  end
  M.float_win = vim.api.nvim_open_win(buf, true, {
    relative = 'cursor',
    row = 1,
    col = 0,
    width = math.min(width + 2, math.max(20, vim.o.columns - 4)),
    height = math.min(#lines, math.max(3, vim.o.lines - 6)),
    border = 'rounded',
    title = ' comment thread ',
    style = 'minimal',
  })
  local function close()
    if vim.api.nvim_win_is_valid(M.float_win or -1) then
      vim.api.nvim_win_close(M.float_win, true)
    end
  end
  local function key(lhs, name, desc)
    vim.keymap.set('n', lhs, function()
      close()
      run(name, thread)
    end, { buffer = buf, nowait = true, desc = desc })
  end
  key('r', 'reply', 'CodeForge: reply to this thread')
  key('x', 'resolve', 'CodeForge: resolve this thread')
  key('o', 'reopen', 'CodeForge: reopen this thread')
  vim.keymap.set('n', 'q', close, { buffer = buf, nowait = true })
  vim.keymap.set('n', '<Esc>', close, { buffer = buf, nowait = true })
  return M.float_win, buf
end

--- Out of every document: nothing shown (used by tests and when the server restarts).
function M.clear()
  for buf in pairs(M.marks) do
    if vim.api.nvim_buf_is_valid(buf) then
      vim.api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
    end
  end
  M.by_uri, M.marks = {}, {}
end

return M
