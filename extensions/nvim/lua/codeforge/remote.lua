--- A remote workspace: the CodeForge language server, terminals, ports and the workspace's own
--- language servers, each through `codeforge connect URL` to the workspace's bridge.
---
--- The token never goes on a command line (other users see `ps`, and :CodeForge logs shows
--- what was started): every `codeforge connect` process gets it as CODEFORGE_TOKEN in its
--- environment, from vim.g.codeforge.token, else `connect` uses the login of `codeforge up`.
local M = {}

M.url = nil ---@type string|nil the bridge in use (:CodeForge connect or vim.g.codeforge.remote_url)
M.connection = nil ---@type 'connected'|'reconnecting'|nil
M.sync = nil ---@type {message: string, busy: boolean, error: boolean}|nil
M.forwards = {} ---@type table<integer, {remote: integer, local_port: integer, job: integer, stopping: boolean}>
M.servers = {} ---@type table<string, string[]> proxied server name -> filetypes

local EXAMPLE = 'e.g. :CodeForge connect wss://dev.example.com:8471'

local function settings()
  return vim.g.codeforge or {}
end

local function notify(message, level)
  vim.notify('CodeForge: ' .. message, level or vim.log.levels.INFO)
end

--- The `codeforge` program: the first word of vim.g.codeforge.cmd, else `codeforge`.
function M.program()
  local cmd = settings().cmd
  return type(cmd) == 'table' and cmd[1] or 'codeforge'
end

--- The environment of a `codeforge connect` process: the token, when one is configured.
function M.env()
  local token = settings().token
  if type(token) == 'string' and token ~= '' then
    return { CODEFORGE_TOKEN = token }
  end
  return nil
end

--- A text as it may be shown: every configured token replaced, bearer values masked.
function M.scrub(text)
  text = tostring(text or '')
  local token = settings().token
  if type(token) == 'string' and #token >= 4 then
    text = text:gsub(vim.pesc(token), '••••')
  end
  return (text:gsub('(Bearer%s+)%S+', '%1••••'):gsub('([?&]token=)[^&%s]+', '%1••••'))
end

