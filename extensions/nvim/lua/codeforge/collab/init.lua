--- Collaboration in Neovim: the session state the server pushes (`codeforge/collab/state`),
--- the notifications it sends (presence, conflicts, comments), our cursor going out, and a
--- statusline component. The `:CodeForge collab …` commands are in `session.lua`.
---
--- The server is the codeforge language server (through `codeforge connect` for a remote
--- workspace); every command is `workspace/executeCommand` `codeforge.collab.<name>` with one
--- object argument (docs/collab.md, "Language-server protocol (editors)").
local M = {}

M.state = nil ---@type table|nil the last `codeforge/collab/state` with a session; nil outside one
M.me = nil ---@type string|nil our username once known (codeforge/status)

local function notify(message, level)
  vim.notify('CodeForge: ' .. message, level or vim.log.levels.INFO)
end
M.notify = notify

local function text(value)
  return (value ~= nil and value ~= vim.NIL) and tostring(value) or nil
end
M.text = text

--- A participant's display name: "Ana Ruiz (ana)", or the username alone.
function M.display(p)
  local name, username = text(p.name), text(p.username) or '?'
  if name and name ~= username then
    return ('%s (%s)'):format(name, username)
  end
  return username
end

--- Run the server command `command` (e.g. `codeforge.call.mute`). Inside a coroutine. Only the
--- command and its field names are logged (an invitation's token, an offer's SDP are arguments
--- and results); an error's text is logged with URL passwords masked.
---@return any result, table|nil err
function M.run(command, args)
  local client_mod = require('codeforge.client')
  local client, err = client_mod.ensure()
  if not client then
    return nil, { message = err }
  end
  local log = require('codeforge.log')
  local fields = vim.tbl_keys(type(args) == 'table' and args or {})
  table.sort(fields)
  log.append(('▶ %s {%s}'):format(command, table.concat(fields, ', ')))
  local result, rerr = client_mod.request(client, 'workspace/executeCommand', {
    command = command,
    arguments = { require('codeforge').arguments(args) },
  })
  if rerr then
    log.append(('✖ %s: %s'):format(command, require('codeforge.secrets').mask_url_passwords(tostring(rerr.message))))
  else
    log.append('✔ ' .. command)
  end
  return result, rerr
end

--- Run `codeforge.collab.<name>`. Inside a coroutine.
---@return any result, table|nil err
function M.execute(name, args)
  return M.run('codeforge.collab.' .. name, args)
end

--- Our username, from codeforge/status (asked once). Inside a coroutine.
function M.whoami()
  if M.me then
    return M.me
  end
  local client = require('codeforge.client').get()
  if client then
    local result = require('codeforge.client').request(client, 'codeforge/status', vim.empty_dict())
    M.me = result and text(result.username) or nil
  end
  return M.me
end

local function by_username(list)
  local out = {}
  for _, p in ipairs(type(list) == 'table' and list or {}) do
    if type(p) == 'table' and text(p.username) then
      out[p.username] = p
    end
  end
  return out
end

