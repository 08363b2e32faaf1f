-- One of two headless Neovim 0.11 instances on ONE debug session through a real bridge, each
-- with the real nvim-dap client (a test-only copy) talking to `codeforge connect URL --dap`.
-- Run by tests/collab/test_shared_debug_nvim.py as
--   nvim --headless -u NONE -i NONE -n -l shared_debug_nvim.lua
-- with ROLE=host|participant, CODEFORGE_BIN, BRIDGE_URL, LOCAL_DIR (this editor's copy of the
-- workspace), NVIM_DAP_DIR, EXCHANGE_DIR (files the two use to meet), COLLAB_SESSION (the
-- participant's collaboration session) and CODEFORGE_TOKEN (the editor's user) set.
--
-- host: sets a breakpoint on prog.py line 4 and launches it; once stopped, publishes the debug
--   session's id, then waits for the participant to continue and stops there again.
-- participant: joins that debug session as a participant of the collaboration session
--   (`--join ID --collab SESSION`), is told of the stop, presses continue: both editors stop
--   on the breakpoint again, with x == 2.
-- Each step prints "ok NAME — detail" or "not ok NAME: error"; the exit status says whether all passed.
local function env(name)
  local value = os.getenv(name)
  if not value or value == '' then
    error(name .. ' is not set: run this through tests/collab/test_shared_debug_nvim.py')
  end
  return value
end

local ROLE = env('ROLE')
local LOCAL = env('LOCAL_DIR')
local EXCHANGE = env('EXCHANGE_DIR')
local TIMEOUT = 120000
vim.opt.runtimepath:append(env('NVIM_DAP_DIR'))
local dap = require('dap')

local messages = {} ---@type string[]
vim.notify = function(msg, level)
  messages[#messages + 1] = ('[%s] %s'):format(level or vim.log.levels.INFO, msg)
end

local function wait_for(what, cond)
  if not vim.wait(TIMEOUT, cond, 20) then
    error('timed out waiting for ' .. what .. '; messages: ' .. table.concat(messages, ' | '))
  end
end

local function exchange(name)
  return EXCHANGE .. '/' .. name
end

local function publish(name, text)
  vim.fn.writefile({ text }, exchange(name) .. '.tmp')
  vim.uv.fs_rename(exchange(name) .. '.tmp', exchange(name))
end

local function read(name)
  wait_for('the other editor (' .. name .. ')', function()
    return vim.uv.fs_stat(exchange(name)) ~= nil
  end)
  return vim.fn.readfile(exchange(name))[1]
end

-- The adapter: `codeforge connect URL --dap`, with --join and --collab for the participant.
dap.adapters.codeforge = function(callback, config)
  local args = { 'connect', env('BRIDGE_URL'), '--dap', '--local-root', LOCAL }
  if config.request == 'attach' then
    vim.list_extend(args, { '--join', config.join, '--collab', env('COLLAB_SESSION') })
  end
  callback({ type = 'executable', command = env('CODEFORGE_BIN'), args = args })
end

local stops, debug_id, ended = {}, nil, false
dap.listeners.after.event_stopped['shared'] = function(_, body)
  stops[#stops + 1] = body
end
dap.listeners.after['event_codeforge/debugSession']['shared'] = function(_, body)
  debug_id = body.id
end
for _, name in ipairs({ 'event_terminated', 'event_exited' }) do
  dap.listeners.after[name]['shared'] = function()
    ended = true
  end
end

local function request(command, args)
  local session = dap.session()
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

--- Where this editor's session stands: the top frame's file and line and the local x.
local function where()
  local session = dap.session()
  wait_for('a current frame', function()
    return session and session.current_frame ~= nil
  end)
  local frame = session.current_frame
  local scopes = request('scopes', { frameId = frame.id }).scopes
  local x
  for _, v in ipairs(request('variables', { variablesReference = scopes[1].variablesReference }).variables) do
    if v.name == 'x' then
      x = v.value
    end
  end
  return frame.source and frame.source.path, frame.line, x
end

local failed = false
local function step(name, body)
  local ok, detail = xpcall(body, debug.traceback)
  if ok then
    io.stdout:write(('ok %s — %s\n'):format(name, tostring(detail or '')))
  else
    io.stdout:write(('not ok %s: %s\n'):format(name, tostring(detail)))
    failed = true
  end
  return ok
end

local program = LOCAL .. '/prog.py'
if ROLE == 'host' then
  local _ = step('host-stops-on-the-breakpoint', function()
    vim.cmd('edit ' .. vim.fn.fnameescape(program))
    vim.api.nvim_win_set_cursor(0, { 4, 0 })
    dap.set_breakpoint()
    dap.run({ type = 'codeforge', request = 'launch', name = 'shared', program = program, cwd = LOCAL })
    wait_for('the first stop', function()
      return #stops >= 1 and debug_id ~= nil
    end)
    local path, line, x = where()
    assert(path == program and line == 4 and x == '1', vim.inspect({ path, line, x }))
    publish('debug_id', debug_id)
    return ('stopped at %s:%d with x=%s; debug session %s'):format(path, line, x, debug_id)
  end)
    and step('host-stops-again-when-the-participant-continues', function()
      wait_for('the stop the participant caused', function()
        return #stops >= 2
      end)
      local path, line, x = where()
      assert(stops[2].reason == 'breakpoint', vim.inspect(stops[2]))
      assert(path == program and line == 4 and x == '2', vim.inspect({ path, line, x }))
      return ('stopped at %s:%d with x=%s'):format(path, line, x)
    end)
    and step('host-ends-the-program', function()
      read('participant_done')
      dap.clear_breakpoints() -- the program then runs to its end
      dap.continue()
      wait_for('the end of the program', function()
        return ended
      end)
      return 'terminated'
    end)
else
  local _ = step('participant-joins-and-is-told-of-the-stop', function()
    local id = read('debug_id')
    vim.cmd('edit ' .. vim.fn.fnameescape(program))
    dap.run({ type = 'codeforge', request = 'attach', name = 'join', join = id })
    wait_for('the stop the session is in', function()
      return #stops >= 1
    end)
    local path, line, x = where()
    assert(path == program and line == 4 and x == '1', vim.inspect({ path, line, x }))
    return ('joined %s: stopped at %s:%d with x=%s'):format(id, path, line, x)
  end)
    and step('participant-continues-and-stops-on-the-breakpoint', function()
      dap.continue()
      wait_for('the next stop', function()
        return #stops >= 2
      end)
      assert(stops[2].reason == 'breakpoint', vim.inspect(stops[2]))
      local path, line, x = where()
      assert(path == program and line == 4 and x == '2', vim.inspect({ path, line, x }))
      publish('participant_done', 'yes')
      return ('stopped at %s:%d with x=%s'):format(path, line, x)
    end)
    and step('participant-sees-the-end', function()
      wait_for('the end of the program', function()
        return ended
      end)
      return 'terminated'
    end)
end
io.stdout:write('messages: ' .. table.concat(messages, ' | ') .. '\n')
io.stdout:flush()
vim.cmd(failed and 'cquit 1' or 'qall!')
