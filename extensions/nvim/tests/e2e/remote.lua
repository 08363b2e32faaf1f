-- The Neovim remote journey: headless Neovim 0.11 on a local folder, a real `codeforge bridge`
-- serving the workspace (another folder with the same files), everything through `codeforge
-- connect`. tests/extensions/test_remote_e2e.py starts the platform and the bridge and runs
--   nvim --headless -u NONE -i NONE -n --cmd 'set rtp^=extensions/nvim' -l remote.lua
-- with CODEFORGE_BIN, BRIDGE_URL, LOCAL_DIR, WORKSPACE_DIR, ARTIFACTS_DIR, NVIM_DAP_DIR (a copy of
-- nvim-dap for tests) and the token in CODEFORGE_TOKEN_FOR_TEST. Each step prints "ok NAME — detail" and saves what was on screen.
local function env(name)
  local value = os.getenv(name)
  if not value or value == '' then
    error(name .. ' is not set: run this through tests/extensions/test_remote_e2e.py')
  end
  return value
end

local LOCAL = env('LOCAL_DIR')
local WORKSPACE = env('WORKSPACE_DIR')
local URL = env('BRIDGE_URL')
local ARTIFACTS = env('ARTIFACTS_DIR')
local TOKEN = env('CODEFORGE_TOKEN_FOR_TEST')
local TIMEOUT = 90000
vim.fn.mkdir(ARTIFACTS, 'p')

-- As a user's init.lua would: the program and the token, no remote URL yet.
vim.g.codeforge = { cmd = { env('CODEFORGE_BIN'), 'lsp' }, token = TOKEN }
vim.g.codeforge_autostart = false
vim.cmd('filetype on')
vim.cmd('runtime! plugin/codeforge.lua')

