-- Agents in a real headless Neovim 0.11 against a real `codeforge lsp` and platform whose model
-- is a ReplayServer scripted to fix calc.py's bug twice. tests/extensions/test_nvim_agents.py
-- starts everything and runs
--   nvim --headless -u NONE -i NONE -n --cmd 'set rtp^=extensions/nvim' -l nvim_agents.lua
-- with LSP_CMD (JSON list), CODEFORGE_URL_FOR_TEST, CODEFORGE_TOKEN_FOR_TEST, PROJECT_DIR,
-- PYTHON, ARTIFACTS_DIR. The person is a script of answers to vim.ui.select. Each step prints
-- "ok NAME — detail" and saves what was on screen to ARTIFACTS_DIR/NN-NAME.txt.
local function env(name)
  local value = os.getenv(name)
  if not value or value == '' then
    error(name .. ' is not set: run this through tests/extensions/test_nvim_agents.py')
  end
  return value
end

local PROJECT = env('PROJECT_DIR')
local ARTIFACTS = env('ARTIFACTS_DIR')
local PYTHON = env('PYTHON')
local TIMEOUT = 150000
vim.fn.mkdir(ARTIFACTS, 'p')

vim.g.codeforge = { cmd = vim.json.decode(env('LSP_CMD')), url = env('CODEFORGE_URL_FOR_TEST'), token = env('CODEFORGE_TOKEN_FOR_TEST') }
vim.cmd('filetype on')
vim.cmd('runtime! plugin/codeforge.lua')

