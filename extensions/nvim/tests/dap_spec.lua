-- Debugging with nvim-dap: the `codeforge` adapter and configurations registered with a real
-- nvim-dap (put on the runtimepath from NVIM_DAP_DIR, never shipped), configurations checked
-- before anything starts, the `codeforge connect --dap` command line (the token only in its
-- environment), the test under the cursor, the session list, and the code lens command.
local debug_mod = require('codeforge.dap')
local remote = require('codeforge.remote')

local TOKEN = 'cf_5ecret_token_value'

-- What a user's startup does: the plugin file (codeforge.debug.start), no language server.
local autostart = vim.g.codeforge_autostart
vim.g.codeforge_autostart = false
vim.cmd('runtime! plugin/codeforge.lua')
vim.g.codeforge_autostart = autostart
local ROOT = '/home/ana/shop'

local function with_dap(body)
  local dir = os.getenv('NVIM_DAP_DIR')
  if not dir or dir == '' then
    skip('NVIM_DAP_DIR is not set (a copy of nvim-dap for tests)')
  end
  vim.opt.runtimepath:append(dir)
  body(require('dap'))
end

local function captured(body)
  local shown = {}
  local orig = vim.notify
  vim.notify = function(msg, level)
    shown[#shown + 1] = { msg = msg, level = level }
  end
  local ok, err = pcall(body)
  vim.notify = orig
  assert(ok, err)
  return shown
end

describe('debug configurations', function()
  it('fills type, request, name and the local root', function()
    local config = assert(debug_mod.check({ program = ROOT .. '/app.py', localRoot = ROOT }))
    eq('codeforge', config.type)
    eq('launch', config.request)
    eq('CodeForge: debug', config.name)
    eq(ROOT .. '/app.py', config.program)
    local lens = assert(debug_mod.check({ title = 'Debug test_b', module = 'pytest', args = { 'tests/test_a.py::test_b' }, localRoot = ROOT }))
    eq('Debug test_b', lens.name)
    eq(nil, lens.title)
  end)

  it('takes a file: URI and a relative program, and refuses files outside the folder', function()
    eq(ROOT .. '/a b.py', debug_mod.check({ program = 'file://' .. ROOT .. '/a%20b.py', localRoot = ROOT }).program)
    eq('scripts/run.py', debug_mod.check({ program = 'scripts/run.py', localRoot = ROOT }).program)
    for _, outside in ipairs({ '/etc/passwd', ROOT .. '/../other/x.py', ROOT .. '-evil/x.py' }) do
      local config, err = debug_mod.check({ program = outside, localRoot = ROOT })
      eq(nil, config, outside)
      matches('is outside /home/ana/shop', err, outside)
    end
  end)

  it('refuses bad launches and attaches, saying what to give', function()
    local cases = {
      { {}, 'needs "program"' },
      { { program = 'a.py', module = 'a' }, 'not both' },
      { { module = 'os; rm -rf /' }, 'is not a module name' },
      { { module = 'a', args = 'x' }, '"args" must be a list of strings' },
      { { request = 'debug', program = 'a.py' }, '"request" must be "launch" or "attach"' },
      { { request = 'attach' }, 'needs one of "join"' },
      { { request = 'attach', join = 'a', processId = 1 }, 'needs one of "join"' },
      { { request = 'attach', join = '../x y' }, 'is not a debug session id' },
    }
    for _, case in ipairs(cases) do
      case[1].localRoot = ROOT
      local config, err = debug_mod.check(case[1])
      eq(nil, config, vim.inspect(case[1]))
      matches(vim.pesc(case[2]), err, vim.inspect(case[1]))
    end
    eq('a1', debug_mod.check({ request = 'attach', join = 'a1', localRoot = ROOT }).join)
    eq(5678, debug_mod.check({ request = 'attach', connect = { port = 5678 }, localRoot = ROOT }).connect.port)
  end)

  it('builds `codeforge connect URL --dap` and passes the token in the environment only', function()
    eq({ 'connect', 'ws://h:1', '--dap', '--local-root', ROOT }, debug_mod.args('ws://h:1', { request = 'launch', localRoot = ROOT }))
    eq({ 'connect', 'ws://h:1', '--dap', '--join', 'abc', '--local-root', ROOT }, debug_mod.args('ws://h:1', { request = 'attach', join = 'abc', localRoot = ROOT }))
    eq({ 'connect', 'ws://h:1', '--dap' }, debug_mod.args('ws://h:1', { request = 'launch', join = 'abc' }))
    local before = vim.g.codeforge
    vim.g.codeforge = { token = TOKEN }
    local env = debug_mod.env()
    vim.g.codeforge = before
    assert(vim.tbl_contains(env, 'CODEFORGE_TOKEN=' .. TOKEN), 'the token is not in the environment')
    assert(vim.tbl_contains(env, 'PATH=' .. vim.env.PATH), 'the environment is not inherited')
  end)

  it('finds the test under the cursor, in a class too', function()
    vim.cmd('enew')
    vim.api.nvim_buf_set_lines(0, 0, -1, false, { 'import x', '', 'def test_one():', '    a = 1', '', 'class TestShop:', '    def test_two(self):', '        pass' })
    vim.api.nvim_win_set_cursor(0, { 4, 0 })
    eq('test_one', debug_mod.test_at_cursor())
    vim.api.nvim_win_set_cursor(0, { 8, 0 })
    eq('TestShop::test_two', debug_mod.test_at_cursor())
    vim.api.nvim_win_set_cursor(0, { 1, 0 })
    eq(nil, debug_mod.test_at_cursor())
    vim.cmd('bwipeout!')
  end)

  it('turns the workspace\'s paths a remote language server names into workspace-relative ones', function()
    local ws = '/srv/workspaces/shop'
    local file = debug_mod.from_lens({ type = 'codeforge', request = 'launch', name = 'Debug main.py', program = ws .. '/app/main.py', cwd = ws }, ROOT)
    eq({ type = 'codeforge', request = 'launch', name = 'Debug main.py', program = 'app/main.py' }, file)
    assert(debug_mod.check(vim.tbl_extend('force', file, { localRoot = ROOT })))
    local test = debug_mod.from_lens({ module = 'pytest', args = { 'tests/test_a.py::test_b' }, cwd = ws }, ROOT)
    eq(nil, test.cwd)
    local here = debug_mod.from_lens({ program = ROOT .. '/app/main.py', cwd = ROOT }, ROOT)
    eq(ROOT .. '/app/main.py', here.program)
    eq(ROOT, here.cwd)
    local _, err = debug_mod.check(vim.tbl_extend('force', debug_mod.from_lens({ program = '/etc/x.py', cwd = ws }, ROOT), { localRoot = ROOT }))
    matches('is outside', err)
  end)

  it('lists the debug sessions of bridges.list, only those of this bridge when it is listed', function()
    local listed = {
      items = {
        { username = 'ana', bridge = 'b1', debug = { { id = 'a1', label = 'main.py' }, { id = 'bad id!' }, { id = 'c3', label = 'x', closing = true } } },
        { username = 'bo', bridge = 'b2', debug = { { id = 'b2s', label = '' } } },
        { username = 'cy', bridge = 'b1' },
        'junk',
      },
      bridges = { { id = 'b1', url = 'ws://127.0.0.1:8471/' }, { id = 'b2', url = 'wss://other:8471' } },
    }
    eq({ { id = 'a1', label = 'main.py', detail = 'started by ana' } }, debug_mod.bridge_sessions(listed, 'ws://127.0.0.1:8471'))
    local all = debug_mod.bridge_sessions(listed, 'ws://dev.example.com:8471')
    eq({ 'a1', 'b2s' }, vim.tbl_map(function(x)
      return x.id
    end, all))
    eq('debug session', all[2].label)
    eq({}, debug_mod.bridge_sessions(nil, 'ws://h:1'))
  end)
end)

describe('nvim-dap registration', function()
  it('registers the codeforge adapter and python configurations once', function()
    with_dap(function(dap)
      assert(debug_mod.setup(), 'setup found no nvim-dap')
      assert(debug_mod.setup())
      eq('function', type(dap.adapters.codeforge))
      local names = vim.tbl_map(function(c)
        return c.name
      end, dap.configurations.python)
      eq(4, #names, vim.inspect(names))
      matches('debug this file', names[1])
      matches('test under the cursor', names[3])
      matches('join a debug session', names[4])
    end)
  end)

  it('registers when nvim-dap is loaded after startup (a lazy-loading plugin manager)', function()
    with_dap(function(dap)
      dap.adapters.codeforge = nil
      vim.cmd('runtime plugin/dap.lua')
      eq('function', type(dap.adapters.codeforge))
    end)
  end)

  it('the adapter runs `codeforge connect URL --dap` for the remote workspace, or says none is set', function()
    with_dap(function(dap)
      debug_mod.setup()
      local shown = captured(function()
        dap.adapters.codeforge(function()
          error('no adapter without a remote workspace')
        end, { type = 'codeforge', request = 'launch', program = 'a.py' })
      end)
      matches('remote workspace: no remote workspace: run :CodeForge connect', shown[1].msg)
      remote.url = 'ws://127.0.0.1:9'
      local got
      dap.adapters.codeforge(function(adapter)
        got = adapter
      end, { type = 'codeforge', request = 'attach', join = 'abc', localRoot = ROOT })
      remote.url = nil
      eq('executable', got.type)
      eq({ 'connect', 'ws://127.0.0.1:9', '--dap', '--join', 'abc', '--local-root', ROOT }, got.args)
      eq(remote.program(), got.command)
      assert(not vim.tbl_contains(got.args, TOKEN))
    end)
  end)

  it('codeforge.debug.start is a client-side LSP command; bad arguments are said', function()
    assert(type(vim.lsp.commands['codeforge.debug.start']) == 'function', 'the plugin did not register codeforge.debug.start')
    local shown = captured(function()
      vim.lsp.commands['codeforge.debug.start']({ command = 'codeforge.debug.start', arguments = { 'main.py' } }, {})
    end)
    matches('takes one launch configuration', shown[1].msg)
    shown = captured(function()
      vim.lsp.commands['codeforge.debug.start']({ command = 'codeforge.debug.start', arguments = { { program = 'main.py' } } }, {})
    end)
    matches('remote workspace', shown[1].msg)
  end)

  it(':checkhealth codeforge says nvim-dap is installed', function()
    with_dap(function()
      vim.cmd('checkhealth codeforge')
      local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
      vim.cmd('bwipeout!')
      matches('nvim%-dap is installed; the `codeforge` adapter runs', text)
    end)
  end)

  it('tells whoever started a session its id, not those who join it', function()
    with_dap(function(dap)
      debug_mod.setup()
      local listener = dap.listeners.after['event_codeforge/debugSession']['codeforge']
      local shown = captured(function()
        listener({ config = { request = 'launch' } }, { id = '7fc4303ca659', label = 'main.py' })
        listener({ config = { request = 'attach' } }, { id = 'abc' })
        listener({ config = { request = 'launch' } }, { id = 'bad id!' })
      end)
      eq(1, #shown, vim.inspect(shown))
      matches(':CodeForge debug join 7fc4303ca659', shown[1].msg)
      eq('abc', debug_mod.last_session)
    end)
  end)

  it('asks for the id when the bridge cannot list its sessions, refusing a bad one', function()
    local orig_sessions, orig_input = debug_mod.sessions, vim.ui.input
    local answer
    debug_mod.sessions = function()
      return nil, 'bridges.list failed: the platform is not reachable'
    end
    vim.ui.input = function(_, on_confirm)
      on_confirm(answer)
    end
    local results = {}
    local shown = captured(function()
      for _, typed in ipairs({ ' 7fc4303ca659 ', 'a b/../c', '' }) do
        answer = typed
        local co = coroutine.create(function()
          results[#results + 1] = debug_mod.pick_session() or 'nil'
        end)
        assert(coroutine.resume(co))
      end
    end)
    debug_mod.sessions, vim.ui.input = orig_sessions, orig_input
    local abort = debug_mod.dap() and debug_mod.dap().ABORT or 'nil'
    eq('7fc4303ca659', results[1])
    eq(abort, results[2])
    eq(abort, results[3])
    matches('is not a debug session id', shown[1].msg)
  end)
end)
