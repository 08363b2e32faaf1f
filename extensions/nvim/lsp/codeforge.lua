-- The CodeForge language server for vim.lsp.config / vim.lsp.enable (Neovim 0.11+).
-- Override any field with vim.lsp.config('codeforge', {...}); the plugin enables it unless
-- vim.g.codeforge_autostart is false. Settings from vim.g.codeforge (see :h codeforge-settings).
local settings = vim.g.codeforge or {}

---@type vim.lsp.Config
return {
  cmd = settings.cmd or { 'codeforge', 'lsp' },
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
  },
  handlers = {
    ['window/showDocument'] = function(...)
      return require('codeforge.ui').show_document(...)
    end,
    ['window/logMessage'] = function(...)
      return require('codeforge.log').on_log_message(...)
    end,
    ['window/showMessage'] = function(...)
      return require('codeforge.log').on_show_message(...)
    end,
  },
  on_init = function(client)
    require('codeforge.client').on_init(client)
  end,
  on_exit = function(code, signal, client_id)
    require('codeforge.client').on_exit(code, signal, client_id)
  end,
}
