--- `:CodeForge collab comment | thread | reply | resolve | reopen`: review comments on the
--- cursor line (or `thread=ID`), and the keys of the thread float. Runs inside a coroutine.
local input = require('codeforge.collab.args')
local async = require('codeforge.async')
local collab = require('codeforge.collab')

local M = {}

local text = collab.text

local function fail(what, message)
  require('codeforge').report_error(what, message)
  return nil
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
  local choice = input.select(threads, 'Which thread', comments.summary)
  return choice and text(choice.id) or nil
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
      local body, err = input.body_of({}, 'Reply: ')
      if not body then
        return err and fail('reply', err)
      end
      return thread_command('reply', id, body)
    end
    return thread_command(name, id)
  end)
end

-- A comment's text is taken as typed: `x=1` in it is text, not an option.
function M.comment(words)
  local positional = words
  local current = vim.api.nvim_get_current_buf()
  local where
  if require('codeforge.collab.views').reviews[current] then
    -- In a review's tab: on the file line this diff line stands for, as part of the review.
    local lnum = vim.api.nvim_win_get_cursor(0)[1]
    where = require('codeforge.collab.views').review_target(current, lnum)
    if not where then
      return fail('collab comment', ('line %d of the review is no line of a file: put the cursor on a + or unchanged line of a hunk'):format(lnum))
    end
  else
    local buf, row = here()
    if not buf then
      return fail('collab comment', row)
    end
    where = { uri = vim.uri_from_bufnr(buf), line = row }
  end
  local body, berr = input.body_of(positional, ('Comment on line %d: '):format(where.line + 1))
  if not body then
    return berr and fail('collab comment', berr) or collab.notify('comment not sent')
  end
  local uri = where.uri
  local thread, rerr = collab.execute('comment', { uri = uri, line = where.line, body = body, review = where.review })
  if rerr then
    return fail('commenting', rerr)
  end
  require('codeforge.collab.comments').update(uri, thread)
  return thread
end

function M.reply(words)
  -- `thread=ID` only as the first word; the rest is the reply as typed.
  local named, positional = {}, words
  if words[1] and words[1]:match('^thread=') then
    named.thread, positional = words[1]:sub(8), vim.list_slice(words, 2)
  end
  local id, terr = pick_thread(named)
  if not id then
    return terr and fail('collab reply', terr) or collab.notify('reply not sent')
  end
  local body, berr = input.body_of(positional, 'Reply: ')
  if not body then
    return berr and fail('collab reply', berr) or collab.notify('reply not sent')
  end
  return thread_command('reply', id, body)
end

local function state_change(name)
  return function(words)
    local positional, named, err = input.parse(words, { 'thread' })
    err = err or input.at_most(positional or {}, 0, name .. ' [thread=ID]')
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
M.resolve = state_change('resolve')
M.reopen = state_change('reopen')

function M.thread(words)
  local positional, named, err = input.parse(words, { 'thread' })
  err = err or input.at_most(positional or {}, 0, 'thread [thread=ID]')
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

return M