local messages = {} ---@type string[]
vim.notify = function(msg, level)
  messages[#messages + 1] = ('[%s] %s'):format(level or vim.log.levels.INFO, msg)
end

-- The person, as UI plugins hook in: vim.ui.select picks the item whose label matches the next
-- scripted answer (a Lua pattern), vim.ui.input types the next scripted text.
local answers, asked = {}, {} ---@type string[], string[]
vim.ui.select = function(items, opts, on_choice)
  local labels = vim.tbl_map(opts.format_item or tostring, items)
  asked[#asked + 1] = 'select: ' .. opts.prompt .. ' | ' .. table.concat(labels, ' | ')
  local want = table.remove(answers, 1)
  for i, label in ipairs(labels) do
    if want and label:find(want) then
      return vim.schedule(function()
        on_choice(items[i], i)
      end)
    end
  end
  error(('no choice matching %s in %s'):format(vim.inspect(want), table.concat(labels, ' | ')))
end
vim.ui.input = function(opts, on_confirm)
  asked[#asked + 1] = 'input: ' .. opts.prompt .. ' [' .. tostring(opts.default) .. ']'
  local text = table.remove(answers, 1)
  vim.schedule(function()
    on_confirm(text)
  end)
end

local function wait_for(what, cond, timeout)
  if not vim.wait(timeout or TIMEOUT, cond, 50) then
    error('timed out waiting for ' .. what)
  end
end

local function buffer_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n')
end

local step_number, failed = 0, false
local function step(name, body)
  step_number = step_number + 1
  local first = #messages + 1
  local ok, detail = xpcall(body, debug.traceback)
  local capture = {
    ('# step %d: %s (%s)'):format(step_number, name, ok and 'ok' or 'FAILED'),
    '## current buffer: ' .. vim.api.nvim_buf_get_name(0),
    buffer_text(0),
    '## messages',
    table.concat(vim.list_slice(messages, first), '\n'),
  }
  if not ok then
    local lines = require('codeforge.log').lines
    capture[#capture + 1] = '## log (last 40 lines)\n' .. table.concat(vim.list_slice(lines, math.max(1, #lines - 39)), '\n')
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

local codeforge = require('codeforge')
local remote = require('codeforge.remote')

local function find_message(pattern, from)
  for i = from or 1, #messages do
    if messages[i]:find(pattern) then
      return messages[i]
    end
  end
end

--- Position of the first `needle` in buffer `buf` (0-based line and character).
local function position_of(buf, needle, occurrence)
  local seen = 0
  for i, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    local col = line:find(needle, 1, true)
    if col then
      seen = seen + 1
      if seen == (occurrence or 1) then
        return { line = i - 1, character = col - 1 }
      end
    end
  end
  error(needle .. ' not in ' .. vim.api.nvim_buf_get_name(buf))
end

local function proxied(name, buf)
  return vim.lsp.get_clients({ name = 'codeforge-' .. name, bufnr = buf })[1]
end

local main_buf

local steps = {
  { 'connect-refuses-bad-url', function()
    vim.cmd('cd ' .. vim.fn.fnameescape(LOCAL))
    local before = #messages + 1
    vim.cmd('CodeForge connect ftp://' .. URL:gsub('^%a+://', ''))
    local said = find_message('is not a bridge URL scheme', before)
    assert(said, 'no error for an ftp:// URL: ' .. table.concat(messages, ' | '))
    vim.cmd('CodeForge connect')
    assert(find_message('no bridge URL', before), 'no error without a URL')
    assert(remote.url == nil, 'a refused URL was kept')
    return said
  end },

  { 'connect', function()
    vim.cmd('edit codeforge.yaml')
    local before = #messages + 1
    vim.cmd('CodeForge connect ' .. URL)
    wait_for('connected', function()
      return find_message('connected to the remote workspace', before) ~= nil or find_message('connect failed', before) ~= nil
    end)
    assert(find_message('connected to the remote workspace', before), table.concat(messages, ' | '))
    local client = require('codeforge.client').get()
    assert(client and vim.tbl_contains(client.config.cmd, URL), 'the server is not the relay: ' .. vim.inspect(client and client.config.cmd))
    assert(not vim.tbl_contains(client.config.cmd, TOKEN), 'the token is on the command line')
    local status = client:request_sync('codeforge/status', vim.empty_dict(), 30000, 0)
    assert(status and status.result, 'codeforge/status through the bridge: ' .. vim.inspect(status))
    return ('%s · %s'):format(table.concat(client.config.cmd, ' '), codeforge.statusline())
  end },

  { 'proxied-diagnostics', function()
    codeforge.remote_lsp('python') -- basedpyright
    codeforge.remote_lsp('pylsp')
    vim.cmd('edit ' .. vim.fn.fnameescape(LOCAL .. '/main.py'))
    main_buf = vim.api.nvim_get_current_buf()
    wait_for('both proxied servers to attach', function()
      local a, b = proxied('python', main_buf), proxied('pylsp', main_buf)
      return a and a.initialized and b and b.initialized
    end)
    local pyright = proxied('python', main_buf)
    wait_for('a basedpyright diagnostic', function()
      return #vim.diagnostic.get(main_buf, { namespace = vim.lsp.diagnostic.get_namespace(pyright.id) }) > 0
    end)
    local diagnostics = vim.diagnostic.get(main_buf, { namespace = vim.lsp.diagnostic.get_namespace(pyright.id) })
    local found
    for _, d in ipairs(diagnostics) do
      if d.lnum == 2 and d.message:find('is not assignable', 1, true) then
        found = d
      end
    end
    assert(found, 'no type error on line 3: ' .. vim.inspect(diagnostics))
    -- pylsp's pyflakes, through the same proxy: the unused import on line 5.
    local pylsp = proxied('pylsp', main_buf)
    local flake
    wait_for("pylsp's pyflakes diagnostic", function()
      for _, d in ipairs(vim.diagnostic.get(main_buf, { namespace = vim.lsp.diagnostic.get_namespace(pylsp.id) })) do
        if d.lnum == 4 and d.message:find("'json' imported but unused", 1, true) then
          flake = d
        end
      end
      return flake ~= nil
    end)
    return ('line %d: %s | pylsp (%s) line %d: %s'):format(found.lnum + 1, (found.message:gsub('\n', ' ')), tostring(flake.source), flake.lnum + 1, flake.message)
  end },

  { 'proxied-hover', function()
    local shown = {}
    for _, name in ipairs({ 'python', 'pylsp' }) do
      local client = proxied(name, main_buf)
      local params = { textDocument = { uri = vim.uri_from_bufnr(main_buf) }, position = position_of(main_buf, 'greet', 2) }
      local response = client:request_sync('textDocument/hover', params, 30000, main_buf)
      assert(response and response.result, name .. ': no hover: ' .. vim.inspect(response))
      local contents = response.result.contents
      local text = type(contents) == 'table' and (contents.value or vim.inspect(contents)) or tostring(contents)
      assert(text:find('greet') or text:find('hi '), name .. ' hover: ' .. text)
      shown[#shown + 1] = name .. ': ' .. text:gsub('%s+', ' '):sub(1, 80)
    end
    return table.concat(shown, ' | ')
  end },

  { 'proxied-definition-opens-local-file', function()
    local want = vim.uri_from_fname(LOCAL .. '/lib.py')
    local location
    for _, name in ipairs({ 'python', 'pylsp' }) do
      local client = proxied(name, main_buf)
      local params = { textDocument = { uri = vim.uri_from_bufnr(main_buf) }, position = position_of(main_buf, 'greet', 2) }
      local response = client:request_sync('textDocument/definition', params, 30000, main_buf)
      local result = response and response.result
      assert(result and result ~= vim.NIL, name .. ': no definition: ' .. vim.inspect(response))
      local first = vim.islist(result) and result[1] or result
      local uri = first.uri or first.targetUri
      assert(uri == want, ('%s: definition at %s, not the local %s'):format(name, uri, want))
      assert(not uri:find(WORKSPACE, 1, true), name .. ' leaked the workspace path ' .. uri)
      location = location or first
    end
    -- What `gd` does with the answer: open that file here.
    vim.lsp.util.show_document(location, proxied('python', main_buf).offset_encoding, { focus = true })
    assert(vim.api.nvim_buf_get_name(0) == LOCAL .. '/lib.py', 'opened ' .. vim.api.nvim_buf_get_name(0))
    assert(vim.api.nvim_win_get_cursor(0)[1] == 1, 'not on the definition line')
    return vim.api.nvim_buf_get_name(0)
  end },

  { 'remote-terminal', function()
    local buf, err, job = remote.terminal()
    assert(buf, err)
    -- Type once the terminal has shown something (a person waits for it too): `connect` puts
    -- the local tty into raw mode first, which drops what was typed before.
    wait_for('the terminal to start', function()
      return vim.trim(buffer_text(buf)) ~= ''
    end)
    vim.api.nvim_chan_send(job, 'echo remote-$((6*7)) "$PWD"\r')
    wait_for('the echo in the terminal', function()
      return buffer_text(buf):find('remote%-42 ' .. vim.pesc(WORKSPACE)) ~= nil
    end)
    local line
    for _, l in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
      if l:find('remote-42', 1, true) and not l:find('$((', 1, true) then
        line = l
      end
    end
    vim.cmd('stopinsert')
    vim.fn.jobstop(job)
    return line
  end },

  { 'ports-and-forward', function()
    local http, forward, served = env('HTTP_PORT'), env('FORWARD_PORT'), env('SERVED')
    local before = #messages + 1
    -- :CodeForge ports lists the workspace's server (flagged as the workspace's); choosing it
    -- asks for the local port, then forwards it.
    answers = { '^' .. http .. ' +%[workspace%]', forward }
    vim.cmd('CodeForge ports')
    local said = 'remote port ' .. http .. ' is forwarded to localhost:' .. forward
    wait_for('the forward', function()
      return find_message(said, before) ~= nil or find_message('stopped', before) ~= nil or find_message('failed', before) ~= nil
    end)
    assert(find_message(said, before), table.concat(vim.list_slice(messages, before), ' | '))
    local fetched = vim.system({ 'curl', '-sS', '--max-time', '20', ('http://127.0.0.1:%s/hello.txt'):format(forward) }, { text = true }):wait()
    assert(fetched.code == 0 and fetched.stdout == served, 'through the forward: ' .. vim.inspect(fetched))
    vim.cmd('CodeForge unforward ' .. forward)
    assert(find_message('1 forward%(s%) stopped', before), table.concat(vim.list_slice(messages, before), ' | '))
    assert(next(remote.forwards) == nil, 'a forward is still listed')
    return ('%s; %s'):format(asked[#asked - 1]:sub(1, 120), said)
  end },

  { 'debug-breakpoint', function()
    -- nvim-dap (a test-only copy) with the plugin's `codeforge` adapter: `codeforge connect URL
    -- --dap` runs main.py under debugpy in the workspace; it stops in lib.py, shown as the local file.
    vim.opt.runtimepath:append(env('NVIM_DAP_DIR'))
    assert(require('codeforge.dap').setup(), 'the codeforge adapter was not registered with nvim-dap')
    local dap = require('dap')
    local events = {} ---@type string[]
    local stopped, ended
    dap.listeners.after.event_stopped['journey'] = function(_, body)
      stopped = body
    end
    for _, event in ipairs({ 'event_terminated', 'event_exited' }) do
      dap.listeners.after[event]['journey'] = function()
        ended = true
        events[#events + 1] = event
      end
    end
    vim.cmd('edit ' .. vim.fn.fnameescape(LOCAL .. '/lib.py'))
    vim.api.nvim_win_set_cursor(0, { 2, 0 })
    dap.set_breakpoint()
    vim.cmd('edit ' .. vim.fn.fnameescape(LOCAL .. '/main.py'))
    local before = #messages + 1
    -- The CodeForge language server's "Debug this file" lens (through the bridge), run as a
    -- person would: its client-side command codeforge.debug.start starts nvim-dap.
    local cf = require('codeforge.client').get()
    local lenses = cf:request_sync('textDocument/codeLens', { textDocument = { uri = vim.uri_from_bufnr(0) } }, 30000, 0)
    local lens
    for _, l in ipairs(lenses and lenses.result or {}) do
      if l.command and l.command.title == 'Debug this file' then
        lens = l
      end
    end
    assert(lens, 'no "Debug this file" lens: ' .. vim.inspect(lenses))
    cf:exec_cmd(lens.command, { bufnr = 0 })
    wait_for('the stop on the breakpoint in lib.py', function()
      return (stopped ~= nil and dap.session() and dap.session().current_frame ~= nil)
        or find_message('cannot debug', before) ~= nil
        or find_message('of adapter `codeforge` exited', before) ~= nil
    end)
    assert(stopped, 'no stop: ' .. table.concat(vim.list_slice(messages, before), ' | '))
    -- The bridge named the session: its id is what a colleague joins with.
    local announced = find_message('debug session [%w_.:@+-]+ runs in the remote workspace', before)
    assert(announced, 'the session id was not announced: ' .. table.concat(vim.list_slice(messages, before), ' | '))
    -- A colleague's `:CodeForge debug join` lists it: bridges.list through the language server.
    local id = announced:match('debug session ([%w_.:@+-]+) runs')
    local listed
    wait_for('the session in bridges.list', function()
      local done = false
      require('codeforge.async').run(function()
        listed = require('codeforge.dap').sessions()
        done = true
      end)
      vim.wait(10000, function()
        return done
      end, 20)
      return vim.iter(listed or {}):any(function(s)
        return s.id == id
      end)
    end)
    local session = dap.session()
    local frame = session.current_frame
    assert(frame.source and frame.source.path == LOCAL .. '/lib.py', 'stopped in ' .. vim.inspect(frame.source))
    assert(frame.line == 2, 'stopped on line ' .. frame.line)
    assert(not vim.inspect(frame):find(WORKSPACE, 1, true), 'the frame names the workspace path')
    local function request(command, args)
      local done, err, result = false, nil, nil
      session:request(command, args, function(e, r)
        done, err, result = true, e, r
      end)
      wait_for(command, function()
        return done
      end)
      assert(not err, command .. ': ' .. vim.inspect(err))
      return result
    end
    local scopes = request('scopes', { frameId = frame.id }).scopes
    local variables = request('variables', { variablesReference = scopes[1].variablesReference }).variables
    local name
    for _, v in ipairs(variables) do
      if v.name == 'name' then
        name = v
      end
    end
    assert(name and name.value == "'ana'", 'the local variable name: ' .. vim.inspect(variables))
    local evaluated = request('evaluate', { expression = 'name.upper()', frameId = frame.id, context = 'repl' })
    assert(evaluated.result == "'ANA'", vim.inspect(evaluated))
    dap.continue()
    wait_for('the program to end', function()
      return ended
    end)
    dap.clear_breakpoints()
    return ('lens %s; stopped at %s:%d, %s = %s, name.upper() = %s; %s; %s; listed: %s'):format(vim.json.encode(lens.command.arguments), frame.source.path, frame.line, name.name, name.value, evaluated.result, table.concat(events, ', '), announced, vim.inspect(listed))
  end },

  { 'bridge-restart', function()
    -- The bridge dies (a crash, a redeploy) and its supervisor starts it again: the relay tells
    -- the editor, opens a new session and replays the open documents; nothing is restarted here.
    local before = #messages + 1
    local client = require('codeforge.client').get()
    vim.uv.kill(tonumber(env('BRIDGE_PID')), 'sigkill')
    wait_for('the reconnecting notice', function()
      return find_message('reconnecting', before) ~= nil
    end)
    wait_for('the reconnected notice', function()
      return find_message('reconnected to the workspace', before) ~= nil
    end)
    assert(require('codeforge.client').get() == client, 'the CodeForge client was replaced instead of reconnected')
    local status = client:request_sync('codeforge/status', vim.empty_dict(), 30000, 0)
    assert(status and status.result, 'codeforge/status after the restart: ' .. vim.inspect(status))
    -- The proxied server answers again, about the document as the editor has it.
    local pyright = proxied('python', main_buf)
    local params = { textDocument = { uri = vim.uri_from_bufnr(main_buf) }, position = position_of(main_buf, 'greet', 2) }
    local response
    wait_for('a hover after the restart', function()
      response = pyright:request_sync('textDocument/hover', params, 10000, main_buf)
      return response and response.result and response.result ~= vim.NIL
    end)
    return table.concat(vim.list_slice(messages, before), ' | ')
  end },

  { 'checkhealth', function()
    vim.cmd('checkhealth codeforge')
    local text = buffer_text(0)
    assert(text:find('remote workspace ' .. vim.pesc(URL) .. ': connected'), text)
    assert(text:find('remote language server python: running'), text)
    assert(not text:find(TOKEN, 1, true), 'checkhealth shows the token')
    return text:match('remote workspace [^\n]*')
  end },
}

for _, s in ipairs(steps) do
  if not step(s[1], s[2]) then
    break
  end
end
-- Nothing the journey kept shows the token.
local kept = table.concat(messages, '\n') .. vim.fn.execute('messages') .. table.concat(require('codeforge.log').lines, '\n')
if kept:find(TOKEN, 1, true) then
  io.stdout:write('\nnot ok token-never-shown: the token is in a message or the log\n')
  failed = true
end
for _, client in ipairs(vim.lsp.get_clients()) do
  client:stop(true)
end
vim.wait(3000, function()
  return #vim.lsp.get_clients() == 0
end, 50)
os.exit(failed and 1 or 0)
