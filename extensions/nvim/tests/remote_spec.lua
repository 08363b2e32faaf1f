-- The remote workspace: :CodeForge connect / terminal / ports / forward / unforward parsing and
-- bad input (each refused with what to type), the relay's notifications, remote_lsp's config.
local remote = require('codeforge.remote')
local codeforge = require('codeforge')

local TOKEN = 'cf_5ecret_token_value'

--- Run :CodeForge with `args`; returns what vim.notify showed.
local function run(args)
  local shown = {}
  local orig = vim.notify
  vim.notify = function(msg, level)
    shown[#shown + 1] = { msg = msg, level = level }
  end
  local ok, err = pcall(codeforge.command, { fargs = vim.split(args, '%s+', { trimempty = true }), bang = false })
  vim.notify = orig
  assert(ok, err)
  return shown
end

local function with_settings(settings, body)
  local before = vim.g.codeforge
  vim.g.codeforge = settings
  local ok, err = pcall(body)
  vim.g.codeforge = before
  remote.url = nil
  if not ok then
    error(err, 0)
  end
end

describe('bridge URL', function()
  it('takes ws and wss, and turns http(s) into them', function()
    eq('wss://dev.example.com:8471', remote.parse_url(' wss://dev.example.com:8471/ '))
    eq('ws://127.0.0.1:8471', remote.parse_url('ws://127.0.0.1:8471'))
    eq('wss://dev.example.com/bridge', remote.parse_url('https://dev.example.com/bridge/'))
    eq('ws://[::1]:9000', remote.parse_url('http://[::1]:9000'))
  end)

  it('refuses empty, malformed, other schemes and bad ports, saying what to type', function()
    matches('no bridge URL.*:CodeForge connect wss://', select(2, remote.parse_url('')))
    matches('not a URL', select(2, remote.parse_url('dev.example.com:8471')))
    matches('"ftp://" is not a bridge URL scheme: use ws:// or wss://', select(2, remote.parse_url('ftp://h')))
    matches('no host', select(2, remote.parse_url('ws://:8471')))
    matches('port "99999" is not a number from 1 to 65535', select(2, remote.parse_url('ws://h:99999')))
    matches('port "x" is not', select(2, remote.parse_url('ws://h:x')))
    matches('no query', select(2, remote.parse_url('ws://h:1/?session=1')))
  end)

  it('refuses a URL carrying a token or password, never repeating it', function()
    for _, url in ipairs({ 'wss://ana:' .. TOKEN .. '@h', 'wss://h/?token=' .. TOKEN, 'ws://h/x?access_token=' .. TOKEN, TOKEN }) do
      local value, err = remote.parse_url(url)
      eq(nil, value, url)
      assert(not err:find(TOKEN, 1, true), err)
    end
    matches('must not carry a token', select(2, remote.parse_url('wss://ana:pw@h')))
  end)

  it('scrubs the configured token and bearer values', function()
    with_settings({ token = TOKEN }, function()
      local out = remote.scrub('refused ' .. TOKEN .. ' Authorization: Bearer abc.def ws://h/?token=xyz')
      assert(not out:find(TOKEN, 1, true) and not out:find('abc.def', 1, true) and not out:find('xyz', 1, true), out)
    end)
  end)
end)

describe('connect command lines', function()
  it('one per channel, the token only in the environment', function()
    with_settings({ cmd = { '/opt/cf/codeforge', 'lsp' }, token = TOKEN }, function()
      local url = 'wss://h:1'
      eq({ '/opt/cf/codeforge', 'connect', url }, remote.connect_cmd(url, { kind = 'lsp' }))
      eq({ '/opt/cf/codeforge', 'connect', url, '--lsp', 'python' }, remote.connect_cmd(url, { kind = 'proxy', name = 'python' }))
      eq({ '/opt/cf/codeforge', 'connect', url, '--terminal' }, remote.connect_cmd(url, { kind = 'terminal' }))
      eq({ '/opt/cf/codeforge', 'connect', url, '--terminal', '--attach', 't1' }, remote.connect_cmd(url, { kind = 'terminal', attach = 't1' }))
      eq({ '/opt/cf/codeforge', 'connect', url, '--ports', '--json' }, remote.connect_cmd(url, { kind = 'ports' }))
      eq({ '/opt/cf/codeforge', 'connect', url, '--forward', '80:8080' }, remote.connect_cmd(url, { kind = 'forward', spec = '80:8080' }))
      eq({ CODEFORGE_TOKEN = TOKEN }, remote.env())
      eq(nil, remote.sync_folder())
    end)
    with_settings({ remote_sync = true }, function()
      eq({ 'codeforge', 'connect', 'ws://h:1', '--sync', '/home/ana/shop' }, remote.connect_cmd('ws://h:1', { kind = 'lsp', sync = '/home/ana/shop' }))
      eq(vim.uv.cwd(), remote.sync_folder())
    end)
    with_settings({}, function()
      eq('codeforge', remote.program())
      eq(nil, remote.env())
    end)
  end)
end)

describe('ports and forwards', function()
  it('reads REMOTE[:LOCAL] and refuses the rest', function()
    eq({ remote = 8000, local_port = 8000, spec = '8000:8000' }, remote.parse_forward('8000'))
    eq({ remote = 8000, local_port = 18000, spec = '8000:18000' }, remote.parse_forward(' 8000:18000 '))
    matches('remote port 0 is out of range', select(2, remote.parse_forward('0')))
    matches('local port 70000 is out of range', select(2, remote.parse_forward('80:70000')))
    matches('"http" is not PORT or REMOTE:LOCAL', select(2, remote.parse_forward('http')))
    matches('is not PORT or REMOTE:LOCAL', select(2, remote.parse_forward('1:2:3')))
  end)

  it('reads the port list in either shape, workspace ports first, skipping nonsense', function()
    local listed = vim.json.encode({
      { port = 8000, address = '0.0.0.0', process = 'python3 -m http.server', pid = 42 },
      { port = 5432, host = '127.0.0.1', process = { name = 'postgres', pid = 7 } },
      { port = 70000 },
      'junk',
    })
    eq({
      { port = 5432, address = '127.0.0.1', process = 'postgres, pid 7', workspace = false },
      { port = 8000, address = '0.0.0.0', process = 'python3 -m http.server, pid 42', workspace = false },
    }, remote.parse_ports(listed))
    -- The bridge's own shape (codeforge/bridge/ports.py), nulls included.
    local bridge = '[{"port": 22, "addresses": ["0.0.0.0", "::"], "pid": null, "process": null, "cmdline": null, "workspace": false},'
      .. ' {"port": 8000, "addresses": ["127.0.0.1"], "pid": 42, "process": "python3", "cmdline": "python3 -m http.server 8000", "workspace": true}]'
    eq({
      { port = 8000, address = '127.0.0.1', process = 'python3 -m http.server 8000, pid 42', workspace = true },
      { port = 22, address = '0.0.0.0, ::', process = '', workspace = false },
    }, remote.parse_ports(bridge))
    eq({}, remote.parse_ports('{"ports": []}'))
    matches('not JSON: Traceback', select(2, remote.parse_ports('Traceback (most recent call last)')))
    matches('no `ports` array', select(2, remote.parse_ports('{"nope": 1}')))
  end)
end)

describe(':CodeForge remote subcommands', function()
  it('connect without a URL, with a bad one, or with two says what to type', function()
    with_settings({}, function()
      matches(':CodeForge connect failed: no bridge URL', run('connect')[1].msg)
      matches('"ftp://" is not a bridge URL scheme', run('connect ftp://h')[1].msg)
      matches('give one URL', run('connect ws://a ws://b')[1].msg)
      local shown = run('connect wss://ana:' .. TOKEN .. '@h')
      matches('must not carry a token', shown[1].msg)
      assert(not shown[1].msg:find(TOKEN, 1, true), shown[1].msg)
      eq(vim.log.levels.ERROR, shown[1].level)
      eq(nil, remote.url, 'a refused URL is not kept')
    end)
  end)

  it('connect says when the codeforge program is missing', function()
    with_settings({ cmd = { '/nonexistent/codeforge', 'lsp' } }, function()
      matches('cannot start `/nonexistent/codeforge`', run('connect ws://127.0.0.1:9')[1].msg)
    end)
  end)

  it('connect says what `codeforge connect` found wrong, and keeps no URL', function()
    -- A real `codeforge connect` to a port where no bridge listens.
    local program = os.getenv('CODEFORGE_BIN') or vim.fn.exepath('codeforge')
    if program == '' then
      skip('no codeforge program: set CODEFORGE_BIN')
    end
    with_settings({ cmd = { program, 'lsp' }, token = TOKEN }, function()
      local shown = {}
      local orig = vim.notify
      vim.notify = function(msg)
        shown[#shown + 1] = msg
      end
      codeforge.command({ fargs = { 'connect', 'ws://127.0.0.1:9' }, bang = false })
      vim.wait(30000, function()
        return #shown > 0
      end)
      vim.notify = orig
      matches(':CodeForge connect failed: cannot reach the bridge at ws://127.0.0.1:9', shown[1])
      assert(not shown[1]:find(TOKEN, 1, true), shown[1])
      eq(nil, remote.url)
    end)
  end)

  it('terminal, ports and forward need a remote workspace first', function()
    with_settings({}, function()
      matches(':CodeForge terminal failed: no remote workspace: run :CodeForge connect', run('terminal')[1].msg)
      matches(':CodeForge ports failed: no remote workspace', run('ports')[1].msg)
      matches(':CodeForge forward failed: no remote workspace', run('forward 8000')[1].msg)
    end)
  end)

  it('forward and unforward refuse bad ports', function()
    with_settings({ remote_url = 'ws://127.0.0.1:9' }, function()
      matches('"abc" is not PORT or REMOTE:LOCAL', run('forward abc')[1].msg)
      matches('no forward on local port 9 %(active: none%)', run('unforward 9')[1].msg)
      matches('no port is forwarded', run('forward')[1].msg)
    end)
  end)

  it('ports reports a failing connect with its last line', function()
    with_settings({ cmd = { vim.fn.exepath('false'), 'lsp' }, remote_url = 'ws://127.0.0.1:9' }, function()
      local shown = {}
      local orig = vim.notify
      vim.notify = function(msg)
        shown[#shown + 1] = msg
      end
      codeforge.command({ fargs = { 'ports' }, bang = false })
      vim.wait(5000, function()
        return #shown > 0
      end)
      vim.notify = orig
      matches('listing the workspace\'s ports failed: exit status 1', shown[1])
    end)
  end)

  it('completes the remote subcommands, and a URL after connect', function()
    local words = codeforge.complete('', 'CodeForge ')
    for _, name in ipairs({ 'connect', 'terminal', 'ports', 'forward', 'unforward' }) do
      assert(vim.tbl_contains(words, name), name .. ' not in ' .. table.concat(words, ' '))
    end
    with_settings({}, function()
      eq({ 'wss://' }, codeforge.complete('wss', 'CodeForge connect wss'))
    end)
    with_settings({ remote_url = 'ws://127.0.0.1:8471' }, function()
      eq({ 'ws://127.0.0.1:8471' }, codeforge.complete('', 'CodeForge connect '))
    end)
  end)
end)

describe('notifications from the relay', function()
  local function notified(body)
    local shown = {}
    local orig = vim.notify
    vim.notify = function(msg, level)
      shown[#shown + 1] = { msg = msg, level = level }
    end
    body()
    vim.notify = orig
    return shown
  end

  it('tells a lost connection and its return, ignoring unknown states', function()
    remote.connection = 'connected'
    local shown = notified(function()
      remote.on_connection(nil, { state = 'reconnecting' })
      remote.on_connection(nil, { state = 'exploded' })
      remote.on_connection(nil, { state = 'connected' })
    end)
    eq(2, #shown)
    matches('reconnecting', shown[1].msg)
    eq(vim.log.levels.WARN, shown[1].level)
    matches('reconnected', shown[2].msg)
  end)

  it('notifies sync start, end and errors, not every progress step', function()
    remote.sync = nil
    local shown = notified(function()
      remote.on_sync_status(nil, { kind = 'status', message = 'initial sync 1/100', data = { state = 'syncing' } })
      remote.on_sync_status(nil, { kind = 'status', message = 'initial sync 50/100', data = { state = 'syncing' } })
      remote.on_sync_status(nil, { kind = 'status', message = 'in sync', data = { state = 'idle' } })
      remote.on_sync_status(nil, { kind = 'error', message = 'disk full on the workspace' })
      remote.on_sync_status(nil, 'nonsense')
    end)
    eq({ 'CodeForge: sync: initial sync 1/100', 'CodeForge: sync: in sync', 'CodeForge: sync: disk full on the workspace' }, vim.tbl_map(function(s)
      return s.msg
    end, shown))
    eq(vim.log.levels.ERROR, shown[3].level)
    remote.url = 'wss://dev.example.com:8471'
    eq('CodeForge: dev.example.com:8471 · sync error: disk full on the workspace', codeforge.statusline())
    remote.url, remote.sync, remote.connection = nil, nil, nil
  end)
end)

describe('remote_lsp', function()
  it('registers codeforge-<name> with vim.lsp.config through connect --lsp', function()
    with_settings({ cmd = { '/opt/cf/codeforge', 'lsp' }, token = TOKEN, remote_url = 'wss://h:1' }, function()
      eq('codeforge-python', codeforge.remote_lsp('python'))
      local config = vim.lsp.config['codeforge-python']
      eq({ '/opt/cf/codeforge', 'connect', 'wss://h:1', '--lsp', 'python' }, config.cmd)
      eq({ CODEFORGE_TOKEN = TOKEN }, config.cmd_env)
      eq({ 'python' }, config.filetypes)
      codeforge.remote_lsp('gopls', { filetypes = { 'go', 'gomod' } })
      eq({ 'go', 'gomod' }, vim.lsp.config['codeforge-gopls'].filetypes)
      vim.lsp.enable('codeforge-python', false)
      vim.lsp.enable('codeforge-gopls', false)
      remote.servers = {}
    end)
  end)

  it('refuses a bad name, and needs a remote workspace', function()
    with_settings({}, function()
      matches('is not a server name', select(2, pcall(codeforge.remote_lsp, '--lsp')))
      matches('no remote workspace: run :CodeForge connect', select(2, pcall(codeforge.remote_lsp, 'python')))
    end)
  end)
end)
