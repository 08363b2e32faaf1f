--- LSP positions <-> buffer byte columns, in the client's offset encoding (utf-16 unless the
--- server negotiated utf-8 / utf-32). Out-of-range positions clamp: a participant's cursor on a
--- line this buffer has not received yet shows at the last line instead of failing.
local M = {}

--- The buffer's line `row` (0-based), '' past the end.
local function line_text(buf, row)
  return vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
end

--- {line, character} (LSP) -> row, byte col (0-based), clamped into the buffer.
---@return integer row, integer col
function M.to_byte(buf, position, encoding)
  local count = vim.api.nvim_buf_line_count(buf)
  local row = math.max(0, math.min(tonumber(position.line) or 0, count - 1))
  local text = line_text(buf, row)
  local character = math.max(0, tonumber(position.character) or 0)
  if (tonumber(position.line) or 0) >= count then
    return row, #text
  end
  local length = vim.str_utfindex(text, encoding or 'utf-16')
  if character >= length then
    return row, #text
  end
  -- Not strict: an index inside a surrogate pair lands on the character's first byte.
  return row, vim.str_byteindex(text, encoding or 'utf-16', character, false)
end

--- row, byte col (0-based) -> {line, character} in `encoding`.
function M.to_lsp(buf, row, col, encoding)
  local text = line_text(buf, row)
  col = math.max(0, math.min(col, #text))
  return { line = row, character = vim.str_utfindex(text, encoding or 'utf-16', col, false) }
end

--- The buffer showing `uri`, if one is loaded; never creates one (a notification for a file
--- nobody opened must not add buffers to the list).
function M.buffer_of(uri)
  if type(uri) ~= 'string' or uri == '' then
    return nil
  end
  local ok, name = pcall(vim.uri_to_fname, uri)
  if not ok then
    return nil
  end
  local buf = vim.fn.bufnr(name)
  if buf > 0 and vim.api.nvim_buf_is_loaded(buf) then
    return buf
  end
  -- A path written differently (symlinks, ./): compare normalised names of loaded buffers.
  local wanted = vim.fs.normalize(name)
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.fs.normalize(vim.api.nvim_buf_get_name(b)) == wanted then
      return b
    end
  end
  return nil
end

return M
