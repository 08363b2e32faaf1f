--- Debugging in the remote workspace with nvim-dap (when it is installed): the `codeforge`
--- adapter runs `codeforge connect URL --dap`, a stdio DAP relay to debugpy beside the
--- workspace's files; configurations launch the current file, a module or the test under the
--- cursor, or join a debug session someone else started (everyone sees the same stops).
--- `codeforge.debug.start` (the language server's "Debug this test/file" code lenses) starts
--- the configuration it carries. The token goes to the relay's environment, never its arguments.
local M = {}

M.TYPE = 'codeforge'
M.registered = false

local function notify(message, level)
  vim.notify('CodeForge: ' .. message, level or vim.log.levels.INFO)
end

--- nvim-dap, when installed (loaded on first use).
---@return table|nil dap
function M.dap()
  local ok, dap = pcall(require, 'dap')
  return ok and type(dap) == 'table' and dap or nil
end

--- The local folder that stands for the workspace: the codeforge.yaml project, else cwd.
function M.local_root(bufnr)
  return vim.fs.root(bufnr or 0, { 'codeforge.yaml', 'codeforge.yml' }) or vim.uv.cwd()
end

--- `codeforge connect URL --dap [--join ID] [--local-root DIR]`.
function M.args(url, config)
  local args = { 'connect', url, '--dap' }
  if config.request == 'attach' and type(config.join) == 'string' and config.join ~= '' then
    vim.list_extend(args, { '--join', config.join })
  end
  if type(config.localRoot) == 'string' and config.localRoot ~= '' then
    vim.list_extend(args, { '--local-root', config.localRoot })
  end
  return args
end

--- The relay's whole environment (luv's spawn replaces it): Neovim's, plus the token.
function M.env()
  local out = {}
  local merged = vim.tbl_extend('force', vim.fn.environ(), require('codeforge.remote').env() or {})
  for k, v in pairs(merged) do
    out[#out + 1] = k .. '=' .. tostring(v)
  end
  table.sort(out)
  return out
end

local SESSION_ID = '^[%w_.:@+-]+$'

--- Checks a configuration before anything starts; the error says what to change.
---@return table|nil config, string|nil error
function M.check(config)
  if type(config) ~= 'table' then
    return nil, 'a debug configuration is a table with "program" or "module"'
  end
  config = vim.deepcopy(config)
  config.type = M.TYPE
  config.request = config.request or 'launch'
  config.name = config.name or config.title or 'CodeForge: debug'
  config.title = nil
  config.localRoot = config.localRoot or M.local_root()
  if config.args ~= nil and not (vim.islist(config.args) and vim.iter(config.args):all(function(a)
    return type(a) == 'string'
  end)) then
    return nil, '"args" must be a list of strings'
  end
  if config.request == 'launch' then
    if config.program and config.module then
      return nil, 'give "program" or "module", not both'
    end
    if type(config.program) == 'string' and config.program ~= '' then
      if config.program:match('^file:') then
        config.program = vim.uri_to_fname(config.program)
      end
      local root = vim.fs.normalize(config.localRoot)
      local program = vim.fs.normalize(config.program)
      if program:sub(1, 1) == '/' and vim.fs.relpath(root, program) == nil then
        return nil, ('%s is outside %s, the folder that stands for the remote workspace'):format(program, root)
      end
    elseif type(config.module) == 'string' and config.module ~= '' then
      if not config.module:match('^[%a_][%w_.]*$') then
        return nil, ('"%s" is not a module name (e.g. app.main or pytest)'):format(config.module:sub(1, 60))
      end
    else
      return nil, 'a codeforge launch needs "program" (a Python file) or "module" (e.g. "pytest")'
    end
  elseif config.request == 'attach' then
    local ways = (config.join and 1 or 0) + (config.connect and 1 or 0) + (config.processId and 1 or 0)
    if ways ~= 1 then
      return nil, 'a codeforge attach needs one of "join" (a debug session id), "connect" = {port = N} or "processId"'
    end
    if config.join and (type(config.join) ~= 'string' or not config.join:match(SESSION_ID) or #config.join > 128) then
      return nil, ('%s is not a debug session id (:CodeForge debug join lists them)'):format(vim.inspect(config.join))
    end
  else
    return nil, ('"request" must be "launch" or "attach", not %s'):format(vim.inspect(config.request))
  end
  return config
end

--- nvim-dap's adapter: a function, so the bridge URL and the session to join are read when a
--- session starts (after :CodeForge connect), not when the plugin loaded.
function M.adapter(callback, config)
  local remote = require('codeforge.remote')
  local url, err = remote.current()
  if not url then
    return notify('debugging runs in the remote workspace: ' .. err, vim.log.levels.ERROR)
  end
  local checked, cerr = M.check(config)
  if not checked then
    return notify('cannot debug: ' .. cerr, vim.log.levels.ERROR)
  end
  local args = M.args(url, checked)
  require('codeforge.log').append('debug: ' .. remote.program() .. ' ' .. table.concat(args, ' '))
  callback({ type = 'executable', command = remote.program(), args = args, options = { env = M.env() } })
end

--- The name of the test function around the cursor (`def test_…`), or nil.
function M.test_at_cursor(bufnr)
  bufnr = bufnr or 0
  local row = vim.api.nvim_win_get_cursor(0)[1]
  for lnum = row, 1, -1 do
    local line = vim.api.nvim_buf_get_lines(bufnr, lnum - 1, lnum, false)[1] or ''
    local name = line:match('^%s*async%s+def%s+(test[%w_]*)') or line:match('^%s*def%s+(test[%w_]*)')
    if name then
      local class
      if line:match('^%s+') then
        for up = lnum - 1, 1, -1 do
          class = (vim.api.nvim_buf_get_lines(bufnr, up - 1, up, false)[1] or ''):match('^class%s+([%w_]+)')
          if class then
            break
          end
        end
      end
      return class and (class .. '::' .. name) or name
    end
  end
end

--- The bridge's running debug sessions, from the platform's `bridges.list` (run by the
--- CodeForge language server). Coroutine.
---@return {id: string, label: string, detail: string}[]|nil, string|nil error
function M.sessions()
  local url, err = require('codeforge.remote').current()
  if not url then
    return nil, err
  end
  local client, cerr = require('codeforge.client').ensure()
  if not client then
    return nil, cerr
  end
  local result, rerr = require('codeforge.client').request(client, 'workspace/executeCommand', { command = 'codeforge.bridges.list', arguments = { vim.empty_dict() } })
  if rerr then
    return nil, 'bridges.list failed: ' .. require('codeforge.remote').scrub(type(rerr) == 'table' and rerr.message or tostring(rerr))
  end
  return M.bridge_sessions(result, url)
end

local function bare(u)
  return type(u) == 'string' and u:gsub('^%a+://', ''):gsub('/+$', ''):lower() or ''
end

--- The debug sessions in `bridges.list`'s answer ({items = {{username, bridge, debug = {{id,
--- label, closing}}}}, bridges = {{id, url}}}); only those of the bridge at `url` when the
--- platform lists it (a session is joined through the bridge that runs it).
function M.bridge_sessions(result, url)
  result = type(result) == 'table' and result or {}
  local ours = {}
  local any = false
  for _, b in ipairs(type(result.bridges) == 'table' and result.bridges or {}) do
    if type(b) == 'table' and bare(b.url) ~= '' and bare(b.url) == bare(url) then
      ours[b.id] = true
      any = true
    end
  end
  local out = {}
  for _, s in ipairs(type(result.items) == 'table' and result.items or {}) do
    if type(s) == 'table' and (not any or ours[s.bridge]) then
      for _, d in ipairs(type(s.debug) == 'table' and s.debug or {}) do
        if type(d) == 'table' and type(d.id) == 'string' and d.id:match(SESSION_ID) and d.closing ~= true then
          out[#out + 1] = {
            id = d.id,
            label = type(d.label) == 'string' and d.label ~= '' and d.label or 'debug session',
            detail = type(s.username) == 'string' and ('started by ' .. s.username) or '',
          }
        end
      end
    end
  end
  return out
