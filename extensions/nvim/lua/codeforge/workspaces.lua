--- Workspaces in Neovim (docs/workspaces.md, "Editors").
---
--- `:CodeForge workspaces {list,create,clone,snapshot,restore,switch,delete,start,stop,logs}`
--- with positional words for what each needs (`clone SOURCE NAME`, `restore SNAPSHOT [WORKSPACE]`)
--- and `field=value` for the rest (`create NAME template=python runtime=local`). What is not
--- given is asked: a workspace or snapshot is chosen from the project's (workspaces.list,
--- workspaces.snapshots), anything else is prompted by the catalog's rules (codeforge.prompt),
--- and destructive operations are confirmed, as for any `:CodeForge` operation (run_op).
--- `list` shows the workspaces (state, runtime, ports) each with its snapshots, newest first.
--- `:CodeForge workspaces` alone asks which subcommand. The catalog's other workspaces
--- operations (show, snapshots, delete_snapshot, templates, pool, connect) are the generic
--- `:CodeForge workspaces VERB`.
---
--- `switch NAME` asks workspaces.connect for the workspace's bridge and reconnects through
--- `:CodeForge connect`'s client (codeforge.remote.connect): the language server, proxied
--- servers, terminals and ports then go to that workspace; open buffers stay.
---
--- Secrets: `create` never takes or asks for `env` (a workspace's variables may be database
--- URLs or tokens, and the catalog does not mark them secret, so prompts, the command history
--- and :CodeForge logs would keep them); errors go through report_error, which masks URL
--- passwords; the bridge URL is refused when it carries a token (remote.parse_url).
local M = {}

M.SUBCOMMANDS = {
  list = 'List the project\'s workspaces and their snapshots',
  create = 'Create a workspace: create NAME [template=T] [runtime=R] [folder=F]',
  clone = 'Clone a workspace or snapshot: clone SOURCE NAME',
  snapshot = 'Snapshot a workspace: snapshot WORKSPACE [SNAPSHOT]',
  restore = 'Restore a snapshot: restore SNAPSHOT [WORKSPACE]',
  switch = 'Work in another workspace (reconnects through its bridge): switch WORKSPACE',
  delete = 'Delete a workspace: delete WORKSPACE [keep_databases=true]',
  start = 'Start a workspace: start WORKSPACE',
  stop = 'Stop a workspace: stop WORKSPACE',
  logs = 'Show a workspace\'s logs: logs WORKSPACE [SERVICE] [tail=N]',
}

--- The catalog operation each subcommand runs.
M.OPS = {
  list = 'workspaces.list',
  create = 'workspaces.create',
  clone = 'workspaces.clone',
  snapshot = 'workspaces.snapshot',
  restore = 'workspaces.restore',
  switch = 'workspaces.connect',
  delete = 'workspaces.delete',
  start = 'workspaces.start',
  stop = 'workspaces.stop',
  logs = 'workspaces.logs',
}

--- Positional words, in order: the field each fills and where its values come from
--- ('workspaces', 'snapshots', or 'sources': both).
M.POSITIONAL = {
  list = {},
  create = { { field = 'name' } },
  clone = { { field = 'source', values = 'sources' }, { field = 'name' } },
  snapshot = { { field = 'name', values = 'workspaces' }, { field = 'snapshot' } },
  restore = { { field = 'snapshot', values = 'snapshots' }, { field = 'name', values = 'workspaces' } },
  switch = { { field = 'name', values = 'workspaces' } },
  delete = { { field = 'name', values = 'workspaces' } },
  start = { { field = 'name', values = 'workspaces' } },
  stop = { { field = 'name', values = 'workspaces' } },
  logs = { { field = 'name', values = 'workspaces' }, { field = 'service' } },
}

--- Fields never taken here (see the header).
M.HIDDEN = { env = true }

M.COMPLETION_TIMEOUT_MS = 1500

