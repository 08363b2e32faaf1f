-- One Neovim of the collaboration journey (tests/extensions/test_collab_e2e.py): headless Neovim
-- 0.11 with the CodeForge plugin, listening on a socket, driven over RPC by
-- extensions/vscode/e2e/collab.mjs (`nvim --server SOCK --remote-expr "v:lua.CollabE2E.call(JSON)"`).
-- It connects through `codeforge connect BRIDGE` as the plugin does, and records what the server
-- sends about the session (state, presence) on top of the plugin's own handlers, so the journey
-- can see them. Environment: CODEFORGE_BIN, BRIDGE_URL, LOCAL_DIR, CODEFORGE_TOKEN_FOR_TEST.
local function env(name)
  local value = os.getenv(name)
  if not value or value == '' then
    error(name .. ' is not set: run this through tests/extensions/test_collab_e2e.py')
  end
  return value
end

local LOCAL = env('LOCAL_DIR')
local URL = env('BRIDGE_URL')

vim.g.codeforge = { cmd = { env('CODEFORGE_BIN'), 'lsp' }, token = env('CODEFORGE_TOKEN_FOR_TEST') }
vim.g.codeforge_autostart = false
vim.o.swapfile = false
vim.cmd('filetype on')
vim.cmd('runtime! plugin/codeforge.lua')
vim.cmd('cd ' .. vim.fn.fnameescape(LOCAL))

local M = {
  messages = {}, ---@type string[]
  state = nil, ---@type table|nil last codeforge/collab/state
  presence = {}, ---@type table<string, table> uri -> last codeforge/collab/presence
  comments = {}, ---@type table<string, table> uri -> last codeforge/collab/comments
  conflicts = {}, ---@type table[] every codeforge/collab/conflict
  notifications = {}, ---@type table<string, integer> how many of each kind arrived
  results = {}, ---@type table<integer, {done: boolean, result: any, err: any}>
}
_G.CollabE2E = M

