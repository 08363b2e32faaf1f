--- Monitoring in Neovim (:help codeforge-monitoring).
---
--- Production errors arrive as LSP diagnostics (source "codeforge production") at the lines
--- that failed, with their quick fixes ("Fix with the Bug Fixer agent", "Resolve error", "Show
--- error") as code actions, and alerts as messages: nothing to do here for them.
---
--- `:CodeForge monitoring tail [query]` follows the project's logs in a split: it calls the
--- language server's `codeforge.monitoring.tail {query, after, wait_s}` (a long-poll of the
--- platform's `monitoring.tail`) again and again, appending the lines as they come; `q` closes
--- the split and stops following. A bad query is reported at once (the message names the
--- column) and nothing is left running. The catalog's other `monitoring` operations are the
--- generic `:CodeForge monitoring VERB`.
local M = {}

M.SUBCOMMANDS = {
  tail = 'Follow the logs in a split: :CodeForge monitoring tail [query] (q closes)',
}
M.COMMAND = 'codeforge.monitoring.tail'
M.WAIT_S = 10 -- each request waits this long on the platform for new lines
M.RETRY_MS = 2000 -- after a failed request (the platform restarting): try again this much later
M.tails = {} ---@type table<integer, table> buffer -> its tail
M.SOURCE = 'codeforge production' -- the diagnostics' source
M.COMPLETION_LINES = 200 -- latest log lines whose labels Tab offers after `tail`
-- The platform's operations this needs, and what each gives (checked by :checkhealth; the
-- editor feed's monitoring.notifications is not in the editors' catalog, so not checked).
M.PLATFORM_OPS = {
  { 'monitoring.errors', 'production errors as diagnostics' },
  { 'monitoring.tail', ':CodeForge monitoring tail' },
}

--- Whether a subcommand is this module's (the others are the catalog's).
function M.owns(word)
  return M.SUBCOMMANDS[word] ~= nil
end

function M.subcommands()
  return vim.tbl_keys(M.SUBCOMMANDS)
end

--- One log entry as a line: time, level, labels worth showing, the text (newlines kept apart).
function M.format(entry)
  local time = type(entry.time) == 'string' and entry.time:gsub('^%d+%-%d+%-%d+T', ''):gsub('%.%d+', ''):gsub('%+00:00$', 'Z') or ''
  local level = (type(entry.level) == 'string' and entry.level ~= '') and entry.level:upper() or '-'
  local service = type(entry.labels) == 'table' and entry.labels.service or nil
  local text = type(entry.line) == 'string' and entry.line or vim.inspect(entry)
  local head = ('%s %-5s %s'):format(time, level, (service and service ~= vim.NIL) and ('[' .. service .. '] ') or '')
  local out = {}
  for i, part in ipairs(vim.split(text, '\n', { trimempty = true })) do
    out[#out + 1] = (i == 1 and head or '    ') .. part
  end
  return out
end

local function append(state, lines)
  local buf = state.buf
  if not vim.api.nvim_buf_is_valid(buf) or #lines == 0 then
    return
  end
  vim.bo[buf].modifiable = true
  local first = state.empty and 0 or -1
  vim.api.nvim_buf_set_lines(buf, first, -1, false, lines)
  state.empty = false
  vim.bo[buf].modifiable = false
  -- Follow the end in the windows showing it (as `tail -f` does), unless moved away from it.
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    local count = vim.api.nvim_buf_line_count(buf)
    local row = vim.api.nvim_win_get_cursor(win)[1]
    if row >= count - #lines - 1 then
      vim.api.nvim_win_set_cursor(win, { count, 0 })
    end
  end
end

--- Stop following (the timer and any reply still on its way are dropped).
function M.stop(buf)
  local state = M.tails[buf]
  if not state then
    return
  end
  state.stopped = true
  if state.timer and not state.timer:is_closing() then
    state.timer:stop()
    state.timer:close()
  end
  M.tails[buf] = nil
end

local function poll(state)
  if state.stopped then
    return
  end
  local argument = { query = state.query, wait_s = state.polls == 0 and 0 or M.WAIT_S }
  if state.cursor then
    argument.after = state.cursor
  end
  state.polls = state.polls + 1
  local sent = state.client:request('workspace/executeCommand', { command = M.COMMAND, arguments = { argument } }, function(err, result)
    vim.schedule(function()
      if state.stopped then
        return
      end
      if err then
        state.errors = state.errors + 1
        state.last_error = err.message or tostring(err)
        if state.cursor == nil then
          -- The first answer refused (a bad query, no project): say why, follow nothing.
          append(state, { '-- ' .. state.last_error })
          M.stop(state.buf)
          return require('codeforge').report_error(':CodeForge monitoring tail', err)
        end
        return state.timer:start(M.RETRY_MS, 0, vim.schedule_wrap(function()
          poll(state)
        end))
      end
      local lines = {}
      for _, entry in ipairs(type(result) == 'table' and result.items or {}) do
        vim.list_extend(lines, M.format(entry))
      end
      state.received = state.received + #lines
      append(state, lines)
      state.cursor = type(result) == 'table' and result.cursor or state.cursor or ''
      state.timer:start(0, 0, vim.schedule_wrap(function()
        poll(state)
      end))
    end)
  end)
  if not sent then
    append(state, { '-- the codeforge language server is not running: :CodeForge restart' })
    M.stop(state.buf)
  end
end

--- Open a split following the logs that match `query` ('' for all); returns its buffer.
function M.tail(client, query)
  query = query or ''
  vim.cmd('botright split')
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_win_set_buf(0, buf)
  pcall(vim.api.nvim_buf_set_name, buf, ('codeforge-tail://%d/%s'):format(buf, query))
  vim.bo[buf].buftype, vim.bo[buf].bufhidden, vim.bo[buf].swapfile = 'nofile', 'wipe', false
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, { ('-- following logs%s (q closes)'):format(query ~= '' and (' matching ' .. query) or '') })
  vim.bo[buf].modifiable = false
  vim.bo[buf].filetype = 'codeforge-logs'
  local state = { buf = buf, client = client, query = query, polls = 0, received = 0, errors = 0, timer = vim.uv.new_timer() }
  M.tails[buf] = state
  vim.keymap.set('n', 'q', function()
    M.stop(buf)
    if vim.api.nvim_buf_is_valid(buf) then
      vim.api.nvim_buf_delete(buf, { force = true })
    end
  end, { buffer = buf, nowait = true, desc = 'Stop following the logs and close' })
  vim.api.nvim_create_autocmd('BufWipeout', {
    buffer = buf,
    once = true,
    callback = function()
      M.stop(buf)
    end,
  })
  poll(state)
  return buf
