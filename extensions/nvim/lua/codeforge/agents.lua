--- Agents in Neovim (:help codeforge-agents).
---
--- The language server offers the agents as code actions ("Fix with agent: …", "Write tests
--- for `f` with agent", "Refactor selection with agent", "Build the feature this comment
--- describes") and sends the run's change set back as `workspace/applyEdit` whose change
--- annotations need confirmation. This module is the confirmation: the change as a diff in a
--- float, then a yes/no question; applied edits are written to the files that had no unsaved
--- changes (the change is then on disk, where tests see it). Undo comes the same way, without
--- the question (the person asked for it).
---
--- `:CodeForge agents actions` asks for the agent code actions with every diagnostic on the
--- cursor's line, those of other servers included: Neovim sends a server only its own
--- diagnostics, and "Fix with agent" is for a linter's, type checker's or test runner's.
--- `:CodeForge agents transcript [run=ID]` opens a run's transcript and cost (the `agent-run`
--- pane, as text). The catalog's `agents` operations (start, list, show, cancel, accept,
--- reject, undo) are the generic `:CodeForge agents VERB`; `undo` reaches the language
--- server's command of that name, which has the editor apply the reverse edit.
local async = require('codeforge.async')

local M = {}

M.PREVIEW = 'codeforge://agent-change'
M.SUBCOMMANDS = {
  actions = 'The agent code actions here, with every diagnostic on the line',
  transcript = "A run's transcript and cost: :CodeForge agents transcript [run=ID]",
}
M.last_preview = nil ---@type string[]|nil the diff last shown, for tests and :messages-free review
M.decisions = {} ---@type {label: string, applied: boolean}[]

--- Whether a subcommand is this module's (the others are the catalog's).
function M.owns(word)
  return M.SUBCOMMANDS[word] ~= nil
end

function M.subcommands()
  return vim.tbl_keys(M.SUBCOMMANDS)
end

--- Whether a workspace/applyEdit is an agent's: it carries change annotations.
function M.owns_edit(params)
  local edit = type(params) == 'table' and params.edit
  return type(edit) == 'table' and type(edit.changeAnnotations) == 'table' and next(edit.changeAnnotations) ~= nil
end

function M.needs_confirmation(edit)
  for _, annotation in pairs(type(edit.changeAnnotations) == 'table' and edit.changeAnnotations or {}) do
    if type(annotation) == 'table' and annotation.needsConfirmation == true then
      return true
    end
  end
  return false
end

