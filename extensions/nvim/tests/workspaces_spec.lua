-- :CodeForge workspaces: every subcommand typed with no arguments (what is needed is asked, a
-- workspace or snapshot chosen from the project's), with only optional ones, with wrong ones
-- (a clear message, nothing sent) and with unicode; switch reconnecting through :CodeForge
-- connect's client; completion of subcommands and names; no secret in messages or the log.
-- The language server is a fake answering from tables (the journey in
-- tests/extensions/test_nvim_workspaces.py runs the real one).
local codeforge = require('codeforge')
local client_mod = require('codeforge.client')
local remote = require('codeforge.remote')
local log = require('codeforge.log')
local ui = require('codeforge.ui')
local workspaces = require('codeforge.workspaces')
local fixtures = dofile(debug.getinfo(1, 'S').source:sub(2):match('(.*/)') .. 'fixtures.lua')

local NAME_PATTERN = '^[a-z][a-z0-9-]{0,29}$'
local OPTIONAL_NAME = '^(?:[a-z][a-z0-9-]{0,29})?$'
local function name_field(name, values, extra)
  return vim.tbl_extend('force', { name = name, title = name, description = 'The workspace.', kind = 'string', required = true, nullable = false, has_default = false, pattern = NAME_PATTERN, values = values }, extra or {})
end
local OPTIONAL = { required = false, has_default = true, default = '', pattern = OPTIONAL_NAME }
local WS = 'workspaces.list#name'
local SNAP = 'workspaces.snapshots#name'
local OPS = {
  fixtures.op('workspaces.list', {}, { lists_resources = true }),
  fixtures.op('workspaces.snapshots', { name_field('name', WS, OPTIONAL) }, { lists_resources = true }),
  fixtures.op('workspaces.create', {
    name_field('name', nil, { description = 'Name of the new workspace.' }),
    { name = 'template', title = 'Template', description = 'Template.', kind = 'string', required = false, nullable = false, has_default = true, default = '', pattern = '^(?:[a-z][a-z0-9-]{0,62})?$', values = 'workspaces.templates#name' },
    { name = 'runtime', title = 'RuntimeChoice', description = 'local, docker or kubernetes.', kind = 'enum', required = false, nullable = false, has_default = true, default = 'auto', enum = { 'auto', 'local', 'docker', 'kubernetes' } },
    { name = 'env', title = 'Env', description = 'Variables of the workspace.', kind = 'json', json_type = 'object', required = false, nullable = false, has_default = false },
  }, { long_running = true }),
  fixtures.op('workspaces.clone', { name_field('source', WS), name_field('name', nil) }, { long_running = true }),
  fixtures.op('workspaces.snapshot', { name_field('name', WS), name_field('snapshot', nil, OPTIONAL) }, { long_running = true }),
  fixtures.op('workspaces.restore', { name_field('snapshot', SNAP), name_field('name', WS, OPTIONAL) }, { long_running = true, destructive = true }),
  fixtures.op('workspaces.delete', { name_field('name', WS), { name = 'keep_databases', title = 'Keep', description = '', kind = 'boolean', required = false, nullable = false, has_default = true, default = false } }, { destructive = true }),
  fixtures.op('workspaces.start', { name_field('name', WS) }),
  fixtures.op('workspaces.stop', { name_field('name', WS) }),
  fixtures.op('workspaces.show', { name_field('name', WS) }),
  fixtures.op('workspaces.templates', {}),
  fixtures.op('workspaces.logs', { name_field('name', WS), { name = 'service', title = 'Service', description = '', kind = 'string', required = false, nullable = false, has_default = true, default = '', max_length = 63 }, { name = 'tail', title = 'Tail', description = '', kind = 'integer', required = false, nullable = false, has_default = true, default = 200, minimum = 1, maximum = 10000 } }),
  fixtures.op('workspaces.connect', { name_field('name', WS) }),
}

local TOKEN = 'cf_5ecret_token_value'
local PASSWORD = 'hunter2pw'

-- The fake platform: what it holds, what it was asked.
local platform
local function reset(opts)
  opts = opts or {}
  platform = {
    calls = {},
    workspaces = opts.workspaces or { { name = 'main', state = 'running', runtime = 'local' }, { name = 'feature', state = 'stopped', runtime = 'local' } },
    snapshots = opts.snapshots or { { name = 'main-1', workspace = 'main', created_at = '2026-11-30T18:00:00Z' } },
    bridge = opts.bridge or 'ws://127.0.0.1:42050',
    fail = opts.fail,
  }
end

local function respond(params)
  local name = params.command:gsub('^codeforge%.', '')
  local args = params.arguments and params.arguments[1] or {}
  platform.calls[#platform.calls + 1] = { name = name, args = vim.deepcopy(args) }
  if platform.fail then
    return nil, { code = -32603, message = platform.fail }
  end
  if name == 'workspaces.list' then
    return { items = platform.workspaces }
  elseif name == 'workspaces.snapshots' then
    return { items = platform.snapshots }
  elseif name == 'workspaces.connect' then
    return { name = args.name, bridge_url = platform.bridge, bridge_id = 'b1', folder = '/w/' .. args.name }
  end
  return { name = args.name or args.snapshot, state = 'running', runtime = 'local', ports = {}, notes = {} }
end

local saved = { ensure = client_mod.ensure, get = client_mod.get, catalog = client_mod.catalog, request = client_mod.request, connect = remote.connect, float = ui.float }
local fake = { id = 4242, name = 'codeforge' }
function fake:request_sync(_, params)
  local result, err = respond(params)
  return { result = result, err = err }
end
client_mod.ensure = function()
  return fake
end
client_mod.get = function()
  return fake
end
client_mod.catalog = function()
  return OPS
end
client_mod.request = function(_, method, params)
  assert(method == 'workspace/executeCommand', method)
  return respond(params)
end
local connected_to
remote.connect = function(url)
  connected_to = url
  remote.url = url
  return fake
end
ui.float = function() end

--- Run `:CodeForge {args}` answering the prompts from `answers` (in order: a string for an
--- input, a function(items) returning the item for a select). Returns what was shown, the
--- prompts asked and the log lines added.
local function run(args, answers)
  answers = answers or {}
  local shown, asked, logged = {}, {}, {}
  local orig = { notify = vim.notify, select = vim.ui.select, input = vim.ui.input, append = log.append }
  vim.notify = function(msg, level)
    shown[#shown + 1] = { msg = msg, level = level }
  end
  local function answer(kind, prompt)
    asked[#asked + 1] = kind .. ': ' .. prompt
    return table.remove(answers, 1)
  end
  vim.ui.select = function(items, opts, cb)
    local a = answer('select', opts.prompt or '')
    if type(a) == 'function' then
      return cb(a(items, opts))
    end
    cb(nil)
  end
  vim.ui.input = function(opts, cb)
    cb(answer('input', opts.prompt or ''))
  end
  log.append = function(line)
    logged[#logged + 1] = line
    orig.append(line)
  end
  local ok, err = pcall(codeforge.command, { fargs = vim.split(args, '%s+', { trimempty = true }), bang = false })
  vim.notify, vim.ui.select, vim.ui.input, log.append = orig.notify, orig.select, orig.input, orig.append
  assert(ok, err)
  assert(#answers == 0, 'prompts not asked: ' .. vim.inspect(answers) .. ' asked: ' .. vim.inspect(asked))
  return shown, asked, logged
end

local function choose(name)
  return function(items)
    for _, item in ipairs(items) do
      if item == name or (type(item) == 'table' and (item.name == name or item.label == name or item.value == name)) then
        return item
      end
    end
    error(('%s not offered: %s'):format(name, vim.inspect(items)))
  end
end

local function offered(into)
  return function(items)
    for _, item in ipairs(items) do
      into[#into + 1] = type(item) == 'table' and item.name or item
    end
    return items[1]
  end
end

local function sent(name)
  return vim.tbl_filter(function(c)
    return c.name == name
  end, platform.calls)
end

local function errors(shown)
  return vim.tbl_filter(function(s)
    return s.level == vim.log.levels.ERROR
  end, shown)
end

describe('workspaces subcommands', function()
  it('owns its subcommands and no subcommand; the catalog keeps the other verbs', function()
    assert(workspaces.owns(nil) and workspaces.owns('switch') and workspaces.owns('logs'))
    assert(not workspaces.owns('show') and not workspaces.owns('connect') and not workspaces.owns('café'))
    eq({ 'clone', 'create', 'delete', 'list', 'logs', 'restore', 'snapshot', 'start', 'stop', 'switch' }, workspaces.subcommands())
  end)

  it('reads positional words and field=value, checking each', function()
    local op = function(n)
      for _, o in ipairs(OPS) do
        if o.name == n then
          return workspaces.without_hidden(o)
        end
      end
    end
    eq({ name = 'web', template = 'python', runtime = 'local' }, workspaces.parse('create', { 'web', 'template=python', 'runtime=local' }, op('workspaces.create')))
    eq({ source = 'main', name = 'copy' }, workspaces.parse('clone', { 'main', 'copy' }, op('workspaces.clone')))
    eq({ source = 'main', name = 'copy' }, workspaces.parse('clone', { 'name=copy', 'main' }, op('workspaces.clone')))
    eq({ snapshot = 'main-1' }, workspaces.parse('restore', { 'main-1' }, op('workspaces.restore')))
    eq({ name = 'main', service = 'web', tail = 5 }, workspaces.parse('logs', { 'main', 'web', 'tail=5' }, op('workspaces.logs')))
    eq({}, workspaces.parse('list', {}, op('workspaces.list')))
    matches('too many words at "x": :CodeForge workspaces clone SOURCE NAME', select(2, workspaces.parse('clone', { 'a', 'b', 'x' }, op('workspaces.clone'))))
    matches('"colour" is not a field of workspaces.create: use one of name, runtime, template', select(2, workspaces.parse('create', { 'colour=red' }, op('workspaces.create'))))
    matches('runtime must be one of: auto, local, docker, kubernetes', select(2, workspaces.parse('create', { 'a', 'runtime=podman' }, op('workspaces.create'))))
    matches('name is given twice', select(2, workspaces.parse('create', { 'a', 'name=b' }, op('workspaces.create'))))
    matches('tail must be a whole number', select(2, workspaces.parse('logs', { 'main', 'tail=many' }, op('workspaces.logs'))))
  end)

  it('refuses unicode and other bad names, saying what a name is', function()
    local create = workspaces.without_hidden(OPS[3])
    for _, bad in ipairs({ 'café', 'Ünïcødé', '日本', 'Main', '1abc', ('a'):rep(31), 'a_b' }) do
      local given, err = workspaces.parse('create', { bad }, create)
      eq(nil, given, bad)
      matches('^name', err, bad)
    end
    -- Optional names too (their pattern is checked as the server checks it).
    local restore = workspaces.without_hidden(OPS[6])
    matches('^name', select(2, workspaces.parse('restore', { 'main-1', 'café' }, restore)))
    matches('^snapshot', select(2, workspaces.parse('snapshot', { 'main', 'ünï' }, workspaces.without_hidden(OPS[5]))))
  end)

  it('never takes env (its values may be secrets), saying why and not repeating it', function()
    local create = workspaces.without_hidden(OPS[3])
    eq({ 'name', 'template', 'runtime' }, vim.tbl_map(function(f)
      return f.name
    end, create.input_fields))
    local given, err = workspaces.parse('create', { 'web', 'env={"DATABASE_URL":"postgres://u:' .. PASSWORD .. '@h/db"}' }, create)
    eq(nil, given)
    matches('env is not taken here: its values may be secrets', err)
    assert(not err:find(PASSWORD, 1, true), err)
  end)
end)

describe(':CodeForge workspaces', function()
  it('with nothing asks which subcommand, then which workspace', function()
    reset()
    local subs, names = {}, {}
    run('workspaces', { function(items)
      offered(subs)(items)
      return 'start'
    end, function(items)
      offered(names)(items)
      return items[2]
    end })
    eq(workspaces.subcommands(), subs)
    eq({ 'main', 'feature' }, names)
    eq({ { name = 'workspaces.start', args = { name = 'feature' } } }, sent('workspaces.start'))
  end)

  it('every subcommand works typed with no arguments', function()
    local cases = {
      { 'list', {}, 'workspaces.snapshots', vim.empty_dict() },
      { 'create', { 'fresh', choose('Run') }, 'workspaces.create', { name = 'fresh' } },
      { 'clone', { choose('main-1'), 'copy' }, 'workspaces.clone', { source = 'main-1', name = 'copy' } },
      { 'snapshot', { choose('main') }, 'workspaces.snapshot', { name = 'main' } },
      { 'restore', { choose('main-1'), choose('Run') }, 'workspaces.restore', { snapshot = 'main-1' } },
      { 'delete', { choose('feature'), choose('Run') }, 'workspaces.delete', { name = 'feature' } },
      { 'start', { choose('feature') }, 'workspaces.start', { name = 'feature' } },
      { 'stop', { choose('main') }, 'workspaces.stop', { name = 'main' } },
      { 'logs', { choose('main') }, 'workspaces.logs', { name = 'main' } },
      { 'switch', { choose('feature') }, 'workspaces.connect', { name = 'feature' } },
    }
    for _, case in ipairs(cases) do
      reset()
      remote.url, connected_to = nil, nil
      local shown = run('workspaces ' .. case[1], case[2])
      eq({}, errors(shown), case[1])
      local calls = sent(case[3])
      eq(1, #calls, case[1] .. ': ' .. vim.inspect(platform.calls))
      eq(vim.tbl_isempty(case[4]) and {} or case[4], vim.tbl_isempty(calls[1].args) and {} or calls[1].args, case[1])
    end
  end)

  it('asks only snapshots for restore, both for clone, and never env for create (even with !)', function()
    reset()
    local names = {}
    run('workspaces restore', { offered(names), choose('Run') })
    eq({ 'main-1' }, names)
    reset()
    names = {}
    run('workspaces clone', { offered(names), 'copy' })
    eq({ 'main', 'feature', 'main-1' }, names)
    reset()
    local _, asked = run('workspaces create', { 'fresh', choose('Set optional fields (template, runtime)'), '', choose('local') })
    assert(not table.concat(asked, '\n'):find('env', 1, true), vim.inspect(asked))
    eq({ name = 'fresh', runtime = 'local' }, sent('workspaces.create')[1].args)
  end)

  it('works with only optional arguments: the required ones are asked', function()
    reset()
    local _, asked = run('workspaces create template=python runtime=local', { 'fresh' })
    matches('name', asked[1])
    eq({ name = 'fresh', template = 'python', runtime = 'local' }, sent('workspaces.create')[1].args)
    reset()
    run('workspaces logs tail=20', { choose('main') })
    eq({ name = 'main', tail = 20 }, sent('workspaces.logs')[1].args)
    reset()
    run('workspaces restore name=feature', { choose('main-1'), choose('Run') })
    eq({ snapshot = 'main-1', name = 'feature' }, sent('workspaces.restore')[1].args)
  end)

  it('runs at once with everything given', function()
    reset()
    local _, asked = run('workspaces clone main copy')
    eq({}, asked)
    eq({ source = 'main', name = 'copy' }, sent('workspaces.clone')[1].args)
    reset()
    _, asked = run('workspaces start feature')
    eq({}, asked)
    eq(1, #sent('workspaces.start'))
  end)

  it('refuses wrong arguments with a clear message and sends nothing', function()
    for _, case in ipairs({
      { 'workspaces start café', 'name must match' },
      { 'workspaces clone main copy extra', 'too many words at "extra"' },
      { 'workspaces create web colour=blue', '"colour" is not a field of workspaces.create' },
      { 'workspaces create web env={"A":"b"}', 'env is not taken here' },
      { 'workspaces logs main tail=0', 'tail must be at least 1' },
      { 'workspaces restore 日本', 'snapshot must match' },
    }) do
      reset()
      local shown = run(case[1])
      local errs = errors(shown)
      eq(1, #errs, case[1] .. ': ' .. vim.inspect(shown))
      matches(':CodeForge workspaces %a+ failed: ', errs[1].msg, case[1])
      assert(errs[1].msg:find(case[2], 1, true), case[1] .. ': ' .. errs[1].msg)
      eq({}, platform.calls, case[1])
    end
    -- Not a subcommand: the generic operation path says what exists.
    reset()
    local shown = run('workspaces frobnicate')
    matches('no such operation', errors(shown)[1].msg)
  end)

  it('says what to do when there is nothing to choose from, and when cancelled', function()
    reset({ workspaces = {}, snapshots = {} })
    local shown = run('workspaces start')
    matches('the project has no workspace yet: :CodeForge workspaces create NAME', errors(shown)[1].msg)
    shown = run('workspaces restore')
    matches('the project has no snapshot yet', errors(shown)[1].msg)
    reset()
    shown = run('workspaces delete', { function()
      return nil
    end })
    eq({}, errors(shown))
    matches('cancelled', shown[#shown].msg)
    eq({}, sent('workspaces.delete'))
    -- Declined at the confirmation: nothing deleted.
    shown = run('workspaces delete feature', { choose('Cancel') })
    eq({}, sent('workspaces.delete'))
    matches('not run', shown[#shown].msg)
  end)

  it('switch reconnects through :CodeForge connect\'s client to the bridge workspaces.connect names', function()
    reset({ bridge = 'http://127.0.0.1:42051/' })
    remote.url, connected_to = nil, nil
    local shown = run('workspaces switch feature')
    eq('ws://127.0.0.1:42051', connected_to)
    eq('feature', workspaces.current)
    matches('switched to workspace feature %(ws://127%.0%.0%.1:42051%)', shown[#shown].msg)
    -- Again: already there, nothing restarted.
    connected_to = nil
    shown = run('workspaces switch feature')
    eq(nil, connected_to)
    matches('already in workspace feature', shown[#shown].msg)
    remote.url = nil
  end)

  it('switch refuses a bridge URL carrying a token, never showing it', function()
    reset({ bridge = 'wss://h:1/?token=' .. TOKEN })
    remote.url, connected_to = nil, nil
    local shown, _, logged = run('workspaces switch main')
    eq(nil, connected_to)
    matches('must not carry a token', errors(shown)[1].msg)
    local everything = vim.inspect(shown) .. table.concat(logged, '\n')
    assert(not everything:find(TOKEN, 1, true), everything)
  end)

  it('keeps a database password out of messages and the log when the platform quotes it', function()
    reset({ fail = 'cannot reach postgresql://app:' .. PASSWORD .. '@db:5432/app' })
    local shown = run('workspaces start main')
    matches('postgresql://app:••••@db', errors(shown)[1].msg)
    local everything = vim.inspect(shown) .. table.concat(log.lines, '\n')
    assert(not everything:find(PASSWORD, 1, true), everything)
  end)
end)

describe('workspaces list', function()
  it('shows each workspace with its snapshots, newest first, and the orphans apart', function()
    workspaces.current = 'feature'
    local lines = workspaces.list_lines({
      { name = 'main', state = 'running', runtime = 'local', ports = { { service = 'web', inside = 8000, host = 42001 } } },
      { name = 'feature', state = 'failed', runtime = 'docker', error = 'postgresql://app:' .. PASSWORD .. '@db refused' },
    }, {
      { name = 'main-1', workspace = 'main', created_at = '2026-11-30T18:00:00Z' },
      { name = 'main-2', workspace = 'main', created_at = '2026-11-30T19:00:00Z' },
      { name = 'old-1', created_at = '2026-11-29T10:00:00Z' },
    })
    workspaces.current = nil
    matches('^  main +running +local +web 8000→42001$', lines[1])
    matches('^    ◦ main%-2 +2026%-11%-30 19:00$', lines[2])
    matches('^    ◦ main%-1', lines[3])
    matches('^● feature +failed +docker', lines[4])
    matches('error: postgresql://app:••••@db refused', lines[5])
    eq('  snapshots of deleted workspaces:', lines[6])
    matches('old%-1', lines[7])
    assert(not table.concat(lines, '\n'):find(PASSWORD, 1, true))
    eq({ 'no workspace yet: :CodeForge workspaces create NAME' }, workspaces.list_lines({}, {}))
  end)

  it(':CodeForge workspaces list asks both lists and shows them in one float', function()
    reset()
    local floated
    ui.float = function(title, lines)
      floated = { title = title, lines = lines }
    end
    run('workspaces list')
    ui.float = function() end
    eq('CodeForge workspaces', floated.title)
    eq({ 'workspaces.list', 'workspaces.snapshots' }, vim.tbl_map(function(c)
      return c.name
    end, platform.calls))
    matches('main%-1', table.concat(floated.lines, '\n'))
  end)
end)

describe('workspaces completion', function()
  local function complete(line)
    local arglead = line:match('(%S*)$')
    return codeforge.complete(arglead, line)
  end

  it('offers the subcommands and the catalog\'s other verbs', function()
    reset()
    local out = complete('CodeForge workspaces ')
    for _, want in ipairs({ 'list', 'create', 'clone', 'snapshot', 'restore', 'switch', 'delete', 'start', 'stop', 'logs', 'show', 'templates', 'connect', 'snapshots' }) do
      assert(vim.tbl_contains(out, want), want .. ' not offered: ' .. vim.inspect(out))
    end
    eq(1, #vim.tbl_filter(function(w)
      return w == 'logs'
    end, out))
    eq({ 'show', 'snapshot', 'snapshots', 'start', 'stop', 'switch' }, complete('CodeForge workspaces s'))
  end)

  it('offers the names each position takes', function()
    reset()
    local out = complete('CodeForge workspaces switch ')
    assert(vim.tbl_contains(out, 'main') and vim.tbl_contains(out, 'feature') and not vim.tbl_contains(out, 'main-1'), vim.inspect(out))
    eq({ 'feature' }, complete('CodeForge workspaces start f'))
    out = complete('CodeForge workspaces restore ')
    assert(vim.tbl_contains(out, 'main-1') and not vim.tbl_contains(out, 'feature'), vim.inspect(out))
    out = complete('CodeForge workspaces restore main-1 ')
    assert(vim.tbl_contains(out, 'feature') and not vim.tbl_contains(out, 'snapshot=') and not vim.tbl_contains(out, 'name='), vim.inspect(out))
    out = complete('CodeForge workspaces clone ')
    assert(vim.tbl_contains(out, 'main') and vim.tbl_contains(out, 'main-1'), vim.inspect(out))
    -- The clone's new name is free text: only the fields.
    out = complete('CodeForge workspaces clone main ')
    eq({}, vim.tbl_filter(function(w)
      return not w:find('=$')
    end, out))
    out = complete('CodeForge workspaces create ')
    assert(vim.tbl_contains(out, 'template=') and not vim.tbl_contains(out, 'env=') and not vim.tbl_contains(out, 'name='), vim.inspect(out))
    out = complete('CodeForge workspaces create web template=python ')
    assert(vim.tbl_contains(out, 'runtime=') and not vim.tbl_contains(out, 'template=') and not vim.tbl_contains(out, 'name='), vim.inspect(out))
    eq({}, complete('CodeForge workspaces start é'))
  end)

  it('still offers the subcommands when the platform cannot answer', function()
    reset({ fail = 'cannot reach the platform' })
    eq({}, complete('CodeForge workspaces start '))
    eq({ 'list', 'logs' }, complete('CodeForge workspaces l'))
  end)
end)

describe('workspaces against the live catalog', function()
  it('each subcommand\'s operation exists with the fields its words fill', function()
    local path = os.getenv('CODEFORGE_CATALOG_JSON')
    if not path then
      skip('CODEFORGE_CATALOG_JSON not set (the pytest wrapper sets it)')
    end
    local catalog = vim.json.decode(table.concat(vim.fn.readfile(path), '\n'), { luanil = { object = true } })
    local by_name = {}
    for _, op in ipairs(catalog) do
      by_name[op.name] = op
    end
    local SOURCE = { workspaces = 'workspaces.list#name', snapshots = 'workspaces.snapshots#name', sources = 'workspaces.list#name' }
    for sub, name in pairs(workspaces.OPS) do
      local op = by_name[name]
      assert(op, name .. ' is not in the catalog')
      local fields = {}
      for _, f in ipairs(require('codeforge.schema').prompt_fields(op)) do
        fields[f.name] = f
      end
      for _, slot in ipairs(workspaces.POSITIONAL[sub]) do
        local f = fields[slot.field]
        assert(f, ('%s: %s has no field %s'):format(sub, name, slot.field))
        if slot.values then
          eq(SOURCE[slot.values], f.values, sub .. ' ' .. slot.field)
        end
      end
    end
    -- The catalog keeps secrets out of create's input; HIDDEN stays as a guard should one come back.
    eq(nil, by_name['workspaces.create'].input_schema.properties.env)
  end)
end)

-- The other specs (same Neovim) get the real modules back.
client_mod.ensure, client_mod.get, client_mod.catalog, client_mod.request = saved.ensure, saved.get, saved.catalog, saved.request
remote.connect, ui.float, remote.url = saved.connect, saved.float, nil
