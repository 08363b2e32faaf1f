--- CodeForge for Neovim: `:CodeForge {capability} {operation} [field=value ...]` runs any
--- platform operation, asking for its arguments from the operation's JSON Schema. Nothing here
--- names an operation: everything comes from the server's `codeforge/catalog`.
local async = require('codeforge.async')
local client_mod = require('codeforge.client')
local prompt = require('codeforge.prompt')
local schema = require('codeforge.schema')
local ui = require('codeforge.ui')
local log = require('codeforge.log')
local secrets = require('codeforge.secrets')
require('codeforge.progress')
require('codeforge.call') -- its codeforge/call/state handler

local M = {}

local INVALID_PARAMS = -32602
local REQUEST_CANCELLED = -32800
local MAX_SERVER_RETRIES = 5

--- Subcommands that are not catalog capabilities.
local ACTIONS = {
  status = 'Show the platform, user, project and connection',
  resources = 'List the project\'s resources (every list operation)',
  logs = 'Open the job and server log',
  cancel = 'Cancel the running job(s)',
  restart = 'Restart the language server',
  pane = 'Open a platform page as text: :CodeForge pane /path',
  connect = 'Work on a remote workspace: :CodeForge connect wss://host:port',
  terminal = 'A terminal in the remote workspace',
  ports = 'List the remote workspace\'s listening ports (and forward one)',
  forward = 'Forward a remote port here: :CodeForge forward REMOTE[:LOCAL]',
  unforward = 'Stop a port forward: :CodeForge unforward [LOCAL]',
  debug = 'Debug in the remote workspace (nvim-dap): :CodeForge debug {file|test|module NAME|join [ID]|sessions}',
  call = 'Voice and screen sharing in your collaboration session: :CodeForge call [leave|mute|unmute|share|watch|end|who]',
}

M.last_result = nil ---@type {op: table, result: any}|nil
M.last_error = nil ---@type string|nil

--- Optional: settings in Lua instead of vim.g.codeforge. Calling it is never required.
--- Registers and enables a proxied language server of the remote workspace as
--- `codeforge-<name>` (vim.lsp.config): `require('codeforge').remote_lsp('python')`.
function M.remote_lsp(name, opts)
  return require('codeforge.remote').remote_lsp(name, opts)
end

function M.setup(opts)
  vim.g.codeforge = vim.tbl_deep_extend('force', vim.g.codeforge or {}, opts or {})
  vim.lsp.config('codeforge', dofile(vim.api.nvim_get_runtime_file('lsp/codeforge.lua', false)[1]))
end

local function notify(message, level)
  vim.notify('CodeForge: ' .. message, level or vim.log.levels.INFO)
end

--- Say what went wrong and what to do; a cancelled job is information, not an error.
function M.report_error(what, err)
  local message = type(err) == 'table' and err.message or tostring(err)
  -- A driver's message may quote a URL with its password: notify and the log keep history.
  message = secrets.mask_url_passwords(vim.split(message or 'unknown error', '\n')[1])
  if type(err) == 'table' and err.code == REQUEST_CANCELLED then
    M.last_error = message
    notify(message:find(what, 1, true) == 1 and message or (what .. ': ' .. message), vim.log.levels.INFO)
    return
  end
  local lowered = message:lower()
  local hint = ''
  if not lowered:find('fix:', 1, true) then
    if lowered:find('cannot reach the platform') or lowered:find('unavailable') then
      hint = ' Start the platform with `codeforge up`, or set vim.g.codeforge.url.'
    elseif lowered:find('token') or lowered:find('not signed in') then
      hint = ' Run `codeforge up` once, or set vim.g.codeforge.token.'
    elseif lowered:find('permission') then
      hint = ' Ask an admin of your organization for a role that allows it.'
    elseif lowered:find('not running') then
      hint = ' Run :CodeForge restart, and :checkhealth codeforge.'
    end
  end
  M.last_error = ('%s failed: %s%s'):format(what, message, hint)
  log.append('error: ' .. M.last_error)
  notify(M.last_error, vim.log.levels.ERROR)
end

--- The one argument of a catalog command: an object of input fields. An empty Lua table
--- would be encoded as `[]`, which the server refuses, so no fields is `vim.empty_dict()`.
function M.arguments(args)
  if type(args) ~= 'table' or next(args) == nil then
    return vim.empty_dict()
  end
  return args
end