end

--- Asks which session to join (vim.ui.select); the id, or dap.ABORT. Coroutine (nvim-dap runs
--- configuration functions in one).
function M.pick_session()
  local dap = M.dap()
  local abort = dap and dap.ABORT or nil
  local sessions, err = M.sessions()
  if not sessions then
    -- A bridge (or `codeforge`) that cannot list them: whoever started the session saw its id.
    require('codeforge.log').append('debug: ' .. err)
    local typed = require('codeforge.async').await(vim.ui.input, { prompt = 'Id of the debug session to join: ' })
    typed = typed and vim.trim(typed) or ''
    if typed == '' then
      return abort
    end
    if not typed:match(SESSION_ID) or #typed > 128 then
      notify(('%s is not a debug session id'):format(vim.inspect(typed:sub(1, 40))), vim.log.levels.ERROR)
      return abort
    end
    return typed
  end
  if #sessions == 0 then
    notify('no debug session runs in the remote workspace: start one first (:CodeForge debug file)', vim.log.levels.WARN)
    return abort
  end
  local choice = require('codeforge.async').await(vim.ui.select, sessions, {
    prompt = 'Join a debug session',
    format_item = function(s)
      return ('%s  %s%s'):format(s.id, s.label, s.detail ~= '' and ('  (' .. s.detail .. ')') or '')
    end,
  })
  return choice and choice.id or abort
