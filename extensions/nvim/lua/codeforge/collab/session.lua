--- `:CodeForge collab {sub} …`: sessions, following, roles, reviews and conflicts (comments in
--- threads.lua, argument reading and prompts in args.lua, what is shown in views.lua).
--- Every argument is optional where typing it is: what is missing is asked with vim.ui.select /
--- vim.ui.input (`:CodeForge! collab start` asks the optional title and mode too); a wrong one
--- is refused with what to type instead. Runs inside a coroutine (codeforge.async.run).
local input = require('codeforge.collab.args')
local async = require('codeforge.async')
local collab = require('codeforge.collab')
local threads = require('codeforge.collab.threads')
local views = require('codeforge.collab.views')

local M = {}

local text = collab.text
local parse, at_most, check_in, select = input.parse, input.at_most, input.check_in, input.select

M.ROLES, M.MODES, M.CHOICES = input.ROLES, input.MODES, input.CHOICES
M.parse = input.parse
M.from_float = threads.from_float

--- Subcommand -> what it does (completion and the no-argument menu).
M.SUBCOMMANDS = {
  start = 'Start a session on this workspace (you host and drive): start [title] [mode=free|pair]',
  invite = 'Invite someone: invite [navigator|driver|guest] [expires=MINUTES] (the link goes to the + and " registers)',
  join = 'Join with an invitation link or token: join [LINK]',
  leave = 'Leave the session',
  ['end'] = 'End the session for everyone (host)',
  follow = "Follow a participant's file and viewport: follow [USERNAME]",
  unfollow = 'Stop following',
  handover = 'Pair mode: make someone the driver: handover [USERNAME]',
  mode = 'Switch between free and pair mode: mode [free|pair]',
  role = "Change a participant's role (host): role [USERNAME] [ROLE]",
  participants = 'Who is here, in which file and line',
  comment = 'Comment on the cursor line: comment [TEXT]',
  thread = 'Show the comment thread of the cursor line (r reply, x resolve, o reopen)',
  reply = 'Reply to the thread of the cursor line: reply [TEXT] [thread=ID]',
  resolve = 'Resolve the thread of the cursor line: resolve [thread=ID]',
  reopen = 'Reopen the thread of the cursor line: reopen [thread=ID]',
  review = 'Review the changes since a git ref: review [REF] [title=TEXT]',
  conflicts = 'Pick a waiting conflict, or answer the one of this tab: conflicts [ours|theirs|both|text]',
}

local function fail(what, message)
  require('codeforge').report_error(what, message)
  return nil
end

--- The session's participants with their file and line (the server's `participants`).
local function participants()
  local result, err = collab.execute('participants', {})
  if err then
    return nil, err
  end
  local list = type(result) == 'table' and (vim.islist(result) and result or result.participants) or nil
  return type(list) == 'table' and list or {}
end