vim.notify = function(msg, level)
  M.messages[#M.messages + 1] = ('[%s] %s'):format(level or vim.log.levels.INFO, msg)
end

-- Whatever the plugin does with the notifications (extmarks, statusline), they are recorded
-- first: the default handlers are the plugin's (plugin/codeforge.lua sets them).
for _, kind in ipairs({ 'state', 'presence', 'conflict', 'comments' }) do
  local method = 'codeforge/collab/' .. kind
  local plugin = vim.lsp.handlers[method]
  vim.lsp.handlers[method] = function(err, params, ctx, config)
    M.notifications[kind] = (M.notifications[kind] or 0) + 1
    if kind == 'state' then
      M.state = params
    elseif kind == 'presence' and params and params.uri then
      M.presence[params.uri] = params
    elseif kind == 'comments' and params and params.uri then
      M.comments[params.uri] = params
    elseif kind == 'conflict' then
      M.conflicts[#M.conflicts + 1] = params
    end
    if plugin then
      return plugin(err, params, ctx, config)
    end
  end
end

local function client()
  return require('codeforge.client').get()
end

local function buffer_of(name)
  local buf = vim.fn.bufnr(LOCAL .. '/' .. name)
  assert(buf > 0, name .. ' is not open')
  return buf
end

--- Connect to the bridge as a person would (`:CodeForge connect URL`), scheduled: connecting
--- waits for the server, and an RPC call must not.
function M.connect()
  vim.schedule(function()
    vim.cmd('edit codeforge.yaml')
    vim.cmd('CodeForge connect ' .. URL)
  end)
  return true
end

function M.status()
  local c = client()
  local failed
  for _, message in ipairs(M.messages) do
    if message:find(':CodeForge connect:', 1, true) then
      failed = message
    end
  end
  return {
    connected = require('codeforge.remote').connection == 'connected',
    error = failed,
    initialized = c ~= nil and c.initialized == true,
  }
end

--- Open a file of the folder and attach the codeforge client to it (didOpen).
function M.open(name)
  vim.cmd('edit ' .. vim.fn.fnameescape(LOCAL .. '/' .. name))
  local buf = vim.api.nvim_get_current_buf()
  local c = assert(client(), 'no codeforge client')
  vim.lsp.buf_attach_client(buf, c.id)
  return vim.uri_from_bufnr(buf)
end

--- Run a server command; returns an id whose result `M.result(id)` gives when it arrives.
local next_id = 0
function M.exec(command, argument)
  next_id = next_id + 1
  local id = next_id
  M.results[id] = { done = false }
  local c = assert(client(), 'no codeforge client')
  c:request('workspace/executeCommand', { command = command, arguments = { argument or vim.empty_dict() } }, function(err, result)
    M.results[id] = { done = true, result = result, err = err and (err.message or vim.inspect(err)) or nil }
  end, 0)
  return id
end

function M.state_of()
  return M.state
end

function M.result(id)
  return M.results[id]
end

--- The buffer's text as the file would hold it.
function M.text(name)
  local buf = buffer_of(name)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n') .. '\n'
end

--- Type at the end of a line (0-based), as insert mode would: one edit per character, so the
--- server gets a stream of small didChange events.
function M.type_at_end(name, line, text)
  local buf = buffer_of(name)
  for _, char in ipairs(vim.fn.split(text, '\\zs')) do
    local current = vim.api.nvim_buf_get_lines(buf, line, line + 1, true)[1]
    vim.api.nvim_buf_set_text(buf, line, #current, line, #current, { char })
  end
  return M.text(name)
end

--- Put the cursor on a line (0-based) at a character (0-based, in bytes of the line).
function M.cursor(name, line, col)
  local buf = buffer_of(name)
  vim.api.nvim_set_current_buf(buf)
  vim.api.nvim_win_set_cursor(0, { line + 1, col })
  -- What the plugin listens to: moving the cursor by hand fires CursorMoved.
  vim.api.nvim_exec_autocmds('CursorMoved', { buffer = buf, modeline = false })
  return true
end

--- Select `count` characters to the right of (line, col) in visual mode, as a person would
--- with `v` and `l` (the keys go through the input queue, so Neovim stays in visual mode).
function M.select(name, line, col, count)
  M.cursor(name, line, col)
  vim.api.nvim_input('v' .. string.rep('l', count - 1))
  return true
end

--- Back to normal mode.
function M.escape()
  vim.api.nvim_input('<Esc>')
  return true
end

--- Who this Neovim sees in a document: from the presence notifications, and from the plugin's
--- extmarks (every namespace: whatever the plugin draws with a name in its virtual text).
function M.seen(name)
  local buf = buffer_of(name)
  local uri = vim.uri_from_bufnr(buf)
  local people = {}
  for _, p in ipairs((M.presence[uri] or {}).participants or {}) do
    people[#people + 1] = { username = p.username, name = p.name, selections = p.selections }
  end
  local marks = {}
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(buf, -1, 0, -1, { details = true })) do
    local details = mark[4] or {}
    local text = {}
    for _, chunk in ipairs(details.virt_text or {}) do
      text[#text + 1] = chunk[1]
    end
    if #text > 0 or details.hl_group then
      marks[#marks + 1] = { line = mark[2], col = mark[3], text = table.concat(text), hl = details.hl_group }
    end
  end
  return { uri = uri, participants = people, extmarks = marks }
end

--- The comment threads of a document, as the server last sent them.
function M.threads(name)
  return (M.comments[vim.uri_from_bufnr(buffer_of(name))] or {}).threads or {}
end

--- The conflicts the server told of (ids and files).
function M.conflicts_seen()
  return vim.tbl_map(function(c)
    return { id = c.id, uri = c.uri }
  end, M.conflicts)
end

--- What Neovim told the person (vim.notify, which the server's window/showMessage goes to).
function M.said()
  return M.messages
end

--- Which file the current window shows (follow mode moves it).
function M.current()
  return vim.api.nvim_buf_get_name(0)
end

--- A call from the journey: JSON {fn, args} in, JSON {ok, value | error} out.
function M.call(request)
  local decoded = vim.json.decode(request)
  local ok, value = pcall(M[decoded.fn], unpack(decoded.args or {}))
  return vim.json.encode({ ok = ok, value = ok and value or nil, error = not ok and tostring(value) or nil })
end
