-- The CodeForge language server for vim.lsp.config / vim.lsp.enable (Neovim 0.11+).
-- Override any field with vim.lsp.config('codeforge', {...}); the plugin enables it unless
-- vim.g.codeforge_autostart is false. Settings from vim.g.codeforge (see :h codeforge-settings).
local settings = vim.g.codeforge or {}
-- A remote workspace from the start (vim.g.codeforge.remote_url): the server through its bridge.
-- A wrong URL is reported by :checkhealth codeforge and :CodeForge connect; the local server runs.
local remote = require('codeforge.remote')
local remote_url = settings.remote_url and remote.parse_url(settings.remote_url) or nil
if remote_url then
  remote.url = remote_url
end

---@type vim.lsp.Config
return {
  cmd = remote_url and remote.connect_cmd(remote_url, { kind = 'lsp', sync = remote.sync_folder() }) or settings.cmd or { 'codeforge', 'lsp' },
  -- `codeforge connect` reads the token from its environment, never from its command line.
  cmd_env = remote_url and remote.env() or nil,
  -- A CodeForge project is a folder with codeforge.yaml: files in it (agent code actions work in
  -- any file) share one server. Files elsewhere and the plugin's own scratch buffers start none.
  root_dir = function(bufnr, on_dir)
    if vim.bo[bufnr].buftype ~= '' then
      return
    end
    local root = vim.fs.root(bufnr, { 'codeforge.yaml', 'codeforge.yml' })
    if root then
      on_dir(root)
    end
  end,
  init_options = {
    url = settings.url or '',
    token = settings.token or '',
    project = settings.project or '',
    -- Results are shown by the plugin, in a floating window.
    showResults = 'none',
  },
  capabilities = {
    window = { workDoneProgress = true, showDocument = { support = true } },
    -- Neovim applies documentChanges but does not say so; agents' changes need them, and
    -- their change annotations are shown and confirmed (agents.lua).
    workspace = {
      applyEdit = true,
      workspaceEdit = { documentChanges = true, resourceOperations = { 'create', 'rename', 'delete' }, changeAnnotationSupport = { groupsOnLabel = false } },
    },
  },
  handlers = {
    ['window/showDocument'] = function(...)
      return require('codeforge.ui').show_document(...)
    end,
    ['window/logMessage'] = function(...)
      return require('codeforge.log').on_log_message(...)
    end,
    -- Collaborators' edits come this way: refused when made for another version of the
    -- buffer (the server sends them again), insertions at its end applied exactly. An agent's
    -- change carries change annotations: its diff is shown and the person asked (agents.lua).
    ['workspace/applyEdit'] = function(err, params, ctx)
      if require('codeforge.agents').owns_edit(params) then
        return require('codeforge.agents').apply_edit(err, params, ctx)
      end
      return require('codeforge.collab.edits').apply_edit(err, params, ctx)
    end,
    ['window/showMessage'] = function(...)
      return require('codeforge.log').on_show_message(...)
    end,
    -- Added to the stream by `codeforge connect` (a remote workspace).
    ['codeforge/connection'] = function(...)
      return require('codeforge.remote').on_connection(...)
    end,
    ['codeforge/syncStatus'] = function(...)
      return require('codeforge.remote').on_sync_status(...)
    end,
  },
  on_init = function(client)
    require('codeforge.client').on_init(client)
  end,
  on_exit = function(code, signal, client_id)
    require('codeforge.client').on_exit(code, signal, client_id)
  end,
}
