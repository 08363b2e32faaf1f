--- A merge that needs a person (`codeforge/collab/conflict {id, uri, base, ours, theirs}`): a new
--- tab with three scratch buffers in diff mode, ours | base | theirs. In any of them `co`
--- takes ours, `ct` theirs, `cb` both, `ce` the text of the buffer the cursor is in (edit one
--- first), `q` closes the tab and leaves the conflict for later (`:CodeForge collab conflicts`).
--- The choice goes to `codeforge.collab.resolveConflict`; the room applies it for everyone.
local M = {}

M.pending = {} ---@type table<string, {id: string, uri: string, base: string, ours: string, theirs: string}>
M.tabs = {} ---@type table<string, integer> conflict id -> tabpage

local SIDES = { 'ours', 'base', 'theirs' }
M.KEYS = { co = 'ours', ct = 'theirs', cb = 'both', ce = 'text' }

local function text(value)
  return (value ~= nil and value ~= vim.NIL) and tostring(value) or nil
end

--- The file a conflict is in, relative to the working directory when below it.
function M.file_of(conflict)
  local ok, name = pcall(vim.uri_to_fname, conflict.uri)
  return ok and vim.fn.fnamemodify(name, ':~:.') or tostring(conflict.uri)
end

local function lines_of(value)
  local s = text(value) or ''
  -- A trailing newline is the end of the last line, not an empty line after it.
  return vim.split(s:gsub('\n$', ''), '\n', { plain = true })
end

--- The conflict the current tab shows, if it is one.
function M.current()
  local id = vim.t.codeforge_conflict
  return id and M.pending[id] or nil, id
end

--- `codeforge/collab/conflict`: remember it and open its tab.
function M.on_conflict(params)
  if type(params) ~= 'table' or not text(params.id) or type(params.uri) ~= 'string' then
    return
  end
  if params.resolved ~= nil and params.resolved ~= vim.NIL and params.resolved ~= false then
    -- Someone resolved it (a server that says so): this view is done.
    return M.done(text(params.id), 'resolved by someone else')
  end
  local conflict = { id = text(params.id), uri = params.uri, base = text(params.base) or '', ours = text(params.ours) or '', theirs = text(params.theirs) or '' }
  M.pending[conflict.id] = conflict
  -- The server says what happened (a disk change, or file sync: origin "sync").
  local what = text(params.message) or ('%s: changes on disk overlap your unsaved edits'):format(M.file_of(conflict))
  require('codeforge.collab').notify(
    ('%s; choose in the conflict tab (co ours, ct theirs, cb both, ce this text)'):format(what),
    vim.log.levels.WARN
  )
  M.open(conflict.id)
end

--- Open (or go to) the three-way tab of conflict `id`.
---@return integer|nil tabpage, string|nil error
function M.open(id)
  local conflict = M.pending[id]
  if not conflict then
    return nil, ('no conflict %s is waiting'):format(tostring(id))
  end
  local tab = M.tabs[id]
  if tab and vim.api.nvim_tabpage_is_valid(tab) then
    vim.api.nvim_set_current_tabpage(tab)
    return tab
  end
  local ft = vim.filetype.match({ filename = M.file_of(conflict) }) or ''
  vim.cmd('tabnew')
  tab = vim.api.nvim_get_current_tabpage()
  vim.t.codeforge_conflict = id
  M.tabs[id] = tab
  local placeholder = vim.api.nvim_get_current_buf() -- the empty buffer :tabnew made, deleted below
  for i, side in ipairs(SIDES) do
    if i > 1 then
      vim.cmd('rightbelow vsplit')
    end
    local buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines_of(conflict[side]))
    -- A name per conflict and side; the id keeps two conflicts of one file apart.
    pcall(vim.api.nvim_buf_set_name, buf, ('codeforge://conflict/%s/%s/%s'):format(id, side, M.file_of(conflict)))
    vim.bo[buf].buftype = 'nofile'
    vim.bo[buf].bufhidden = 'wipe'
    vim.bo[buf].swapfile = false
    if ft ~= '' then
      vim.bo[buf].filetype = ft
    end
    vim.b[buf].codeforge_conflict_side = side
    vim.api.nvim_win_set_buf(0, buf)
    local title = ({ ours = 'ours (your edits)', base = 'base', theirs = 'theirs (the other change)' })[side]
    local bar = ('%s · %s — co ours · ct theirs · cb both · ce this text · q later'):format(title, M.file_of(conflict))
    vim.wo.winbar = (bar:gsub('%%', '%%%%'))
    for lhs, choice in pairs(M.KEYS) do
      vim.keymap.set('n', lhs, function()
        require('codeforge.async').run(M.accept, choice)
      end, { buffer = buf, nowait = true, desc = 'CodeForge: resolve the conflict with ' .. choice })
    end
    vim.keymap.set('n', 'q', function()
      M.close(id)
    end, { buffer = buf, nowait = true, desc = 'CodeForge: close the conflict tab (resolve later)' })
    vim.cmd('diffthis')
  end
  if vim.api.nvim_buf_is_valid(placeholder) and placeholder ~= vim.api.nvim_get_current_buf() then
    pcall(vim.api.nvim_buf_delete, placeholder, { force = true })
  end
  vim.cmd('1wincmd w')
  return tab
end

function M.close(id)
  local tab = M.tabs[id]
  M.tabs[id] = nil
  if tab and vim.api.nvim_tabpage_is_valid(tab) and #vim.api.nvim_list_tabpages() > 1 then
    local number = vim.api.nvim_tabpage_get_number(tab)
    vim.cmd(number .. 'tabclose!')
  end
end

--- Answer the conflict of the current tab (or `id`) with `choice`. Inside a coroutine.
---@return table|nil result, string|nil error
function M.accept(choice, id)
  local collab = require('codeforge.collab')
  if not vim.tbl_contains({ 'ours', 'theirs', 'both', 'text' }, choice) then
    return nil, ('"%s" is not a choice: use ours, theirs, both or text'):format(tostring(choice))
  end
  id = id or vim.t.codeforge_conflict
  local conflict = id and M.pending[id]
  if not conflict then
    local err = 'this tab shows no conflict: run :CodeForge collab conflicts to pick one'
    require('codeforge').report_error('resolving the conflict', err)
    return nil, err
  end
  local args = { id = id, choice = choice }
  if choice == 'text' then
    local side = vim.b.codeforge_conflict_side
    if not side or vim.t.codeforge_conflict ~= id then
      local err = 'put the cursor in the ours, base or theirs window (edited as you want the file), then press ce'
      require('codeforge').report_error('resolving the conflict', err)
      return nil, err
    end
    args.text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n') .. '\n'
  end
  local result, err = collab.execute('resolveConflict', args)
  if err then
    local message = tostring(err.message or '')
    if message:lower():find('no such conflict') or message:lower():find('not found') or message:lower():find('already resolved') then
      -- Another participant chose first: the room has their choice.
      M.done(id, 'already resolved by someone else')
      return nil, message
    end
    require('codeforge').report_error('resolving the conflict in ' .. M.file_of(conflict), err)
    return nil, message
  end
  M.done(id, choice)
  return result
end

--- Conflict `id` is over (`how`: the choice, or who made it): forget it and close its tab.
function M.done(id, how)
  local conflict = M.pending[id]
  M.pending[id] = nil
  M.close(id)
  if conflict then
    require('codeforge.collab').notify(('conflict in %s resolved (%s)'):format(M.file_of(conflict), how))
  end
end

return M