--- Checks a bridge URL as typed: ws(s) as is, http(s) turned into ws(s). A URL that carries a
--- token or password is refused (it would sit in settings and history).
---@return string|nil url, string|nil error
function M.parse_url(text)
  text = vim.trim(tostring(text or ''))
  if text == '' then
    return nil, 'no bridge URL: give the address `codeforge bridge` printed (' .. EXAMPLE .. ')'
  end
  local scheme, rest = text:match('^(%a[%w+.-]*)://(.*)$')
  if not scheme then
    -- Not echoed: what was typed may be a pasted token.
    return nil, 'that is not a URL: give the bridge address with ws:// or wss:// (' .. EXAMPLE .. ')'
  end
  local ws = ({ ws = 'ws', wss = 'wss', http = 'ws', https = 'wss' })[scheme:lower()]
  if not ws then
    return nil, ('"%s://" is not a bridge URL scheme: use ws:// or wss:// (%s)'):format(scheme, EXAMPLE)
  end
  local authority, path = rest:match('^([^/?#]*)(.*)$')
  if authority:find('@', 1, true) or rest:lower():find('[?&]token=') or rest:lower():find('[?&]access_token=') then
    return nil, 'the bridge URL must not carry a token or password: give it without, and sign in with `codeforge up` or vim.g.codeforge.token'
  end
  if path:find('[?#]') then
    return nil, 'the bridge URL takes no query or fragment: give only scheme, host and port (' .. EXAMPLE .. ')'
  end
  local host = authority:match('^%[[%x:]+%]') or authority:match('^[^:]*')
  if host == '' then
    return nil, 'the bridge URL has no host (' .. EXAMPLE .. ')'
  end
  local port = authority:sub(#host + 1):match('^:(.*)$')
  if port and (not port:match('^%d+$') or tonumber(port) < 1 or tonumber(port) > 65535) then
    return nil, ('port "%s" is not a number from 1 to 65535 (%s)'):format(port, EXAMPLE)
  end
  return ('%s://%s%s'):format(ws, authority, (path:gsub('/+$', '')))
end

--- The arguments of `codeforge connect` for one channel.
--- `sync` (with 'lsp'): a local folder kept in two-way sync with the workspace beside the server.
---@param channel {kind: 'lsp'|'proxy'|'terminal'|'ports'|'forward', name?: string, attach?: string, spec?: string, sync?: string}
function M.connect_cmd(url, channel)
  local cmd = { M.program(), 'connect', url }
  if channel.kind == 'lsp' and channel.sync then
    vim.list_extend(cmd, { '--sync', channel.sync })
  elseif channel.kind == 'proxy' then
    vim.list_extend(cmd, { '--lsp', channel.name })
  elseif channel.kind == 'terminal' then
    cmd[#cmd + 1] = '--terminal'
    if channel.attach then
      vim.list_extend(cmd, { '--attach', channel.attach })
    end
  elseif channel.kind == 'ports' then
    vim.list_extend(cmd, { '--ports', '--json' })
  elseif channel.kind == 'forward' then
    vim.list_extend(cmd, { '--forward', channel.spec })
  end
  return cmd
end

--- `REMOTE[:LOCAL]` as typed; the local port defaults to the remote one.
---@return {remote: integer, local_port: integer, spec: string}|nil, string|nil error
function M.parse_forward(text)
  text = vim.trim(tostring(text or ''))
  local remote, local_port = text:match('^(%d+):(%d+)$')
  remote = remote or text:match('^(%d+)$')
  if not remote then
    return nil, ('"%s" is not PORT or REMOTE:LOCAL, e.g. :CodeForge forward 8000 or :CodeForge forward 8000:18000'):format(text:sub(1, 40))
  end
  remote, local_port = tonumber(remote), tonumber(local_port or remote)
  for _, check in ipairs({ { 'remote', remote }, { 'local', local_port } }) do
    if check[2] < 1 or check[2] > 65535 then
      return nil, ('%s port %d is out of range: use 1 to 65535'):format(check[1], check[2])
    end
  end
  return { remote = remote, local_port = local_port, spec = ('%d:%d'):format(remote, local_port) }
end

--- The JSON `--ports --json` prints (codeforge/bridge/ports.py: a list of {port, addresses,
--- pid, process, cmdline, workspace}; {ports = [...]} is read too). Workspace ports first.
---@return {port: integer, address: string, process: string, workspace: boolean}[]|nil, string|nil error
function M.parse_ports(stdout)
  local ok, data = pcall(vim.json.decode, stdout or '', { luanil = { object = true, array = true } })
  if not ok then
    return nil, 'the port list is not JSON: ' .. vim.trim(tostring(stdout or '')):sub(1, 200)
  end
  local list = vim.islist(data) and data or (type(data) == 'table' and data.ports)
  if type(list) ~= 'table' then
    return nil, 'the port list has no `ports` array'
  end
  local function text(v)
    return type(v) == 'string' and v or ''
  end
  local out = {}
  for _, item in ipairs(list) do
    if type(item) == 'table' and type(item.port) == 'number' and item.port >= 1 and item.port <= 65535 and item.port % 1 == 0 then
      local proc = item.process
      local inner = type(proc) == 'table' and proc or {}
      local command = text(item.cmdline) ~= '' and item.cmdline or (text(item.command) ~= '' and item.command or text(inner.command))
      local name = text(proc) ~= '' and proc or (text(inner.name) ~= '' and inner.name or text(item.name))
      local pid = item.pid or inner.pid
      local parts = {}
      if command ~= '' or name ~= '' then
        parts[#parts + 1] = command ~= '' and command or name
      end
      if type(pid) == 'number' then
        parts[#parts + 1] = 'pid ' .. pid
      end
      local addresses = type(item.addresses) == 'table' and table.concat(vim.tbl_filter(function(a)
        return type(a) == 'string'
      end, item.addresses), ', ') or ''
      out[#out + 1] = {
        port = item.port,
        address = addresses ~= '' and addresses or (text(item.address) ~= '' and item.address or text(item.host)),
        process = table.concat(parts, ', '),
        workspace = item.workspace == true,
      }
    end
  end
  table.sort(out, function(a, b)
    if a.workspace ~= b.workspace then
      return a.workspace
    end
    return a.port < b.port
  end)
  return out
end

--- The folder kept in sync with the workspace when vim.g.codeforge.remote_sync is true: the
--- codeforge.yaml project of the current buffer, else the current directory.
function M.sync_folder()
  if not settings().remote_sync then
    return nil
  end
  return vim.fs.root(0, { 'codeforge.yaml', 'codeforge.yml' }) or vim.uv.cwd()
end

--- The remote URL in use, or an error saying how to set one.
---@return string|nil url, string|nil error
function M.current()
  if M.url then
    return M.url
  end
  local configured = settings().remote_url
  if configured and configured ~= '' then
    return M.parse_url(configured)
  end
  return nil, 'no remote workspace: run :CodeForge connect {url} first (' .. EXAMPLE .. ')'
end

-- Notifications `codeforge connect` adds to the CodeForge language server's stream.

--- `codeforge/connection`: {state = 'reconnecting'|'connected'}.
function M.on_connection(_, params)
  local state = type(params) == 'table' and params.state or nil
  if state ~= 'connected' and state ~= 'reconnecting' then
    return
  end
  local before = M.connection
  M.connection = state
  require('codeforge.log').append('remote connection: ' .. state)
  if state == 'reconnecting' then
    notify('connection to the workspace lost: reconnecting (open files, servers and terminals are kept)', vim.log.levels.WARN)
  elseif before == 'reconnecting' then
    notify('reconnected to the workspace')
  end
end

local NOTIFY_STATES = { idle = true, synced = true, ['in sync'] = true, done = true, watching = true, ready = true }

--- `codeforge/syncStatus`: a sync event ({kind, message, data}, or flat fields). Errors and the
--- end of a transfer are notified; progress only updates M.sync (the statusline shows it).
function M.on_sync_status(_, params)
  if type(params) ~= 'table' then
    return
  end
  local data = type(params.data) == 'table' and params.data or {}
  local state = tostring(params.state or data.state or params.phase or data.phase or ''):lower()
  local message = M.scrub(type(params.message) == 'string' and params.message or state)
  local error = params.kind == 'error' or state == 'error' or state == 'failed'
  local was_busy = M.sync and M.sync.busy
  M.sync = { message = message, error = error, busy = not error and not NOTIFY_STATES[state] and state ~= '' }
  require('codeforge.log').append('sync: ' .. message)
  if error then
    notify('sync: ' .. message, vim.log.levels.ERROR)
  elseif was_busy and not M.sync.busy or (M.sync.busy and not was_busy) then
    notify('sync: ' .. message)
  end
end

--- "CodeForge: …" for the statusline: the bridge's host, connection and sync state.
function M.statusline()
  if not M.url then
    return ''
  end
  local host = M.url:match('^%a+://([^/]+)') or M.url
  local parts = { host }
  if M.connection == 'reconnecting' then
    parts[#parts + 1] = 'reconnecting'
  end
  if M.sync then
    parts[#parts + 1] = (M.sync.error and 'sync error: ' or 'sync: ') .. M.sync.message
  end
  return table.concat(parts, ' · ')
end

--- Registers a proxied language server `codeforge-<name>` with vim.lsp.config and enables it:
--- the workspace's own server (basedpyright, pylsp, …) running on the bridge, reached through
--- `codeforge connect URL --lsp NAME`. `opts` may give filetypes (default: {name} for a language
--- name, python for the python servers) and any other vim.lsp.config field.
function M.remote_lsp(name, opts)
  opts = opts or {}
  -- codeforge.yaml's `language_servers` names (codeforge/projectfile/language_servers.py).
  if type(name) ~= 'string' or not name:match('^%l[%l%d_-]*$') or #name > 40 then
    error(('codeforge.remote_lsp: %s is not a server name (lower-case letters, digits, "-", "_", starting with a letter)'):format(vim.inspect(name)), 2)
  end
  local url, err = opts.url, nil
  if not url then
    url, err = M.current()
  end
  if not url then
    error('codeforge.remote_lsp(' .. name .. '): ' .. err, 2)
  end
  local python = { python = true, basedpyright = true, pyright = true, pylsp = true, ['python-lsp-server'] = true, ruff = true }
  local filetypes = opts.filetypes or { python[name] and 'python' or name }
  M.servers[name] = filetypes
  local config = vim.tbl_deep_extend('force', {
    cmd = M.connect_cmd(url, { kind = 'proxy', name = name }),
    cmd_env = M.env(),
    filetypes = filetypes,
    -- The editor's folder that mirrors the workspace: the codeforge.yaml project, else cwd.
    root_dir = function(bufnr, on_dir)
      if vim.bo[bufnr].buftype == '' then
        on_dir(vim.fs.root(bufnr, { 'codeforge.yaml', 'codeforge.yml', '.git' }) or vim.uv.cwd())
      end
    end,
  }, opts)
  config.url = nil
  local id = 'codeforge-' .. name
  vim.lsp.config(id, config)
  vim.lsp.enable(id)
  -- Buffers already open get the server now, not only those opened from here on.
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.tbl_contains(filetypes, vim.bo[buf].filetype) then
      vim.api.nvim_exec_autocmds('FileType', { buffer = buf, modeline = false })
    end
  end
  return id
end

--- Whether the bridge answers with this token, before the language server is switched over:
--- a bad address or a refused token is then one clear error (what `codeforge connect` said)
--- instead of a server that keeps exiting. A quick `--ports` round trip; a bridge without that
--- channel still counts as reached. Must run inside a coroutine.
---@return boolean, string|nil error
function M.check_reachable(url)
  local done = require('codeforge.async').await(function(cb)
    vim.system(M.connect_cmd(url, { kind = 'ports' }), { env = M.env(), text = true, timeout = 30000 }, vim.schedule_wrap(cb))
  end)
  if done.code == 0 then
    return true
  end
  local lines = vim.split(vim.trim(done.stderr or ''), '\n')
  local last = lines[#lines] ~= '' and lines[#lines] or ('exit status ' .. done.code)
  if last:find('unknown channel', 1, true) then
    return true
  end
  return false, M.scrub((last:gsub('^codeforge connect: ', '')))
end

--- :CodeForge connect {url}: the CodeForge language server through the bridge, and the proxied
--- servers of vim.g.codeforge.remote_servers. Must run inside a coroutine (codeforge.async.run).
---@return vim.lsp.Client|nil, string|nil error
function M.connect(text)
  local url, err = M.parse_url(text)
  if not url then
    return nil, err
  end
  if vim.fn.executable(M.program()) == 0 then
    return nil, ('cannot start `%s`: install CodeForge (pip install codeforge) or set vim.g.codeforge = { cmd = { "/path/to/codeforge", "lsp" } }'):format(M.program())
  end
  local reached, rerr = M.check_reachable(url)
  if not reached then
    return nil, rerr
  end
  M.url, M.connection, M.sync = url, nil, nil
  vim.lsp.config('codeforge', { cmd = M.connect_cmd(url, { kind = 'lsp', sync = M.sync_folder() }), cmd_env = M.env() })
  for name, filetypes in pairs(M.servers) do
    M.remote_lsp(name, { filetypes = filetypes })
  end
  for _, name in ipairs(settings().remote_servers or {}) do
    if not M.servers[name] then
      M.remote_lsp(name)
    end
  end
  local client, cerr = require('codeforge.client').restart()
  if client then
    M.connection = M.connection or 'connected'
  end
  return client, cerr
end

--- :CodeForge terminal: a terminal buffer running a shell in the workspace.
function M.terminal(attach)
  local url, err = M.current()
  if not url then
    return nil, err
  end
  vim.cmd('botright new')
  local job = vim.fn.jobstart(M.connect_cmd(url, { kind = 'terminal', attach = attach }), { term = true, env = M.env() })
  if job <= 0 then
    vim.cmd('bwipeout!')
    return nil, ('cannot start `%s connect`: see :checkhealth codeforge'):format(M.program())
  end
  vim.api.nvim_buf_set_name(0, 'codeforge://terminal/' .. (url:match('^%a+://([^/]+)') or url) .. '/' .. job)
  vim.cmd('startinsert')
  return vim.api.nvim_get_current_buf(), nil, job
end

--- The workspace's listening ports. Must run inside a coroutine.
---@return table[]|nil ports, string|nil error
function M.ports()
  local url, err = M.current()
  if not url then
    return nil, err
  end
  local done = require('codeforge.async').await(function(cb)
    vim.system(M.connect_cmd(url, { kind = 'ports' }), { env = M.env(), text = true, timeout = 30000 }, vim.schedule_wrap(cb))
  end)
  if done.code ~= 0 then
    local lines = vim.split(vim.trim(done.stderr or ''), '\n')
    return nil, 'listing the workspace\'s ports failed: ' .. M.scrub(lines[#lines] ~= '' and lines[#lines] or ('exit status ' .. done.code))
  end
  return M.parse_ports(done.stdout)
end

--- :CodeForge forward REMOTE[:LOCAL]: a forward that runs until :CodeForge unforward LOCAL.
function M.forward(text)
  local url, err = M.current()
  if not url then
    return nil, err
  end
  local spec, serr = M.parse_forward(text)
  if not spec then
    return nil, serr
  end
  if M.forwards[spec.local_port] then
    return nil, ('local port %d is already forwarded: :CodeForge unforward %d first, or pick another'):format(spec.local_port, spec.local_port)
  end
  local tail = {}
  local entry = { remote = spec.remote, local_port = spec.local_port, stopping = false, ready = false }
  local function keep(_, data)
    for _, line in ipairs(data or {}) do
      if vim.trim(line) ~= '' then
        line = M.scrub(line)
        tail[#tail + 1] = line
        require('codeforge.log').append(('forward %d→%d: %s'):format(spec.remote, spec.local_port, line))
        -- `connect --forward` says "forwarding 127.0.0.1:LOCAL -> workspace port REMOTE" once
        -- it listens: only then is the port worth opening.
        if not entry.ready and line:match('^forwarding 127%.0%.0%.1:%d+') then
          entry.ready = true
          notify(('remote port %d is forwarded to localhost:%d'):format(spec.remote, spec.local_port))
        end
      end
    end
  end
  entry.job = vim.fn.jobstart(M.connect_cmd(url, { kind = 'forward', spec = spec.spec }), {
    env = M.env(),
    on_stdout = keep,
    on_stderr = keep,
    on_exit = function(_, code)
      if M.forwards[spec.local_port] == entry then
        M.forwards[spec.local_port] = nil
      end
      if not entry.stopping then
        notify(('the forward of remote port %d to localhost:%d stopped: %s'):format(spec.remote, spec.local_port, tail[#tail] or ('exit status ' .. code)), vim.log.levels.WARN)
      end
    end,
  })
  if entry.job <= 0 then
    return nil, ('cannot start `%s connect`: see :checkhealth codeforge'):format(M.program())
  end
  M.forwards[spec.local_port] = entry
  return entry
end

--- :CodeForge unforward LOCAL (no argument: every forward).
function M.unforward(text)
  local targets = {}
  if text == nil or vim.trim(text) == '' then
    targets = vim.tbl_keys(M.forwards)
  else
    local port = tonumber(vim.trim(text))
    if not port or not M.forwards[port] then
      local active = vim.tbl_keys(M.forwards)
      table.sort(active)
      return nil, ('no forward on local port %s (active: %s)'):format(text, #active > 0 and table.concat(active, ', ') or 'none')
    end
    targets = { port }
  end
  for _, port in ipairs(targets) do
    local entry = M.forwards[port]
    entry.stopping = true
    vim.fn.jobstop(entry.job)
    M.forwards[port] = nil
  end
  return #targets
end

return M
