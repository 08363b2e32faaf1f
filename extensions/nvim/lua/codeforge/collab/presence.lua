--- Everyone else's cursors and selections (`codeforge/collab/presence`) as extmarks in one
--- namespace: the selection highlighted in a tint of the participant's colour, the character at
--- the cursor in the colour, and the name as virtual text at the end of that line.
---
--- The server sends the whole list of a document on every change, so each notification
--- replaces that document's marks; an empty list clears them. Notifications for files no
--- buffer shows are kept and drawn when one is opened.
local positions = require('codeforge.collab.positions')

local M = {}

M.ns = vim.api.nvim_create_namespace('codeforge.collab.presence')
M.by_uri = {} ---@type table<string, {participants: table[], encoding: string}>
M.owners = {} ---@type table<integer, table<integer, string>> extmark id -> username, per buffer

-- Colours a participant without a usable one gets, chosen by a hash of the username so the
-- same person keeps the same colour.
local FALLBACK = { '#e06c75', '#61afef', '#98c379', '#c678dd', '#e5c07b', '#56b6c2', '#d19a66', '#be5046' }

local function valid_color(color)
  return type(color) == 'string' and color:match('^#%x%x%x%x%x%x$') ~= nil
end

function M.color_of(participant)
  if valid_color(participant.color) then
    return participant.color:lower()
  end
  local sum = 0
  for i = 1, #tostring(participant.username or '') do
    sum = sum + tostring(participant.username):byte(i)
  end
  return FALLBACK[sum % #FALLBACK + 1]
end

local function rgb(color)
  return tonumber(color:sub(2, 3), 16), tonumber(color:sub(4, 5), 16), tonumber(color:sub(6, 7), 16)
end

--- Black or white, whichever reads better on `color`.
local function contrast(color)
  local r, g, b = rgb(color)
  return (0.299 * r + 0.587 * g + 0.114 * b) > 150 and '#000000' or '#ffffff'
end

--- `color` mixed with the editor's background, for a selection the text stays readable on.
local function tint(color, amount)
  local r, g, b = rgb(color)
  local base = vim.o.background == 'light' and 255 or 0
  local function mix(c)
    return math.floor(base + (c - base) * amount + 0.5)
  end
  return ('#%02x%02x%02x'):format(mix(r), mix(g), mix(b))
end

--- The highlight groups of a colour (defined on first use, and again after a colorscheme
--- change cleared them): cursor, label (the name) and selection.
---@return {cursor: string, label: string, selection: string}
function M.groups(color)
  local key = color:sub(2)
  local names = {
    cursor = 'CodeForgeCollabCursor_' .. key,
    label = 'CodeForgeCollabLabel_' .. key,
    selection = 'CodeForgeCollabSelection_' .. key,
  }
  if vim.tbl_isempty(vim.api.nvim_get_hl(0, { name = names.cursor })) then
    vim.api.nvim_set_hl(0, names.cursor, { bg = color, fg = contrast(color) })
    vim.api.nvim_set_hl(0, names.label, { bg = color, fg = contrast(color), bold = true })
    vim.api.nvim_set_hl(0, names.selection, { bg = tint(color, 0.35) })
  end
  return names
end

local function ordered(a_row, a_col, b_row, b_col)
  if a_row < b_row or (a_row == b_row and a_col <= b_col) then
    return a_row, a_col, b_row, b_col
  end
  return b_row, b_col, a_row, a_col
end

--- Draw the stored participants of `uri` into `buf`.
function M.render(buf, uri)
  vim.api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
  M.owners[buf] = {}
  local entry = M.by_uri[uri]
  if not entry then
    return
  end
  for _, p in ipairs(entry.participants) do
    local groups = M.groups(M.color_of(p))
    local label = ' ' .. tostring(p.name ~= nil and p.name ~= vim.NIL and p.name or p.username) .. ' '
    for i, sel in ipairs(type(p.selections) == 'table' and p.selections or {}) do
      if type(sel) == 'table' and type(sel.head) == 'table' then
        local h_row, h_col = positions.to_byte(buf, sel.head, entry.encoding)
        local a_row, a_col = h_row, h_col
        if type(sel.anchor) == 'table' then
          a_row, a_col = positions.to_byte(buf, sel.anchor, entry.encoding)
        end
        if a_row ~= h_row or a_col ~= h_col then
          local s_row, s_col, e_row, e_col = ordered(a_row, a_col, h_row, h_col)
          vim.api.nvim_buf_set_extmark(buf, M.ns, s_row, s_col, {
            end_row = e_row,
            end_col = e_col,
            hl_group = groups.selection,
            priority = 150,
            strict = false,
          })
        end
        local line = vim.api.nvim_buf_get_lines(buf, h_row, h_row + 1, false)[1] or ''
        local opts = { priority = 160, strict = false, right_gravity = false }
        opts.virt_text = i == 1 and { { label, groups.label } } or nil
        opts.virt_text_pos = 'eol'
        if h_col < #line then
          -- The character under their cursor, in their colour (a multibyte one whole).
          local next_col = vim.str_byteindex(line, 'utf-32', vim.str_utfindex(line, 'utf-32', h_col, false) + 1, false)
          opts.end_col = next_col
          opts.hl_group = groups.cursor
        else
          -- At the end of the line there is no character to colour: a coloured block instead.
          opts.virt_text = vim.list_extend({ { ' ', groups.cursor } }, opts.virt_text or {})
        end
        local id = vim.api.nvim_buf_set_extmark(buf, M.ns, h_row, h_col, opts)
        M.owners[buf][id] = p.username
      end
    end
  end
end

--- `codeforge/collab/presence {uri, participants}`.
function M.on_presence(params, encoding)
  if type(params) ~= 'table' or type(params.uri) ~= 'string' then
    return
  end
  local participants = type(params.participants) == 'table' and params.participants or {}
  M.by_uri[params.uri] = #participants > 0 and { participants = participants, encoding = encoding } or nil
  local buf = positions.buffer_of(params.uri)
  if buf then
    M.render(buf, params.uri)
  end
end

--- A buffer was (re)loaded: draw what arrived before it was.
function M.on_buffer(buf)
  local uri = vim.uri_from_bufnr(buf)
  if M.by_uri[uri] then
    M.render(buf, uri)
  end
end

--- Out of the session: nobody's cursor is shown any more.
function M.clear()
  M.by_uri = {}
  for buf in pairs(M.owners) do
    if vim.api.nvim_buf_is_valid(buf) then
      vim.api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
    end
  end
  M.owners = {}
end

--- The cursors drawn in `buf`, where they are now (extmarks follow local edits):
--- {username, row, col} with 0-based row and byte col.
function M.cursors(buf)
  buf = buf == 0 and vim.api.nvim_get_current_buf() or buf
  local out = {}
  local owners = M.owners[buf] or {}
  for _, mark in ipairs(vim.api.nvim_buf_get_extmarks(buf, M.ns, 0, -1, { details = true })) do
    local username = owners[mark[1]]
    if username then
      out[#out + 1] = { username = username, row = mark[2], col = mark[3], details = mark[4] }
    end
  end
  return out
end

return M
