--- `workspace/applyEdit` from the CodeForge server: refused when made for another version of
--- the buffer (below), and made safe for Neovim's end of buffer:
---
--- A collaborator's text added at the very end of a file reaches us as an insertion at the
--- position after the final newline, (line_count, 0). Neovim 0.11's apply_text_edits adds a
--- line to reach that position and keeps it: inserting "c\n" into "a\nb\n" there gives
--- "a\nb\nc\n\n", one empty line too many. The server sees a text it did not send, corrects
--- it with another edit at the end, and the file grows a line per round. The same insertion
--- written as "\nc" at the end of the last line is the same text change, and Neovim applies it
--- exactly; every other edit is passed on untouched.
local M = {}

--- Rewrite the end-of-buffer insertions of `edits` (TextEdit[]) for buffer `buf`.
---@return integer how many were rewritten
function M.fix_end_insertions(buf, edits, encoding)
  local count = vim.api.nvim_buf_line_count(buf)
  local fixed = 0
  for _, edit in ipairs(type(edits) == 'table' and edits or {}) do
    local range, text = edit.range, edit.newText
    if
      type(range) == 'table'
      and type(text) == 'string'
      and range.start.line == count
      and range.start.character == 0
      and range['end'].line == count
      and range['end'].character == 0
      and text:sub(-1) == '\n'
    then
      local last = vim.api.nvim_buf_get_lines(buf, count - 1, count, false)[1] or ''
      local character = vim.str_utfindex(last, encoding or 'utf-16', #last, false)
      edit.range = { start = { line = count - 1, character = character }, ['end'] = { line = count - 1, character = character } }
      edit.newText = '\n' .. text:sub(1, -2)
      fixed = fixed + 1
    end
  end
  return fixed
end

local function buffer(uri)
  local ok, buf = pcall(vim.uri_to_bufnr, uri)
  if not ok then
    return nil
  end
  if not vim.api.nvim_buf_is_loaded(buf) then
    -- Neovim loads it to apply the edit anyway; its line count is needed first.
    vim.fn.bufload(buf)
  end
  return buf
end

--- Rewrite every end-of-buffer insertion of a WorkspaceEdit, in place.
function M.fix_workspace_edit(edit, encoding)
  if type(edit) ~= 'table' then
    return 0
  end
  local fixed = 0
  for _, change in ipairs(type(edit.documentChanges) == 'table' and edit.documentChanges or {}) do
    if type(change) == 'table' and type(change.textDocument) == 'table' and type(change.edits) == 'table' then
      local buf = buffer(change.textDocument.uri)
      if buf then
        fixed = fixed + M.fix_end_insertions(buf, change.edits, encoding)
      end
    end
  end
  for uri, edits in pairs(type(edit.changes) == 'table' and edit.changes or {}) do
    local buf = buffer(uri)
    if buf then
      fixed = fixed + M.fix_end_insertions(buf, edits, encoding)
    end
  end
  return fixed
end

--- The first TextDocumentEdit of `edit` made for another version of its buffer than the
--- buffer's now: its uri, the version it was made for and the buffer's. Neovim 0.11 checks
--- versions itself, but never version 0 (the version of a just-opened buffer) and, when the
--- buffer is newer, skips the edit yet answers `applied`: an edit made before we typed would
--- land at positions that moved, and the server could not know.
function M.stale(edit)
  for _, change in ipairs(type(edit) == 'table' and type(edit.documentChanges) == 'table' and edit.documentChanges or {}) do
    local doc = type(change) == 'table' and change.textDocument
    if type(doc) == 'table' and type(doc.version) == 'number' and type(doc.uri) == 'string' then
      local ok, buf = pcall(vim.uri_to_bufnr, doc.uri)
      -- What the client sent last as the buffer's version (0.11: util.buf_versions).
      local versions = vim.lsp.util.buf_versions
      local current = ok and (versions and versions[buf] or (vim.api.nvim_buf_is_loaded(buf) and vim.b[buf].changedtick)) or nil
      if current and current ~= doc.version then
        return doc.uri, doc.version, current, buf
      end
    end
  end
end

--- The codeforge client's `workspace/applyEdit` handler (lsp/codeforge.lua): refused when made
--- for another version of a buffer (the server recomputes it from the room's text and sends
--- it again), else applied as Neovim does, after the end-of-buffer rewrite.
function M.apply_edit(_, params, ctx)
  if type(params) ~= 'table' or type(params.edit) ~= 'table' then
    return { applied = false, failureReason = 'workspace/applyEdit without an edit' }
  end
  local client = ctx and ctx.client_id and vim.lsp.get_client_by_id(ctx.client_id)
  local uri, version, current, buf = M.stale(params.edit)
  if uri then
    -- What was typed goes out first (Neovim holds didChange back up to 150 ms): the server
    -- reads our changes, then the refusal, and recomputes the edit from both.
    if client then
      pcall(function()
        require('vim.lsp._changetracking').flush(client, buf)
      end)
    end
    return { applied = false, failureReason = ('%s is at version %d, the edit was made for version %d'):format(uri, current, version) }
  end
  local encoding = client and client.offset_encoding or 'utf-16'
  M.fix_workspace_edit(params.edit, encoding)
  -- Neovim's handler, less its print of the label: a collaborator's every keystroke would
  -- put "Workspace edit CodeForge collaboration" in the message history.
  local ok, result = pcall(vim.lsp.util.apply_workspace_edit, params.edit, encoding)
  return { applied = ok, failureReason = not ok and tostring(result) or nil }
end

return M
