-- Calls in Neovim without a server: `:CodeForge call` with no, wrong and unicode arguments
-- (refused before anything starts, never a traceback), the `codeforge/call/state` handler and
-- the marks it puts in the participant lists, completion, the `codeforge call` command line
-- (no token on it) and the health check. tests/extensions/test_nvim_call.py runs it with
-- extensions/nvim/tests/run.lua.
vim.g.codeforge_autostart = false
-- A `codeforge` that is not there: commands that need the server say how to get one.
vim.g.codeforge = { cmd = { '/nonexistent/codeforge', 'lsp' }, token = 'secret-token-123' }
vim.cmd('runtime! plugin/codeforge.lua')
local codeforge = require('codeforge')
local call = require('codeforge.call')
local collab = require('codeforge.collab')

local function run(args)
  local shown = {}
  local orig = vim.notify
  vim.notify = function(msg, level)
    shown[#shown + 1] = { msg = msg, level = level }
  end
  local ok, err = pcall(codeforge.command, { fargs = vim.split(args, '%s+', { trimempty = true }), bang = false })
  -- Commands run in a coroutine that may wait on the event loop: let it finish.
  vim.wait(200, function()
    return false
  end)
  vim.notify = orig
  assert(ok, err)
  return shown
end

local function said(shown)
  return table.concat(vim.tbl_map(function(s)
    return s.msg
  end, shown), ' | ')
end

local function one_error(shown, pattern)
  local text = said(shown)
  assert(not text:find('stack traceback', 1, true) and not text:find('%.lua:%d+:'), 'a traceback was shown: ' .. text)
  matches(pattern, text)
  local errors = vim.tbl_filter(function(s)
    return s.level == vim.log.levels.ERROR
  end, shown)
  eq(1, #errors, 'one error: ' .. text)
end

local function state(json)
  vim.lsp.handlers['codeforge/call/state'](nil, vim.json.decode(json), { method = 'codeforge/call/state' })
end

local CALL = [[{"call": {"session": "s1", "state": "active", "started_at": "2026-11-30T05:00:00Z", "participants": [
  {"username": "ana", "name": "Ana Ruiz", "color": "#e6194b", "role": "driver", "host": true, "muted": false,
   "muted_by_host": false, "talking": true, "sharing": "screen", "watching": null, "joined_at": "2026-11-30T05:00:00Z"},
  {"username": "bö😀", "name": "Bö 日本", "color": "#3cb44b", "role": "navigator", "host": false, "muted": true,
   "muted_by_host": true, "talking": false, "sharing": null, "watching": "ana", "joined_at": "2026-11-30T05:00:01Z"},
  {"username": "cy", "name": "cy", "color": "#ffe119", "role": "guest", "host": false, "muted": false,
   "muted_by_host": false, "talking": false, "sharing": null, "watching": null, "joined_at": "2026-11-30T05:00:02Z"}]}}]]

describe(':CodeForge call refuses bad input', function()
  it('an unknown subcommand, in any script, lists the ones there are', function()
    one_error(run('call bogus'), 'no such call command: use one of end, join, leave, mute, share, unmute, watch, who')
    one_error(run('call 電話😀'), '電話😀')
  end)
  it('join options are checked before anything starts', function()
    one_error(run('call input=/nonexistent/voice.wav'), 'input=/nonexistent/voice.wav: no such file')
    one_error(run('call join output=/nonexistent/dir/heard.wav'), 'the folder /nonexistent/dir does not exist')
    one_error(run('call volume=11'), 'unknown option "volume="')
    one_error(run('call input='), 'input= needs a value')
    one_error(run('call join loudly'), '"loudly" is not an option of :CodeForge call')
    one_error(run('call format=pulse;rm'), 'format=pulse;rm: give a device format name')
    one_error(run('call output_format=a b'), '"b" is not an option')
    eq(nil, call.job, 'no job started')
  end)
  it('subcommands with too many or wrong words say the usage', function()
    one_error(run('call leave now'), 'leave takes no arguments')
    one_error(run('call mute ana bö'), 'give at most one username')
    one_error(run('call unmute ana'), 'only ana can unmute themselves')
    one_error(run('call share window'), '"window" is not screen, camera or stop')
    one_error(run('call share screen camera'), 'share %[screen|camera|stop%]')
    one_error(run('call watch ana bö'), 'watch %[USERNAME|stop%]')
    one_error(run('call end now'), 'end takes no arguments')
    one_error(run('call who 😀'), 'who takes no arguments')
  end)
  it('without a language server, a valid command says how to start one', function()
    one_error(run('call mute'), 'cannot start `/nonexistent/codeforge`')
    one_error(run('call'), 'cannot start `/nonexistent/codeforge`')
    eq(nil, call.job)
  end)
end)

describe('codeforge/call/state', function()
  it('keeps the call and marks talking, muted and in the call', function()
    state(CALL)
    eq('◉', call.mark('ana'))
    eq('⊘', call.mark('bö😀'))
    eq('○', call.mark('cy'))
    eq('', call.mark('nobody'))
    collab.me = 'cy'
    matches('^call: 3 · ana talking$', call.status())
  end)
  it('shows the marks in the collaboration participant list', function()
    local ui = require('codeforge.ui')
    local orig, lines = ui.float, nil
    ui.float = function(_, shown)
      lines = shown
    end
    require('codeforge.collab.views').participants({
      { username = 'ana', name = 'Ana Ruiz', role = 'driver', host = true },
      { username = 'bö😀', name = 'Bö 日本', role = 'navigator' },
      { username = 'dee', name = 'dee', role = 'navigator' },
    }, { driver = 'ana' })
    ui.float = orig
    matches('^▶ ★ ◉ Ana Ruiz %(ana%)', lines[1])
    matches('^    ⊘ Bö 日本 %(bö😀%)', lines[2])
    matches('^      dee', lines[3])
    matches('◉ talking  ○ in the call  ⊘ muted', lines[#lines])
  end)
  it('who lists sharing, watching and the host', function()
    local lines = call.who_lines(call.state)
    matches('^◉ Ana Ruiz %(ana%)%s+driver%s+host, shares screen', lines[1])
    matches('^⊘ Bö 日本 %(bö😀%)%s+navigator muted by the host, watches ana', lines[2])
  end)
  it('says who joined and left, and the end; a malformed notification is ignored', function()
    local shown = {}
    local orig = vim.notify
    vim.notify = function(msg)
      shown[#shown + 1] = msg
    end
    state([[{"call": {"session": "s1", "state": "active", "participants": [{"username": "ana", "talking": false}]}}]])
    state([[{"call": null}]])
    vim.lsp.handlers['codeforge/call/state'](nil, 'not a table', {})
    vim.lsp.handlers['codeforge/call/state'](nil, { call = 'nonsense' }, {})
    vim.notify = orig
    matches('Bö 日本 %(bö😀%) left the call', shown[1])
    matches('the call is over', shown[2])
    eq(nil, call.state)
    eq('', call.status())
  end)
end)

describe('the codeforge call job', function()
  it('gets its options on the command line and the token only in its environment', function()
    local dir = vim.fn.tempname()
    vim.fn.mkdir(dir, 'p')
    vim.fn.writefile({ 'RIFF' }, dir .. '/voice 1.wav')
    local options = assert(call.join_options({ 'input=' .. dir .. '/voice 1.wav', 'output=' .. dir .. '/heard.wav', 'format=alsa', 'muted' }))
    local cmd = call.command_line('s1', 'ws://127.0.0.1:9', options)
    eq({ '/nonexistent/codeforge', 'call', 's1', '--bridge', 'ws://127.0.0.1:9', '--input', dir .. '/voice 1.wav', '--input-format', 'alsa', '--output', dir .. '/heard.wav', '--mute' }, cmd)
    assert(not table.concat(cmd, ' '):find('secret-token-123', 1, true))
    -- Listening only, and devices named by format.
    eq({ '/nonexistent/codeforge', 'call', 's1', '--bridge', 'ws://h:1', '--input', 'none' }, call.command_line('s1', 'ws://h:1', assert(call.join_options({ 'input=none' }))))
    eq(
      { '/nonexistent/codeforge', 'call', 's1', '--bridge', 'ws://h:1', '--input', 'hw:1', '--input-format', 'alsa', '--output', 'hw:2', '--output-format', 'alsa' },
      call.command_line('s1', 'ws://h:1', assert(call.join_options({ 'input=hw:1', 'format=alsa', 'output=hw:2', 'output_format=alsa' })))
    )
    eq({ CODEFORGE_TOKEN = 'secret-token-123' }, require('codeforge.remote').env())
  end)
end)

describe('the job ending', function()
  local function fake(lines, code)
    local script = vim.fn.tempname()
    local body = { '#!/bin/sh' }
    for _, line in ipairs(lines) do
      body[#body + 1] = ('echo %s >&2'):format(vim.fn.shellescape(line))
    end
    body[#body + 1] = 'exit ' .. code
    vim.fn.writefile(body, script)
    vim.fn.setfperm(script, 'rwx------')
    return script
  end
  local function job_run(script)
    vim.g.codeforge = { cmd = { script, 'lsp' }, token = 'secret-token-123' }
    local shown = {}
    local orig = vim.notify
    vim.notify = function(msg, level)
      shown[#shown + 1] = { msg = msg, level = level }
    end
    local job = call.start_job('s1', 'ws://127.0.0.1:9', {})
    vim.wait(5000, function()
      return call.job == nil
    end)
    vim.notify = orig
    vim.g.codeforge = { cmd = { '/nonexistent/codeforge', 'lsp' }, token = 'secret-token-123' }
    return job, shown
  end
  it('a failure is said with its last line and what to do, the token scrubbed', function()
    local job, shown = job_run(fake({ 'Error: no audio input device (pulse default: No such file; alsa default: No such device)', 'token secret-token-123' }, 1))
    assert(job, 'the job started')
    eq(nil, call.job)
    local text = said(shown)
    matches('codeforge call failed: token ••••', text)
    local _, other = job_run(fake({ 'no audio input device (pulse default: refused)' }, 1))
    matches('no audio input device %(pulse default: refused%) — without audio devices, join with files: :CodeForge call input=voice%.wav output=heard%.wav', said(other))
  end)
  it('an end by itself says why; a refusal of its own is a warning', function()
    local _, shown = job_run(fake({ 'Refused: ana is not sharing', 'The call ended: ana ended the call' }, 0))
    matches('the call refused: ana is not sharing', said(shown))
    matches('The call ended: ana ended the call', said(shown))
    eq(0, #vim.tbl_filter(function(s)
      return s.level == vim.log.levels.ERROR
    end, shown))
  end)
end)

describe('completion', function()
  it('completes subcommands, options, share kinds and usernames', function()
    state(CALL)
    collab.me = 'cy'
    local top = codeforge.complete('', 'CodeForge ')
    assert(vim.tbl_contains(top, 'call'), 'call is a subcommand')
    local subs = codeforge.complete('', 'CodeForge call ')
    for _, want in ipairs({ 'leave', 'mute', 'unmute', 'share', 'watch', 'end', 'who', 'input=', 'output=', 'muted' }) do
      assert(vim.tbl_contains(subs, want), want .. ' completes')
    end
    eq({ 'camera', 'screen', 'stop' }, codeforge.complete('', 'CodeForge call share '))
    eq({ 'ana', 'bö😀', 'stop' }, codeforge.complete('', 'CodeForge call watch '))
    eq({ 'input=' }, codeforge.complete('in', 'CodeForge call join output=x in'))
  end)
end)

describe(':checkhealth codeforge', function()
  it('says whether `codeforge call` finds an audio device, or to use files', function()
    local found, detail = call.audio_devices()
    eq('boolean', type(found))
    eq('string', type(detail))
    vim.cmd('checkhealth codeforge')
    local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
    matches('Calls %(:CodeForge call%)', text)
    if found then
      matches('audio device found', text)
    else
      matches('finds no audio device here', text)
      matches(':CodeForge call input=voice.wav output=heard.wav', text)
    end
  end)
end)
