-- The Neovim end-to-end journey: the plugin in a real headless Neovim 0.11 against a real
-- `codeforge lsp` and platform. tests/extensions/test_nvim_e2e.py starts the platform and runs
--   nvim --headless -u NONE -i NONE -n --cmd 'set rtp^=extensions/nvim' -l journey.lua
-- with CODEFORGE_BIN, CODEFORGE_URL_FOR_TEST, CODEFORGE_TOKEN_FOR_TEST, PROJECT_DIR, ARTIFACTS_DIR.
--
-- The person is simulated the way UI plugins hook into Neovim: vim.ui.input / vim.ui.select are
-- replaced by a script of answers. Each step prints "ok NAME — detail" and saves what was on
-- screen (buffer text and messages) to ARTIFACTS_DIR/NN-NAME.txt.
local function env(name)
  local value = os.getenv(name)
  if not value or value == '' then
    error(name .. ' is not set: run this through tests/extensions/test_nvim_e2e.py')
  end
  return value
end

local PROJECT = env('PROJECT_DIR')
local ARTIFACTS = env('ARTIFACTS_DIR')
local TIMEOUT = 60000
vim.fn.mkdir(ARTIFACTS, 'p')

-- The plugin's typed settings, as a user would put them in init.lua (no setup() call).
vim.g.codeforge = {
  cmd = { env('CODEFORGE_BIN'), 'lsp' },
  url = env('CODEFORGE_URL_FOR_TEST'),
  token = env('CODEFORGE_TOKEN_FOR_TEST'),
}
vim.cmd('filetype on')
vim.cmd('runtime! plugin/codeforge.lua')

