--- `:CodeForge collab {sub} …`: sessions, following, roles, comments, reviews and conflicts.
--- Every argument is optional where typing it is: what is missing is asked with vim.ui.select /
--- vim.ui.input (`:CodeForge! collab start` asks the optional title and mode too); a wrong one
--- is refused with what to type instead. Runs inside a coroutine (codeforge.async.run).
local async = require('codeforge.async')
local collab = require('codeforge.collab')

local M = {}

local text = collab.text

M.ROLES = { 'navigator', 'driver', 'guest' }
M.MODES = { 'free', 'pair' }
M.CHOICES = { 'ours', 'theirs', 'both', 'text' }
local ROLE_HELP = {
  navigator = 'edits in free mode, watches in pair mode',
  driver = 'edits; in pair mode the one who types',
  guest = 'read-only: sees everything, edits nothing',
}
local MODE_HELP = { free = 'everyone with an editing role types', pair = 'only the driver types; hand over explicitly' }

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

-- Options whose value is text: the words after `title=` belong to it (`title=Pair on 日本 🚀`),
-- up to the next option.
local TEXT_OPTIONS = { title = true }

--- Words after the subcommand: positional words and `key=value` options (only `allowed` keys).
---@return string[]|nil positional, table<string, string>|nil named, string|nil error
local function parse(words, allowed)
  local positional, named = {}, {}
  local text_key = nil
  for _, word in ipairs(words) do
    local key, value = word:match('^([%a_]+)=(.*)$')
    if not key and text_key then
      named[text_key] = named[text_key] == '' and word or (named[text_key] .. ' ' .. word)
    elseif key then
      text_key = TEXT_OPTIONS[key] and key or nil
      if not vim.tbl_contains(allowed, key) then
        local keys = #allowed > 0 and ('options: ' .. table.concat(
          vim.tbl_map(function(k)
            return k .. '='
          end, allowed),
          ', '
        )) or 'it takes no options'
        return nil, nil, ('unknown option "%s=": %s'):format(key, keys)
      end
      named[key] = value
    else
      positional[#positional + 1] = word
    end
  end
  return positional, named
end

M.parse = parse

local function at_most(positional, n, usage)
  if #positional > n then
    return ('too many arguments (%s): %s'):format(table.concat(vim.list_slice(positional, n + 1), ' '), usage)
  end
end

local function select(items, prompt, format)
  return async.await(vim.ui.select, items, { prompt = prompt, format_item = format, kind = 'codeforge.collab' })
end

local function choose_role(prompt)
  return select(M.ROLES, prompt, function(r)
    return ('%-9s — %s'):format(r, ROLE_HELP[r])
  end)
end

local function check_in(list, value, what)
  if not vim.tbl_contains(list, value) then
    return ('"%s" is not a %s: use %s'):format(value, what, table.concat(list, ', '))
  end
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

local function where(p)
  local file = text(p.file) or text(p.path) or (text(p.uri) and vim.fn.fnamemodify(vim.uri_to_fname(p.uri), ':~:.'))
  if not file then
    return ''
  end
  return file .. (tonumber(p.line) and (':' .. (tonumber(p.line) + 1)) or '')
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
    return ('%-28s %-9s %s'):format(collab.display(p), text(p.role) or '', where(p))
  end)
  return choice and choice.username or nil
end

local function secret_input(prompt)
  local info = debug.getinfo(vim.ui.input, 'S')
  -- Neovim's own vim.ui.input echoes what is typed and keeps it in the input history; an
  -- invitation token is a secret, so it is read with inputsecret() unless a UI plugin replaced it.
  if info and info.source:match('vim/ui%.lua$') then
    local ok, value = pcall(vim.fn.inputsecret, prompt)
    return ok and value or nil
  end
  return async.await(vim.ui.input, { prompt = prompt, secret = true })
end

--- The file buffer and 0-based cursor row a comment command works on.
local function here()
  local buf = vim.api.nvim_get_current_buf()
  if vim.bo[buf].buftype ~= '' or vim.api.nvim_buf_get_name(buf) == '' then
    return nil, 'comments go on a file of the workspace: move to its window first'
  end
  return buf, vim.api.nvim_win_get_cursor(0)[1] - 1
