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

--- Lua patterns are not regular expressions: a schema's pattern (searched, as JSON Schema does)
--- is translated to a very-magic Vim regex and checked with Vim's engine, to the meaning the
--- server gives it (pydantic's Rust regex: `$` is the end of the text, `\s` is Unicode white space,
--- `.` is anything but a newline), which JavaScript's RegExp in the VS Code extension shares. The
--- syntax Vim reads otherwise is rewritten: `(?:` becomes `%(` (optional fields' patterns are
--- `^(?:…)?$`, from codeforge/catalog/base.py optional_pattern); outside brackets, punctuation that
--- is literal in the schema but special to Vim (`<>=@%&~`, …) is escaped; inside brackets, where
--- Vim reads no `\s`, `\d` or `\w`, those are spelt out. Vim cannot see a newline or a NUL inside a
--- string, so the text's are swapped for private-use characters that the translation reads as
--- them. A construct with no translation (lookarounds, named groups, lazy quantifiers, `\b`,
--- nested brackets) makes `vim_pattern` nil and `matches` accept (the server still checks it); the
--- live-catalog spec asserts that no pattern the platform uses is one of them. `\d` and `\w` are
--- ASCII here (Unicode on the server): stricter, never looser.
local NL, NUL = '\238\128\128', '\238\128\129' -- U+E000, U+E001
local VNL, VNUL = '%ue000', '%ue001'
local CNL, CNUL = '\\ue000', '\\ue001'
-- `\s` as the server (pydantic's Rust regex) and JavaScript read it: Unicode White_Space.
local SPACE = ' \\t\\r\\x0b\\x0c\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000'
local ESCAPED = { n = '\n', t = '\t', r = '\r', f = '\12', v = '\11', a = '\7' }

-- One character of a bracket expression, as Vim's brackets read it (a code point for ranges).
local function class_char(c)
  if c == '\\' or c == ']' or c == '^' or c == '-' then
    return '\\' .. c
  elseif c == '\t' then
    return '\\t'
  elseif c:byte() < 32 or c == '[' or c:byte() == 127 then
    return ('\\x%02x'):format(c:byte())
  end
  return c
end

-- Read a bracket expression starting after its `[`; returns its Vim text and the index after it.
local function translate_class(pattern, i)
  local out = { '[' }
  if pattern:sub(i, i) == '^' then
    out[#out + 1] = '^'
    i = i + 1
  end
  local has_nl, has_nul, first = false, false, true
  local prev -- the code point of the last single character, for ranges
  while true do
    if i > #pattern then
      return nil
    end
    local c = pattern:sub(i, i)
    if c == ']' and not first then
      break
    end
    first = false
    local cp, text
    if c == '\\' then
      local e = pattern:sub(i + 1, i + 1)
      i = i + 2
      if e == 's' then
        text, has_nl = SPACE, true
      elseif e == 'd' then
        text = '0-9'
      elseif e == 'w' then
        text = '0-9A-Za-z_'
      elseif ESCAPED[e] then
        cp = ESCAPED[e]:byte()
      elseif e == 'x' and pattern:sub(i, i + 1):match('^%x%x$') then
        cp = tonumber(pattern:sub(i, i + 1), 16)
        i = i + 2
      elseif e == 'u' and pattern:sub(i, i + 3):match('^%x%x%x%x$') then
        cp = tonumber(pattern:sub(i, i + 3), 16)
        i = i + 4
      elseif e:match('^[%p ]$') then
        cp = e:byte()
      else
        return nil -- \S, \D, \W, \b, \0, … inside brackets
      end
    elseif c == '[' then
      return nil -- a nested class (Rust), a POSIX class (Vim) or a literal (Python, JavaScript)
    else
      local len = c:byte() >= 0xF0 and 4 or c:byte() >= 0xE0 and 3 or c:byte() >= 0xC0 and 2 or 1
      cp = vim.fn.char2nr(pattern:sub(i, i + len - 1))
      i = i + len
    end
    if cp then
      if prev and out[#out] == '-' then
        -- a range prev-cp: does it hold a newline or a NUL?
        has_nl = has_nl or (prev <= 10 and cp >= 10)
        has_nul = has_nul or prev == 0
        prev = nil
      else
        has_nl, has_nul, prev = has_nl or cp == 10, has_nul or cp == 0, cp
      end
      if cp < 128 then
        text = class_char(string.char(cp))
      elseif cp == 0xE000 or cp == 0xE001 then
        return nil
      else
        text = vim.fn.nr2char(cp)
      end
    else
      prev = nil
    end
    out[#out + 1] = text
    -- a '-' between two characters is a range; elsewhere it is literal (escaped by class_char)
    if pattern:sub(i, i) == '-' and prev and pattern:sub(i + 1, i + 1) ~= ']' and i + 1 <= #pattern then
      out[#out + 1] = '-'
      i = i + 1
    end
  end
  if has_nl then
    out[#out + 1] = CNL
  end
  if has_nul then
    out[#out + 1] = CNUL
  end
  out[#out + 1] = ']'
  return table.concat(out), i + 1
end

--- The very-magic Vim regex for a schema pattern, or nil when it uses syntax with no translation.
function M.vim_pattern(pattern)
  if pattern:find(NL, 1, true) or pattern:find(NUL, 1, true) or pattern:lower():find('\\ue00[01]') then
    return nil -- the stand-ins for a newline and a NUL
  end
  local out, i = {}, 1
  local function quantified()
    -- a lazy or possessive quantifier has no translation
    local nxt = pattern:sub(i, i)
    return nxt ~= '?' and nxt ~= '+'
  end
  while i <= #pattern do
    local c = pattern:sub(i, i)
    if c == '\\' then
      local e = pattern:sub(i + 1, i + 1)
      i = i + 2
      if e == 's' then
        out[#out + 1] = '[' .. SPACE .. CNL .. ']'
      elseif e == 'S' then
        out[#out + 1] = '[^' .. SPACE .. CNL .. ']'
      elseif e == 'd' or e == 'D' or e == 'w' or e == 'W' then
        out[#out + 1] = '\\' .. e
      elseif e == 'n' then
        out[#out + 1] = VNL
      elseif ESCAPED[e] then
        out[#out + 1] = ('%%x%02x'):format(ESCAPED[e]:byte())
      elseif e == 'x' and pattern:sub(i, i + 1):match('^%x%x$') then
        local cp = tonumber(pattern:sub(i, i + 1), 16)
        out[#out + 1] = cp == 10 and VNL or cp == 0 and VNUL or ('%x' .. pattern:sub(i, i + 1))
        i = i + 2
      elseif e == 'u' and pattern:sub(i, i + 3):match('^%x%x%x%x$') then
        local cp = tonumber(pattern:sub(i, i + 3), 16)
        out[#out + 1] = cp == 10 and VNL or cp == 0 and VNUL or ('%u' .. pattern:sub(i, i + 3))
        i = i + 4
      elseif e == '_' or e == ' ' then
        out[#out + 1] = e -- `\_` is a Vim class prefix; a space is not special
      elseif e:match('^%p$') then
        out[#out + 1] = '\\' .. e
      else
        return nil -- \b, \B, \A, \Z, backreferences, \p{…}, …
      end
    elseif c == '[' then
      local class, after = translate_class(pattern, i + 1)
      if not class then
        return nil
      end
      out[#out + 1] = class
      i = after
    elseif c == '(' then
      if pattern:sub(i + 1, i + 2) == '?:' then
        out[#out + 1] = '%('
        i = i + 3
      elseif pattern:sub(i + 1, i + 1) == '?' then
        return nil -- lookarounds, named groups, inline flags
      else
        out[#out + 1] = '('
        i = i + 1
      end
    elseif c == '*' or c == '+' or c == '?' then
      out[#out + 1] = c
      i = i + 1
      if not quantified() then
        return nil
      end
    elseif c == '{' then
      local q = pattern:match('^{%d*,?%d*}', i)
      if q and q ~= '{}' and q ~= '{,}' then
        out[#out + 1] = q
        i = i + #q
        if not quantified() then
          return nil
        end
      else
        out[#out + 1] = '\\{'
        i = i + 1
      end
    elseif c == '.' then
      out[#out + 1] = '[^' .. CNL .. ']' -- `.` matches anything but a newline
      i = i + 1
    elseif c == '^' or c == '$' or c == ')' or c == '|' then
      out[#out + 1] = c
      i = i + 1
    elseif c ~= '_' and c:match('^%p$') then
      out[#out + 1] = '\\' .. c -- literal in the schema, maybe special to Vim
      i = i + 1
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return '\\v\\C' .. table.concat(out)
end

--- Whether text matches a schema pattern (searched, as JSON Schema does). A pattern with no Vim
--- translation, or one Vim cannot compile, is not checked here (true): the server still checks.
function M.matches(pattern, text)
  local vim_pattern = M.vim_pattern(pattern)
  local ok, regex = pcall(vim.regex, vim_pattern or '')
  if not vim_pattern or not ok then
    return true
  end
  if text:find(NL, 1, true) or text:find(NUL, 1, true) then
    -- the text holds the stand-ins themselves: check it as it is, without newline/NUL swaps
    return regex:match_str(text) ~= nil
  end
  text = text:gsub('\n', NL):gsub('%z', NUL)
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
