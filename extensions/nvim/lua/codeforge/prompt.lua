--- Asks for an operation's arguments one field at a time with vim.ui.input / vim.ui.select
--- (so UI plugins that replace those are used), refusing a wrong entry and asking again.
local async = require('codeforge.async')
local schema = require('codeforge.schema')

local M = {}

--- A wrong entry is asked again at most this often, so a scripted UI cannot loop forever.
M.MAX_TRIES = 20

local function refused(message)
  vim.notify('CodeForge: ' .. message, vim.log.levels.WARN)
end

--- Neovim's own vim.ui.input echoes what is typed; for secrets use inputsecret() instead, unless
--- a UI plugin replaced vim.ui.input (it gets `secret = true` as a hint).
local function builtin_input()
  local info = debug.getinfo(vim.ui.input, 'S')
  return info and info.source:match('vim/ui%.lua$') ~= nil
end

local function input(opts)
  if opts.secret and builtin_input() then
    local ok, text = pcall(vim.fn.inputsecret, opts.prompt)
    return ok and text or nil
  end
  return async.await(vim.ui.input, opts)
end

local function ask_text(field, title, err)
  local last = schema.initial_text(field)
  for _ = 1, M.MAX_TRIES do
    local prompt = ('%s %s%s — %s: '):format(title, field.name, err and (' [' .. err .. ']') or '', schema.describe(field))
    local text = input({ prompt = prompt, default = field.kind ~= 'password' and last or nil, secret = field.kind == 'password' })
    if text == nil then
      return nil
    end
    local value, omit, problem = schema.parse_text(field, text)
    if not problem then
      return { value = value, omit = omit }
    end
    refused(problem)
    err, last = problem, text
  end
end

local function ask_file(field, title, err)
  if err then
    refused(err)
  end
  for _ = 1, M.MAX_TRIES do
    local path = input({
      prompt = ('%s path of the %s file for %s: '):format(title, field.file_hint or 'input', field.name),
      default = field.file_hint,
      completion = 'file',
    })
    if path == nil or path == '' then
      return nil
    end
    local full = vim.fs.normalize(vim.fn.fnamemodify(path, ':p'))
    local fh = io.open(full, 'rb')
    if not fh then
      refused(('cannot read %s: pick an existing file'):format(full))
    else
      local content = fh:read('*a')
      fh:close()
      local problem = schema.check_file_content(field, content)
      if not problem then
        return { value = content, omit = false }
      end
      refused(full .. ': ' .. problem)
    end
  end
end

--- Ask for one field; `err` says why an earlier value was refused (by us or by the server).
---@return {value: any, omit: boolean}|nil nil when the person cancelled
function M.ask_field(field, title, err)
  if field.kind == 'boolean' or field.kind == 'enum' then
    if err then
      refused(err)
    end
    local choice = async.await(vim.ui.select, schema.choices(field), {
      prompt = ('%s %s — %s'):format(title, field.name, schema.describe(field)),
      format_item = function(c)
        return c.label .. (c.is_default and ' (default)' or '')
      end,
      kind = 'codeforge.' .. field.kind,
    })
    return choice and { value = choice.value, omit = choice.omit } or nil
  elseif field.kind == 'file' then
    return ask_file(field, title, err)
  end
  return ask_text(field, title, err)
end

--- Label of the choice, after the required fields, to set the optional ones too.
M.RUN = 'Run'
function M.more_label(fields)
  return 'Set optional fields (' .. table.concat(vim.tbl_map(function(f)
    return f.name
  end, fields), ', ') .. ')'
end

--- Ask for the arguments not in `given`; context fields are never asked. Required fields are
--- asked; optional ones (their defaults apply otherwise) only with `opts.all` (:CodeForge!), or
--- when the person chooses to at the end of the required ones. A field whose value is secret
--- only when a boolean says so (`x-codeforge-secret-if`) has that boolean asked first.
---@return table|nil args, nil when the person cancelled
function M.collect(op, given, opts)
  opts = opts or {}
  local args = vim.deepcopy(given or {})
  local fields = schema.prompt_fields(op)
  local by_name, queue, queued = {}, {}, {}
  for _, f in ipairs(fields) do
    by_name[f.name] = f
  end
  local function enqueue(f)
    if queued[f.name] or args[f.name] ~= nil then
      return
    end
    if f.secret_if and by_name[f.secret_if] then
      enqueue(by_name[f.secret_if])
    end
    queued[f.name] = true
    queue[#queue + 1] = f
  end
  for _, f in ipairs(fields) do
    if opts.all or f.required then
      enqueue(f)
    end
  end
  local function ask(list)
    for i, field in ipairs(list) do
      if field.secret_if then
        field = vim.tbl_extend('force', field, { kind = args[field.secret_if] == true and 'password' or 'string' })
      end
      local answer = M.ask_field(field, ('%s (%d/%d)'):format(op.title, i, #list))
      if answer == nil then
        return false
      end
      if not answer.omit then
        args[field.name] = answer.value
      end
    end
    return true
  end
  if not ask(queue) then
    return nil
  end
  -- The person is answering prompts: offer the optional fields left, once. A command line
  -- that gave every required field runs at once.
  if #queue > 0 and not opts.all then
    local rest = vim.tbl_filter(function(f)
      return not queued[f.name] and args[f.name] == nil
    end, fields)
    if #rest > 0 then
      local choice = async.await(vim.ui.select, { M.RUN, M.more_label(rest) }, {
        prompt = op.title .. ': run now, or set optional fields first?',
        kind = 'codeforge.more',
      })
      if choice == nil then
        return nil
      elseif choice ~= M.RUN and not ask(rest) then
        return nil
      end
    end
  end
  return args
end

--- The field a platform error is about: `data.errors[].field`, else "field: message" parts.
function M.field_of_error(op, message, data)
  local fields = {}
  for _, f in ipairs(schema.prompt_fields(op)) do
    fields[f.name] = f
  end
  if type(data) == 'table' and type(data.errors) == 'table' then
    for _, problem in ipairs(data.errors) do
      if type(problem) == 'table' and fields[problem.field] then
        return fields[problem.field]
      end
    end
  end
  for part in (message or ''):gmatch('[^;]+') do
    local name = vim.trim(part):match('^([%a_][%w_.]*):%s')
    if name and fields[name] then
      return fields[name]
    end
  end
end

--- Ask before a destructive operation; true when the person said yes.
function M.confirm(op, args)
  local shown = {}
  for k, v in pairs(schema.redact(args, op)) do
    if type(v) ~= 'table' then
      shown[#shown + 1] = k .. '=' .. tostring(v)
    end
  end
  table.sort(shown)
  local question = ('%s%s? This cannot be undone.'):format(op.title, #shown > 0 and (' (' .. table.concat(shown, ', ') .. ')') or '')
  local choice = async.await(vim.ui.select, { 'Run', 'Cancel' }, { prompt = question, kind = 'codeforge.confirm' })
  return choice == 'Run'
end

return M