end

--- The thread a reply/resolve/reopen is about: `thread=ID`, else the one on the cursor line
--- (chosen from a list when there are several).
local function pick_thread(named)
  local comments = require('codeforge.collab.comments')
  if named.thread then
    if not named.thread:match('^%S+$') then
      return nil, 'thread= needs a thread id'
    end
    return named.thread
  end
  local buf, row = here()
  if not buf then
    return nil, row
  end
  local threads = comments.at(buf, row)
  if #threads == 0 then
    return nil, ('no comment thread on line %d: :CodeForge collab comment starts one'):format(row + 1)
  end
  if #threads == 1 then
    return text(threads[1].id)
  end
  local choice = select(threads, 'Which thread', comments.summary)
  return choice and text(choice.id) or nil
end

local function body_of(positional, prompt)
  local body = table.concat(positional, ' ')
  if vim.trim(body) == '' then
    body = async.await(vim.ui.input, { prompt = prompt })
    if body == nil then
      return nil
    end
  end
  if vim.trim(body) == '' then
    return nil, 'an empty comment is not sent: type some text'
  end
  return body
end

local function thread_command(name, thread_id, body)
  local args = { thread = thread_id, body = body }
  local result, err = collab.execute(name, args)
  if err then
    return fail(('%s thread %s'):format(name, thread_id), err)
  end
  local comments = require('codeforge.collab.comments')
  local _, uri = comments.find(thread_id)
  if uri then
    comments.update(uri, result)
  end
  collab.notify(('%s: thread %s'):format(({ reply = 'replied', resolve = 'resolved', reopen = 'reopened' })[name], thread_id))
  return result
end

--- Runs a thread command from the float's keys (r, x, o).
function M.from_float(name, thread)
  async.run(function()
    local id = text(thread.id)
    if name == 'reply' then
      local body, err = body_of({}, 'Reply: ')
      if not body then
        return err and fail('reply', err)
      end
      return thread_command('reply', id, body)
    end
    return thread_command(name, id)
  end)
end

