--- Calls in Neovim (docs/voice.md): `:CodeForge call …`.
---
--- Neovim has no WebRTC of its own: `:CodeForge call` starts `codeforge call SESSION --bridge
--- URL` (an aiortc client) as a job, with the system's audio devices or files (input=, output=).
--- Every other control goes through the language server's `codeforge.call.*` commands, which
--- act on the call by username, so they reach the media of that job too. The server's
--- `codeforge/call/state` keeps `M.state`: who is in the call, muted and talking, shown in
--- `:CodeForge call who`, in the collaboration participant list and in `M.status()`.
--- Runs inside a coroutine (codeforge.async.run), like the collab commands.
local async = require('codeforge.async')

local M = {}

M.state = nil ---@type table|nil the last `codeforge/call/state` call (nil: no call)
M.job = nil ---@type {id: integer, pid: integer|nil, session: string, tail: string[], stopping: boolean}|nil

local TAIL = 20 -- lines of the job's output kept for messages
local STOP_GRACE = 3000 -- ms between asking the job to leave (SIGINT) and stopping it

M.SUBCOMMANDS = {
  join = 'Join the call of your session: [join] [input=FILE|none] [output=FILE] [format=pulse|alsa|…] [output_format=…] [share=FILE] [watch=USER] [muted]',
  leave = 'Leave the call',
  mute = 'Mute yourself, or (host) someone: mute [USERNAME]',
  unmute = 'Unmute yourself',
  share = 'Share your screen or camera (the `codeforge call` job needs share=FILE): share [screen|camera|stop]',
  watch = "Watch someone's share: watch [USERNAME|stop]",
  ['end'] = 'End the call for everyone (host)',
  who = 'Who is in the call: talking, muted, sharing',
}
M.JOIN_OPTIONS = { 'input', 'output', 'format', 'output_format', 'share', 'watch' }

local function notify(message, level)
  vim.notify('CodeForge: ' .. message, level or vim.log.levels.INFO)
end

local function fail(what, err)
  require('codeforge').report_error(what, err)
  return nil
end

local function text(value)
  return (value ~= nil and value ~= vim.NIL) and tostring(value) or nil
end

local function participants(call)
  local list = type(call) == 'table' and call.participants
  return type(list) == 'table' and list or {}
end

local function find(call, username)
  for _, p in ipairs(participants(call)) do
    if type(p) == 'table' and text(p.username) == username then
      return p
    end
  end
end

--- Run `codeforge.call.<name>` on the codeforge server (the offer and answer are never logged:
--- only the command and its field names). Inside a coroutine.
---@return any result, table|nil err
function M.execute(name, args)
  local result, rerr = require('codeforge.collab').run('codeforge.call.' .. name, args)
  if not rerr and type(result) == 'table' and result.call ~= nil then
    M.remember(result.call)
  end
  return result, rerr
end

-- -- the state -------------------------------------------------------------------------------

--- A call the server sent (or answered with); nil or vim.NIL: none.
function M.remember(call)
  if type(call) ~= 'table' or text(call.state) == 'ended' then
    M.state = nil
  else
    M.state = call
  end
end