end

--- dap.configurations.python entries (functions are evaluated by nvim-dap when one is run).
function M.configurations()
  return {
    { type = M.TYPE, request = 'launch', name = 'CodeForge: debug this file (remote workspace)', program = '${file}', localRoot = M.local_root },
    {
      type = M.TYPE, request = 'launch', name = 'CodeForge: debug a module (remote workspace)', localRoot = M.local_root,
      module = function()
        return vim.fn.input('Module: ', 'app')
      end,
    },
    {
      type = M.TYPE, request = 'launch', name = 'CodeForge: debug the test under the cursor (remote workspace)', module = 'pytest', localRoot = M.local_root,
      args = function()
        local test = M.test_at_cursor()
        local file = vim.api.nvim_buf_get_name(0)
        return { test and (file .. '::' .. test) or file, '-x' }
      end,
    },
    { type = M.TYPE, request = 'attach', name = 'CodeForge: join a debug session of the workspace', join = M.pick_session, localRoot = M.local_root },
  }
end

--- Registers the adapter and the configurations with nvim-dap; false when it is not installed.
function M.setup()
  local dap = M.dap()
  if not dap then
    return false
  end
  dap.adapters[M.TYPE] = M.adapter
  dap.configurations.python = dap.configurations.python or {}
  local have = {}
  for _, c in ipairs(dap.configurations.python) do
    have[c.name or ''] = true
  end
  for _, c in ipairs(M.configurations()) do
    if not have[c.name] then
      table.insert(dap.configurations.python, c)
    end
  end
  -- The bridge names a new debug session after `initialize`: whoever started it tells others.
  dap.listeners.after['event_codeforge/debugSession']['codeforge'] = function(session, body)
    M.on_session(session, body)
  end
  M.registered = true
  return true
end

--- `codeforge/debugSession` {id, …}: the id others give to :CodeForge debug join.
function M.on_session(session, body)
  local id = type(body) == 'table' and body.id or nil
  if type(id) ~= 'string' or not id:match(SESSION_ID) then
    return
  end
  M.last_session = id
  if session and session.config and session.config.request == 'attach' then
    return
  end
  notify(('debug session %s runs in the remote workspace: others join it with :CodeForge debug join %s'):format(id, id))
end