local function show_participants(list, state)
  local lines = {}
  for _, p in ipairs(list) do
    local marks = (text(p.username) == text(state and state.driver) and '▶ ' or '  ') .. (p.host == true and '★ ' or '  ')
    lines[#lines + 1] = ('%s%-28s %-9s %s'):format(marks, collab.display(p), text(p.role) or '', where(p))
  end
  if #lines == 0 then
    lines = { 'nobody is in the session' }
  end
  lines[#lines + 1] = ''
  lines[#lines + 1] = '▶ driver  ★ host'
  require('codeforge.ui').float('Collaboration: participants', lines, list)
  return list
end

local function show_review(review)
  local lines = {
    ('# review %s: %s (against %s, by %s)'):format(text(review.id) or '?', text(review.title) or '', text(review.base_ref) or '?', text(review.author) or '?'),
  }
  local targets = {} ---@type table<integer, {path: string, line: integer}>
  for _, file in ipairs(type(review.files) == 'table' and review.files or {}) do
    lines[#lines + 1] = ('diff --git a/%s b/%s'):format(text(file.path), text(file.path))
    for _, h in ipairs(type(file.hunks) == 'table' and file.hunks or {}) do
      lines[#lines + 1] = ('@@ -%d,%d +%d,%d @@'):format(h.old_start or 0, h.old_lines or 0, h.new_start or 0, h.new_lines or 0)
      targets[#lines] = { path = text(file.path), line = tonumber(h.new_start) or 1 }
      local new_line = tonumber(h.new_start) or 1
      for _, l in ipairs(type(h.lines) == 'table' and h.lines or vim.split(text(h.lines) or '', '\n', { plain = true })) do
        lines[#lines + 1] = tostring(l)
        if not tostring(l):match('^%-') then
          targets[#lines] = { path = text(file.path), line = new_line }
          new_line = new_line + 1
        end
      end
    end
  end
  if #lines == 1 then
    lines[#lines + 1] = 'no changes against ' .. (text(review.base_ref) or 'the ref')
  end
  vim.cmd('tabnew')
  local buf = vim.api.nvim_get_current_buf()
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'wipe'
  vim.bo[buf].swapfile = false
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].filetype = 'diff'
  vim.bo[buf].modifiable = false
  pcall(vim.api.nvim_buf_set_name, buf, 'codeforge://review/' .. (text(review.id) or 'new'))
  local root = vim.fs.root(0, { 'codeforge.yaml', 'codeforge.yml', '.git' }) or vim.uv.cwd()
  -- <CR> on a hunk line opens that line of the file, where comments go (:CodeForge collab comment).
  vim.keymap.set('n', '<CR>', function()
    local target = targets[vim.api.nvim_win_get_cursor(0)[1]]
    if target then
      vim.cmd('edit ' .. vim.fn.fnameescape(vim.fs.joinpath(root, target.path)))
      pcall(vim.api.nvim_win_set_cursor, 0, { target.line, 0 })
    end
  end, { buffer = buf, desc = 'CodeForge: open this line of the file' })
  return review
end

local handlers = {}

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
      args.mode = select(M.MODES, 'Mode', function(m)
        return ('%-4s — %s'):format(m, MODE_HELP[m])
      end)
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
    role = choose_role('Invite as')
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
    invitation = secret_input('Invitation link or token: ')
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
    mode = select(M.MODES, 'Mode', function(m)
      return ('%-4s — %s'):format(m, MODE_HELP[m])
    end)
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
  role = role or choose_role('New role of ' .. username)
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
  return show_participants(list, collab.state)
end

-- A comment's text is taken as typed: `x=1` in it is text, not an option.
function handlers.comment(words)
  local positional = words
  local buf, row = here()
  if not buf then
    return fail('collab comment', row)
  end
  local body, berr = body_of(positional, ('Comment on line %d: '):format(row + 1))
  if not body then
    return berr and fail('collab comment', berr) or collab.notify('comment not sent')
  end
  local uri = vim.uri_from_bufnr(buf)
  local thread, rerr = collab.execute('comment', { uri = uri, line = row, body = body })
  if rerr then
    return fail('commenting', rerr)
  end
  require('codeforge.collab.comments').update(uri, thread)
  return thread
end

function handlers.reply(words)
  -- `thread=ID` only as the first word; the rest is the reply as typed.
  local named, positional = {}, words
  if words[1] and words[1]:match('^thread=') then
    named.thread, positional = words[1]:sub(8), vim.list_slice(words, 2)
  end
  local id, terr = pick_thread(named)
  if not id then
    return terr and fail('collab reply', terr) or collab.notify('reply not sent')
  end
  local body, berr = body_of(positional, 'Reply: ')
  if not body then
    return berr and fail('collab reply', berr) or collab.notify('reply not sent')
  end
  return thread_command('reply', id, body)
end

local function state_change(name)
  return function(words)
    local positional, named, err = parse(words, { 'thread' })
    err = err or at_most(positional or {}, 0, name .. ' [thread=ID]')
    if err then
      return fail('collab ' .. name, err)
    end
    local id, terr = pick_thread(named)
    if not id then
      return terr and fail('collab ' .. name, terr) or nil
    end
    return thread_command(name, id)
  end
end
handlers.resolve = state_change('resolve')
handlers.reopen = state_change('reopen')

function handlers.thread(words)
  local positional, named, err = parse(words, { 'thread' })
  err = err or at_most(positional or {}, 0, 'thread [thread=ID]')
  if err then
    return fail('collab thread', err)
  end
  local id, terr = pick_thread(named)
  if not id then
    return terr and fail('collab thread', terr) or nil
  end
  local thread = require('codeforge.collab.comments').find(id)
  if not thread then
    return fail('collab thread', ('no thread %s in the open files'):format(id))
  end
  return require('codeforge.collab.comments').show(thread, M.from_float)
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
  return show_review(type(review) == 'table' and review or {})
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