--- Send the command; when the platform refuses a field, ask for that field again and retry.
local function execute(client, op, args)
  for attempt = 0, MAX_SERVER_RETRIES do
    log.append(('▶ %s %s'):format(op.name, vim.json.encode(schema.redact(args, op))))
    local hooks, forget = {}, nil
    if op.long_running then
      forget = require('codeforge.progress').expect(op.title, function(message)
        if hooks.settle then
          hooks.settle(nil, { code = REQUEST_CANCELLED, message = message })
        end
      end)
    end
    local result, err = client_mod.request(client, 'workspace/executeCommand', { command = op.command, arguments = { M.arguments(args) } }, nil, hooks)
    if forget then
      forget()
    end
    if not err then
      log.append(('✔ %s %s'):format(op.name, ui.summarize(result, op)))
      return result
    end
    log.append(('✖ %s: %s'):format(op.name, err.message or vim.inspect(err)))
    local field = err.code == INVALID_PARAMS and prompt.field_of_error(op, err.message, err.data) or nil
    if not field or attempt == MAX_SERVER_RETRIES then
      M.report_error(op.title, err)
      return nil
    end
    local answer = prompt.ask_field(field, op.title .. ': ' .. field.name .. ' again', err.message)
    if answer == nil then
      return nil
    end
    args = vim.deepcopy(args)
    args[field.name] = (not answer.omit) and answer.value or nil
  end
end

--- Ask for what is not `given` (optional fields only with `opts.all`, :CodeForge!, or when the
--- person asks for them), confirm destructive operations, run, show the result.
--- Must run inside a coroutine (codeforge.async.run).
function M.run_op(client, op, given, opts)
  local args = prompt.collect(op, given, opts)
  if args == nil then
    notify(op.name .. ' cancelled')
    return nil
  end
  if op.destructive and not prompt.confirm(op, args) then
    notify(op.name .. ' not run')
    return nil
  end
  local result = execute(client, op, args)
  if result ~= nil then
    M.last_result = { op = op, result = result }
    -- The summary goes to vim.notify (and :messages), which keep history: never a secret.
    notify(op.title .. ' — ' .. ui.summarize(result, op))
    -- A pane link is opened by the server (window/showDocument, ui.show_document) once it
    -- has answered: the page is the result.
    if not (type(op.output_schema) == 'table' and op.output_schema[ui.PANE_KEY] == true) then
      -- An explicit reveal shows its secret here, in the float, and nowhere else.
      local reveal = secrets.reveals(op)
      ui.float(op.title, ui.render(result, op, { reveal = reveal }), result, { op = op, reveal = reveal })
    end
  end
  return result
end

--- `field=value` words from the command line, read by the same rules as the prompts.
local function given_from(op, words)
  local fields = {}
  for _, f in ipairs(schema.prompt_fields(op)) do
    fields[f.name] = f
  end
  local given = {}
  for _, word in ipairs(words) do
    local key, text = word:match('^([%a_][%w_]*)=(.*)$')
    local field = key and fields[key]
    if not field then
      local names = vim.tbl_keys(fields)
      table.sort(names)
      return nil, ('"%s" is not field=value for one of: %s'):format(word, table.concat(names, ', '))
    end
    local value, omit, err = schema.parse_text(field, text)
    if err then
      return nil, err
    end
    if not omit then
      given[key] = value
    end
  end
  return given
end

--- Make catalog commands that code actions run go through the prompts too: a code action may
--- give some fields and leave the rest to the person.
function M.register_commands(client)
  for _, op in ipairs(client_mod.catalog(client)) do
    vim.lsp.commands[op.command] = function(command)
      local given = type(command.arguments) == 'table' and type(command.arguments[1]) == 'table' and command.arguments[1] or {}
      async.run(M.run_op, client, op, given)
    end
  end
end