--- Starts a configuration (a table), after checking it. Returns true when nvim-dap took it.
function M.start(config)
  if not M.registered and not M.setup() then
    notify('debugging needs nvim-dap: install mfussenegger/nvim-dap (then :checkhealth codeforge)', vim.log.levels.ERROR)
    return false
  end
  local url, uerr = require('codeforge.remote').current()
  if not url then
    notify('debugging runs in the remote workspace: ' .. uerr, vim.log.levels.ERROR)
    return false
  end
  local checked, err = M.check(config)
  if not checked then
    notify('cannot debug: ' .. err, vim.log.levels.ERROR)
    return false
  end
  M.dap().run(checked, { new = true })
  return true
end

local function inside(path, root)
  local rel = vim.fs.relpath(root, path)
  return rel ~= nil and rel ~= '.'
end

--- A code lens' configuration for this editor. A language server running beside the
--- workspace (through the bridge) names the workspace's own paths, not this folder's: the
--- program is then given relative to the workspace root (`cwd`), and that cwd left to the
--- workspace's default.
function M.from_lens(config, root)
  config = vim.deepcopy(config)
  root = vim.fs.normalize(root)
  local function path(p)
    return type(p) == 'string' and vim.fs.normalize(p:match('^file:') and vim.uri_to_fname(p) or p) or nil
  end
  local function foreign(p)
    return p:sub(1, 1) == '/' and p ~= root and not inside(p, root)
  end
  local cwd, program = path(config.cwd), path(config.program)
  if program and foreign(program) and cwd and inside(program, cwd) then
    config.program = vim.fs.relpath(cwd, program)
  end
  if cwd and foreign(cwd) then
    config.cwd = nil
  end
  return config
end

--- vim.lsp.commands['codeforge.debug.start']: a code lens' launch configuration.
function M.lsp_command(command)
  local config = command.arguments and command.arguments[1]
  if type(config) ~= 'table' or vim.islist(config) then
    return notify('codeforge.debug.start takes one launch configuration', vim.log.levels.ERROR)
  end
  M.start(M.from_lens(config, M.local_root()))
end

--- :CodeForge debug {file|test|module NAME|join [ID]|sessions}. Coroutine.
function M.command(words)
  local what = words[2] or 'file'
  local file = vim.api.nvim_buf_get_name(0)
  if what == 'file' then
    return M.start({ name = 'CodeForge: ' .. vim.fs.basename(file), program = file })
  elseif what == 'test' then
    local test = M.test_at_cursor()
    if not test then
      return notify('no test function (def test_…) around the cursor', vim.log.levels.ERROR)
    end
    return M.start({ name = 'CodeForge: ' .. test, module = 'pytest', args = { file .. '::' .. test, '-x' } })
  elseif what == 'module' then
    if not words[3] then
      return notify('give the module: :CodeForge debug module app.main', vim.log.levels.ERROR)
    end
    return M.start({ name = 'CodeForge: -m ' .. words[3], module = words[3], args = vim.list_slice(words, 4) })
  elseif what == 'join' then
    local id = words[3]
    if not id then
      local dap = M.dap()
      id = M.pick_session()
      if id == nil or (dap and id == dap.ABORT) then
        return
      end
    end
    return M.start({ name = 'CodeForge: debug session ' .. id, request = 'attach', join = id })
  elseif what == 'sessions' then
    local sessions, err = M.sessions()
    if not sessions then
      return notify(err, vim.log.levels.ERROR)
    end
    local lines = {}
    for _, s in ipairs(sessions) do
      lines[#lines + 1] = ('%s  %s%s'):format(s.id, s.label, s.detail ~= '' and ('  (' .. s.detail .. ')') or '')
    end
    return notify(#lines > 0 and ('debug sessions:\n' .. table.concat(lines, '\n')) or 'no debug session runs in the remote workspace')
  end
  notify(('unknown :CodeForge debug %s: use file, test, module NAME, join [ID] or sessions'):format(what), vim.log.levels.ERROR)
end

return M
