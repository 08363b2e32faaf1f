--- Results and panes as text: floating windows for results, scratch buffers for panes.
local secrets = require('codeforge.secrets')

local M = {}

local LIST_LIMIT = 200
--- Output schema key of operations that return a link to a pane (codeforge/catalog/panes.py):
--- its `url` carries a signed token that opens the page without signing in.
M.PANE_KEY = 'x-codeforge-pane'

--- One line summing a result up, for vim.notify and the log (both keep history): secret fields
--- (the catalog entry's output_secrets) are left out and URL passwords masked, even for a reveal.
function M.summarize(result, op)
  if type(result) ~= 'table' then
    return result == nil and 'done' or secrets.mask_url_passwords(tostring(result))
  end
  if type(result.items) == 'table' then
    return #result.items .. ' item(s)'
  end
  local shown = secrets.mask(result, op, { omit = true })
  local pane = type(op) == 'table' and type(op.output_schema) == 'table' and op.output_schema[M.PANE_KEY] == true
  local parts = {}
  local keys = vim.tbl_keys(shown)
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = shown[k]
    if not (pane and k == 'url') and (type(v) == 'string' or type(v) == 'number' or type(v) == 'boolean') and #parts < 4 then
      parts[#parts + 1] = k .. ': ' .. tostring(v)
    end
  end
  return #parts > 0 and table.concat(parts, ', ') or 'done'
end

local function scalar(v)
  if v == vim.NIL or v == nil then
    return 'null'
  end
  return tostring(v)
end

--- List items in tree order: an item whose `parent` names another item of the list (a
--- database branch) follows that item, one level deeper. {item, depth} pairs.
function M.nest(items)
  local names, children, out = {}, {}, {}
  for _, item in ipairs(items) do
    if type(item) == 'table' and type(item.name) == 'string' then
      names[item.name] = true
    end
  end
  local roots = {}
  for _, item in ipairs(items) do
    local parent = type(item) == 'table' and item.parent or nil
    if type(parent) == 'string' and names[parent] then
      children[parent] = children[parent] or {}
      table.insert(children[parent], item)
    else
      roots[#roots + 1] = item
    end
  end
  local function walk(item, depth)
    out[#out + 1] = { item = item, depth = depth }
    local name = type(item) == 'table' and item.name or nil
    for _, child in ipairs(name and children[name] or {}) do
      walk(child, depth + 1)
    end
  end
  for _, item in ipairs(roots) do
    walk(item, 0)
  end
  return out
end

--- A result as readable lines: lists of items as one row each, objects as `key: value`.
--- `op` (the catalog entry) says what is secret: outside an explicit reveal (`opts.reveal`)
--- secret fields read "(hidden)" and URL passwords are masked; every other value is shown.
function M.render(result, op, opts)
  if not (opts and opts.reveal) then
    result = secrets.mask(result, op)
  end
  local lines = {}
  local function item_line(item)
    if type(item) ~= 'table' then
      return scalar(item)
    end
    local label = item.name or item.slug or item.username or item.id or item.operation
    local facts = {}
    local keys = vim.tbl_keys(item)
    table.sort(keys)
    for _, k in ipairs(keys) do
      local v = item[k]
      if v ~= label and type(v) ~= 'table' and not k:match('_at$') then
        facts[#facts + 1] = k .. '=' .. scalar(v)
      end
    end
    return ('%-24s %s'):format(scalar(label), table.concat(facts, '  '))
  end
  if type(result) ~= 'table' then
    return { scalar(result) }
  end
  if type(result.items) == 'table' then
    for i, entry in ipairs(M.nest(result.items)) do
      if i > LIST_LIMIT then
        lines[#lines + 1] = ('… %d more'):format(#result.items - LIST_LIMIT)
        break
      end
      lines[#lines + 1] = (entry.depth > 0 and (('   '):rep(entry.depth - 1) .. '└─ ') or '') .. item_line(entry.item)
    end
    if #lines == 0 then
      lines[1] = '(none yet)'
    end
    return lines
  end
  local keys = vim.tbl_keys(result)
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = result[k]
    if type(v) == 'table' and v ~= vim.NIL then
      local shown = vim.islist(v) and #v > 20 and vim.list_extend(vim.list_slice(v, 1, 20), { ('… %d more'):format(#v - 20) }) or v
      v = vim.json.encode(shown)
    end
    lines[#lines + 1] = ('%s: %s'):format(k, v == secrets.MASK and '(hidden)' or scalar(v))
  end
  return lines
end

local function scratch(name, lines, filetype)
  local buf = vim.fn.bufnr(name)
  if buf == -1 then
    buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buf, name)
  end
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  if filetype then
    vim.bo[buf].filetype = filetype
  end
  return buf
end

M.last_float = nil ---@type {buf: integer, win: integer, title: string}|nil

--- A bordered floating window over `buf`, centred across, its title on the border; `opts.enter`
--- focuses it, `opts.row` places it (default: the top line).
function M.titled_window(buf, title, width, height, opts)
  opts = opts or {}
  return vim.api.nvim_open_win(buf, opts.enter or false, {
    relative = 'editor',
    row = opts.row or 1,
    col = math.floor((vim.o.columns - width) / 2),
    width = width,
    height = height,
    style = 'minimal',
    border = 'rounded',
    title = ' ' .. title .. ' ',
    title_pos = 'center',
  })
end

--- Show lines in a floating window that `q` or <Esc> closes. With `opts.reveal` the float shows
--- a secret: `y` copies the secret fields of `result` (per `opts.op`'s output schema), and
--- closing the window wipes its buffer, so the secret stays nowhere.
function M.float(title, lines, result, opts)
  opts = opts or {}
  local buf = scratch('codeforge://result/' .. title:gsub('%s+', '-'), lines, 'codeforge')
  local width = math.min(math.max(#title + 4, 40, unpack(vim.tbl_map(vim.fn.strdisplaywidth, lines))), vim.o.columns - 4)
  local height = math.min(#lines, math.max(3, vim.o.lines - 6))
  local row = math.floor((vim.o.lines - height) / 2) - 1
  local win = M.titled_window(buf, title, width, height, { enter = true, row = row })
  for _, key in ipairs({ 'q', '<Esc>' }) do
    vim.keymap.set('n', key, '<cmd>close<cr>', { buffer = buf, nowait = true, desc = 'Close' })
  end
  if opts.reveal then
    vim.bo[buf].bufhidden = 'wipe'
    vim.keymap.set('n', 'y', function()
      for k in pairs(secrets.secret_keys(result, opts.op)) do
        if type(result[k]) == 'string' then
          pcall(vim.fn.setreg, '+', result[k])
          vim.fn.setreg('"', result[k])
          vim.notify('CodeForge: copied ' .. k) -- the name only: notify keeps history
        end
      end
    end, { buffer = buf, desc = 'Copy the revealed value' })
  end
  M.last_float = { buf = buf, win = win, title = title }
  return buf, win
end

local function html_to_text(html)
  local text = html:gsub('<script.-</script>', ''):gsub('<style.-</style>', '')
  text = text:gsub('<br%s*/?>', '\n'):gsub('</p>', '\n'):gsub('</tr>', '\n'):gsub('</h%d>', '\n'):gsub('</li>', '\n')
  text = text:gsub('<[^>]+>', ''):gsub('&lt;', '<'):gsub('&gt;', '>'):gsub('&quot;', '"'):gsub('&#39;', "'"):gsub('&amp;', '&')
  return text
end

--- The buffer name of a page: its address without the query, which may hold a signed token.
local function pane_name(url)
  return 'codeforge://pane/' .. (url:gsub('[?#].*$', ''))
end

--- Open a platform page (a pane) as text in a scratch buffer, asking the platform for its text
--- rendering (`format=text`); HTML is reduced to text otherwise. Returns the buffer.
function M.open_pane(url, on_done)
  local name = pane_name(url)
  local fetch = url:find('/panes/', 1, true) and (url .. (url:find('?', 1, true) and '&' or '?') .. 'format=text') or url
  local buf = scratch(name, { 'loading ' .. (url:gsub('[?#].*$', '')) .. ' …' }, 'codeforge')
  local win = vim.fn.bufwinid(buf)
  if win ~= -1 then
    vim.api.nvim_set_current_win(win)
  else
    vim.cmd('tab sbuffer ' .. buf)
  end
  vim.system({ 'curl', '-sS', '--max-time', '20', '-H', 'Accept: text/plain, text/html;q=0.9, */*;q=0.5', fetch }, { text = true }, function(out)
    vim.schedule(function()
      local lines
      if out.code ~= 0 then
        lines = { 'CodeForge: could not load ' .. (url:gsub('[?#].*$', '')), ((out.stderr or ''):gsub('\n', ' ')), 'Check that the platform runs (:CodeForge status), or open it in a browser.' }
      else
        local body = out.stdout or ''
        if body:find('<html', 1, true) or body:find('<!DOCTYPE', 1, true) then
          body = html_to_text(body)
        end
        lines = vim.split(body, '\n', { plain = true })
      end
      scratch(name, lines, 'codeforge')
      if on_done then
        on_done(buf, out.code == 0)
      end
    end)
  end)
  return buf
end

--- window/showDocument: http(s) panes become text buffers; files open in the editor.
function M.show_document(_, params, ctx)
  local uri = params.uri
  if params.external then
    vim.ui.open(uri)
    return { success = true }
  end
  if uri:match('^https?://') then
    M.open_pane(uri)
    return { success = true }
  end
  local buf = vim.uri_to_bufnr(uri)
  vim.fn.bufload(buf)
  vim.api.nvim_win_set_buf(0, buf)
  if params.selection then
    -- The character is in the client's position encoding (a collaborator followed onto a
    -- line with emoji or CJK lands on the same character).
    local client = ctx and ctx.client_id and vim.lsp.get_client_by_id(ctx.client_id)
    local row, col = require('codeforge.collab.positions').to_byte(buf, params.selection.start, client and client.offset_encoding or 'utf-16')
    pcall(vim.api.nvim_win_set_cursor, 0, { row + 1, col })
  end
  return { success = true }
end

--- The resource view: one section per list operation, its items below it.
function M.resources(sections)
  local lines = {}
  for _, section in ipairs(sections) do
    lines[#lines + 1] = ('▾ %s — %s'):format(section.op.capability, section.op.title)
    if section.error then
      lines[#lines + 1] = '    ! ' .. section.error
    else
      for _, line in ipairs(M.render(section.result, section.op)) do
        lines[#lines + 1] = '    ' .. line
      end
    end
  end
  local buf = scratch('codeforge://resources', lines, 'codeforge')
  vim.cmd('botright vsplit')
  vim.api.nvim_win_set_buf(0, buf)
  vim.api.nvim_win_set_width(0, math.min(80, math.floor(vim.o.columns / 2)))
  return buf
end

return M