--- Fields that hold a workspace's or snapshot's name (the catalog's WORKSPACE_NAME_PATTERN).
M.NAME_FIELDS = { name = true, source = true, snapshot = true }
M.NAME_RULE = "a-z, 0-9 and '-', starting with a letter, at most 30"

function M.is_name(text)
  return type(text) == 'string' and #text <= 30 and text:match('^[a-z][a-z0-9-]*$') ~= nil
end

local function notify(message, level)
  vim.notify('CodeForge: ' .. message, level or vim.log.levels.INFO)
end

--- Whether a word after `:CodeForge workspaces` is this module's (nil: no subcommand yet).
function M.owns(word)
  return word == nil or M.SUBCOMMANDS[word] ~= nil
end

function M.subcommands()
  local out = vim.tbl_keys(M.SUBCOMMANDS)
  table.sort(out)
  return out
end

local function usage(sub)
  local words = vim.tbl_map(function(slot)
    return slot.field:upper()
  end, M.POSITIONAL[sub] or {})
  return (':CodeForge workspaces %s%s'):format(sub, #words > 0 and (' ' .. table.concat(words, ' ')) or '')
end

--- The operation without the fields this module never takes.
function M.without_hidden(op)
  local copy = vim.deepcopy(op)
  copy.input_fields = vim.tbl_filter(function(f)
    return not M.HIDDEN[f.name]
  end, op.input_fields or {})
  return copy
end

--- The command line's words after the subcommand, as the operation's arguments: positional
--- words fill M.POSITIONAL's fields in order, `field=value` any field; each value is checked by
--- the field's rules. Returns the arguments, or nil and what is wrong and what to type.
---@return table|nil given, string|nil error
function M.parse(sub, words, op)
  local schema = require('codeforge.schema')
  local fields, names = {}, {}
  for _, f in ipairs(schema.prompt_fields(op)) do
    if not M.HIDDEN[f.name] then
      fields[f.name] = f
      names[#names + 1] = f.name
    end
  end
  table.sort(names)
  local given, slots, next_slot = {}, M.POSITIONAL[sub] or {}, 1
  for _, word in ipairs(words) do
    local key, text = word:match('^([%a_][%w_]*)=(.*)$')
    local field
    if key then
      if M.HIDDEN[key] then
        return nil, ('%s is not taken here: its values may be secrets, which the command history would keep. Create the workspace, then set its variables with the env operations'):format(key)
      end
      field = fields[key]
      if not field then
        return nil, ('"%s" is not a field of %s: use one of %s (%s)'):format(key, op.name, table.concat(names, ', '), usage(sub))
      end
    else
      -- Skip slots already given as field=value.
      while slots[next_slot] and given[slots[next_slot].field] ~= nil do
        next_slot = next_slot + 1
      end
      local slot = slots[next_slot]
      if not slot then
        return nil, ('too many words at "%s": %s [field=value ...]'):format(word, usage(sub))
      end
      next_slot = next_slot + 1
      field, text = fields[slot.field], word
      if not field then
        return nil, ('%s has no field %s: the platform is older or newer than this plugin'):format(op.name, slot.field)
      end
    end
    if given[field.name] ~= nil then
      return nil, ('%s is given twice (%s)'):format(field.name, usage(sub))
    end
    local value, omit, err = schema.parse_text(field, text)
    if err then
      return nil, err
    end
    -- Checked here too: the optional names' patterns (`^(?:…)?$`) are not Vim regexes.
    if M.NAME_FIELDS[field.name] and type(value) == 'string' and not M.is_name(value) then
      return nil, ('%s: "%s" is not a workspace or snapshot name (%s)'):format(field.name, value, M.NAME_RULE)
    end
    if not omit then
      given[field.name] = value
    end
  end
  return given
end

local function find(client, name)
  for _, op in ipairs(require('codeforge.client').catalog(client)) do
    if op.name == name then
      return op
    end
  end
end

--- The rows of a list operation, synchronously (completion) or from a coroutine.
local function items(client, op_name, timeout)
  local op = client and find(client, op_name)
  if not op then
    return nil, ('the platform has no %s: upgrade it (codeforge up)'):format(op_name)
  end
  local params = { command = op.command, arguments = { vim.empty_dict() } }
  local result, err
  if timeout then
    local response = client:request_sync('workspace/executeCommand', params, timeout, 0)
    result, err = response and response.result, response and response.err or (response == nil and { message = 'timed out' })
  else
    result, err = require('codeforge.client').request(client, 'workspace/executeCommand', params)
  end
  if err then
    return nil, err
  end
  return type(result) == 'table' and type(result.items) == 'table' and result.items or {}
end

--- The names a positional slot offers: {name, detail} of workspaces, snapshots or both.
---@return {name: string, detail: string}[]|nil, string|table|nil error
function M.candidates(client, values, timeout)
  local out = {}
  if values == 'workspaces' or values == 'sources' then
    local list, err = items(client, 'workspaces.list', timeout)
    if not list then
      return nil, err
    end
    for _, w in ipairs(list) do
      if type(w.name) == 'string' then
        out[#out + 1] = { name = w.name, detail = ('workspace · %s · %s'):format(tostring(w.state or '?'), tostring(w.runtime or '?')) }
      end
    end
  end
  if values == 'snapshots' or values == 'sources' then
    local list, err = items(client, 'workspaces.snapshots', timeout)
    if not list then
      return nil, err
    end
    for _, s in ipairs(list) do
      if type(s.name) == 'string' then
        local of = type(s.workspace) == 'string' and ('of ' .. s.workspace) or '(its workspace is deleted)'
        out[#out + 1] = { name = s.name, detail = ('snapshot %s · %s'):format(of, tostring(s.created_at or '')) }
      end
    end
  end
  return out
end

local WHAT = { workspaces = 'workspace', snapshots = 'snapshot', sources = 'workspace or snapshot' }

--- Choose a workspace/snapshot from the project's; nil and why (nil error: cancelled).
local function pick(client, slot, title)
  local list, err = M.candidates(client, slot.values)
  if not list then
    return nil, err
  end
  if #list == 0 then
    return nil, ('the project has no %s yet: :CodeForge workspaces create NAME'):format(WHAT[slot.values])
  end
  local choice = require('codeforge.async').await(vim.ui.select, list, {
    prompt = ('%s: which %s?'):format(title, WHAT[slot.values]),
    format_item = function(c)
      return ('%-30s %s'):format(c.name, c.detail)
    end,
    kind = 'codeforge.workspace',
  })
  return choice and choice.name or nil
end

--- workspaces.connect, then `:CodeForge connect`'s client to the bridge it names.
local function switch(client, op, given)
  local codeforge = require('codeforge')
  local log = require('codeforge.log')
  local remote = require('codeforge.remote')
  log.append(('▶ %s %s'):format(op.name, vim.json.encode(given)))
  local result, err = require('codeforge.client').request(client, 'workspace/executeCommand', { command = op.command, arguments = { codeforge.arguments(given) } })
  if err then
    return codeforge.report_error(op.title, err)
  end
  local url, uerr = remote.parse_url(type(result) == 'table' and result.bridge_url or nil)
  if not url then
    return codeforge.report_error(op.title, 'the platform\'s bridge URL for ' .. given.name .. ' is not usable: ' .. uerr)
  end
  log.append(('✔ %s: bridge %s'):format(op.name, url))
  if remote.url == url then
    notify(('already in workspace %s (%s)'):format(given.name, url))
    return result
  end
  local connected, cerr = remote.connect(url)
  if not connected then
    return codeforge.report_error(':CodeForge workspaces switch ' .. given.name, cerr)
  end
  codeforge.register_commands(connected)
  M.current = given.name
  notify(('switched to workspace %s (%s)'):format(given.name, url))
  return result
end

M.current = nil ---@type string|nil the workspace last switched to

local function str(v)
  return (type(v) == 'string' or type(v) == 'number') and require('codeforge.secrets').mask_url_passwords(tostring(v)) or ''
end

--- The lines `list` shows: each workspace (state, runtime, ports, the one switched to marked)
--- with its snapshots under it, newest first; then snapshots whose workspace is deleted.
function M.list_lines(workspaces, snapshots)
  local by_workspace, names, lines = {}, {}, {}
  snapshots = vim.deepcopy(snapshots or {})
  table.sort(snapshots, function(a, b)
    return str(a.created_at) > str(b.created_at)
  end)
  for _, w in ipairs(workspaces or {}) do
    names[str(w.name)] = true
  end
  for _, snap in ipairs(snapshots) do
    local of = names[str(snap.workspace)] and str(snap.workspace) or ''
    by_workspace[of] = by_workspace[of] or {}
    table.insert(by_workspace[of], snap)
  end
  local function snapshot_line(snap)
    return ('    ◦ %-28s %s'):format(str(snap.name), str(snap.created_at):gsub('T', ' '):sub(1, 16))
  end
  for _, w in ipairs(workspaces or {}) do
    local ports = {}
    for _, p in ipairs(type(w.ports) == 'table' and w.ports or {}) do
      ports[#ports + 1] = ('%s %s→%s'):format(str(p.service), str(p.inside), str(p.host))
    end
    local mark = (M.current and w.name == M.current) and '● ' or '  '
    lines[#lines + 1] = ('%s%-30s %-9s %-10s %s'):format(mark, str(w.name), str(w.state), str(w.runtime), table.concat(ports, ', '))
    if str(w.error) ~= '' then
      lines[#lines + 1] = '    error: ' .. str(w.error)
    end
    for _, snap in ipairs(by_workspace[str(w.name)] or {}) do
      lines[#lines + 1] = snapshot_line(snap)
    end
  end
  if by_workspace[''] then
    lines[#lines + 1] = '  snapshots of deleted workspaces:'
    for _, snap in ipairs(by_workspace['']) do
      lines[#lines + 1] = snapshot_line(snap)
    end
  end
  if #lines == 0 then
    lines[1] = 'no workspace yet: :CodeForge workspaces create NAME'
  end
  return lines
end

local function list(client)
  local codeforge = require('codeforge')
  local workspaces, err = items(client, 'workspaces.list')
  if not workspaces then
    return codeforge.report_error(':CodeForge workspaces list', err)
  end
  local snapshots = items(client, 'workspaces.snapshots') or {}
  local result = { items = workspaces, snapshots = snapshots }
  require('codeforge.ui').float('CodeForge workspaces', M.list_lines(workspaces, snapshots), result)
  return result
end

--- :CodeForge[!] workspaces [SUBCOMMAND [words…]]; must run inside a coroutine.
function M.command(words, bang)
  local codeforge = require('codeforge')
  local client_mod = require('codeforge.client')
  local client, err = client_mod.ensure()
  if not client then
    return codeforge.report_error('starting the language server', err)
  end
  codeforge.register_commands(client)
  local sub = words[2]
  if sub == nil then
    sub = require('codeforge.async').await(vim.ui.select, M.subcommands(), {
      prompt = 'CodeForge workspaces',
      format_item = function(s)
        return ('%-9s %s'):format(s, M.SUBCOMMANDS[s])
      end,
      kind = 'codeforge.workspaces',
    })
    if sub == nil then
      return notify('workspaces: cancelled')
    end
  end
  local what = ':CodeForge workspaces ' .. sub
  local op = find(client, M.OPS[sub])
  if not op then
    return codeforge.report_error(what, ('the platform has no %s: upgrade it (codeforge up)'):format(M.OPS[sub]))
  end
  op = M.without_hidden(op)
  local given, perr = M.parse(sub, vim.list_slice(words, 3), op)
  if not given then
    return codeforge.report_error(what, perr)
  end
  -- A required workspace or snapshot not given: chosen from the project's.
  local required = {}
  for _, f in ipairs(require('codeforge.schema').prompt_fields(op)) do
    required[f.name] = f.required
  end
  for _, slot in ipairs(M.POSITIONAL[sub]) do
    if slot.values and required[slot.field] and given[slot.field] == nil then
      local name, cerr = pick(client, slot, op.title)
      if not name then
        if cerr then
          return codeforge.report_error(what, cerr)
        end
        return notify(op.name .. ' cancelled')
      end
      given[slot.field] = name
    end
  end
  if sub == 'switch' then
    return switch(client, op, given)
  elseif sub == 'list' then
    return list(client)
  end
  return codeforge.run_op(client, op, given, { all = bang })
end

--- Completion after `:CodeForge workspaces`: `words` are the words before the one being
--- completed. Subcommands (and the catalog's other workspaces verbs), then the names a
--- positional word takes, and `field=` for the rest.
function M.complete(words, ops)
  local n = #words
  if n == 2 then
    local out = M.subcommands()
    for _, op in ipairs(ops or {}) do
      local verb = op.capability == 'workspaces' and op.name:sub(#'workspaces.' + 1) or nil
      if verb and not M.owns(verb) then
        out[#out + 1] = verb
      end
    end
    return out
  end
  local sub = words[3]
  if not M.SUBCOMMANDS[sub] then
    return {}
  end
  local op
  for _, o in ipairs(ops or {}) do
    if o.name == M.OPS[sub] then
      op = o
    end
  end
  local given_keys, positional = {}, 0
  for i = 4, n do
    local key = words[i]:match('^([%a_][%w_]*)=')
    if key then
      given_keys[key] = true
    else
      positional = positional + 1
    end
  end
  local out = {}
  local slot = M.POSITIONAL[sub][positional + 1]
  while slot and given_keys[slot.field] do
    positional = positional + 1
    slot = M.POSITIONAL[sub][positional + 1]
  end
  if slot and slot.values then
    for _, c in ipairs(M.candidates(require('codeforge.client').get(), slot.values, M.COMPLETION_TIMEOUT_MS) or {}) do
      out[#out + 1] = c.name
    end
  end
  -- Fields that positional words fill are not offered as field=.
  for _, s in ipairs(M.POSITIONAL[sub]) do
    given_keys[s.field] = true
  end
  if op then
    local schema = require('codeforge.schema')
    for _, f in ipairs(schema.prompt_fields(op)) do
      if not M.HIDDEN[f.name] and not given_keys[f.name] then
        out[#out + 1] = f.name .. '='
      end
    end
  end
  return out
end

return M
