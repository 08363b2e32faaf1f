-- The prompt loop against a scripted vim.ui (the documented place UI plugins hook into).
local async = require('codeforge.async')
local prompt = require('codeforge.prompt')
local fx = dofile(debug.getinfo(1, 'S').source:sub(2):match('(.*/)') .. 'fixtures.lua')

--- Replace vim.ui.input/select with a script of answers; returns the transcript.
local function script(answers)
  local transcript = {}
  local orig_input, orig_select, orig_notify = vim.ui.input, vim.ui.select, vim.notify
  vim.ui.input = function(opts, on_confirm)
    table.insert(transcript, 'input ' .. opts.prompt .. (opts.default and opts.default ~= '' and (' = ' .. opts.default) or '') .. (opts.secret and ' [secret]' or ''))
    local a = table.remove(answers, 1)
    assert(a == nil or type(a) == 'string' or a == false, 'expected text for ' .. opts.prompt .. ', script has ' .. vim.inspect(a))
    on_confirm(a ~= false and a or nil)
  end
  vim.ui.select = function(items, opts, on_choice)
    local labels = vim.tbl_map(opts.format_item or tostring, items)
    table.insert(transcript, 'select ' .. opts.prompt .. ' | ' .. table.concat(labels, ','))
    local a = table.remove(answers, 1)
    if a == false then
      return on_choice(nil)
    end
    for i, item in ipairs(items) do
      if labels[i] == a or labels[i] == a .. ' (default)' then
        return on_choice(item, i)
      end
    end
    error('no choice ' .. vim.inspect(a) .. ' in ' .. table.concat(labels, ','))
  end
  vim.notify = function(msg)
    table.insert(transcript, 'notify ' .. msg)
  end
  return transcript, function()
    vim.ui.input, vim.ui.select, vim.notify = orig_input, orig_select, orig_notify
    eq({}, answers, 'unused answers')
  end
end

local function collect(op, given, answers, opts)
  local transcript, restore = script(answers)
  local result, finished = nil, false
  async.run(function()
    result = prompt.collect(op, given, opts)
    finished = true
  end)
  if not finished then
    error('prompts did not finish:\n' .. table.concat(transcript, '\n'))
  end
  restore()
  return result, transcript
end

local function has(transcript, pattern)
  for _, line in ipairs(transcript) do
    if line:find(pattern) then
      return true
    end
  end
  error('no line matching ' .. pattern .. ' in:\n' .. table.concat(transcript, '\n'))
end