end

--- :CodeForge monitoring tail [query…]; must run inside a coroutine.
function M.command(words)
  local codeforge = require('codeforge')
  local client, err = require('codeforge.client').ensure()
  if not client then
    return codeforge.report_error('starting the language server', err)
  end
  return M.tail(client, table.concat(vim.list_slice(words, 3), ' '))
end

--- Completion after `:CodeForge monitoring`: `words` are the words before the one being
--- completed. The catalog's monitoring verbs and `tail`; after `tail`, label selectors of the
--- project's latest log lines (`{service="api"}`, `{level="error"}`), the usual start of a query.
function M.complete(words, ops)
  local n = #words
  if n == 2 then
    local out = M.subcommands()
    for _, op in ipairs(ops or {}) do
      local verb = op.capability == 'monitoring' and op.name:sub(#'monitoring.' + 1) or nil
      if verb and not M.owns(verb) then
        out[#out + 1] = verb
      end
    end
    return out
  end
  if n == 3 and words[3] == 'tail' then
    return M.selectors(require('codeforge.client').get())
  end
  return {}
end

--- `{label="value"}` for each label of the latest log lines (one quick tail, no wait), and the
--- error levels: what a query usually starts with.
function M.selectors(client, timeout)
  local out, seen = {}, {}
  local function add(candidate)
    if not seen[candidate] then
      seen[candidate] = true
      out[#out + 1] = candidate
    end
  end
  add('{level=~"error|critical"}')
  if not client then
    return out
  end
  local argument = { wait_s = 0, limit = M.COMPLETION_LINES }
  local response = client:request_sync('workspace/executeCommand', { command = M.COMMAND, arguments = { argument } }, timeout or 1500, 0)
  local items = response and type(response.result) == 'table' and response.result.items or {}
  for _, entry in ipairs(items) do
    if type(entry.level) == 'string' and entry.level ~= '' then
      add(('{level="%s"}'):format(entry.level))
    end
    for key, value in pairs(type(entry.labels) == 'table' and entry.labels or {}) do
      -- A value with a space or quote would split or break the command's words: not offered.
      if type(value) == 'string' and value ~= '' and not value:find('[%s"\\]') then
        add(('{%s="%s"}'):format(key, value))
      end
    end
  end
  return out
end

--- :checkhealth codeforge's part: the server's tail command, the platform's monitoring
--- operations, the production-error diagnostics shown now and the tails running.
function M.check_health()
  local health = vim.health
  health.start('Monitoring (production errors, :CodeForge monitoring tail)')
  local client = require('codeforge.client').get()
  if not client then
    health.info('the language server is not running: production errors show once a file of a folder with codeforge.yaml is open')
    return
  end
  local commands = vim.tbl_get(client.server_capabilities or {}, 'executeCommandProvider', 'commands') or {}
  if vim.tbl_contains(commands, M.COMMAND) then
    health.ok(('the language server follows logs (%s)'):format(M.COMMAND))
  else
    health.error(('the language server has no %s: :CodeForge monitoring tail cannot follow logs'):format(M.COMMAND), {
      'Upgrade codeforge (pip install -U codeforge), then :CodeForge restart',
    })
  end
  local have = {}
  for _, op in ipairs(require('codeforge.client').catalog(client)) do
    have[op.name] = true
  end
  if next(have) == nil then
    health.warn('the catalog is empty: cannot tell what the platform monitors', { 'Run :CodeForge status' })
  else
    for _, need in ipairs(M.PLATFORM_OPS) do
      if have[need[1]] then
        health.ok(('%s: %s'):format(need[2], need[1]))
      else
        health.warn(('the platform has no %s: no %s'):format(need[1], need[2]), { 'Upgrade the platform (codeforge up)' })
      end
    end
  end
  local shown, files = 0, {}
  for _, d in ipairs(vim.diagnostic.get()) do
    if d.source == M.SOURCE then
      shown = shown + 1
      files[d.bufnr] = true
    end
  end
  health.info(('%d production error diagnostic(s) in %d file(s) (source "%s")'):format(shown, vim.tbl_count(files), M.SOURCE))
  for buf, state in pairs(M.tails) do
    local what = state.query ~= '' and ('logs matching ' .. state.query) or 'all logs'
    if state.last_error then
      health.warn(('buffer %d follows %s; its last request failed: %s (retrying)'):format(buf, what, state.last_error))
    else
      health.ok(('buffer %d follows %s: %d lines so far'):format(buf, what, state.received))
    end
  end
end

return M
