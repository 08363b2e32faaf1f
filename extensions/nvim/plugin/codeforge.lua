-- CodeForge for Neovim: everything lives in lua/codeforge/, loaded on first use.
if vim.g.loaded_codeforge or vim.fn.has('nvim-0.11') == 0 then
  return
end
vim.g.loaded_codeforge = true

vim.api.nvim_create_user_command('CodeForge', function(opts)
  require('codeforge').command(opts)
end, {
  nargs = '*',
  desc = 'Run a CodeForge platform operation: :CodeForge {capability} {operation} [field=value ...]',
  complete = function(...)
    return require('codeforge').complete(...)
  end,
})

if vim.g.codeforge_autostart ~= false then
  vim.lsp.enable('codeforge')
end
