--- The prompts of an operation, from the fields the server digests out of its input schema
--- (`input_fields`), and checking and converting what a person types. Pure logic, no editor
--- calls, so the unit tests run it directly; the same rules as the VS Code extension's schema.ts.
local M = {}

local NIL = vim.NIL

local function is_table(v)
  return type(v) == 'table' and v ~= NIL
end

local function is_list(v)
  return is_table(v) and vim.islist(v)
end

--- The fields a person is asked for, in declaration order: the catalog entry's `input_fields`,
--- which the server digests from the input schema (codeforge/catalog/prompts.py), so nothing here
--- interprets JSON Schema. Context fields (the project) are not among them.
---@param op table a catalog entry
---@return table[] field specs (name, kind, required, default, limits, enum, …)
function M.prompt_fields(op)
  local fields = is_table(op) and op.input_fields or nil
  if not is_list(fields) then
    return {}
  end
  local out = {}
  for _, f in ipairs(fields) do
    if is_table(f) and type(f.name) == 'string' then
      local field = vim.deepcopy(f)
      field.title = type(f.title) == 'string' and f.title or f.name
      field.description = type(f.description) == 'string' and f.description or ''
      field.required = f.required == true
      field.nullable = f.nullable == true
      field.has_default = f.has_default == true
      -- LSP responses decode JSON null in objects as nil; a null default is vim.NIL here, as
      -- the choices need it.
      if field.has_default and field.default == nil then
        field.default = NIL
      end
      for _, key in ipairs({ 'pattern', 'min_length', 'max_length', 'minimum', 'maximum', 'exclusive_minimum', 'exclusive_maximum', 'enum', 'file_hint', 'json_type', 'secret_if', 'values' }) do
        if field[key] == NIL then
          field[key] = nil
        end
      end
      out[#out + 1] = field
    end
  end
  return out
end

--- Lua patterns are not regular expressions: check a schema's (ECMA/Python) pattern with Vim's
--- regex engine in very-magic mode, where the syntax is close. Outside brackets, `<>=@%` are
--- special to Vim but literal in the schema, so they are escaped. A pattern Vim cannot read
--- (`(?:...)`, lookarounds) is not checked here: the server still checks it.
function M.matches(pattern, text)
  local out, in_class = {}, false
  local i = 1
  while i <= #pattern do
    local c = pattern:sub(i, i)
    if c == '\\' then
      out[#out + 1] = pattern:sub(i, i + 1)
      i = i + 2
    else
      if in_class then
        if c == ']' then
          in_class = false
        end
        out[#out + 1] = c
      elseif c == '[' then
        in_class = true
        out[#out + 1] = c
      elseif c:match('[<>=@%%]') then
        out[#out + 1] = '\\' .. c
      else
        out[#out + 1] = c
      end
      i = i + 1
    end
  end
  local ok, regex = pcall(vim.regex, '\\v\\C' .. table.concat(out))
  if not ok then
    return true
  end
  return regex:match_str(text) ~= nil
end

local function check_range(field, value)
  if field.minimum and value < field.minimum then
    return ('%s must be at least %s'):format(field.name, field.minimum)
  end
  if field.maximum and value > field.maximum then
    return ('%s must be at most %s'):format(field.name, field.maximum)
  end
  if field.exclusive_minimum and value <= field.exclusive_minimum then
    return ('%s must be greater than %s'):format(field.name, field.exclusive_minimum)
  end
  if field.exclusive_maximum and value >= field.exclusive_maximum then
    return ('%s must be less than %s'):format(field.name, field.exclusive_maximum)
  end
end

local function check_string(field, text)
  local length = vim.str_utfindex(text, 'utf-32')
  if field.min_length and length < field.min_length then
    return ('%s needs at least %d character(s)'):format(field.name, field.min_length)
  end
  if field.max_length and length > field.max_length then
    return ('%s takes at most %d character(s); this has %d'):format(field.name, field.max_length, length)
  end
  if field.pattern and not M.matches(field.pattern, text) then
    local hint = field.description ~= '' and (' (' .. field.description .. ')') or ''
    return ('%s must match %s%s'):format(field.name, field.pattern, hint)
  end
end

local TRUE = { ['true'] = true, yes = true, y = true, ['1'] = true, on = true }
local FALSE = { ['false'] = true, no = true, n = true, ['0'] = true, off = true }

--- Read typed text for a field. Returns `value, omit, err`: empty text leaves an optional field
--- out (the server's default applies) and is an error for a required one.
---@return any value, boolean omit, string|nil err
function M.parse_text(field, raw)
  local text = field.kind == 'password' and raw or vim.trim(raw or '')
  if text == '' then
    if field.required then
      return nil, false, field.name .. ' is required: type a value (Esc cancels)'
    end
    return nil, true, nil
  end
  local kind = field.kind
  if kind == 'integer' then
    if not text:match('^[+-]?%d+$') then
      return nil, false, field.name .. ' must be a whole number, like 42'
    end
    local value = tonumber(text)
    local err = check_range(field, value)
    return (not err) and value or nil, false, err
  elseif kind == 'number' then
    local value = tonumber(text)
    if value == nil or value ~= value or value == math.huge or value == -math.huge then
      return nil, false, field.name .. ' must be a number, like 1.5'
    end
    local err = check_range(field, value)
    return (not err) and value or nil, false, err
  elseif kind == 'json' then
    local ok, value = pcall(vim.json.decode, text)
    if not ok then
      return nil, false, field.name .. ' must be JSON, like ' .. (field.json_type == 'array' and '["a", "b"]' or '{"key": "value"}')
    end
    local actual = type(value) == 'table' and (vim.islist(value) and 'array' or 'object') or (value == NIL and 'null' or type(value))
    if field.json_type and actual ~= field.json_type and not (field.json_type == 'integer' and actual == 'number') then
      return nil, false, ('%s must be a JSON %s, not %s'):format(field.name, field.json_type, actual)
    end
    return value, false, nil
  elseif kind == 'boolean' then
    local lowered = text:lower()
    if TRUE[lowered] then
      return true, false, nil
    elseif FALSE[lowered] then
      return false, false, nil
    end
    return nil, false, field.name .. ' must be true or false'
  elseif kind == 'enum' then
    for _, v in ipairs(field.enum or {}) do
      if tostring(v) == text then
        return v, false, nil
      end
    end
    local names = vim.tbl_map(tostring, field.enum or {})
    return nil, false, ('%s must be one of: %s'):format(field.name, table.concat(names, ', '))
  end
  local err = check_string(field, text)
  return (not err) and text or nil, false, err
end

--- Check a picked file's content (for x-codeforge-file fields) against the string limits.
function M.check_file_content(field, content)
  if field.required and content == '' then
    return field.name .. ': the chosen file is empty; pick another file'
  end
  return check_string(field, content)
end

--- Text an input starts with: the default, when there is a simple one (never for passwords).
function M.initial_text(field)
  if not field.has_default or field.default == nil or field.default == NIL or field.kind == 'password' then
    return ''
  end
  if type(field.default) == 'table' then
    return vim.json.encode(field.default)
  end
  return tostring(field.default)
end

--- One line describing a field: what it is and what it accepts.
function M.describe(field)
  local parts = {}
  if field.description ~= '' then
    table.insert(parts, field.description)
  end
  local rules = {}
  if field.pattern then
    table.insert(rules, 'pattern ' .. field.pattern)
  end
  if field.min_length or field.max_length then
    table.insert(rules, ('%s-%s characters'):format(field.min_length or 0, field.max_length or 'any'))
  end
  if field.minimum or field.maximum then
    table.insert(rules, ('%s..%s'):format(field.minimum or '-inf', field.maximum or 'inf'))
  end
  if not field.required then
    if field.has_default and field.default ~= NIL then
      table.insert(rules, 'optional, default ' .. vim.json.encode(field.default))
    else
      table.insert(rules, 'optional')
    end
  end
  if #rules > 0 then
    table.insert(parts, '(' .. table.concat(rules, '; ') .. ')')
  end
  return table.concat(parts, ' ')
end

--- Choices of a select for a boolean or enum field, the default first.
---@return {label: string, value: any, omit: boolean, is_default: boolean}[]
function M.choices(field)
  local values = field.kind == 'boolean' and { true, false } or vim.deepcopy(field.enum or {})
  local out = {}
  for i, v in ipairs(values) do
    out[#out + 1] = { label = tostring(v), value = v, omit = false, is_default = field.has_default and field.default == v, index = i }
  end
  if field.nullable and not field.required then
    local default_null = field.default == NIL
    out[#out + 1] = { label = '(none)', value = NIL, omit = (not field.has_default) or default_null, is_default = default_null, index = #out + 1 }
  end
  table.sort(out, function(a, b)
    if a.is_default ~= b.is_default then
      return a.is_default
    end
    return a.index < b.index
  end)
  return out
end

--- Arguments as they may be shown or logged: secrets and file contents masked.
function M.redact(args, op)
  local kinds = {}
  for _, f in ipairs(M.prompt_fields(op)) do
    kinds[f.name] = f.kind
  end
  local out = {}
  for k, v in pairs(args) do
    if kinds[k] == 'password' then
      out[k] = '****'
    elseif kinds[k] == 'file' and type(v) == 'string' then
      out[k] = ('<%d chars>'):format(#v)
    else
      out[k] = v
    end
  end
  return out
end

return M
