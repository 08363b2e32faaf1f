--- The codeforge language client: finding or starting it, requests, the catalog, and restarting
--- a server that went away.
local async = require('codeforge.async')

local M = {}

M.NAME = 'codeforge'
local RESTART_WINDOW = 180 -- seconds
local MAX_RESTARTS = 5

local catalogs = {} ---@type table<integer, table[]>
local restarts = {} ---@type number[]
local stopping = {} ---@type table<integer, boolean>
local attached = {} ---@type table<integer, boolean> buffers the client was attached to

--- The running client (one that exited is not).
function M.get()
  for _, client in ipairs(vim.lsp.get_clients({ name = M.NAME })) do
    if not client:is_stopped() then
      return client
    end
  end
end

--- Reuse a live client of the same root; never the one that just exited.
local function reuse_client(client, config)
  return client.name == config.name and client.root_dir == config.root_dir and not client:is_stopped()
end

local function root_dir(bufnr)
  return vim.fs.root(bufnr or 0, { 'codeforge.yaml', 'codeforge.yml' }) or vim.uv.cwd()
end

--- The running client, starting one for the current folder if none runs (e.g. :CodeForge in a
--- buffer that is not in a codeforge.yaml project). Waits for it to initialize.
---@return vim.lsp.Client|nil, string|nil error
function M.ensure(bufnr)
  local client = M.get()
  if not client then
    local config = vim.deepcopy(vim.lsp.config[M.NAME] or {})
    if not config.cmd then
      return nil, 'the codeforge language server is not configured: is extensions/nvim on the runtimepath?'
    end
    if vim.fn.executable(config.cmd[1]) == 0 then
      return nil, ('cannot start `%s`: install CodeForge (pip install codeforge) or set vim.g.codeforge = { cmd = { "/path/to/codeforge", "lsp" } }'):format(config.cmd[1])
    end
    config.name = M.NAME
    config.root_dir = root_dir(bufnr)
    local id = vim.lsp.start(config, { bufnr = bufnr or vim.api.nvim_get_current_buf(), reuse_client = reuse_client })
    client = id and vim.lsp.get_client_by_id(id) or nil
    if not client then
      return nil, 'the codeforge language server did not start: see :checkhealth codeforge'
    end
  end
  if not client.initialized then
    vim.wait(15000, function()
      return client.initialized or client:is_stopped()
    end, 20)
  end
  if client:is_stopped() or not client.initialized then
    return nil, 'the codeforge language server stopped while starting: run :CodeForge logs, then :checkhealth codeforge'
  end
  return client
end

--- Send a request from inside a coroutine; returns result, err. `hooks.settle(result, err)`
--- (set when given) ends the wait early, for replies Neovim never delivers. Without `bufnr`
--- every buffer's held-back didChange goes first (Client:request flushes only the buffer it
--- is given, and buffer 0 is none): a command never overtakes typing the server has not seen.
function M.request(client, method, params, bufnr, hooks)
  return async.await(function(cb)
    if hooks then
      hooks.settle = cb
    end
    local ok = client:request(method, params, function(err, result)
      cb(result, err)
    end, bufnr)
    if not ok then
      cb(nil, { message = 'the codeforge language server is not running: run :CodeForge restart' })
    end
  end)
end

--- The catalog (cached per client). Blocks for at most `timeout` ms when not cached yet, so
--- command-line completion can use it.
---@return table[] operations
function M.catalog(client, timeout)
  client = client or M.get()
  if not client then
    return {}
  end
  if catalogs[client.id] then
    return catalogs[client.id]
  end
  local response = client:request_sync('codeforge/catalog', vim.empty_dict(), timeout or 3000, 0)
  local ops = response and response.result and response.result.operations
  if type(ops) == 'table' then
    table.sort(ops, function(a, b)
      return a.name < b.name
    end)
    catalogs[client.id] = ops
    return ops
  end
  return {}
end

function M.find(client, capability, verb)
  for _, op in ipairs(M.catalog(client)) do
    if op.capability == capability and op.name == capability .. '.' .. verb then
      return op
    end
  end
end

function M.on_init(client)
  catalogs[client.id] = nil
  -- Progress is shown from the first job on, even before :CodeForge is used.
  require('codeforge.progress')
end

--- Track the buffers the client serves, to attach them again after a restart.
vim.api.nvim_create_autocmd('LspAttach', {
  group = vim.api.nvim_create_augroup('codeforge.client', { clear = true }),
  callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    if client and client.name == M.NAME then
      attached[ev.buf] = true
      -- Catalog commands that code actions run go through the prompts from the start.
      vim.schedule(function()
        if not client:is_stopped() then
          require('codeforge').register_commands(client)
        end
      end)
    end
  end,
})

--- Stop on purpose (no restart follows).
function M.stop()
  for _, client in ipairs(vim.lsp.get_clients({ name = M.NAME })) do
    stopping[client.id] = true
    client:stop()
  end
end

function M.restart()
  M.stop()
  vim.wait(5000, function()
    return M.get() == nil
  end, 20)
  restarts = {}
  local buffers = vim.tbl_filter(vim.api.nvim_buf_is_valid, vim.tbl_keys(attached))
  local client, err = M.ensure(buffers[1])
  if client then
    for _, buf in ipairs(buffers) do
      vim.lsp.buf_attach_client(buf, client.id)
    end
  end
  return client, err
end

--- A server that exits unasked is started again, unless it keeps dying.
function M.on_exit(code, signal, client_id)
  catalogs[client_id] = nil
  if stopping[client_id] then
    stopping[client_id] = nil
    return
  end
  if code == 0 and signal == 0 then
    return
  end
  local now = vim.uv.now() / 1000
  restarts = vim.tbl_filter(function(t)
    return now - t < RESTART_WINDOW
  end, restarts)
  if #restarts >= MAX_RESTARTS then
    vim.schedule(function()
      vim.notify(
        'CodeForge: the language server stopped 6 times in 3 minutes and is not restarted. See :CodeForge logs and :checkhealth codeforge, then run :CodeForge restart.',
        vim.log.levels.ERROR
      )
    end)
    return
  end
  restarts[#restarts + 1] = now
  vim.schedule(function()
    require('codeforge.log').append(('language server exited (code %d, signal %d): restarting it'):format(code, signal))
    local buffers = vim.tbl_filter(vim.api.nvim_buf_is_valid, vim.tbl_keys(attached))
    local client, err = M.ensure(buffers[1])
    if not client then
      vim.notify('CodeForge: ' .. err, vim.log.levels.ERROR)
      return
    end
    for _, buf in ipairs(buffers) do
      vim.lsp.buf_attach_client(buf, client.id)
    end
    vim.notify('CodeForge: the language server stopped and was restarted', vim.log.levels.WARN)
  end)
end

return M
