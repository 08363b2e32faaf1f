--- What the collaboration commands show: the participants (float) and a review (a tab with
--- its diff; <CR> opens the line of the file).
local collab = require('codeforge.collab')

local M = {}

local text = collab.text

--- "file:line" of a participant (1-based line), '' when not in a file.
function M.where(p)
  local file = text(p.file) or text(p.path) or (text(p.uri) and vim.fn.fnamemodify(vim.uri_to_fname(p.uri), ':~:.'))
  if not file then
    return ''
  end
  return file .. (tonumber(p.line) and (':' .. (tonumber(p.line) + 1)) or '')
end

--- The participants in a float: ▶ the driver, ★ the host, role, where they are.
function M.participants(list, state)
  local lines = {}
  for _, p in ipairs(list) do
    local marks = (text(p.username) == text(state and state.driver) and '▶ ' or '  ') .. (p.host == true and '★ ' or '  ')
    -- In the call: talking, muted or there (codeforge/call/state).
    local call = require('codeforge.call').mark(text(p.username))
    marks = marks .. (call ~= '' and call or ' ') .. ' '
    lines[#lines + 1] = ('%s%-28s %-9s %s'):format(marks, collab.display(p), text(p.role) or '', M.where(p))
  end
  if #lines == 0 then
    lines = { 'nobody is in the session' }
  end
  lines[#lines + 1] = ''
  lines[#lines + 1] = '▶ driver  ★ host' .. (require('codeforge.call').state and ('  ' .. require('codeforge.call').LEGEND) or '')
  require('codeforge.ui').float('Collaboration: participants', lines, list)
  return list
end

M.reviews = {} ---@type table<integer, {id: string|nil, root: string, targets: table<integer, {path: string, line: integer}>}>

--- The file line a line of a review buffer stands for: {uri, line (0-based), review}, or nil
--- (a header, a removed line, or not a review buffer).
function M.review_target(buf, lnum)
  local review = M.reviews[buf]
  local target = review and review.targets[lnum]
  if not target then
    return nil
  end
  return { uri = vim.uri_from_fname(vim.fs.joinpath(review.root, target.path)), line = target.line - 1, review = review.id }
end

--- A review (`codeforge.collab.review`'s answer) in a new tab, as a diff.
function M.review(review)
  local lines = {
    ('# review %s: %s (against %s, by %s)'):format(text(review.id) or '?', text(review.title) or '', text(review.base_ref) or '?', text(review.author) or '?'),
  }
  local targets = {} ---@type table<integer, {path: string, line: integer}>
  for _, file in ipairs(type(review.files) == 'table' and review.files or {}) do
    lines[#lines + 1] = ('diff --git a/%s b/%s'):format(text(file.path), text(file.path))
    for _, h in ipairs(type(file.hunks) == 'table' and file.hunks or {}) do
      lines[#lines + 1] = ('@@ -%d,%d +%d,%d @@'):format(h.old_start or 0, h.old_lines or 0, h.new_start or 0, h.new_lines or 0)
      targets[#lines] = { path = text(file.path), line = tonumber(h.new_start) or 1 }
      local new_line = tonumber(h.new_start) or 1
      for _, l in ipairs(type(h.lines) == 'table' and h.lines or vim.split(text(h.lines) or '', '\n', { plain = true })) do
        lines[#lines + 1] = tostring(l)
        if not tostring(l):match('^%-') then
          targets[#lines] = { path = text(file.path), line = new_line }
          new_line = new_line + 1
        end
      end
    end
  end
  if #lines == 1 then
    lines[#lines + 1] = 'no changes against ' .. (text(review.base_ref) or 'the ref')
  end
  -- The project of the buffer the review was asked from: the files' paths are relative to it.
  local root = vim.fs.root(0, { 'codeforge.yaml', 'codeforge.yml', '.git' }) or vim.uv.cwd()
  vim.cmd('tabnew')
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].swapfile = false
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].filetype = 'diff'
  vim.bo[buf].modifiable = false
  pcall(vim.api.nvim_buf_set_name, buf, 'codeforge://review/' .. (text(review.id) or 'new'))
  M.reviews[buf] = { id = text(review.id), root = root, targets = targets }
  vim.api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    once = true,
    callback = function()
      M.reviews[buf] = nil
    end,
  })
  -- <CR> on a hunk line opens that line of the file; `:CodeForge collab comment` there
  -- comments on it as part of the review.
  vim.keymap.set('n', '<CR>', function()
    local target = targets[vim.api.nvim_win_get_cursor(0)[1]]
    if target then
      vim.cmd('edit ' .. vim.fn.fnameescape(vim.fs.joinpath(root, target.path)))
      pcall(vim.api.nvim_win_set_cursor, 0, { target.line, 0 })
    end
  end, { buffer = buf, desc = 'CodeForge: open this line of the file' })
  return review
end

return M
