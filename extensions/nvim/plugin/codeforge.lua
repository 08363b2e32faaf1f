-- CodeForge for Neovim: everything lives in lua/codeforge/, loaded on first use.
if vim.g.loaded_codeforge or vim.fn.has('nvim-0.11') == 0 then
  return
end
vim.g.loaded_codeforge = true

-- `:help codeforge` needs doc/tags. Plugin managers build it (lazy.nvim does, on install and
-- update), a plain 'runtimepath' entry does not: build it here when it is missing or older
-- than the help file. Two stat calls at startup; a read-only install is left as it is
-- (`:helptags ALL` as its owner builds it).
do
  local doc = vim.fs.joinpath(vim.fs.dirname(vim.fs.dirname(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p'))), 'doc')
  local help, tags = vim.uv.fs_stat(doc .. '/codeforge.txt'), vim.uv.fs_stat(doc .. '/tags')
  if help and (not tags or tags.mtime.sec < help.mtime.sec) then
    pcall(vim.cmd.helptags, vim.fn.fnameescape(doc))
  end
end

vim.api.nvim_create_user_command('CodeForge', function(opts)
  require('codeforge').command(opts)
end, {
  nargs = '*',
  bang = true,
  desc = 'Run a CodeForge platform operation: :CodeForge[!] {capability} {operation} [field=value ...] (! asks optional fields too)',
  complete = function(...)
    return require('codeforge').complete(...)
  end,
})

-- The language server's "Debug this test" / "Debug this file" code lenses run this client-side
-- command with a launch configuration; nvim-dap (when installed) gets the `codeforge` adapter
-- and configurations once startup is over, so a plugin manager has put it on the path by then.
vim.lsp.commands['codeforge.debug.start'] = function(command, ctx)
  require('codeforge.dap').lsp_command(command, ctx)
end
-- Collaboration (:help codeforge-collab): the server's session state, everyone's cursors,
-- conflicts and comment threads. Default handlers, so a codeforge client of any configuration
-- (the local server or `codeforge connect`) gets them.
for _, kind in ipairs({ 'state', 'presence', 'conflict', 'comments' }) do
  vim.lsp.handlers['codeforge/collab/' .. kind] = function(_, params, ctx)
    require('codeforge.collab').handle(kind, params, ctx)
  end
end
-- Calls (:help codeforge-call): who is in the session's call, muted, talking.
vim.lsp.handlers['codeforge/call/state'] = function(_, params)
  require('codeforge.call').on_state(params)
end

vim.schedule(function()
  if #vim.api.nvim_get_runtime_file('lua/dap/init.lua', false) > 0 then
    require('codeforge.dap').setup()
  end
end)
-- nvim-dap loaded later (lazy-loading plugin managers source its plugin file then).
vim.api.nvim_create_autocmd('SourcePost', {
  pattern = '*/plugin/dap.lua',
  callback = function()
    require('codeforge.dap').setup()
  end,
})

if vim.g.codeforge_autostart ~= false then
  vim.lsp.enable('codeforge')
end