--- A participant other than us, named on the command line or chosen from a list.
---@return string|nil username, string|nil error
local function pick_participant(given, prompt, what)
  local list, err = participants()
  if not list then
    return nil, err.message
  end
  local me = collab.whoami()
  local others = vim.tbl_filter(function(p)
    return text(p.username) and p.you ~= true and p.username ~= me
  end, list)
  local mine = vim.tbl_filter(function(p)
    return p.you == true
  end, list)[1]
  me = me or (mine and mine.username)
  local names = vim.tbl_map(function(p)
    return p.username
  end, others)
  if given then
    if vim.tbl_contains(names, given) then
      return given
    end
    if given == me then
      return nil, ('you cannot %s yourself'):format(what)
    end
    return nil, ('"%s" is not in this session%s'):format(given, #names > 0 and (': ' .. table.concat(names, ', ')) or ' (nobody else is)')
  end
  if #others == 0 then
    return nil, 'nobody else is in the session yet: :CodeForge collab invite'
  end
  local choice = select(others, prompt, function(p)
    return ('%-28s %-9s %s'):format(collab.display(p), text(p.role) or '', views.where(p))
  end)
  return choice and choice.username or nil
end

local handlers = {
  comment = threads.comment,
  thread = threads.thread,
  reply = threads.reply,
  resolve = threads.resolve,
  reopen = threads.reopen,
}

function handlers.start(words, bang)
  local positional, named, err = parse(words, { 'mode', 'title' })
  if err then
    return fail('collab start', err)
  end
  if named.title and #positional > 0 then
    return fail('collab start', ('give the title once: as words (start My title) or as title=, not both ("%s" and "%s")'):format(table.concat(positional, ' '), named.title))
  end
  local title = vim.trim(named.title or table.concat(positional, ' '))
  local args = { title = title ~= '' and title or nil, mode = named.mode }
  if args.mode then
    local bad = check_in(M.MODES, args.mode, 'mode')
    if bad then
      return fail('collab start', bad)
    end
  end
  if bang then
    if not args.title then
      local title = async.await(vim.ui.input, { prompt = 'Session title (empty: none): ' })
      if title == nil then
        return collab.notify('collab start cancelled')
      end
      args.title = vim.trim(title) ~= '' and vim.trim(title) or nil
    end
    if not args.mode then
      args.mode = input.choose_mode('Mode')
      if not args.mode then
        return collab.notify('collab start cancelled')
      end
    end
  end
  local session, rerr = collab.execute('start', args)
  if rerr then
    return fail('starting a collaboration session', rerr)
  end
  collab.notify(('session started%s: :CodeForge collab invite to invite someone'):format(text(session and session.title) and (' — ' .. session.title) or ''))
  return session
end

function handlers.invite(words)
  local positional, named, err = parse(words, { 'role', 'expires' })
  err = err or at_most(positional or {}, 1, 'invite [navigator|driver|guest] [expires=MINUTES]')
  if err then
    return fail('collab invite', err)
  end
  local role = named.role or positional[1]
  if role then
    local bad = check_in(M.ROLES, role, 'role')
    if bad then
      return fail('collab invite', bad)
    end
  else
    role = input.choose_role('Invite as')
    if not role then
      return collab.notify('collab invite cancelled')
    end
  end
  local args = { role = role }
  if named.expires then
    local minutes = tonumber(named.expires)
    if not minutes or minutes ~= math.floor(minutes) or minutes < 1 then
      return fail('collab invite', ('expires=%s: give whole minutes, 1 or more (expires=60)'):format(named.expires))
    end
    args.expiresInMinutes = minutes
  end
  local result, rerr = collab.execute('invite', args)
  if rerr then
    return fail('inviting', rerr)
  end
  local link = type(result) == 'table' and (text(result.link) or text(result.token)) or nil
  if not link then
    return fail('inviting', 'the server answered without a link')
  end
  -- The one display of the link: echoed without history (not in :messages), never notified
  -- (notification plugins keep history) nor logged; the registers keep it for pasting.
  vim.fn.setreg('"', link)
  local registers = '"'
  if vim.fn.has('clipboard') == 1 then
    if pcall(vim.fn.setreg, '+', link) then
      registers = '+ and "'
    end
  end
  local expires = text(result.expiresAt)
  vim.api.nvim_echo({
    { ('CodeForge: invitation (%s%s), in the %s register%s: '):format(text(result.role) or role, expires and (', until ' .. expires) or '', registers, registers == '"' and '' or 's') },
    { link, 'Underlined' },
  }, false, {})
  return { role = text(result.role) or role, expiresAt = expires, registers = registers }
end

function handlers.join(words)
  local positional, _, err = parse(words, {})
  err = err or at_most(positional or {}, 1, 'join [LINK or TOKEN]')
  if err then
    return fail('collab join', err)
  end
  local invitation = positional[1]
  if not invitation then
    invitation = input.secret_input('Invitation link or token: ')
    if invitation == nil then
      return collab.notify('collab join cancelled')
    end
  end
  invitation = vim.trim(invitation)
  if invitation == '' then
    return fail('collab join', 'no invitation: paste the link or token the host gave you')
  end
  local session, rerr = collab.execute('join', { invitation = invitation })
  if rerr then
    return fail('joining the session', rerr)
  end
  return session
end

local function no_args(name)
  return function(words)
    local positional, _, err = parse(words, {})
    err = err or at_most(positional or {}, 0, name .. ' takes no arguments')
    if err then
      return fail('collab ' .. name, err)
    end
    if name == 'end' then
      local answer = select({ 'End the session for everyone', 'Cancel' }, 'End the collaboration session? Everyone loses access.')
      if answer ~= 'End the session for everyone' then
        return collab.notify('the session goes on')
      end
    end
    local session, rerr = collab.execute(name, {})
    if rerr then
      return fail((name == 'end' and 'ending' or 'leaving') .. ' the session', rerr)
    end
    return session
  end
end
handlers.leave = no_args('leave')
handlers['end'] = no_args('end')

local function follow(username)
  local args = username and { username = username } or {}
  local result, err = collab.execute('follow', args)
  if err then
    return fail(username and ('following ' .. username) or 'unfollowing', err)
  end
  if collab.state then
    collab.state.following = type(result) == 'table' and result.following or vim.NIL
    pcall(vim.cmd.redrawstatus)
  end
  collab.notify(username and ('following ' .. username .. ' (:CodeForge collab unfollow to stop)') or 'not following anyone')
  return result
end

function handlers.follow(words)
  local positional, _, err = parse(words, {})
  err = err or at_most(positional or {}, 1, 'follow [USERNAME]')
  if err then
    return fail('collab follow', err)
  end
  local username, perr = pick_participant(positional[1], 'Follow', 'follow')
  if perr then
    return fail('collab follow', perr)
  end
  if not username then
    return collab.notify('collab follow cancelled')
  end
  return follow(username)
end

function handlers.unfollow(words)
  local positional, _, err = parse(words, {})
  err = err or at_most(positional or {}, 0, 'unfollow takes no arguments')
  if err then
    return fail('collab unfollow', err)
  end
  return follow(nil)
end

function handlers.handover(words)
  local positional, _, err = parse(words, {})
  err = err or at_most(positional or {}, 1, 'handover [USERNAME]')
  if err then
    return fail('collab handover', err)
  end
  local username, perr = pick_participant(positional[1], 'Hand the keyboard to', 'hand over to')
  if perr then
    return fail('collab handover', perr)
  end
  if not username then
    return collab.notify('collab handover cancelled')
  end
  local session, rerr = collab.execute('handover', { username = username })
  if rerr then
    return fail('handing over to ' .. username, rerr)
  end
  return session
end

function handlers.mode(words)
  local positional, _, err = parse(words, {})
  err = err or at_most(positional or {}, 1, 'mode [free|pair]')
  if err then
    return fail('collab mode', err)
  end
  local mode = positional[1]
  if mode then
    local bad = check_in(M.MODES, mode, 'mode')
    if bad then
      return fail('collab mode', bad)
    end
  else
    mode = input.choose_mode('Mode')
    if not mode then
      return collab.notify('collab mode cancelled')
    end
  end
  local session, rerr = collab.execute('setMode', { mode = mode })
  if rerr then
    return fail('switching to ' .. mode .. ' mode', rerr)
  end
  return session
end

function handlers.role(words)
  local positional, _, err = parse(words, {})
  err = err or at_most(positional or {}, 2, 'role [USERNAME] [navigator|driver|guest]')
  if err then
    return fail('collab role', err)
  end
  local role = positional[2]
  if role then
    local bad = check_in(M.ROLES, role, 'role')
    if bad then
      return fail('collab role', bad)
    end
  end
  local username, perr = pick_participant(positional[1], 'Change the role of', 'change the role of')
  if perr then
    return fail('collab role', perr)
  end
  if not username then
    return collab.notify('collab role cancelled')
  end
  role = role or input.choose_role('New role of ' .. username)
  if not role then
    return collab.notify('collab role cancelled')
  end
  local session, rerr = collab.execute('setRole', { username = username, role = role })
  if rerr then
    return fail(('making %s %s'):format(username, role), rerr)
  end
  return session
end

function handlers.participants(words)
  local positional, _, err = parse(words, {})
  err = err or at_most(positional or {}, 0, 'participants takes no arguments')
  if err then
    return fail('collab participants', err)
  end
  local list, lerr = participants()
  if not list then
    return fail('listing participants', lerr)
  end
  return views.participants(list, collab.state)
end

function handlers.review(words)
  local positional, named, err = parse(words, { 'title', 'ref' })
  err = err or at_most(positional or {}, 1, 'review [REF] [title=TEXT]')
  if err then
    return fail('collab review', err)
  end
  local ref = named.ref or positional[1] or 'HEAD'
  if ref:match('^%-') or ref:find('%s') or ref:find('%.%.') then
    return fail('collab review', ('"%s" is not a git ref to compare with (HEAD, main, a commit)'):format(ref))
  end
  local review, rerr = collab.execute('review', { ref = ref, title = named.title })
  if rerr then
    return fail('reviewing against ' .. ref, rerr)
  end
  return views.review(type(review) == 'table' and review or {})
end

function handlers.conflicts(words)
  local conflict = require('codeforge.collab.conflict')
  local positional, _, err = parse(words, {})
  err = err or at_most(positional or {}, 1, 'conflicts [ours|theirs|both|text]')
  if err then
    return fail('collab conflicts', err)
  end
  local choice = positional[1]
  if choice then
    local bad = check_in(M.CHOICES, choice, 'choice')
    if bad then
      return fail('collab conflicts', bad)
    end
    return conflict.accept(choice)
  end
  local waiting = vim.tbl_values(conflict.pending)
  if #waiting == 0 then
    return collab.notify('no conflict is waiting')
  end
  table.sort(waiting, function(a, b)
    return a.id < b.id
  end)
  local pick = #waiting == 1 and waiting[1] or select(waiting, 'Resolve the conflict in', conflict.file_of)
  if pick then
    return conflict.open(pick.id)
  end
end

--- `:CodeForge collab …`: words[1] is 'collab'.
function M.command(words, bang)
  local sub = words[2]
  if not sub then
    local names = vim.tbl_keys(M.SUBCOMMANDS)
    table.sort(names)
    sub = select(names, 'Collaboration', function(n)
      return ('%-12s %s'):format(n, M.SUBCOMMANDS[n])
    end)
    if not sub then
      return nil
    end
  end
  local handler = handlers[sub]
  if not handler then
    return fail(':CodeForge collab ' .. sub, 'no such collaboration command: use one of ' .. table.concat(vim.fn.sort(vim.tbl_keys(M.SUBCOMMANDS)), ', '))
  end
  return handler(vim.list_slice(words, 3), bang)
end

--- Whether `:CodeForge collab {sub}` is ours: a subcommand here, none, or a word that is no
--- catalog operation either (refused here, with the list). `collab list`, `collab show` … are
--- the catalog's.
function M.owns(sub)
  if sub == nil or M.SUBCOMMANDS[sub] then
    return true
  end
  local client_mod = require('codeforge.client')
  local client = client_mod.get()
  return not (client and client_mod.find(client, 'collab', sub))
end

--- Completion after `:CodeForge collab `: `words` are the words typed before the one being
--- completed (words[1] = 'CodeForge', words[2] = 'collab'); `ops` the catalog, whose other
--- collab operations complete as usual.
function M.complete(words, ops)
  local n = #words
  ops = ops or {}
  if n == 2 then
    local out = vim.tbl_keys(M.SUBCOMMANDS)
    for _, op in ipairs(ops) do
      if op.capability == 'collab' and not M.SUBCOMMANDS[op.name:sub(8)] then
        out[#out + 1] = op.name:sub(8)
      end
    end
    return out
  end
  local sub = words[3]
  if not M.SUBCOMMANDS[sub] then
    local out = {}
    for _, op in ipairs(ops) do
      if op.name == 'collab.' .. sub then
        for _, f in ipairs(require('codeforge.schema').prompt_fields(op)) do
          out[#out + 1] = f.name .. '='
        end
      end
    end
    return out
  end
  local function usernames()
    local out = {}
    for _, p in ipairs(collab.state and collab.state.participants or {}) do
      if text(p.username) and p.username ~= collab.me then
        out[#out + 1] = p.username
      end
    end
    return out
  end
  if n == 3 then
    if sub == 'invite' then
      return vim.list_extend(vim.deepcopy(M.ROLES), { 'expires=' })
    elseif sub == 'mode' then
      return vim.deepcopy(M.MODES)
    elseif sub == 'follow' or sub == 'handover' or sub == 'role' then
      return usernames()
    elseif sub == 'conflicts' then
      return vim.deepcopy(M.CHOICES)
    elseif sub == 'start' then
      return { 'mode=free', 'mode=pair', 'title=' }
    elseif sub == 'review' then
      return { 'HEAD', 'title=' }
    elseif sub == 'reply' or sub == 'resolve' or sub == 'reopen' or sub == 'thread' then
      return { 'thread=' }
    end
  elseif n == 4 and sub == 'role' then
    return vim.deepcopy(M.ROLES)
  elseif n == 4 and sub == 'invite' then
    return { 'expires=' }
  elseif sub == 'start' then
    return { 'mode=free', 'mode=pair' }
  end
  return {}
end

return M