describe('collect', function()
  it('refuses a wrong entry and asks again, without asking context fields', function()
    local op = fx.op('env.set', fx.ENV_SET)
    local args, t = collect(op, {}, { '9lives', 'API_KEY', 'true', 's3cret' })
    eq({ name = 'API_KEY', value = 's3cret', secret = true }, args)
    has(t, '^notify CodeForge: name must match')
    has(t, '^input Run env.set %(1/3%) name %[name must match')
    -- `secret` comes before the value it decides about (x-codeforge-secret-if).
    has(t, '^select Run env.set %(2/3%) secret')
    has(t, 'value .*%[secret%]$')
    for _, line in ipairs(t) do
      assert(not line:find('project'), 'context field asked: ' .. line)
    end
  end)

  it('keeps given arguments and asks the rest', function()
    local op = fx.op('env.set', fx.ENV_SET)
    local args, t = collect(op, { name = 'GIVEN' }, { 'false', 'plain' })
    eq({ name = 'GIVEN', value = 'plain', secret = false }, args)
    for _, line in ipairs(t) do
      assert(not line:find('%[secret%]'), 'a value that is not secret is asked as one: ' .. line)
    end
  end)

  it('asks nothing when the command line gave every required field', function()
    local op = fx.op('tokens.create', fx.TOKENS_CREATE)
    local args, t = collect(op, { name = 'ci' }, {})
    eq({ name = 'ci' }, args)
    eq({}, t)
    eq({}, (collect(fx.op('jobs.list', fx.JOBS_LIST), {}, {})))
    eq({ limit = 3 }, (collect(fx.op('jobs.list', fx.JOBS_LIST), { limit = 3 }, {})))
  end)

  it('offers the optional fields after the required ones, and asks them when chosen', function()
    local op = fx.op('tokens.create', fx.TOKENS_CREATE)
    local args, t = collect(op, {}, { 'ci', 'Run' })
    eq({ name = 'ci' }, args)
    has(t, '^select Run tokens.create: run now, or set optional fields first%? | Run,Set optional fields %(expires_in_days, username%)$')
    args = collect(op, {}, { 'ci', 'Set optional fields (expires_in_days, username)', '7', 'alice' })
    eq({ name = 'ci', expires_in_days = 7, username = 'alice' }, args)
    eq(nil, (collect(op, {}, { 'ci', false })))
  end)

  it('asks every field with all (:CodeForge!)', function()
    local op = fx.op('jobs.list', fx.JOBS_LIST)
    local _, t = collect(op, { limit = 9 }, { '', 'failed' }, { all = true })
    has(t, '^select Run jobs.list %(2/2%) state')
  end)

  it('returns nil when cancelled half way', function()
    eq(nil, (collect(fx.op('env.set', fx.ENV_SET), {}, { 'OK', false })))
  end)

  it('omits skipped optional fields and offers defaults', function()
    local op = fx.op('tokens.create', fx.TOKENS_CREATE)
    local args, t = collect(op, {}, { 'ci', '', '' }, { all = true })
    eq({ name = 'ci' }, args)
    has(t, 'expires_in_days.* = 90$')
  end)

  it('re-asks out-of-range and malformed integers', function()
    local op = fx.op('tokens.create', fx.TOKENS_CREATE)
    local args, t = collect(op, {}, { 'ci', '0', 'soon', '7', '' }, { all = true })
    eq({ name = 'ci', expires_in_days = 7 }, args)
    has(t, 'at least 1')
    has(t, 'whole number')
  end)

  it('selects enums, (none) leaving an optional one out', function()
    local op = fx.op('jobs.list', fx.JOBS_LIST)
    eq({ limit = 5 }, (collect(op, {}, { '', '(none)', '5' }, { all = true })))
    eq({ state = 'failed' }, (collect(op, {}, { '', 'failed', '' }, { all = true })))
  end)

  it('reads a picked file, refusing a missing one and one over the limit', function()
    local dir = vim.fn.tempname()
    vim.fn.mkdir(dir, 'p')
    vim.fn.writefile({ 'A=1' }, dir .. '/ok.env')
    vim.fn.writefile({ string.rep('X=1', 30) }, dir .. '/big.env')
    local op = fx.op('env.import', fx.ENV_IMPORT)
    local args, t = collect(op, {}, { dir .. '/missing.env', dir .. '/big.env', dir .. '/ok.env', 'Set optional fields (secret)', 'false' })
    eq({ content = 'A=1\n', secret = false }, args)
    has(t, 'cannot read .*missing%.env')
    has(t, 'big%.env: content takes at most 40')
  end)
end)

describe('server errors and confirmation', function()
  local op = fx.op('env.set', fx.ENV_SET, { title = 'Remove an environment variable' })

  it('finds the field a platform error names', function()
    eq('name', prompt.field_of_error(op, 'x', { errors = { { field = 'name', message = 'bad' } } }).name)
    eq('name', prompt.field_of_error(op, "1 field(s) need fixing; name: String should match pattern", nil).name)
    eq(nil, prompt.field_of_error(op, 'project: no project given', nil))
    eq(nil, prompt.field_of_error(op, 'permission denied', vim.NIL))
  end)

  it('confirms destructive operations naming the target, secrets masked', function()
    local transcript, restore = script({ 'Run' })
    local answer
    async.run(function()
      answer = prompt.confirm(op, { name = 'OLD', value = 'hunter2' })
    end)
    restore()
    eq(true, answer)
    has(transcript, '^select Remove an environment variable %(name=OLD, value=%*%*%*%*%)%? This cannot be undone%. | Run,Cancel$')
  end)
end)