local messages = {} ---@type string[]
vim.notify = function(msg, level)
  messages[#messages + 1] = ('[%s] %s'):format(level or vim.log.levels.INFO, msg)
end

local answers = {} ---@type any[]
local asked = {} ---@type string[]
vim.ui.input = function(opts, on_confirm)
  asked[#asked + 1] = 'input: ' .. opts.prompt .. (opts.secret and ' [secret]' or '')
  local a = table.remove(answers, 1)
  assert(type(a) == 'string', 'no text answer scripted for ' .. opts.prompt)
  vim.schedule(function()
    on_confirm(a)
  end)
end
vim.ui.select = function(items, opts, on_choice)
  local labels = vim.tbl_map(opts.format_item or tostring, items)
  asked[#asked + 1] = 'select: ' .. opts.prompt .. ' | ' .. table.concat(labels, ', ')
  local a = table.remove(answers, 1)
  for i, label in ipairs(labels) do
    if label == a or label == a .. ' (default)' then
      return vim.schedule(function()
        on_choice(items[i], i)
      end)
    end
  end
  error(('no choice %s in %s'):format(vim.inspect(a), table.concat(labels, ', ')))
end

local function wait_for(what, cond, timeout)
  local ok = vim.wait(timeout or TIMEOUT, cond, 50)
  if not ok then
    error('timed out waiting for ' .. what)
  end
end

local function find_message(pattern, from)
  for i = from or 1, #messages do
    if messages[i]:find(pattern) then
      return messages[i]
    end
  end
end

local function buffer_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n')
end

local function named_buffer(name)
  local buf = vim.fn.bufnr(name)
  return buf ~= -1 and buf or nil
end

--- `expected` are all in `actual` (completion lists may hold more).
local function eq_list(expected, actual)
  for _, e in ipairs(expected) do
    assert(vim.tbl_contains(actual, e), ('%s missing from %s'):format(e, vim.inspect(actual)))
  end
end

local step_number = 0
local failed = false
local function step(name, body)
  step_number = step_number + 1
  local first_message, first_asked = #messages + 1, #asked + 1
  local ok, detail = xpcall(body, debug.traceback)
  local capture = {
    ('# step %d: %s (%s)'):format(step_number, name, ok and 'ok' or 'FAILED'),
    '## current buffer: ' .. vim.api.nvim_buf_get_name(0),
    buffer_text(0),
    '## prompts',
    table.concat(vim.list_slice(asked, first_asked), '\n'),
    '## messages',
    table.concat(vim.list_slice(messages, first_message), '\n'),
  }
  if not ok then
    local log_lines = require('codeforge.log').lines
    capture[#capture + 1] = '## log (last 40 lines)\n' .. table.concat(vim.list_slice(log_lines, math.max(1, #log_lines - 39)), '\n')
    capture[#capture + 1] = '## error\n' .. tostring(detail)
  end
  local path = ('%s/%02d-%s.txt'):format(ARTIFACTS, step_number, name)
  vim.fn.writefile(vim.split(table.concat(capture, '\n'), '\n'), path)
  if ok then
    -- Messages echoed in headless mode end without a newline: start each report on its own line.
    io.stdout:write(('\nok %s — %s\n'):format(name, (tostring(detail or ''):gsub('\n', ' '))))
  else
    io.stdout:write(('\nnot ok %s: %s\n'):format(name, detail))
    failed = true
  end
  return ok
end

local codeforge = require('codeforge')
local progress = require('codeforge.progress')

local function client()
  return vim.lsp.get_clients({ name = 'codeforge' })[1]
end

local function run(command, script)
  answers = script or {}
  codeforge.last_result = nil
  codeforge.last_error = nil
  vim.cmd(command)
end

--- Run a command and wait for its result; fails on an error.
local function run_ok(command, script)
  run(command, script)
  wait_for('the result of ' .. command, function()
    return codeforge.last_result ~= nil or codeforge.last_error ~= nil
  end)
  assert(codeforge.last_result, command .. ' failed: ' .. tostring(codeforge.last_error))
  return codeforge.last_result.result
end

--- The first line of `text` matching `pattern`.
local function line_matching(text, pattern)
  for _, line in ipairs(vim.split(text, '\n', { plain = true })) do
    if line:find(pattern) then
      return line
    end
  end
end

--- Every place that keeps history: vim.notify's, :messages, the plugin's log, Neovim's LSP log
--- file, and every buffer still loaded (a reveal's float is wiped when it closes).
local function kept_text()
  local parts = { table.concat(messages, '\n'), vim.fn.execute('messages'), table.concat(require('codeforge.log').lines, '\n') }
  local lsp_log = vim.lsp.log.get_filename()
  if vim.uv.fs_stat(lsp_log) then
    parts[#parts + 1] = table.concat(vim.fn.readfile(lsp_log), '\n')
  end
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) then
      parts[#parts + 1] = buffer_text(b)
    end
  end
  return table.concat(parts, '\n')
end

local SHOP_DB = 'postgresql://shop:hunter2-db@db.internal:5432/shop'

local steps = {
  { 'open-project', function()
    vim.cmd('cd ' .. vim.fn.fnameescape(PROJECT))
    vim.cmd('edit codeforge.yaml')
    wait_for('the codeforge client to attach', function()
      return client() ~= nil and client().initialized and #vim.lsp.get_clients({ bufnr = 0, name = 'codeforge' }) > 0
    end)
    run('CodeForge status')
    wait_for('the status', function()
      return codeforge.status ~= nil
    end)
    assert(codeforge.status.connected, 'not connected: ' .. vim.inspect(codeforge.status))
    assert(codeforge.status.project == 'demo', 'project is ' .. tostring(codeforge.status.project))
    local text = buffer_text(0)
    assert(text:find('connected'), text)
    -- Completion comes from the catalog: capabilities, their operations, then fields.
    local caps = codeforge.complete('', 'CodeForge ')
    assert(vim.tbl_contains(caps, 'env') and vim.tbl_contains(caps, 'status'), vim.inspect(caps))
    eq_list({ 'import', 'list', 'reveal', 'set', 'unset' }, codeforge.complete('', 'CodeForge env '))
    eq_list({ 'set' }, codeforge.complete('s', 'CodeForge env s'))
    eq_list({ 'name=', 'secret=', 'value=' }, codeforge.complete('', 'CodeForge env set '))
    return codeforge.statusline()
  end },

  { 'checkhealth', function()
    vim.cmd('close') -- the status float
    vim.cmd('checkhealth codeforge')
    local text = buffer_text(0)
    assert(text:find('OK'), text)
    assert(not text:find('ERROR'), text)
    return (text:match('as [^\n]+') or ''):sub(1, 120)
  end },
  { 'codeforge-yaml-diagnostic', function()
    vim.cmd('tabclose') -- the health report
    local found
    wait_for('the codeforge.yaml diagnostic', function()
      for _, d in ipairs(vim.diagnostic.get(vim.fn.bufnr('codeforge.yaml'))) do
        if d.message:find('is declared here but not set on the platform') then
          found = d
          return true
        end
      end
    end)
    return ('line %d: %s'):format(found.lnum + 1, found.message)
  end },

  { 'apply-code-action', function()
    local from = #messages + 1
    vim.api.nvim_win_set_cursor(0, { 4, 2 })
    vim.lsp.buf.code_action({
      context = { only = { 'source' }, diagnostics = {} },
      filter = function(action)
        return action.title == 'Set environment variables from codeforge.yaml'
      end,
      apply = true,
    })
    wait_for('the code action to finish', function()
      return find_message('set 1 variable%(s%) %(LOG_LEVEL%)', from) ~= nil
    end)
    return find_message('set 1 variable', from)
  end },

  { 'run-operation-wrong-entry-refused', function()
    local from = #messages + 1
    -- `secret` is asked before the value it decides about; then no optional field is left.
    run('CodeForge env set', { '1BAD-NAME', 'API_KEY', 'true', 'pk_test_123' })
    wait_for('the result', function()
      return codeforge.last_result ~= nil or codeforge.last_error ~= nil
    end)
    local refusal = find_message('name must match', from)
    assert(refusal, 'the wrong name was not refused: ' .. table.concat(messages, '\n'))
    local reasked = vim.tbl_filter(function(a)
      return a:find('name %[name must match')
    end, asked)
    assert(#reasked == 1, 'name was not asked again with the reason: ' .. table.concat(asked, '\n'))
    local secret = vim.tbl_filter(function(a)
      return a:find('value') and a:find('%[secret%]$')
    end, asked)
    assert(#secret == 1, 'the value was not asked as a secret')
    return refusal
  end },

  { 'run-operation-result', function()
    assert(codeforge.last_result and codeforge.last_result.op.name == 'env.set', 'no env.set result: ' .. tostring(codeforge.last_error))
    local text = buffer_text(0)
    assert(text:find('name: API_KEY'), text)
    assert(text:find('secret: true'), text)
    assert(not text:find('pk_test_123'), 'the secret value is on screen')
    return text:gsub('\n', ' | ')
  end },

  { 'platform-error', function()
    vim.cmd('close')
    local from = #messages + 1
    codeforge.last_error = nil
    local first_asked = #asked + 1
    -- The platform refuses (the project exists): the message says what happened and what to do.
    -- The required slug is given, so the optional name is not asked.
    run('CodeForge projects create slug=demo')
    wait_for('the error', function()
      return codeforge.last_error ~= nil
    end)
    local shown = find_message('Create a project failed', from)
    assert(shown and shown:find('exists already') and shown:find('Fix: '), 'unhelpful: ' .. tostring(shown))
    assert(not shown:find('Traceback'), shown)
    assert(#asked < first_asked, 'asked with every required field given: ' .. table.concat(vim.list_slice(asked, first_asked), '\n'))
    return shown
  end },

  { 'no-fields', function()
    local first_asked = #asked + 1
    -- No field to give (the project comes from codeforge.yaml): the argument is still an object.
    local listed = run_ok('CodeForge env list')
    local text = buffer_text(0)
    -- A plain variable's value is shown; a secret's value is not listed at all.
    assert(line_matching(text, '^LOG_LEVEL%s.*value=debug'), 'the plain value is hidden:\n' .. text)
    local secret = line_matching(text, '^API_KEY%s')
    assert(secret and not secret:find('value='), text)
    assert(not text:find('pk_test_123', 1, true), 'the secret is listed')
    vim.cmd('close')
    local projects = run_ok('CodeForge projects list')
    assert(buffer_text(0):find('demo', 1, true), buffer_text(0))
    vim.cmd('close')
    assert(#asked < first_asked, 'asked: ' .. table.concat(vim.list_slice(asked, first_asked), '\n'))
    return ('env list: %d item(s), projects list: %d item(s), nothing asked'):format(#listed.items, #projects.items)
  end },

  { 'only-optional-fields', function()
    local first_asked = #asked + 1
    local jobs = run_ok('CodeForge jobs list limit=1')
    assert(#jobs.items <= 1, 'limit ignored')
    vim.cmd('close')
    assert(#asked < first_asked, 'asked: ' .. table.concat(vim.list_slice(asked, first_asked), '\n'))
    -- With ! the optional fields are asked: project (left empty), state, limit.
    jobs = run_ok('CodeForge! jobs list', { '', '(none)', '2' })
    vim.cmd('close')
    local prompts = vim.list_slice(asked, first_asked)
    assert(#prompts == 3 and prompts[3]:find('limit'), 'optional fields not asked: ' .. table.concat(prompts, '\n'))
    return ('%d job(s); with !: %s'):format(#jobs.items, table.concat(prompts, ' / '))
  end },

  { 'all-fields', function()
    local first_asked = #asked + 1
    local from = #messages + 1
    run_ok('CodeForge env set name=SHOP_DB value=' .. SHOP_DB .. ' secret=false')
    assert(#asked < first_asked, 'asked: ' .. table.concat(vim.list_slice(asked, first_asked), '\n'))
    local text = buffer_text(0)
    -- Not a reveal: the value is shown, its URL password masked.
    local shown = line_matching(text, '^value: ')
    assert(shown == 'value: postgresql://shop:••••@db.internal:5432/shop', text)
    assert(not table.concat(vim.list_slice(messages, from), '\n'):find('hunter2', 1, true), 'the password is in a message')
    vim.cmd('close')
    return shown
  end },

  { 'reveal-only-in-float', function()
    local revealed = run_ok('CodeForge env reveal name=API_KEY')
    local float = vim.api.nvim_get_current_buf()
    assert(buffer_text(float):find('value: pk_test_123', 1, true), 'the revealed secret is not in the float:\n' .. buffer_text(float))
    assert(vim.api.nvim_win_get_config(0).relative ~= '', 'the reveal is not in a float')
    vim.cmd('close')
    assert(not vim.api.nvim_buf_is_valid(float), 'the reveal float left its buffer behind')
    run_ok('CodeForge env reveal name=SHOP_DB')
    assert(buffer_text(0):find(SHOP_DB, 1, true), 'the revealed URL is not whole in the float:\n' .. buffer_text(0))
    vim.cmd('close')
    local kept = kept_text()
    for _, secret in ipairs({ 'pk_test_123', 'hunter2-db' }) do
      assert(not kept:find(secret, 1, true), secret .. ' is kept where history is:\n' .. kept:sub(-3000))
    end
    assert(find_message('Reveal a secret', 1), 'no summary of the reveal')
    return ('%s revealed in a float only; messages, :messages, log, LSP log and buffers hold no secret'):format(revealed.name)
  end },

  { 'job-progress', function()
    progress.history = {}
    -- With ! every field is asked, in schema order: content, secret, overwrite.
    run('CodeForge! env import', { PROJECT .. '/big.env', 'true', 'false' })
    wait_for('progress of the import job', function()
      for _, line in ipairs(progress.history) do
        if line:find('Import variables from a .env file%s+%d+%%') then
          return true
        end
      end
    end)
    return table.concat(vim.list_slice(progress.history, 1, 3), ' | ')
  end },

  { 'job-result', function()
    wait_for('the import result', function()
      return codeforge.last_result ~= nil or codeforge.last_error ~= nil
    end, 120000)
    assert(codeforge.last_result, 'import failed: ' .. tostring(codeforge.last_error))
    local text = buffer_text(0)
    assert(text:find('imported: 20000'), text)
    return text:gsub('\n', ' | '):sub(1, 200)
  end },

  { 'destructive-confirmation', function()
    vim.cmd('close')
    run('CodeForge env unset name=IMPORTED_1', { 'Run' })
    wait_for('the result', function()
      return codeforge.last_result ~= nil or codeforge.last_error ~= nil
    end)
    local question = vim.tbl_filter(function(a)
      return a:find('Remove an environment variable %(name=IMPORTED_1%)%? This cannot be undone%. | Run, Cancel')
    end, asked)
    assert(#question == 1, 'no confirmation asked: ' .. table.concat(asked, '\n'))
    assert(codeforge.last_result and codeforge.last_result.result.removed == true, tostring(codeforge.last_error))
    return question[1]
  end },

  { 'job-cancel', function()
    vim.cmd('close') -- the env.unset result
    local from = #messages + 1
    codeforge.last_error = nil
    -- Without !: the required file is asked, then the optional field left (secret) is offered.
    run('CodeForge env import overwrite=false', { PROJECT .. '/huge.env', 'Run' })
    local seen = #progress.history
    wait_for('the second import job to run', function()
      for i = seen + 1, #progress.history do
        if progress.history[i]:find('Import variables from a .env file') then
          return true
        end
      end
    end)
    vim.cmd('CodeForge cancel')
    wait_for('the job to end cancelled', function()
      return find_message('cancelled', from) ~= nil and codeforge.last_error ~= nil
    end, 120000)
    assert(codeforge.last_result == nil, 'the cancelled import returned a result')
    assert(next(progress.active) == nil, 'progress still shown: ' .. vim.inspect(progress.active))
    return find_message('cancelled', from)
  end },

  { 'job-logs', function()
    vim.cmd('CodeForge logs')
    local text = buffer_text(0)
    assert(text:find('%[env%.import%] writing 20000 variable%(s%)'), 'no job log line in:\n' .. text)
    assert(text:find('cancelling job'), 'no cancel line')
    return 'log buffer has the job lines and the cancellation'
  end },

  { 'open-pane', function()
    vim.cmd('close')
    -- panes.open returns a pane link; the plugin opens the page as text.
    run('CodeForge panes open pane=overview')
    local buf
    wait_for('the pane text', function()
      for _, b in ipairs(vim.api.nvim_list_bufs()) do
        if vim.api.nvim_buf_get_name(b):find('^codeforge://pane/.*/panes/overview$') and buffer_text(b):find('API_KEY') then
          buf = b
          return true
        end
      end
    end)
    vim.api.nvim_set_current_buf(buf)
    local text = buffer_text(buf)
    assert(text:find('Environment variables'), text:sub(1, 300))
    assert(not vim.api.nvim_buf_get_name(buf):find('t=', 1, true), 'the signed token is in the buffer name')
    return ('%s: %s'):format(vim.api.nvim_buf_get_name(buf), vim.split(text, '\n')[1])
  end },

  { 'resource-tree', function()
    vim.cmd('CodeForge resources')
    local buf
    wait_for('the resource view', function()
      buf = named_buffer('codeforge://resources')
      return buf ~= nil and buffer_text(buf):find('API_KEY') ~= nil
    end)
    local text = buffer_text(buf)
    assert(text:find('▾ env — List environment variables'), text:sub(1, 500))
    assert(text:find('LOG_LEVEL'), 'LOG_LEVEL missing')
    return vim.split(text, '\n')[1]
  end },

  { 'server-restarts-after-crash', function()
    local old = client()
    local pids = vim.system({ 'pgrep', '-P', tostring(vim.fn.getpid()) }, { text = true }):wait().stdout
    local killed = 0
    for pid in pids:gmatch('%d+') do
      local cmdline = vim.system({ 'cat', '/proc/' .. pid .. '/cmdline' }, { text = true }):wait().stdout or ''
      if cmdline:find('lsp', 1, true) and cmdline:find('codeforge', 1, true) then
        vim.uv.kill(tonumber(pid), 'sigkill')
        killed = killed + 1
      end
    end
    assert(killed == 1, 'expected one codeforge lsp child process, found ' .. killed)
    wait_for('a new client', function()
      local c = client()
      return c ~= nil and c.id ~= old.id and c.initialized
    end)
    codeforge.status = nil
    run('CodeForge status')
    wait_for('the status from the new server', function()
      return codeforge.status ~= nil
    end)
    assert(codeforge.status.connected, 'the restarted server is not connected')
    vim.cmd('close')
    return 'restarted as client ' .. client().id
  end },

}

for _, s in ipairs(steps) do
  if not step(s[1], s[2]) then
    break
  end
end
io.stdout:flush()
vim.cmd(failed and 'cquit 1' or 'qall!')