local function relative(uri)
  local path = vim.uri_to_fname(uri)
  local root = vim.uv.cwd() or ''
  return vim.startswith(path, root .. '/') and path:sub(#root + 2) or path
end

local function buffer_lines(uri)
  local buf = vim.uri_to_bufnr(uri)
  if not vim.api.nvim_buf_is_loaded(buf) then
    vim.fn.bufload(buf)
  end
  return vim.api.nvim_buf_get_lines(buf, 0, -1, false)
end

--- `lines` with the text edits applied, computed in a scratch buffer (the file's own buffer
--- is left as it is until the person says yes).
local function edited(lines, edits, encoding)
  local scratch = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(scratch, 0, -1, false, lines)
  local ok, err = pcall(vim.lsp.util.apply_text_edits, vim.deepcopy(edits), scratch, encoding)
  local out = vim.api.nvim_buf_get_lines(scratch, 0, -1, false)
  vim.api.nvim_buf_delete(scratch, { force = true })
  if not ok then
    error(err)
  end
  return out
end

local function joined(lines)
  return #lines == 0 and '' or (table.concat(lines, '\n') .. '\n')
end

--- The change as readable lines: per file its annotation's label and description, then a
--- unified diff (created and deleted files said so).
function M.preview_lines(edit, encoding)
  local annotations = type(edit.changeAnnotations) == 'table' and edit.changeAnnotations or {}
  local out, described, created = {}, {}, {}
  local function heading(id, fallback)
    local a = annotations[id] or {}
    out[#out + 1] = ('## %s'):format(a.label or fallback)
    if type(a.description) == 'string' and a.description ~= '' and not described[a.description] then
      described[a.description] = true
      vim.list_extend(out, vim.split(a.description, '\n'))
    end
  end
  for _, change in ipairs(type(edit.documentChanges) == 'table' and edit.documentChanges or {}) do
    if change.kind == 'create' then
      created[change.uri] = true
      heading(change.annotationId, relative(change.uri))
      out[#out + 1] = 'new file ' .. relative(change.uri)
    elseif change.kind == 'delete' then
      heading(change.annotationId, relative(change.uri))
      out[#out + 1] = 'delete ' .. relative(change.uri)
    elseif change.kind == 'rename' then
      out[#out + 1] = ('rename %s → %s'):format(relative(change.oldUri), relative(change.newUri))
    elseif type(change.textDocument) == 'table' then
      local uri = change.textDocument.uri
      local old = created[uri] and {} or buffer_lines(uri)
      local new = edited(old, change.edits or {}, encoding)
      if not created[uri] then
        heading((change.edits[1] or {}).annotationId, relative(uri))
      end
      local diff = vim.diff(joined(old), joined(new), { result_type = 'unified', ctxlen = 3 })
      ---@cast diff string
      out[#out + 1] = '--- a/' .. relative(uri)
      out[#out + 1] = '+++ b/' .. relative(uri)
      vim.list_extend(out, vim.split(diff, '\n', { trimempty = true }))
    end
    out[#out + 1] = ''
  end
  return out
end

local function show(lines, title)
  local buf = vim.fn.bufnr(M.PREVIEW)
  if buf == -1 then
    buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_name(buf, M.PREVIEW)
  end
  vim.bo[buf].buftype, vim.bo[buf].bufhidden, vim.bo[buf].swapfile = 'nofile', 'hide', false
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = 'diff'
  local width = math.max(20, math.min(vim.o.columns - 4, math.max(60, unpack(vim.tbl_map(vim.fn.strdisplaywidth, lines)))))
  local height = math.max(3, math.min(#lines, vim.o.lines - 8))
  return require('codeforge.ui').titled_window(buf, title, width, height)
end

--- Ask yes or no (vim.ui.select, so a picker plugin shows it). Inside a coroutine: the
--- server's request waits for the answer.
local function ask(prompt)
  local choice = async.await(vim.ui.select, { 'Apply', 'Reject' }, { prompt = prompt, kind = 'codeforge.agent_change' })
  return choice == 'Apply'
end

--- Write the buffers the edit changed that had nothing unsaved before it (`clean`).
local function write_changed(edit, clean)
  for _, change in ipairs(type(edit.documentChanges) == 'table' and edit.documentChanges or {}) do
    local uri = type(change.textDocument) == 'table' and change.textDocument.uri or nil
    if uri and clean[uri] ~= false then
      local buf = vim.uri_to_bufnr(uri)
      if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].modified then
        vim.api.nvim_buf_call(buf, function()
          local ok, err = pcall(vim.cmd, 'silent update')
          if not ok then
            vim.notify(('CodeForge: could not save %s: %s'):format(relative(uri), err), vim.log.levels.WARN)
          end
        end)
      end
    end
  end
end

--- The codeforge client's `workspace/applyEdit` for an agent's change (lsp/codeforge.lua sends
--- annotated edits here): the diff, the question when an annotation needs confirmation, then
--- Neovim's own apply; the changed files that had no unsaved changes are saved.
function M.apply_edit(_, params, ctx)
  local edit = params.edit
  local client = ctx and ctx.client_id and vim.lsp.get_client_by_id(ctx.client_id)
  local encoding = client and client.offset_encoding or 'utf-16'
  local label = params.label or 'Agent change'
  local stale_uri, version, current = require('codeforge.collab.edits').stale(edit)
  if stale_uri then
    return { applied = false, failureReason = ('%s changed since (version %d, the edit is for %d): run the agent again'):format(relative(stale_uri), current, version) }
  end
  if M.needs_confirmation(edit) then
    local ok, lines = pcall(M.preview_lines, edit, encoding)
    if not ok then
      return { applied = false, failureReason = 'the change does not fit the buffer: ' .. tostring(lines) }
    end
    M.last_preview = lines
    local co, main = coroutine.running()
    if not co or main then
      return { applied = false, failureReason = 'Neovim could not ask (not in a coroutine)' }
    end
    local win = show(lines, label)
    local yes = ask(label .. ': apply this change?')
    if vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_close(win, true)
    end
    M.decisions[#M.decisions + 1] = { label = label, applied = yes }
    if not yes then
      return { applied = false, failureReason = 'refused in Neovim' }
    end
  end
  local clean = {}
  for _, change in ipairs(type(edit.documentChanges) == 'table' and edit.documentChanges or {}) do
    local uri = type(change.textDocument) == 'table' and change.textDocument.uri or nil
    local buf = uri and vim.fn.bufnr(vim.uri_to_fname(uri)) or -1
    if uri and buf ~= -1 and vim.api.nvim_buf_is_loaded(buf) then
      clean[uri] = not vim.bo[buf].modified
    end
  end
  local ok, err = pcall(vim.lsp.util.apply_workspace_edit, edit, encoding)
  if not ok then
    return { applied = false, failureReason = tostring(err) }
  end
  write_changed(edit, clean)
  return { applied = true }
end

--- The diagnostics on the cursor's line from every source, as LSP diagnostics.
local function line_diagnostics(bufnr, row)
  local found = vim.diagnostic.get(bufnr, { lnum = row })
  return vim.lsp.diagnostic.from(found)
end

--- The agent code actions at the cursor (or the visual selection, with `range`).
function M.actions(opts)
  opts = opts or {}
  local bufnr = vim.api.nvim_get_current_buf()
  local row = vim.api.nvim_win_get_cursor(0)[1] - 1
  vim.lsp.buf.code_action({
    context = { diagnostics = line_diagnostics(bufnr, row), only = opts.only },
    range = opts.range,
    apply = opts.apply,
    filter = function(action)
      local title = type(action) == 'table' and action.title or ''
      return title:find('with agent', 1, true) ~= nil or title:find('comment describes', 1, true) ~= nil
    end,
  })
end

local function request(client, command, argument)
  return require('codeforge.client').request(client, 'workspace/executeCommand', { command = command, arguments = { argument } })
end

--- Open a run's transcript (the agent-run pane); without `run=ID`, choose from the runs.
local function transcript(client, words)
  local run = nil
  for _, word in ipairs(words) do
    local given = word:match('^run=(%x+)$')
    if not given then
      return nil, ('"%s" is not run=ID'):format(word)
    end
    run = given
  end
  if not run then
    local listed, err = request(client, 'codeforge.agents.list', vim.empty_dict())
    if err then
      return nil, err
    end
    local items = type(listed) == 'table' and listed.items or {}
    if #items == 0 then
      return nil, 'no agent run yet: run an agent first (a code action, or :CodeForge agents start)'
    end
    local chosen = async.await(vim.ui.select, items, {
      prompt = 'Transcript of which run',
      format_item = function(r)
        return ('%s  %-15s %-9s %s'):format(r.id:sub(1, 8), r.agent, r.state, r.title or '')
      end,
      kind = 'codeforge.agent_run',
    })
    if not chosen then
      return nil
    end
    run = chosen.id
  end
  return request(client, 'codeforge.agents.transcript', { run = run })
end

--- :CodeForge agents {actions|transcript} …; must run inside a coroutine.
function M.command(words)
  local codeforge = require('codeforge')
  local sub = words[2]
  if sub == 'actions' then
    return M.actions()
  end
  local client, err = require('codeforge.client').ensure()
  if not client then
    return codeforge.report_error('starting the language server', err)
  end
  local result, terr = transcript(client, vim.list_slice(words, 3))
  if terr then
    return codeforge.report_error(':CodeForge agents transcript', terr)
  end
  return result
end

return M