local messages = {} ---@type string[]
vim.notify = function(msg, level)
  messages[#messages + 1] = ('[%s] %s'):format(level or vim.log.levels.INFO, msg)
end

local answers = {} ---@type string[] labels to choose, by prefix
local asked = {} ---@type string[]
vim.ui.select = function(items, opts, on_choice)
  local labels = vim.tbl_map(opts.format_item or tostring, items)
  asked[#asked + 1] = 'select: ' .. (opts.prompt or '') .. ' | ' .. table.concat(labels, ' | ')
  local a = table.remove(answers, 1)
  for i, label in ipairs(labels) do
    if a and vim.startswith(label, a) then
      return vim.schedule(function()
        on_choice(items[i], i)
      end)
    end
  end
  error(('no choice %s in %s'):format(vim.inspect(a), table.concat(labels, ', ')))
end

local function wait_for(what, cond)
  if not vim.wait(TIMEOUT, cond, 50) then
    error('timed out waiting for ' .. what)
  end
end

local function file_text(path)
  return table.concat(vim.fn.readfile(path, 'b'), '\n')
end

local function tests_pass()
  vim.fn.system({ PYTHON, '-m', 'pytest', '-q', '-p', 'no:cacheprovider' })
  return vim.v.shell_error == 0
end

local step_number, failed = 0, false
local function step(name, body)
  step_number = step_number + 1
  local first_message, first_asked = #messages + 1, #asked + 1
  local ok, detail = xpcall(body, debug.traceback)
  local capture = {
    ('# step %d: %s (%s)'):format(step_number, name, ok and 'ok' or 'FAILED'),
    '## calc.py on disk',
    file_text(PROJECT .. '/calc.py'),
    '## change shown',
    table.concat(require('codeforge.agents').last_preview or {}, '\n'),
    '## prompts',
    table.concat(vim.list_slice(asked, first_asked), '\n'),
    '## messages',
    table.concat(vim.list_slice(messages, first_message), '\n'),
    '## progress',
    table.concat(require('codeforge.progress').history, '\n'),
  }
  if not ok then
    local log_lines = require('codeforge.log').lines
    capture[#capture + 1] = '## log (last 40 lines)\n' .. table.concat(vim.list_slice(log_lines, math.max(1, #log_lines - 39)), '\n')
    capture[#capture + 1] = '## error\n' .. tostring(detail)
  end
  vim.fn.writefile(vim.split(table.concat(capture, '\n'), '\n'), ('%s/%02d-%s.txt'):format(ARTIFACTS, step_number, name))
  if ok then
    io.stdout:write(('\nok %s — %s\n'):format(name, (tostring(detail or ''):gsub('\n', ' '))))
  else
    io.stdout:write(('\nnot ok %s: %s\n'):format(name, detail))
    failed = true
  end
  return ok
end

local agents = require('codeforge.agents')
local BUGGY = file_text(PROJECT .. '/calc.py')
local ns = vim.api.nvim_create_namespace('pytest-runner') -- another tool's diagnostics
local run_id

--- A test runner reports the failing assertion on calc.py's `return` line; the agent's code
--- action fixes it. The person picks "Fix with agent", then answers the change's question.
local function fix_with_agent(answer)
  local before = #agents.decisions
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  vim.diagnostic.set(ns, 0, {
    { lnum = 1, col = 4, end_col = 16, severity = vim.diagnostic.severity.ERROR, source = 'pytest', message = 'test_add failed: add(2, 3) returned -1, expected 5' },
  })
  answers = { 'Fix with agent: test_add failed', answer }
  vim.cmd('CodeForge agents actions')
  wait_for('the change to be offered and answered', function()
    return #agents.decisions > before
  end)
  return agents.decisions[#agents.decisions]
end

local steps = {
  { 'open-source-file', function()
    vim.cmd('cd ' .. vim.fn.fnameescape(PROJECT))
    vim.cmd('edit calc.py')
    wait_for('the codeforge client to attach to calc.py', function()
      local c = vim.lsp.get_clients({ bufnr = 0, name = 'codeforge' })[1]
      return c ~= nil and c.initialized
    end)
    assert(not tests_pass(), 'the fixture test passes before any fix')
    local completions = require('codeforge').complete('', 'CodeForge agents ')
    assert(vim.tbl_contains(completions, 'actions') and vim.tbl_contains(completions, 'undo'), vim.inspect(completions))
    return 'attached; the test fails'
  end },

  { 'fix-preview-accept', function()
    local decision = fix_with_agent('Apply')
    assert(decision.applied, vim.inspect(decision))
    local offered = table.concat(asked, '\n')
    assert(offered:find('Fix with agent: test_add failed', 1, true), offered)
    local shown = table.concat(agents.last_preview, '\n')
    assert(shown:find('-    return a - b', 1, true) and shown:find('+    return a + b', 1, true), shown)
    assert(shown:find('bug_fixer: calc.py', 1, true), shown)
    wait_for('calc.py written', function()
      return file_text(PROJECT .. '/calc.py'):find('return a + b', 1, true) ~= nil
    end)
    assert(not vim.bo.modified, 'the buffer was left unsaved')
    local progress = table.concat(require('codeforge.progress').history, '\n')
    assert(progress:find('Run an agent', 1, true), progress)
    wait_for('the outcome message', function()
      for _, m in ipairs(messages) do
        run_id = run_id or m:match('run=(%x+)')
      end
      return run_id ~= nil
    end)
    assert(tests_pass(), 'the test still fails after the fix')
    return 'run ' .. run_id .. ' applied; the test passes'
  end },

  { 'undo-restores', function()
    answers = { 'Run' } -- agents.undo is destructive: the plugin asks first
    require('codeforge').last_result = nil
    vim.cmd('CodeForge agents undo run=' .. run_id)
    wait_for('calc.py restored', function()
      return file_text(PROJECT .. '/calc.py') == BUGGY
    end)
    wait_for('the undo result', function()
      return require('codeforge').last_result ~= nil
    end)
    if vim.api.nvim_win_get_config(0).relative ~= '' then
      vim.cmd('close') -- the result's float, as the person closes it
    end
    assert(vim.api.nvim_buf_get_name(0):find('calc.py$'), 'not back in calc.py: ' .. vim.api.nvim_buf_get_name(0))
    assert(not vim.bo.modified, 'the buffer was left unsaved')
    assert(table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n') .. '\n' == BUGGY, 'the buffer was not restored')
    assert(not tests_pass(), 'the test passes after undo')
    return 'calc.py as before; the test fails again'
  end },

  { 'reject-leaves-file', function()
    local decision = fix_with_agent('Reject')
    assert(not decision.applied, vim.inspect(decision))
    wait_for('the refusal message', function()
      for _, m in ipairs(messages) do
        if m:find('not applied', 1, true) then
          return true
        end
      end
    end)
    assert(file_text(PROJECT .. '/calc.py') == BUGGY, 'calc.py changed')
    assert(table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n') .. '\n' == BUGGY, 'the buffer changed')
    return 'refused; calc.py untouched'
  end },
}

for _, s in ipairs(steps) do
  step(s[1], s[2])
end
vim.lsp.stop_client(vim.lsp.get_clients({ name = 'codeforge' }))
vim.wait(2000, function()
  return #vim.lsp.get_clients({ name = 'codeforge' }) == 0
end, 50)
os.exit(failed and 1 or 0)