local function status(client)
  local result, err = client_mod.request(client, 'codeforge/status', vim.empty_dict())
  if err then
    M.report_error('codeforge/status', err)
    return nil
  end
  M.status = result
  local lines = {
    ('platform:     %s (%s)'):format(result.platform, result.connected and 'connected' or 'NOT connected'),
    ('user:         %s'):format(result.username ~= vim.NIL and result.username or '-'),
    ('organization: %s'):format(result.organization ~= vim.NIL and result.organization or '-'),
    ('project:      %s'):format(result.project ~= vim.NIL and result.project or '(none)'),
    ('role:         %s'):format(result.role ~= vim.NIL and result.role or '-'),
  }
  if result.error and result.error ~= vim.NIL then
    lines[#lines + 1] = 'error:        ' .. result.error
  end
  ui.float('CodeForge status', lines, result)
  return result
end

--- Every list operation called with no arguments, shown as one buffer.
local function resources(client)
  local sections = {}
  for _, op in ipairs(client_mod.catalog(client)) do
    local askable = vim.tbl_filter(function(f)
      return f.required
    end, schema.prompt_fields(op))
    if op.lists_resources and #askable == 0 then
      local result, err = client_mod.request(client, 'workspace/executeCommand', { command = op.command, arguments = { vim.empty_dict() } })
      sections[#sections + 1] = { op = op, result = result, error = err and err.message or nil }
    end
  end
  return ui.resources(sections)
end

--- :CodeForge statusline component: "CodeForge: user@org · project" once known.
function M.statusline()
  local remote = require('codeforge.remote').statusline()
  if remote ~= '' then
    return 'CodeForge: ' .. remote
  end
  local s = M.status
  if not s then
    return client_mod.get() and 'CodeForge' or ''
  end
  if not s.connected then
    return 'CodeForge: offline'
  end
  return ('CodeForge: %s@%s · %s'):format(s.username, s.organization, s.project ~= vim.NIL and s.project or '-')
end

--- The remote subcommands (connect, terminal, ports, forward, unforward); nil when `first` is
--- none of them. Must run inside a coroutine.
local function remote_command(first, words)
  local remote = require('codeforge.remote')
  if first == 'connect' then
    if #words > 2 then
      return M.report_error(':CodeForge connect', 'give one URL, e.g. :CodeForge connect wss://dev.example.com:8471')
    end
    local client, err = remote.connect(words[2])
    if not client then
      return M.report_error(':CodeForge connect', err)
    end
    M.register_commands(client)
    return notify('connected to the remote workspace at ' .. remote.url)
  elseif first == 'terminal' then
    local buf, err = remote.terminal(words[2])
    if not buf then
      return M.report_error(':CodeForge terminal', err)
    end
    return buf
  elseif first == 'ports' then
    local ports, err = remote.ports()
    if not ports then
      return M.report_error(':CodeForge ports', err)
    end
    if #ports == 0 then
      return notify('nothing listens in the remote workspace')
    end
    local choice = async.await(vim.ui.select, ports, {
      prompt = 'Forward a remote port',
      format_item = function(p)
        return ('%-6d %s%s %s'):format(p.port, p.workspace and '[workspace] ' or '', p.address, p.process)
      end,
      kind = 'codeforge.port',
    })
    if choice then
      -- On this machine the same number may be taken: the person chooses, the same by default.
      local local_port = async.await(vim.ui.input, { prompt = ('Local port for remote port %d: '):format(choice.port), default = tostring(choice.port) })
      if local_port and vim.trim(local_port) ~= '' then
        local _, ferr = remote.forward(('%d:%s'):format(choice.port, vim.trim(local_port)))
        if ferr then
          M.report_error(':CodeForge forward', ferr)
        end
      end
    end
    return ports
  elseif first == 'forward' then
    if #words == 1 then
      local active = {}
      for port, f in pairs(remote.forwards) do
        active[#active + 1] = ('localhost:%d → remote %d'):format(port, f.remote)
      end
      table.sort(active)
      return notify(#active > 0 and ('forwards: ' .. table.concat(active, ', ')) or 'no port is forwarded: :CodeForge forward REMOTE[:LOCAL]')
    end
    local entry, err = remote.forward(words[2])
    if not entry then
      return M.report_error(':CodeForge forward', err)
    end
    return entry
  elseif first == 'unforward' then
    local n, err = remote.unforward(words[2])
    if not n then
      return M.report_error(':CodeForge unforward', err)
    end
    return notify(('%d forward(s) stopped'):format(n))
  end
  return nil
end

local REMOTE_ACTIONS = { connect = true, terminal = true, ports = true, forward = true, unforward = true }

local function dispatch(words, bang)
  local first = words[1]
  if REMOTE_ACTIONS[first] then
    return remote_command(first, words)
  elseif first == 'debug' then
    return require('codeforge.dap').command(words)
  elseif first == 'call' then
    return require('codeforge.call').command(words, bang)
  elseif first == 'agents' and require('codeforge.agents').owns(words[2]) then
    return require('codeforge.agents').command(words)
  elseif first == 'monitoring' and require('codeforge.monitoring').owns(words[2]) then return require('codeforge.monitoring').command(words)
  elseif first == 'workspaces' and require('codeforge.workspaces').owns(words[2]) then
    return require('codeforge.workspaces').command(words, bang)
  elseif first == 'collab' and require('codeforge.collab.session').owns(words[2]) then
    return require('codeforge.collab.session').command(words, bang)
  elseif first == 'logs' then
    return log.open()
  elseif first == 'cancel' then
    local n = require('codeforge.progress').cancel()
    if n == 0 then
      notify('no job is running')
    end
    return
  end
  local client, err = client_mod.ensure()
  if not client then
    return M.report_error('starting the language server', err)
  end
  M.register_commands(client)
  if first == 'restart' then
    local restarted, rerr = client_mod.restart()
    if not restarted then
      return M.report_error('restarting the language server', rerr)
    end
    return notify('language server restarted')
  elseif first == 'status' then
    return status(client)
  elseif first == 'resources' then
    return resources(client)
  elseif first == 'pane' then
    local s = M.status or status(client)
    local target = words[2] or '/'
    local url = target:match('^https?://') and target or (s and s.platform or '') .. target
    return ui.open_pane(url)
  end
  local op = first and words[2] and client_mod.find(client, first, words[2]) or nil
  if not op then
    local names = vim.tbl_map(function(o)
      return (o.name:gsub('%.', ' '))
    end, client_mod.catalog(client))
    return M.report_error(
      ':CodeForge ' .. table.concat(words, ' '),
      ('no such operation. Use :CodeForge {capability} {operation}, e.g. %s (Tab completes)'):format(names[1] or 'env list')
    )
  end
  local given, gerr = given_from(op, vim.list_slice(words, 3))
  if not given then
    return M.report_error(op.name, gerr)
  end
  return M.run_op(client, op, given, { all = bang })
end

--- The :CodeForge command.
function M.command(opts)
  local words = opts.fargs
  if #words == 0 then
    -- No arguments: choose the operation from a list.
    async.run(function()
      local client, err = client_mod.ensure()
      if not client then
        return M.report_error('starting the language server', err)
      end
      local ops = client_mod.catalog(client)
      local op = require('codeforge.async').await(vim.ui.select, ops, {
        prompt = 'CodeForge operation',
        format_item = function(o)
          return ('%-22s %s'):format(o.name, o.title)
        end,
        kind = 'codeforge.operation',
      })
      if op then
        M.register_commands(client)
        M.run_op(client, op, {}, { all = opts.bang })
      end
    end)
    return
  end
  async.run(dispatch, words, opts.bang)
end

--- Completion: subcommands and capabilities, then the capability's operations, then fields.
function M.complete(arglead, cmdline)
  local words = vim.split(vim.trim(cmdline), '%s+')
  local n = #words - (arglead ~= '' and 1 or 0) -- words before the one being completed
  local out = {}
  -- The catalog is only needed past the remote subcommands (and never blocks `connect <Tab>`).
  local ops = (n >= 2 and ACTIONS[words[2]]) and {} or client_mod.catalog(client_mod.get(), 1500)
  if n <= 1 then
    local seen = {}
    for _, op in ipairs(ops) do
      if not seen[op.capability] then
        seen[op.capability] = true
        out[#out + 1] = op.capability
      end
    end
    vim.list_extend(out, vim.tbl_keys(ACTIONS))
    if not seen.collab then
      out[#out + 1] = 'collab'
    end
  elseif n == 2 and words[2] == 'connect' then
    local remote = require('codeforge.remote')
    local known = remote.url or (vim.g.codeforge or {}).remote_url
    out = known and { known } or { 'wss://', 'ws://' }
  elseif words[2] == 'collab' then
    -- The collaboration subcommands, and the catalog's other collab operations (list, show, …).
    out = require('codeforge.collab.session').complete(vim.list_slice(words, 1, n), ops)
  elseif words[2] == 'call' then
    out = require('codeforge.call').complete(vim.list_slice(words, 1, n))
  elseif words[2] == 'monitoring' and (n == 2 or require('codeforge.monitoring').owns(words[3])) then
    out = require('codeforge.monitoring').complete(vim.list_slice(words, 1, n), ops) -- tail, and its query's selectors
  elseif words[2] == 'workspaces' and (n == 2 or require('codeforge.workspaces').owns(words[3])) then
    out = require('codeforge.workspaces').complete(vim.list_slice(words, 1, n), ops) -- subcommands, workspace and snapshot names
  elseif n == 2 and words[2] == 'debug' then
    out = { 'file', 'test', 'module', 'join', 'sessions' }
  elseif n == 2 and (words[2] == 'unforward' or words[2] == 'forward') then
    if words[2] == 'unforward' then
      for port in pairs(require('codeforge.remote').forwards) do
        out[#out + 1] = tostring(port)
      end
    end
  elseif n == 2 then
    for _, op in ipairs(ops) do
      if op.capability == words[2] then
        out[#out + 1] = op.name:sub(#op.capability + 2)
      end
    end
    if words[2] == 'agents' then -- code actions with every diagnostic, transcripts
      vim.list_extend(out, require('codeforge.agents').subcommands())
    end
  else
    for _, op in ipairs(ops) do
      if op.name == words[2] .. '.' .. words[3] then
        for _, f in ipairs(schema.prompt_fields(op)) do
          out[#out + 1] = f.name .. '='
        end
      end
    end
  end
  table.sort(out)
  return vim.tbl_filter(function(c)
    return vim.startswith(c, arglead)
  end, out)
end

return M