local function said_changes(before, after)
  local said = {}
  local me = require('codeforge.collab').me
  for _, p in ipairs(participants(after)) do
    local old = find(before, text(p.username))
    if not old and before then
      said[#said + 1] = require('codeforge.collab').display(p) .. ' joined the call'
    elseif old and p.muted_by_host == true and old.muted_by_host ~= true and text(p.username) == me then
      said[#said + 1] = 'the host muted you (:CodeForge call unmute)'
    end
  end
  for _, p in ipairs(participants(before)) do
    if after and not find(after, text(p.username)) then
      said[#said + 1] = require('codeforge.collab').display(p) .. ' left the call'
    end
  end
  if before and not after then
    said[#said + 1] = 'the call is over'
  end
  return said
end

--- `codeforge/call/state {call}`.
function M.on_state(params)
  if type(params) ~= 'table' then
    return
  end
  local before = M.state
  M.remember(params.call)
  local said = said_changes(before, M.state)
  if #said > 0 then
    notify(table.concat(said, '; '))
  end
  pcall(vim.cmd.redrawstatus)
  vim.api.nvim_exec_autocmds('User', { pattern = 'CodeForgeCall', modeline = false })
end

--- The mark of a participant in lists: ◉ talking, ⊘ muted, ○ in the call, '' not in it.
function M.mark(username)
  local p = find(M.state, username)
  if not p then
    return ''
  end
  if p.muted == true then
    return '⊘'
  end
  return p.talking == true and '◉' or '○'
end
M.LEGEND = '◉ talking  ○ in the call  ⊘ muted'

--- For the statusline: '' without a call, else e.g. "call: 3 · ana talking · you muted".
function M.status()
  local call = M.state
  if not call then
    return ''
  end
  local list = participants(call)
  local parts = { 'call: ' .. #list }
  local talking = {}
  for _, p in ipairs(list) do
    if p.talking == true and p.muted ~= true then
      talking[#talking + 1] = text(p.username)
    end
  end
  if #talking > 0 then
    parts[#parts + 1] = table.concat(talking, ', ') .. ' talking'
  end
  local mine = find(call, require('codeforge.collab').me)
  if mine and mine.muted == true then
    parts[#parts + 1] = 'you muted'
  end
  return table.concat(parts, ' · ')
end

-- -- joining: the `codeforge call` job -----------------------------------------------------------

--- What `:CodeForge call [join] …` asks for, checked before anything starts.
---@return table|nil options, string|nil error
function M.join_options(words)
  local options = {}
  for _, word in ipairs(words) do
    local key, value = word:match('^([%a_]+)=(.*)$')
    if key then
      if not vim.tbl_contains(M.JOIN_OPTIONS, key) then
        return nil, ('unknown option "%s=": options: %s=, and the word muted'):format(key, table.concat(M.JOIN_OPTIONS, '=, '))
      end
      if value == '' then
        return nil, ('%s= needs a value, e.g. %s'):format(key, ({ input = 'input=voice.wav', output = 'output=heard.wav', format = 'format=pulse', output_format = 'output_format=alsa', share = 'share=screen.mp4', watch = 'watch=ana' })[key])
      end
      options[key] = value
    elseif word == 'muted' or word == 'mute' then
      options.muted = true
    else
      return nil, ('"%s" is not an option of :CodeForge call: give input=FILE|none, output=FILE, format=, output_format=, share=FILE, watch=USER or muted'):format(word)
    end
  end
  for _, key in ipairs({ 'input', 'share' }) do
    -- input=none listens only; with format= the input names a device, not a file.
    if options[key] and not (key == 'input' and (options.input == 'none' or options.format)) then
      options[key] = vim.fn.fnamemodify(vim.fn.expand(options[key]), ':p')
      if vim.fn.filereadable(options[key]) == 0 then
        return nil, ('%s=%s: no such file (give a WAV or any file ffmpeg reads)'):format(key, options[key])
      end
    end
  end
  if options.output and not options.output_format then
    options.output = vim.fn.fnamemodify(vim.fn.expand(options.output), ':p')
    local dir = vim.fn.fnamemodify(options.output, ':h')
    if vim.fn.isdirectory(dir) == 0 then
      return nil, ('output=%s: the folder %s does not exist'):format(options.output, dir)
    end
  end
  for _, key in ipairs({ 'format', 'output_format' }) do
    if options[key] and not options[key]:match('^[%w_-]+$') then
      return nil, ('%s=%s: give a device format name such as pulse, alsa or avfoundation'):format(key, options[key])
    end
  end
  return options
end

--- The command line of `codeforge call` (the token goes in its environment, never here).
function M.command_line(session, bridge, options)
  local cmd = { require('codeforge.remote').program(), 'call', session, '--bridge', bridge }
  if options.input then
    vim.list_extend(cmd, { '--input', options.input })
  end
  if options.format then
    vim.list_extend(cmd, { '--input-format', options.format })
  end
  if options.output then
    vim.list_extend(cmd, { '--output', options.output })
  end
  if options.output_format then
    vim.list_extend(cmd, { '--output-format', options.output_format })
  end
  if options.share then
    vim.list_extend(cmd, { '--share', options.share })
  end
  if options.watch then
    vim.list_extend(cmd, { '--watch', options.watch })
  end
  if options.muted then
    cmd[#cmd + 1] = '--mute'
  end
  return cmd
end

--- The last meaningful line the job printed (its error), scrubbed of tokens.
local function last_line(tail)
  for i = #tail, 1, -1 do
    local line = vim.trim((tail[i] or ''):gsub('\27%[[%d;]*%a', ''))
    if line ~= '' then
      return require('codeforge.remote').scrub(line)
    end
  end
end

--- What to do about a failure of `codeforge call`, in Neovim's words.
local function hint(line)
  local lowered = (line or ''):lower()
  if lowered:find('audio') and (lowered:find('device') or lowered:find('input') or lowered:find('output')) then
    return ' — without audio devices, join with files: :CodeForge call input=voice.wav output=heard.wav (:checkhealth codeforge)'
  end
  return ''
end

function M.join(words)
  local options, err = M.join_options(words)
  if not options then
    return fail(':CodeForge call', err)
  end
  if M.job then
    return notify(('already in the call of session %s (:CodeForge call leave first)'):format(M.job.session), vim.log.levels.WARN)
  end
  local link, lerr = M.execute('link', {})
  if lerr then
    return fail('joining the call', lerr)
  end
  local session, bridge = type(link) == 'table' and text(link.session), type(link) == 'table' and text(link.bridge)
  if not session or not bridge then
    return fail('joining the call', 'the server did not say where the call is (codeforge.call.link)')
  end
  -- The bridge Neovim reaches (:CodeForge connect) is the one to dial; the bridge's own
  -- address is for editors on the platform's network.
  return M.start_job(session, require('codeforge.remote').url or bridge, options)
end

--- Start `codeforge call` for `session` at `bridge`; its end is told (an error with its last
--- line and what to do). Returns the job, or nil after saying why not.
function M.start_job(session, bridge, options)
  local program = require('codeforge.remote').program()
  if vim.fn.executable(program) == 0 then
    return fail('joining the call', ('`%s` is not executable: install CodeForge (pip install codeforge) or set vim.g.codeforge.cmd'):format(program))
  end
  local job = { session = session, tail = {}, stopping = false }
  local function keep(_, data)
    for _, line in ipairs(data or {}) do
      -- A control the client itself made and the bridge refused (its --watch, say).
      local refusal = line:match('^Refused: (.*)$')
      if refusal then
        vim.schedule(function()
          notify('the call refused: ' .. require('codeforge.remote').scrub(refusal), vim.log.levels.WARN)
        end)
      end
      if line ~= '' then
        job.tail[#job.tail + 1] = line
        if #job.tail > TAIL then
          table.remove(job.tail, 1)
        end
      end
    end
  end
  local cmd = M.command_line(session, bridge, options)
  require('codeforge.log').append('▶ ' .. require('codeforge.remote').scrub(table.concat(cmd, ' ')))
  job.id = vim.fn.jobstart(cmd, {
    env = require('codeforge.remote').env(),
    on_stdout = keep,
    on_stderr = keep,
    on_exit = function(_, code)
      if M.job == job then
        M.job = nil
      end
      require('codeforge.log').append(('codeforge call exited (%d): %s'):format(code, last_line(job.tail) or ''))
      if job.stopping then
        notify('you left the call')
      elseif code == 0 then
        -- It ended by itself: the call ended, or --for ran out ("The call ended: …").
        notify(last_line(job.tail) or 'you left the call')
      else
        local line = last_line(job.tail) or ('exit status ' .. code)
        require('codeforge').report_error('codeforge call', line .. hint(line))
      end
      pcall(vim.cmd.redrawstatus)
    end,
  })
  if job.id <= 0 then
    return fail('joining the call', ('cannot start `%s call`: see :checkhealth codeforge'):format(program))
  end
  job.pid = vim.fn.jobpid(job.id)
  M.job = job
  notify(('joining the call of session %s%s (:CodeForge call leave to leave)'):format(session, options.input and (' with ' .. vim.fn.fnamemodify(options.input, ':t')) or ''))
  return job
end

--- Stop the job: SIGINT first (`codeforge call` leaves on Ctrl-C), then stop it.
function M.stop_job()
  local job = M.job
  if not job then
    return false
  end
  job.stopping = true
  if job.pid then
    pcall(vim.uv.kill, job.pid, 'sigint')
  end
  vim.defer_fn(function()
    pcall(vim.fn.jobstop, job.id)
  end, STOP_GRACE)
  return true
end

-- -- the other subcommands ----------------------------------------------------------------------

local function me()
  return require('codeforge.collab').whoami()
end

local handlers = {}

--- A refusal of the server, with what to do in Neovim when the job lacks an m-line.
local function refused(what, err)
  local message = type(err) == 'table' and tostring(err.message) or tostring(err)
  if message:find('no watch m%-line') then
    message = message .. ' (here: :CodeForge call leave, then :CodeForge call watch=USERNAME)'
  elseif message:find('no share m%-line') then
    message = message .. ' (here: :CodeForge call leave, then :CodeForge call share=VIDEO_FILE)'
  end
  return fail(what, message)
end

function handlers.leave(words)
  if #words > 0 then
    return fail(':CodeForge call leave', 'leave takes no arguments')
  end
  local in_call = find(M.state, me())
  local stopped = false
  if in_call or not M.job then
    local _, err = M.execute('leave', {})
    if err and not M.job then
      return fail('leaving the call', err)
    end
  end
  stopped = M.stop_job()
  if not stopped then
    notify('you left the call')
  end
  return true
end

local function mute(words, muted)
  local verb = muted and 'mute' or 'unmute'
  if #words > 1 then
    return fail(':CodeForge call ' .. verb, ('give at most one username: :CodeForge call %s [USERNAME]'):format(verb))
  end
  local username = words[1]
  if username and not muted and username ~= me() then
    return fail(':CodeForge call unmute', ('only %s can unmute themselves (the host mutes; unmuting is your own)'):format(username))
  end
  local args = { muted = muted }
  if username and username ~= me() then
    args.username = username
  end
  local result, err = M.execute('mute', args)
  if err then
    local doing = muted and 'muting' or 'unmuting'
    return fail(doing .. ' ' .. (args.username or 'yourself'), err)
  end
  notify(args.username and (args.username .. ' is muted') or (muted and 'you are muted (:CodeForge call unmute)' or 'you are unmuted'))
  return result
end

handlers.mute = function(words)
  return mute(words, true)
end
handlers.unmute = function(words)
  return mute(words, false)
end

M.SHARE_KINDS = { 'screen', 'camera', 'stop' }

function handlers.share(words)
  if #words > 1 then
    return fail(':CodeForge call share', 'share [screen|camera|stop]')
  end
  local kind = words[1]
  if not kind then
    kind = async.await(vim.ui.select, M.SHARE_KINDS, { prompt = 'Share', kind = 'codeforge.call' })
    if not kind then
      return notify('share cancelled')
    end
  end
  if not vim.tbl_contains(M.SHARE_KINDS, kind) then
    return fail(':CodeForge call share', ('"%s" is not screen, camera or stop'):format(kind))
  end
  local result, err = M.execute('share', { kind = kind ~= 'stop' and kind or vim.NIL })
  if err then
    return refused(kind == 'stop' and 'stopping your share' or ('sharing your ' .. kind), err)
  end
  notify(kind == 'stop' and 'you stopped sharing' or ('you share your ' .. kind))
  return result
end

function handlers.watch(words)
  if #words > 1 then
    return fail(':CodeForge call watch', "watch [USERNAME|stop]: one participant's share at a time")
  end
  local username = words[1]
  if not username then
    local sharing = vim.tbl_filter(function(p)
      return text(p.sharing) ~= nil and text(p.username) ~= me()
    end, participants(M.state))
    if #sharing == 0 then
      return notify('nobody in the call shares a screen or camera')
    end
    local choice = async.await(vim.ui.select, sharing, {
      prompt = 'Watch',
      format_item = function(p)
        return ('%s (%s)'):format(require('codeforge.collab').display(p), text(p.sharing))
      end,
      kind = 'codeforge.call',
    })
    if not choice then
      return notify('watch cancelled')
    end
    username = text(choice.username)
  end
  local stop = username == 'stop' or username == 'none'
  local result, err = M.execute('watch', stop and {} or { username = username })
  if err then
    return refused(stop and 'stopping watching' or ('watching ' .. username), err)
  end
  notify(stop and 'you watch nobody' or ('you watch ' .. username .. "'s share"))
  return result
end

handlers['end'] = function(words)
  if #words > 0 then
    return fail(':CodeForge call end', 'end takes no arguments')
  end
  local answer = async.await(vim.ui.select, { 'End the call for everyone', 'Cancel' }, { prompt = 'End the call?', kind = 'codeforge.call' })
  if answer ~= 'End the call for everyone' then
    return notify('the call goes on')
  end
  local result, err = M.execute('end', {})
  if err then
    return fail('ending the call', err)
  end
  M.stop_job()
  return result
end

--- The lines `:CodeForge call who` shows.
function M.who_lines(call)
  local lines = {}
  for _, p in ipairs(participants(call)) do
    local extra = {}
    if p.host == true then
      extra[#extra + 1] = 'host'
    end
    if p.muted_by_host == true then
      extra[#extra + 1] = 'muted by the host'
    end
    if text(p.sharing) then
      extra[#extra + 1] = 'shares ' .. text(p.sharing)
    end
    if text(p.watching) then
      extra[#extra + 1] = 'watches ' .. text(p.watching)
    end
    local mark = M.mark(text(p.username)) ~= '' and M.mark(text(p.username)) or '○'
    if call ~= M.state then
      mark = p.muted == true and '⊘' or (p.talking == true and '◉' or '○')
    end
    lines[#lines + 1] = ('%s %-28s %-9s %s'):format(mark, require('codeforge.collab').display(p), text(p.role) or '', table.concat(extra, ', '))
  end
  if #lines == 0 then
    lines = { 'nobody is in the call: :CodeForge call joins it' }
  end
  lines[#lines + 1] = ''
  lines[#lines + 1] = M.LEGEND
  return lines
end

function handlers.who(words)
  if #words > 0 then
    return fail(':CodeForge call who', 'who takes no arguments')
  end
  local result, err = M.execute('participants', {})
  if err then
    return fail('listing the call', err)
  end
  local call = type(result) == 'table' and type(result.call) == 'table' and result.call or nil
  require('codeforge.ui').float('Call: participants', M.who_lines(call), call or vim.empty_dict())
  return call
end

--- `:CodeForge call …`: words[1] is 'call'.
function M.command(words, _bang)
  local sub = words[2]
  if sub == nil or sub == 'join' or sub:find('=', 1, true) or sub == 'muted' then
    return M.join(vim.list_slice(words, sub == 'join' and 3 or 2))
  end
  local handler = handlers[sub]
  if not handler then
    local names = vim.tbl_keys(M.SUBCOMMANDS)
    table.sort(names)
    return fail(':CodeForge call ' .. sub, 'no such call command: use one of ' .. table.concat(names, ', ') .. ' (no word: join)')
  end
  return handler(vim.list_slice(words, 3))
end

--- Completion after `:CodeForge call `: `words` are the words before the one being completed.
function M.complete(words)
  local n = #words
  local function usernames()
    local out = {}
    for _, p in ipairs(participants(M.state)) do
      if text(p.username) and text(p.username) ~= require('codeforge.collab').me then
        out[#out + 1] = text(p.username)
      end
    end
    return out
  end
  local sub = words[3]
  if n == 2 then
    local out = vim.tbl_keys(M.SUBCOMMANDS)
    for _, key in ipairs(M.JOIN_OPTIONS) do
      out[#out + 1] = key .. '='
    end
    out[#out + 1] = 'muted'
    return out
  end
  if sub == 'join' or (sub and (sub:find('=', 1, true) or sub == 'muted')) then
    local out = vim.tbl_map(function(k)
      return k .. '='
    end, M.JOIN_OPTIONS)
    out[#out + 1] = 'muted'
    return out
  end
  if n == 3 and sub == 'share' then
    return vim.deepcopy(M.SHARE_KINDS)
  elseif n == 3 and sub == 'watch' then
    return vim.list_extend(usernames(), { 'stop' })
  elseif n == 3 and sub == 'mute' then
    return usernames()
  end
  return {}
end

-- -- :checkhealth --------------------------------------------------------------------------------

--- Whether this machine has an audio device `codeforge call` can open through PyAV/ffmpeg:
--- a PulseAudio/PipeWire server, ALSA sound cards, or macOS's AVFoundation.
---@return boolean found, string detail
function M.audio_devices()
  if vim.fn.has('mac') == 1 then
    return true, 'macOS: AVFoundation (format=avfoundation)'
  end
  if vim.fn.has('win32') == 1 then
    return true, 'Windows: DirectShow (format=dshow)'
  end
  local runtime = os.getenv('XDG_RUNTIME_DIR')
  local pulse = os.getenv('PULSE_SERVER')
  if (pulse and pulse ~= '') or (runtime and vim.uv.fs_stat(runtime .. '/pulse/native')) then
    return true, 'a PulseAudio/PipeWire server (format=pulse)'
  end
  local cards = vim.uv.fs_stat('/proc/asound/cards') and table.concat(vim.fn.readfile('/proc/asound/cards'), '\n') or ''
  local pcm = vim.fn.glob('/dev/snd/pcmC*', false, true)
  if cards ~= '' and not cards:find('no soundcards') and #pcm > 0 then
    return true, ('ALSA: %d PCM device(s) (format=alsa)'):format(#pcm)
  end
  return false, 'no PulseAudio/PipeWire server and no ALSA sound card'
end

function M.check_health()
  local health = vim.health
  health.start('Calls (:CodeForge call)')
  local program = require('codeforge.remote').program()
  if vim.fn.executable(program) == 1 then
    health.ok(('`%s call` joins calls (aiortc client)'):format(program))
  else
    health.error(('`%s` is not executable: :CodeForge call cannot start'):format(program), { 'pip install codeforge' })
  end
  local found, detail = M.audio_devices()
  if found then
    health.ok('audio device found: ' .. detail)
  else
    health.warn('`codeforge call` finds no audio device here: ' .. detail, {
      'Join with files instead: :CodeForge call input=voice.wav output=heard.wav',
      'or start PulseAudio/PipeWire (a desktop session has one)',
    })
  end
  if M.job then
    health.ok(('in the call of session %s (job %d)'):format(M.job.session, M.job.id))
  end
  if M.state then
    health.info(M.status())
  end
end

vim.lsp.handlers['codeforge/call/state'] = vim.lsp.handlers['codeforge/call/state'] or function(_, params)
  M.on_state(params)
end

return M
