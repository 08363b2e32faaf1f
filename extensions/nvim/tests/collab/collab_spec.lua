-- Collaboration in Neovim without a session server: the handlers of the server's notifications
-- (fed as JSON, decoded the way the LSP client decodes them), the extmarks and tabs they make,
-- our cursor as LSP positions, and every :CodeForge collab command's refusal of bad input
-- (refused before anything is sent). tests/extensions/test_nvim_collab.py runs it.
vim.g.codeforge_autostart = false
vim.cmd('runtime! plugin/codeforge.lua')
local collab = require('codeforge.collab')
local presence = require('codeforge.collab.presence')
local comments = require('codeforge.collab.comments')
local conflict = require('codeforge.collab.conflict')
local cursor = require('codeforge.collab.cursor')
local session = require('codeforge.collab.session')
local codeforge = require('codeforge')

local function decode(json)
  return vim.json.decode(json)
end

-- A notification as the LSP client hands it to its handler.
local function notify_handler(kind, json)
  vim.lsp.handlers['codeforge/collab/' .. kind](nil, decode(json), { method = 'codeforge/collab/' .. kind })
end

--- Run :CodeForge with `args` (split as the command line splits them); what vim.notify showed.
local function run(args, bang)
  local shown = {}
  local orig = vim.notify
  vim.notify = function(msg, level)
    shown[#shown + 1] = { msg = msg, level = level }
  end
  local ok, err = pcall(codeforge.command, { fargs = vim.split(args, '%s+', { trimempty = true }), bang = bang or false })
  vim.notify = orig
  assert(ok, err)
  return shown
end

local function said(shown)
  return table.concat(vim.tbl_map(function(s)
    return s.msg
  end, shown), ' | ')
end

local function errors(shown)
  return vim.tbl_filter(function(s)
    return s.level == vim.log.levels.ERROR
  end, shown)
end

local dir = vim.fn.tempname()
vim.fn.mkdir(dir, 'p')
local FILE = dir .. '/app.py'
local LINES = { '# 😀 café 日本語', 'x = "日本語テキスト"', 'plain line', 'last' }
vim.fn.writefile(LINES, FILE)
-- A project folder: a review's paths are relative to it.
vim.fn.writefile({ 'project: demo' }, dir .. '/codeforge.yaml')
local URI = vim.uri_from_fname(FILE)

local function open_file()
  vim.cmd('edit! ' .. vim.fn.fnameescape(FILE))
  return vim.api.nvim_get_current_buf()
end

--- The marks in `buf` of namespace `ns`, with details.
local function marks(buf, ns)
  return vim.api.nvim_buf_get_extmarks(buf, ns, 0, -1, { details = true })
end

local function virt_text(details)
  return table.concat(vim.tbl_map(function(chunk)
    return chunk[1]
  end, details.virt_text or {}), '')
end

describe('positions', function()
  local positions = require('codeforge.collab.positions')
  it('turn UTF-16 / UTF-8 / UTF-32 characters into byte columns and back', function()
    local buf = open_file()
    -- '# 😀 café': the emoji is 2 UTF-16 units, 4 bytes, 1 UTF-32 character.
    eq({ 0, 7 }, { positions.to_byte(buf, { line = 0, character = 5 }, 'utf-16') }, 'after "# 😀 " in utf-16')
    eq({ 0, 7 }, { positions.to_byte(buf, { line = 0, character = 4 }, 'utf-32') }, 'utf-32')
    eq({ 0, 7 }, { positions.to_byte(buf, { line = 0, character = 7 }, 'utf-8') }, 'utf-8')
    eq({ line = 0, character = 5 }, positions.to_lsp(buf, 0, 7, 'utf-16'))
    eq({ line = 1, character = 5 }, positions.to_lsp(buf, 1, 5, 'utf-16'))
    eq({ line = 1, character = 6 }, positions.to_lsp(buf, 1, 8, 'utf-16'), 'after 日')
  end)
  it('clamp positions past a line or the buffer, and inside a surrogate pair', function()
    local buf = open_file()
    eq({ 2, #LINES[3] }, { positions.to_byte(buf, { line = 2, character = 999 }, 'utf-16') })
    eq({ 3, #LINES[4] }, { positions.to_byte(buf, { line = 99, character = 0 }, 'utf-16') })
    local row, col = positions.to_byte(buf, { line = 0, character = 3 }, 'utf-16') -- inside 😀
    eq(0, row)
    assert(col == 2 or col == 6, 'inside the pair landed at byte ' .. col)
  end)
  it('find only loaded buffers', function()
    open_file()
    eq(nil, positions.buffer_of('file:///nowhere/at/all.py'))
    eq(nil, positions.buffer_of(''))
    eq(vim.fn.bufnr(FILE), positions.buffer_of(URI))
  end)
end)

describe('presence', function()
  local PRESENCE = [[{"uri": "%s", "participants": [
    {"username": "ana", "name": "Ana Ruiz", "color": "#e06c75", "role": "driver",
     "selections": [{"anchor": {"line": 1, "character": 5}, "head": {"line": 1, "character": 8}}]},
    {"username": "bo", "name": null, "color": "nonsense", "role": "navigator",
     "selections": [{"anchor": {"line": 0, "character": 5}, "head": {"line": 0, "character": 5}}]}]}]]

  it('draws each cursor at the right byte, the selection, and the name in their colour', function()
    local buf = open_file()
    notify_handler('presence', PRESENCE:format(URI))
    local cursors = presence.cursors(buf)
    table.sort(cursors, function(a, b)
      return a.username < b.username
    end)
    eq(2, #cursors)
    eq({ 'ana', 1, 14 }, { cursors[1].username, cursors[1].row, cursors[1].col }, 'ana on テ, after x = "日本語 (5 + 3 × 3 bytes)')
    eq({ 'bo', 0, 7 }, { cursors[2].username, cursors[2].row, cursors[2].col }, 'bo after the emoji')
    eq(' Ana Ruiz ', virt_text(cursors[1].details))
    eq(' bo ', virt_text(cursors[2].details))
    -- ana's colour: the cursor group has it as background; the name stands out on it.
    local groups = presence.groups('#e06c75')
    eq(groups.cursor, cursors[1].details.hl_group)
    eq(0xe06c75, vim.api.nvim_get_hl(0, { name = groups.cursor }).bg)
    eq(0xe06c75, vim.api.nvim_get_hl(0, { name = groups.label }).bg)
    -- The cursor covers one whole character (テ: 3 bytes).
    eq(17, cursors[1].details.end_col)
    -- bo had no usable colour: one from the fallback palette, the same every time.
    eq(presence.color_of({ username = 'bo' }), presence.color_of({ username = 'bo', color = 'nonsense' }))
    -- ana's selection: 日本語, characters 5 to 8 of line 2, highlighted as a range.
    local selection
    for _, m in ipairs(marks(buf, presence.ns)) do
      if m[4].hl_group == groups.selection then
        selection = m
      end
    end
    assert(selection, 'no selection mark')
    eq({ 1, 5, 1, 14 }, { selection[2], selection[3], selection[4].end_row, selection[4].end_col })
  end)

  it('in UTF-8 positions too', function()
    local buf = open_file()
    presence.on_presence(decode(([[{"uri": "%s", "participants": [{"username": "cy", "color": "#61afef",
      "selections": [{"anchor": {"line": 0, "character": 7}, "head": {"line": 0, "character": 7}}]}]}]]):format(URI)), 'utf-8')
    eq({ { 'cy', 0, 7 } }, vim.tbl_map(function(c)
      return { c.username, c.row, c.col }
    end, presence.cursors(buf)))
  end)

  it('moves with edits made here, and an empty list clears everyone', function()
    local buf = open_file()
    notify_handler('presence', PRESENCE:format(URI))
    vim.api.nvim_buf_set_lines(buf, 0, 0, false, { 'new first line' })
    local rows = {}
    for _, c in ipairs(presence.cursors(buf)) do
      rows[c.username] = c.row
    end
    eq({ ana = 2, bo = 1 }, rows)
    notify_handler('presence', ('{"uri": "%s", "participants": []}'):format(URI))
    eq({}, marks(buf, presence.ns))
    vim.cmd('edit!')
  end)

  it('a cursor at the end of a line is a coloured block; one past the buffer clamps', function()
    local buf = open_file()
    notify_handler('presence', ([[{"uri": "%s", "participants": [{"username": "ana", "color": "#e06c75",
      "selections": [{"anchor": {"line": 40, "character": 2}, "head": {"line": 40, "character": 2}}]}]}]]):format(URI))
    local c = presence.cursors(buf)[1]
    eq({ 3, 4 }, { c.row, c.col })
    eq(presence.groups('#e06c75').cursor, c.details.virt_text[1][2])
    eq('  ana ', virt_text(c.details))
  end)

  it('a document opened after its presence arrived shows it (late joiner)', function()
    local other = dir .. '/later.py'
    vim.fn.writefile({ 'a', 'b' }, other)
    notify_handler('presence', ([[{"uri": "%s", "participants": [{"username": "ana", "color": "#e06c75",
      "selections": [{"anchor": {"line": 1, "character": 0}, "head": {"line": 1, "character": 0}}]}]}]]):format(vim.uri_from_fname(other)))
    eq(-1, vim.fn.bufnr(other), 'a buffer was created for a file nobody opened')
    vim.cmd('edit ' .. vim.fn.fnameescape(other))
    eq({ { 'ana', 1, 0 } }, vim.tbl_map(function(c)
      return { c.username, c.row, c.col }
    end, presence.cursors(0)))
  end)

  it('ignores malformed notifications', function()
    local buf = open_file()
    presence.on_presence(nil)
    presence.on_presence({ uri = 3 })
    notify_handler('presence', ([[{"uri": "%s", "participants": [{"username": "x", "selections": "no"}, {"selections": [{"head": 5}]}]}]]):format(URI))
    eq({}, presence.cursors(buf))
  end)
end)

describe('remote edits at the end of a buffer', function()
  local edits = require('codeforge.collab.edits')
  local function insert_at(line, character, text)
    return { range = { start = { line = line, character = character }, ['end'] = { line = line, character = character } }, newText = text }
  end
  local function applied(lines, edit)
    local buf = vim.api.nvim_create_buf(true, false)
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    local list = { edit }
    local fixed = edits.fix_end_insertions(buf, list, 'utf-16')
    vim.lsp.util.apply_text_edits(list, buf, 'utf-16')
    local out = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
    vim.api.nvim_buf_delete(buf, { force = true })
    return out, fixed
  end

  it('apply an insertion after the final newline exactly (Neovim alone adds a line)', function()
    -- "a\n😀b\n" + "c 日本\n" at (2, 0) is "a\n😀b\nc 日本\n".
    eq({ { 'a', '😀b', 'c 日本' }, 1 }, { applied({ 'a', '😀b' }, insert_at(2, 0, 'c 日本\n')) })
    eq({ { 'a', 'b', '' }, 1 }, { applied({ 'a', 'b' }, insert_at(2, 0, '\n')) })
    -- Neovim's own handling, which the rewrite avoids: one line too many.
    local buf = vim.api.nvim_create_buf(true, false)
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, { 'a', 'b' })
    vim.lsp.util.apply_text_edits({ insert_at(2, 0, 'c\n') }, buf, 'utf-16')
    eq({ 'a', 'b', 'c', '' }, vim.api.nvim_buf_get_lines(buf, 0, -1, false))
  end)

  it('leave every other edit alone', function()
    eq({ { 'x', 'a', 'b' }, 0 }, { applied({ 'a', 'b' }, insert_at(0, 0, 'x\n')) })
    eq({ { 'a', 'bz' }, 0 }, { applied({ 'a', 'b' }, insert_at(1, 1, 'z')) })
    eq({ { 'a', 'b', 'c' }, 0 }, { applied({ 'a', 'b' }, insert_at(1, 1, '\nc')) })
    local replace = { range = { start = { line = 1, character = 0 }, ['end'] = { line = 2, character = 0 } }, newText = 'x\n' }
    eq({ { 'a', 'x' }, 0 }, { applied({ 'a', 'b' }, replace) })
  end)

  it('rewrite TextDocumentEdits and changes of a workspace edit, for the server\'s handler', function()
    local buf = open_file()
    local count = vim.api.nvim_buf_line_count(buf)
    local edit = {
      documentChanges = { { textDocument = { uri = URI, version = vim.NIL }, edits = { insert_at(count, 0, 'tail\n') } } },
      changes = { [URI] = { insert_at(count, 0, 'more\n') } },
    }
    eq(2, edits.fix_workspace_edit(edit, 'utf-16'))
    eq({ line = count - 1, character = vim.str_utfindex(LINES[#LINES], 'utf-16') }, edit.documentChanges[1].edits[1].range.start)
    eq('\ntail', edit.documentChanges[1].edits[1].newText)
    eq(0, edits.fix_workspace_edit(nil))
    eq(0, edits.fix_workspace_edit({ documentChanges = { 'junk', { textDocument = {} } } }))
  end)
end)

describe('remote edits made for another version', function()
  local edits = require('codeforge.collab.edits')
  it('are refused, version 0 included (Neovim applies those at moved positions)', function()
    local buf = open_file()
    local version = vim.b[buf].changedtick
    vim.lsp.util.buf_versions[buf] = version
    local function edit_for(v)
      return { documentChanges = { { textDocument = { uri = URI, version = v }, edits = { { range = { start = { line = 0, character = 0 }, ['end'] = { line = 0, character = 0 } }, newText = 'x' } } } } }
    end
    eq({ URI, 0, version, buf }, { edits.stale(edit_for(0)) })
    eq({ URI, version - 1, version, buf }, { edits.stale(edit_for(version - 1)) })
    eq(nil, edits.stale(edit_for(version)))
    eq(nil, edits.stale(edit_for(vim.NIL)), 'no version: nothing to check')
    local answer = edits.apply_edit(nil, { edit = edit_for(0) }, {})
    eq(false, answer.applied)
    matches('is at version %d+, the edit was made for version 0', answer.failureReason)
    eq(LINES[1], vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1], 'the refused edit was applied')
    answer = edits.apply_edit(nil, { edit = edit_for(version) }, {})
    eq(true, answer.applied)
    eq('x' .. LINES[1], vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1])
    vim.cmd('edit!')
  end)
end)

describe('follow (window/showDocument)', function()
  it("puts the cursor on the leader's character, in the client's encoding", function()
    vim.cmd('enew')
    -- Line 1 is "# 😀 café 日本語": UTF-16 character 10 is 日 (byte 13).
    require('codeforge.ui').show_document(nil, { uri = URI, takeFocus = true, selection = { start = { line = 0, character = 10 }, ['end'] = { line = 0, character = 10 } } }, {})
    eq(FILE, vim.api.nvim_buf_get_name(0))
    eq({ 1, 13 }, vim.api.nvim_win_get_cursor(0))
  end)
end)

describe('session state', function()
  local STATE = [[{"session": "s1", "title": "Pairing 🚀", "role": "navigator", "mode": "pair", "driver": "ana",
    "host": "ana", "mayEdit": false, "following": null,
    "participants": [{"username": "ana", "name": "Ana", "color": "#e06c75", "role": "driver"},
                     {"username": "bo", "name": "Bo", "color": "#61afef", "role": "navigator"}]}]]

  it('starts sending our cursor, says who joins and leaves, and shows in the statusline', function()
    eq('', collab.status())
    local shown = {}
    local orig = vim.notify
    vim.notify = function(msg)
      shown[#shown + 1] = msg
    end
    notify_handler('state', STATE)
    assert(cursor.active(), 'cursor tracking did not start')
    eq('collab: navigator · pair, ana drives · read-only · 2 people', collab.status())
    local next_state = decode(STATE)
    next_state.participants[3] = { username = 'cy', name = '陳', color = '#98c379', role = 'guest' }
    next_state.following = 'ana'
    collab.on_state(next_state)
    vim.notify = orig
    matches('in collaboration session Pairing 🚀 as navigator', shown[1])
    eq('CodeForge: 陳 (cy) joined', shown[2], 'following is said by the follow command, not twice')
    eq('collab: navigator · pair, ana drives · read-only · following ana · 3 people', collab.status())
  end)

  it(':checkhealth codeforge reports the session', function()
    vim.cmd('checkhealth codeforge')
    local report = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
    vim.cmd('tabclose')
    matches('Collaboration', report)
    matches('session Pairing 🚀 %(s1%): collab: navigator', report)
    matches('your cursor goes to the server', report)
  end)

  it('out of the session: no cursor sent, nobody shown, the statusline empty', function()
    local buf = open_file()
    notify_handler('presence', ([[{"uri": "%s", "participants": [{"username": "ana", "color": "#e06c75",
      "selections": [{"anchor": {"line": 0, "character": 0}, "head": {"line": 0, "character": 0}}]}]}]]):format(URI))
    eq(1, #presence.cursors(buf))
    notify_handler('state', '{"session": null}')
    assert(not cursor.active(), 'cursor tracking still on')
    eq({}, presence.cursors(buf))
    eq('', collab.status())
  end)
end)

describe('our cursor', function()
  it('is the cursor in the encoding, a visual selection with the character under the cursor', function()
    local buf = open_file()
    vim.api.nvim_win_set_cursor(0, { 1, 7 }) -- on 'c' of café, after the emoji
    eq({ anchor = { line = 0, character = 5 }, head = { line = 0, character = 5 } }, cursor.selection(0, 'utf-16'))
    eq({ anchor = { line = 0, character = 4 }, head = { line = 0, character = 4 } }, cursor.selection(0, 'utf-32'))
    vim.api.nvim_win_set_cursor(0, { 2, 5 }) -- on 日
    vim.api.nvim_feedkeys('vl', 'nx!', false)
    eq('v', vim.fn.mode())
    eq({ anchor = { line = 1, character = 5 }, head = { line = 1, character = 7 } }, cursor.selection(0, 'utf-16'))
    vim.api.nvim_feedkeys('\27', 'nx', false)
    -- Line-wise, upwards: from the end of the lower line to the start of the upper one.
    vim.api.nvim_win_set_cursor(0, { 3, 2 })
    vim.api.nvim_feedkeys('Vk', 'nx!', false)
    eq('V', vim.fn.mode())
    eq({ anchor = { line = 2, character = #LINES[3] }, head = { line = 1, character = 0 } }, cursor.selection(0, 'utf-16'))
    vim.api.nvim_feedkeys('\27', 'nx', false)
    eq(buf, vim.api.nvim_get_current_buf())
  end)

  it('is not sent for a buffer no codeforge server serves', function()
    open_file()
    eq(nil, cursor.params(vim.api.nvim_get_current_win()))
    eq(false, cursor.send())
  end)
end)

describe('comments', function()
  local COMMENTS = [[{"uri": "%s", "threads": [
    {"id": "t1", "line": 1, "state": "open", "review": null, "comments": [
      {"author": "ana", "body": "Why 日本語 here?\nsecond line", "createdAt": "2026-11-30T00:00:00Z"},
      {"author": "bo", "body": "tests 😀", "createdAt": "2026-11-30T00:01:00Z"}]},
    {"id": "t2", "line": 3, "state": "resolved", "comments": [{"author": "cy", "body": "ok", "createdAt": "2026-11-30T00:02:00Z"}]}]}]]

  it('shows author, first line, count and state at each thread line', function()
    local buf = open_file()
    notify_handler('comments', COMMENTS:format(URI))
    local shown = {}
    for _, t in ipairs(comments.threads(buf)) do
      shown[#shown + 1] = { t.row, comments.summary(t.thread) }
    end
    eq({ { 1, '💬 ana: Why 日本語 here? (2)' }, { 3, '💬 cy: ok ✓ resolved' } }, shown)
    local m = marks(buf, comments.ns)
    eq('💬 ana: Why 日本語 here? (2)', virt_text(m[1][4]))
    eq('CodeForgeCollabCommentResolved', m[2][4].virt_text[1][2])
  end)

  it('stay on their line when lines are added above, and take the line the server sends', function()
    local buf = open_file()
    notify_handler('comments', COMMENTS:format(URI))
    vim.api.nvim_buf_set_lines(buf, 0, 0, false, { 'one', 'two 😀' })
    eq({ 3, 5 }, vim.tbl_map(function(t)
      return t.row
    end, comments.threads(buf)))
    eq('t1', comments.at(buf, 3)[1].id)
    -- The server, which anchors threads to the text, says the same after the edit.
    notify_handler('comments', COMMENTS:gsub('"line": 1', '"line": 3'):gsub('"line": 3, "state": "resolved"', '"line": 5, "state": "resolved"'):format(URI))
    eq({ 3, 5 }, vim.tbl_map(function(t)
      return t.row
    end, comments.threads(buf)))
    vim.cmd('edit!')
  end)

  it('opens the thread in a float with its keys', function()
    local buf = open_file()
    notify_handler('comments', COMMENTS:format(URI))
    vim.api.nvim_win_set_cursor(0, { 2, 0 })
    run('collab thread')
    local win = vim.api.nvim_get_current_win()
    assert(vim.api.nvim_win_get_config(win).relative ~= '', 'no float')
    local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
    eq('Thread t1 · open', lines[1])
    assert(vim.tbl_contains(lines, '  second line'), vim.inspect(lines))
    assert(vim.tbl_contains(lines, '  tests 😀'), vim.inspect(lines))
    eq('r reply · x resolve · q close', lines[#lines])
    for _, key in ipairs({ 'r', 'x', 'o', 'q' }) do
      assert(vim.fn.maparg(key, 'n', false, true).buffer == 1, 'no ' .. key .. ' in the float')
    end
    vim.api.nvim_feedkeys('q', 'x', false)
    eq(buf, vim.api.nvim_get_current_buf())
  end)

  it('refuse a command on a line without a thread, or outside a file', function()
    open_file()
    vim.api.nvim_win_set_cursor(0, { 3, 0 })
    for _, cmd in ipairs({ 'collab reply hi', 'collab resolve', 'collab reopen', 'collab thread' }) do
      matches('no comment thread on line 3: :CodeForge collab comment starts one', said(errors(run(cmd))), cmd)
    end
    matches('thread= needs a thread id', said(run('collab resolve thread=')))
    matches('unknown option "color=": options: thread=', said(run('collab resolve color=red')))
    matches('too many arguments %(now%)', said(run('collab resolve now')))
    vim.cmd('enew')
    matches('comments go on a file of the workspace', said(run('collab comment hello 日本')))
    vim.cmd('bwipe!')
  end)
end)

describe('conflicts', function()
  local CONFLICT = [[{"id": "c1", "uri": "%s", "base": "a = 1\nb = 2\n", "ours": "a = 1\nb = 20  # ours 😀\n", "theirs": "a = 1\nb = 200  # disk\n"}]]

  it('open a tab with ours | base | theirs in diff mode, with the keys', function()
    open_file()
    local tabs = #vim.api.nvim_list_tabpages()
    local shown = {}
    local orig = vim.notify
    vim.notify = function(msg)
      shown[#shown + 1] = msg
    end
    notify_handler('conflict', CONFLICT:format(URI))
    vim.notify = orig
    matches('app.py: changes on disk overlap your unsaved edits', shown[1])
    eq(tabs + 1, #vim.api.nvim_list_tabpages())
    eq('c1', vim.t.codeforge_conflict)
    local wins = vim.api.nvim_tabpage_list_wins(0)
    eq(3, #wins)
    local sides = {}
    for _, win in ipairs(wins) do
      local b = vim.api.nvim_win_get_buf(win)
      sides[#sides + 1] = { vim.b[b].codeforge_conflict_side, vim.wo[win].diff, vim.api.nvim_buf_get_lines(b, 0, -1, false)[2], vim.bo[b].filetype }
      for _, key in ipairs({ 'co', 'ct', 'cb', 'ce', 'q' }) do
        assert(vim.fn.maparg(key, 'n', false, true).buffer == 1 or vim.api.nvim_buf_call(b, function()
          return vim.fn.maparg(key, 'n', false, true).buffer == 1
        end), 'no ' .. key)
      end
    end
    eq({ { 'ours', true, 'b = 20  # ours 😀', 'python' }, { 'base', true, 'b = 2', 'python' }, { 'theirs', true, 'b = 200  # disk', 'python' } }, sides)
    matches('collab: .*1 conflict', (function()
      collab.state = { session = 's', role = 'driver', participants = {} }
      local s = collab.status()
      collab.state = nil
      return s
    end)())
  end)

  it('refuse a choice that is none, or outside a conflict tab', function()
    matches('"mine" is not a choice: use ours, theirs, both, text', said(run('collab conflicts mine')))
    vim.cmd('tabfirst')
    matches('this tab shows no conflict', said(run('collab conflicts ours')))
    matches('too many arguments', said(run('collab conflicts ours theirs')))
  end)

  it('q closes the tab and keeps the conflict; :CodeForge collab conflicts opens it again', function()
    conflict.open('c1')
    vim.api.nvim_feedkeys('q', 'x', false)
    eq(nil, vim.t.codeforge_conflict)
    assert(conflict.pending.c1, 'the conflict was dropped')
    run('collab conflicts')
    eq('c1', vim.t.codeforge_conflict)
    conflict.close('c1')
    conflict.pending = {}
    matches('no conflict is waiting', said(run('collab conflicts')))
  end)

  it('a conflict someone else resolved closes its tab', function()
    open_file()
    local tabs = #vim.api.nvim_list_tabpages()
    local shown = {}
    local orig = vim.notify
    vim.notify = function(msg)
      shown[#shown + 1] = msg
    end
    notify_handler('conflict', CONFLICT:format(URI):gsub('"c1"', '"c2"'))
    eq(tabs + 1, #vim.api.nvim_list_tabpages())
    notify_handler('conflict', ('{"id": "c2", "uri": "%s", "resolved": "theirs"}'):format(URI))
    vim.notify = orig
    eq(tabs, #vim.api.nvim_list_tabpages())
    eq(nil, conflict.pending.c2)
    matches('conflict in .*app.py resolved %(resolved by someone else%)', shown[#shown])
  end)
end)

describe('review view', function()
  local views = require('codeforge.collab.views')
  it('shows the hunks as a diff; its lines stand for the file lines, headers and removals for none', function()
    open_file()
    local review = decode([[{"id": "r1", "title": "Before merge 🚀", "base_ref": "HEAD", "author": "ana", "state": "open",
      "files": [{"path": "app.py", "hunks": [{"old_start": 2, "old_lines": 1, "new_start": 2, "new_lines": 2,
        "lines": ["-x = 1", "+x = \"日本語テキスト\"", "+plain line"]}]}]}]])
    eq(review, views.review(review))
    local buf = vim.api.nvim_get_current_buf()
    eq({ '# review r1: Before merge 🚀 (against HEAD, by ana)', 'diff --git a/app.py b/app.py', '@@ -2,1 +2,2 @@', '-x = 1', '+x = "日本語テキスト"', '+plain line' }, vim.api.nvim_buf_get_lines(buf, 0, -1, false))
    eq('diff', vim.bo[buf].filetype)
    eq(nil, views.review_target(buf, 1), 'the title line')
    eq(nil, views.review_target(buf, 4), 'a removed line')
    eq({ uri = URI, line = 1, review = 'r1' }, views.review_target(buf, 5))
    eq({ uri = URI, line = 2, review = 'r1' }, views.review_target(buf, 6))
    vim.api.nvim_win_set_cursor(0, { 2, 0 })
    matches('line 2 of the review is no line of a file', said(run('collab comment nice')))
    vim.api.nvim_win_set_cursor(0, { 6, 0 })
    vim.api.nvim_feedkeys(vim.keycode('<CR>'), 'mx', false)
    eq({ FILE, 3 }, { vim.api.nvim_buf_get_name(0), vim.api.nvim_win_get_cursor(0)[1] })
    vim.cmd('tabclose')
  end)
end)

describe(':CodeForge collab', function()
  it('refuses wrong subcommands, options and values, saying what to type', function()
    local cases = {
      { 'collab bogus', 'no such collaboration command: use one of comment, conflicts, end, follow' },
      { 'collab mode sideways', '"sideways" is not a mode: use free, pair' },
      { 'collab mode free pair', 'too many arguments %(pair%): mode %[free|pair%]' },
      { 'collab invite wizard', '"wizard" is not a role: use navigator, driver, guest' },
      { 'collab invite guest expires=soon', 'expires=soon: give whole minutes, 1 or more' },
      { 'collab invite guest expires=0', 'expires=0: give whole minutes' },
      { 'collab invite guest expires=1.5', 'expires=1.5: give whole minutes' },
      { 'collab invite guest driver', 'too many arguments %(driver%)' },
      { 'collab invite guest colour=red', 'unknown option "colour=": options: role=, expires=' },
      { 'collab start mode=solo', '"solo" is not a mode: use free, pair' },
      { 'collab start title=x when=now', 'unknown option "when="' },
      { 'collab join a b', 'too many arguments %(b%): join %[LINK or TOKEN%]' },
      { 'collab leave now', 'too many arguments %(now%)' },
      { 'collab end please', 'too many arguments %(please%)' },
      { 'collab unfollow ana', 'too many arguments %(ana%)' },
      { 'collab follow ana bo', 'too many arguments %(bo%)' },
      { 'collab handover ana bo', 'too many arguments' },
      { 'collab role ana driver extra', 'too many arguments %(extra%)' },
      { 'collab role ana pilot', '"pilot" is not a role' },
      { 'collab participants all', 'too many arguments' },
      { 'collab review --cached', '"%-%-cached" is not a git ref' },
      { 'collab review main..HEAD', 'is not a git ref' },
      { 'collab review HEAD main', 'too many arguments %(main%)' },
    }
    for _, case in ipairs(cases) do
      local shown = run(case[1])
      eq(1, #errors(shown), case[1] .. ': ' .. said(shown))
      matches(case[2], said(shown), case[1])
    end
  end)

  it('reads title= up to the next option, and comment text as typed', function()
    local positional, named = session.parse({ 'title=Pair', 'on', '日本', '🚀', 'mode=pair' }, { 'title', 'mode' })
    eq({}, positional)
    eq({ title = 'Pair on 日本 🚀', mode = 'pair' }, named)
    matches('give the title once', said(run('collab start Big title=x')))
    -- `x=1` in a comment is its text: what stops it here is the missing server, not an option.
    open_file()
    local shown = said(run('collab comment set x=1 here'))
    assert(not shown:find('unknown option'), shown)
    matches('cannot start `codeforge`', shown)
    shown = said(run('collab reply thread=t9 a=b'))
    assert(not shown:find('unknown option'), shown)
  end)

  it('an empty invitation is refused; a cancelled prompt sends nothing', function()
    local input = vim.ui.input
    vim.ui.input = function(_, on_confirm)
      on_confirm('   ')
    end
    matches('no invitation: paste the link or token', said(run('collab join')))
    vim.ui.input = function(_, on_confirm)
      on_confirm(nil)
    end
    matches('collab join cancelled', said(run('collab join')))
    local buf = open_file()
    vim.api.nvim_win_set_cursor(0, { 1, 0 })
    matches('comment not sent', said(run('collab comment')))
    vim.ui.input = function(_, on_confirm)
      on_confirm('  ')
    end
    matches('an empty comment is not sent', said(run('collab comment')))
    vim.ui.input = input
    local select = vim.ui.select
    local offered
    vim.ui.select = function(items, _, on_choice)
      offered = items
      on_choice(nil)
    end
    matches('collab invite cancelled', said(run('collab invite')))
    eq({ 'navigator', 'driver', 'guest' }, offered, 'roles offered, navigator first')
    matches('collab mode cancelled', said(run('collab mode')))
    eq({ 'free', 'pair' }, offered)
    matches('the session goes on', said(run('collab end')))
    -- :CodeForge! collab start asks the optional title, then the mode.
    local asked = {}
    vim.ui.input = function(opts, on_confirm)
      asked[#asked + 1] = opts.prompt
      on_confirm('Revue 日本 🚀')
    end
    offered = nil
    matches('collab start cancelled', said(run('collab start', true)))
    eq({ 'Session title (empty: none): ' }, asked)
    eq({ 'free', 'pair' }, offered, 'then the modes')
    vim.ui.input = input
    eq('', said(errors(run('collab'))), 'cancelling the menu of subcommands')
    vim.ui.select = select
    eq(buf, vim.api.nvim_get_current_buf())
  end)

  it('completes subcommands, then their values', function()
    local function complete(line)
      local lead = line:match('(%S*)$')
      return codeforge.complete(lead, line)
    end
    local subs = complete('CodeForge collab ')
    for _, name in ipairs({ 'start', 'invite', 'join', 'leave', 'end', 'follow', 'unfollow', 'handover', 'mode', 'role', 'participants', 'comment', 'reply', 'resolve', 'reopen', 'review', 'conflicts' }) do
      assert(vim.tbl_contains(subs, name), name .. ' not completed: ' .. table.concat(subs, ' '))
    end
    assert(vim.tbl_contains(complete('CodeForge '), 'collab'), 'collab not completed')
    eq({ 'free', 'pair' }, complete('CodeForge collab mode '))
    eq({ 'pair' }, complete('CodeForge collab mode p'))
    eq({ 'driver', 'expires=', 'guest', 'navigator' }, complete('CodeForge collab invite '))
    eq({ 'both', 'ours', 'text', 'theirs' }, complete('CodeForge collab conflicts '))
    collab.state = { session = 's', participants = { { username = 'ana' }, { username = '陳' } } }
    eq({ 'ana', '陳' }, complete('CodeForge collab follow '))
    eq({ 'driver', 'guest', 'navigator' }, complete('CodeForge collab role ana '))
    collab.state = nil
    eq('table', type(session.SUBCOMMANDS))
  end)
end)
