--- Reading what is typed after `:CodeForge collab {sub}`, and asking for what is missing:
--- positional words and `key=value` options, the lists of roles, modes and conflict choices,
--- the prompts. Runs inside a coroutine (codeforge.async.run).
local async = require('codeforge.async')

local M = {}

M.ROLES = { 'navigator', 'driver', 'guest' }
M.MODES = { 'free', 'pair' }
M.CHOICES = { 'ours', 'theirs', 'both', 'text' }
M.ROLE_HELP = {
  navigator = 'edits in free mode, watches in pair mode',
  driver = 'edits; in pair mode the one who types',
  guest = 'read-only: sees everything, edits nothing',
}
M.MODE_HELP = { free = 'everyone with an editing role types', pair = 'only the driver types; hand over explicitly' }

-- Options whose value is text: the words after `title=` belong to it (`title=Pair on 日本 🚀`),
-- up to the next option.
local TEXT_OPTIONS = { title = true }

--- Words after the subcommand: positional words and `key=value` options (only `allowed` keys).
---@return string[]|nil positional, table<string, string>|nil named, string|nil error
function M.parse(words, allowed)
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


function M.at_most(positional, n, usage)
  if #positional > n then
    return ('too many arguments (%s): %s'):format(table.concat(vim.list_slice(positional, n + 1), ' '), usage)
  end
end

function M.select(items, prompt, format)
  return async.await(vim.ui.select, items, { prompt = prompt, format_item = format, kind = 'codeforge.collab' })
end

function M.choose_role(prompt)
  return M.select(M.ROLES, prompt, function(r)
    return ('%-9s — %s'):format(r, M.ROLE_HELP[r])
  end)
end

function M.check_in(list, value, what)
  if not vim.tbl_contains(list, value) then
    return ('"%s" is not a %s: use %s'):format(value, what, table.concat(list, ', '))
  end
end
function M.choose_mode(prompt)
  return M.select(M.MODES, prompt, function(m)
    return ('%-4s — %s'):format(m, M.MODE_HELP[m])
  end)
end

function M.secret_input(prompt)
  local info = debug.getinfo(vim.ui.input, 'S')
  -- Neovim's own vim.ui.input echoes what is typed and keeps it in the input history; an
  -- invitation token is a secret, so it is read with inputsecret() unless a UI plugin replaced it.
  if info and info.source:match('vim/ui%.lua$') then
    local ok, value = pcall(vim.fn.inputsecret, prompt)
    return ok and value or nil
  end
  return async.await(vim.ui.input, { prompt = prompt, secret = true })
end

--- Text typed after the subcommand, else asked for; nil (cancelled) or an error for empty text.
function M.body_of(positional, prompt)
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

return M