--- What changed between two states, as sentences for vim.notify.
local function changes(before, after)
  local said = {}
  if not before then
    said[#said + 1] = ('in collaboration session %s as %s (%s mode)'):format(text(after.title) or text(after.session), text(after.role) or '?', text(after.mode) or 'free')
    return said
  end
  local old, new = by_username(before.participants), by_username(after.participants)
  for username, p in pairs(new) do
    if not old[username] then
      said[#said + 1] = M.display(p) .. ' joined'
    elseif text(old[username].role) ~= text(p.role) then
      said[#said + 1] = ('%s is now %s'):format(M.display(p), text(p.role) or '?')
    end
  end
  for username, p in pairs(old) do
    if not new[username] then
      said[#said + 1] = M.display(p) .. ' left'
    end
  end
  if text(before.role) ~= text(after.role) then
    said[#said + 1] = 'you are now ' .. (text(after.role) or '?')
  end
  if text(before.mode) ~= text(after.mode) then
    said[#said + 1] = 'the session is now in ' .. (text(after.mode) or '?') .. ' mode'
  end
  if text(before.driver) ~= text(after.driver) and text(after.driver) then
    said[#said + 1] = 'the driver is now ' .. text(after.driver)
  end
  -- Following changes are said by :CodeForge collab follow / unfollow; one the server makes
  -- (the followed person left) is said by "… left".
  table.sort(said)
  return said
end

--- `codeforge/collab/state`.
function M.on_state(params)
  if type(params) ~= 'table' then
    return
  end
  local before = M.state
  local cursor = require('codeforge.collab.cursor')
  if text(params.session) == nil then
    M.state = nil
    cursor.stop()
    require('codeforge.collab.presence').clear()
    if before then
      notify('the collaboration session ' .. (text(before.title) or text(before.session) or '') .. ' is over')
    end
  else
    M.state = params
    if not before or text(before.session) ~= text(params.session) then
      cursor.start()
    end
    local said = changes(before and text(before.session) == text(params.session) and before or nil, params)
    if #said > 0 then
      notify(table.concat(said, '; '))
    end
  end
  pcall(vim.cmd.redrawstatus)
  vim.api.nvim_exec_autocmds('User', { pattern = 'CodeForgeCollab', modeline = false })
end

local function encoding_of(ctx)
  local client = ctx and ctx.client_id and vim.lsp.get_client_by_id(ctx.client_id)
  return client and client.offset_encoding or 'utf-16'
end

--- The handler of every `codeforge/collab/*` notification (registered by plugin/codeforge.lua).
function M.handle(kind, params, ctx)
  if kind == 'state' then
    M.on_state(params)
  elseif kind == 'presence' then
    require('codeforge.collab.presence').on_presence(params, encoding_of(ctx))
  elseif kind == 'conflict' then
    require('codeforge.collab.conflict').on_conflict(params)
  elseif kind == 'comments' then
    require('codeforge.collab.comments').on_comments(params, encoding_of(ctx))
  end
end

--- For the statusline: '' outside a session, else e.g.
--- "collab: navigator · pair, ana drives · following ana · 3 people".
function M.status()
  local s = M.state
  if not s then
    return ''
  end
  local parts = { 'collab: ' .. (text(s.role) or '?') }
  if text(s.mode) == 'pair' then
    parts[#parts + 1] = 'pair, ' .. (text(s.driver) or '?') .. ' drives'
  end
  if s.mayEdit == false then
    parts[#parts + 1] = 'read-only'
  end
  if text(s.following) then
    parts[#parts + 1] = 'following ' .. text(s.following)
  end
  local n = type(s.participants) == 'table' and #s.participants or 0
  parts[#parts + 1] = n == 1 and '1 person' or (n .. ' people')
  local call = require('codeforge.call').status()
  if call ~= '' then
    parts[#parts + 1] = call
  end
  local conflicts = vim.tbl_count(require('codeforge.collab.conflict').pending)
  if conflicts > 0 then
    parts[#parts + 1] = conflicts .. ' conflict' .. (conflicts > 1 and 's' or '')
  end
  return table.concat(parts, ' · ')
end

--- :checkhealth codeforge: the session, what is shown and sent.
function M.check_health()
  local health = vim.health
  health.start('Collaboration')
  local s = M.state
  if not s then
    health.info('not in a collaboration session (:CodeForge collab start, or join LINK; needs :CodeForge connect)')
    return
  end
  health.ok(('session %s (%s): %s'):format(text(s.title) or text(s.session), text(s.session), M.status()))
  local cursor = require('codeforge.collab.cursor')
  if cursor.active() then
    health.ok(('your cursor goes to the server (%d reports so far)'):format(cursor.sent))
  else
    health.warn('your cursor is not being sent', { 'Run :CodeForge collab leave, then join again' })
  end
  local shown = vim.tbl_count(require('codeforge.collab.presence').by_uri)
  health.info(('others\' cursors known in %d file(s)'):format(shown))
  local conflicts = vim.tbl_count(require('codeforge.collab.conflict').pending)
  if conflicts > 0 then
    health.warn(('%d conflict(s) wait for a choice'):format(conflicts), { ':CodeForge collab conflicts' })
  end
end

-- Buffers opened after a notification for them arrived get its marks.
vim.api.nvim_create_autocmd({ 'BufReadPost', 'BufWinEnter' }, {
  group = vim.api.nvim_create_augroup('codeforge.collab', { clear = true }),
  callback = function(ev)
    require('codeforge.collab.presence').on_buffer(ev.buf)
    require('codeforge.collab.comments').on_buffer(ev.buf)
  end,
})

return M
