-- Results as text: list items nested by `parent` (database branches).
local ui = require('codeforge.ui')

describe('render', function()
  it('puts branches under the database they came from', function()
    local result = {
      items = {
        { name = 'fix', parent = 'feature-x' },
        { name = 'main', parent = vim.NIL },
        { name = 'copy', parent = 'gone' }, -- its parent was deleted: shown at the top
        { name = 'feature-x', parent = 'main' },
      },
    }
    local labels = vim.tbl_map(function(line)
      return (line:gsub('%s+parent=.*$', ''))
    end, ui.render(result))
    eq({ 'main', '└─ feature-x', '   └─ fix', 'copy' }, labels)
  end)

  it('leaves a list without parents as it came, and says when it is empty', function()
    eq({ 'a', 'b' }, vim.tbl_map(vim.trim, ui.render({ items = { { name = 'a' }, { name = 'b' } } })))
    eq({ '(none yet)' }, ui.render({ items = {} }))
  end)
end)
