--- Which parts of a result are secret, read from the operation's output schema (never from a
--- list of key names), and masking before a result reaches a place that keeps it (:messages,
--- vim.notify history, the log). Pure logic, unit tested over the live catalog; the same rules
--- as codeforge/catalog/secrets.py and the VS Code extension's secrets.ts:
--- - an output field whose schema has `"x-codeforge-secret": true` holds a secret (inputs say it
---   with `format: password` or `writeOnly`, which count too);
--- - the password of a URL-shaped string (scheme://user:password@host…) is masked anywhere;
--- - both are shown only by an explicit reveal (permission `reveal`, or an output declaring a
---   secret field, like tokens.create's token, shown once), and then only in a float.
local M = {}

M.SECRET_KEY = 'x-codeforge-secret'
M.MASK = '••••'
local REVEAL_PERMISSION = 'reveal'
local NIL = vim.NIL

local function is_table(v)
  return type(v) == 'table' and v ~= NIL
end

--- The password of every URL in `text` masked (`postgresql://app:••••@db/app`). The authority
--- ends at / ? # or a space; the last @ before that ends the password.
function M.mask_url_passwords(text)
  if type(text) ~= 'string' then
    return text
  end
  return (text:gsub('(%a[%w+.-]*://[^%s:/?#@]*:)([^%s/?#]+)@', '%1' .. M.MASK .. '@'))
end

local function resolve(root, schema)
  local ref = schema['$ref']
  if type(ref) ~= 'string' or ref:sub(1, 2) ~= '#/' then
    return schema
  end
  local node = root
  for part in ref:sub(3):gmatch('[^/]+') do
    node = is_table(node) and node[(part:gsub('~1', '/'):gsub('~0', '~'))] or nil
  end
  if not is_table(node) then
    return schema
  end
  local out = vim.deepcopy(node)
  for k, v in pairs(schema) do
    if k ~= '$ref' then
      out[k] = v
    end
  end
  return out
end

--- The schema with `$ref` followed, then its anyOf/oneOf/allOf variants (pydantic's `X | None`).
local function variants(root, schema, out)
  out = out or {}
  if not is_table(schema) then
    return out
  end
  local resolved = resolve(root, schema)
  out[#out + 1] = resolved
  for _, key in ipairs({ 'anyOf', 'oneOf', 'allOf' }) do
    if is_table(resolved[key]) then
      for _, item in ipairs(resolved[key]) do
        variants(root, item, out)
      end
    end
  end
  return out
end

--- Whether a (property) schema marks its value as secret.
function M.is_secret(root, schema)
  for _, s in ipairs(variants(root, schema)) do
    if s[M.SECRET_KEY] == true or s.format == 'password' or s.writeOnly == true then
      return true
    end
  end
  return false
end

local function property(root, schema, key)
  local vs = variants(root, schema)
  for _, s in ipairs(vs) do
    if is_table(s.properties) and s.properties[key] ~= nil then
      return s.properties[key]
    end
  end
  for _, s in ipairs(vs) do
    if is_table(s.additionalProperties) then
      return s.additionalProperties
    end
  end
end

local function items(root, schema)
  for _, s in ipairs(variants(root, schema)) do
    if is_table(s.items) then
      return s.items
    end
  end
end

local function has_secret(root, schema, depth)
  if depth > 8 or not is_table(schema) then
    return false
  end
  for _, s in ipairs(variants(root, schema)) do
    if s[M.SECRET_KEY] == true then
      return true
    end
    if is_table(s.properties) then
      for _, p in pairs(s.properties) do
        if has_secret(root, p, depth + 1) then
          return true
        end
      end
    end
    if has_secret(root, s.items, depth + 1) then
      return true
    end
  end
  return false
end

--- Whether an operation (a catalog entry) exists to show a secret.
function M.reveals(op)
  if type(op) ~= 'table' then
    return false
  end
  return op.permission == REVEAL_PERMISSION or has_secret(op.output_schema, op.output_schema, 0)
end

--- Top-level keys of a result that hold a secret, per the output schema.
function M.secret_keys(result, schema)
  local out = {}
  if is_table(result) and is_table(schema) then
    for k in pairs(result) do
      if type(k) == 'string' and M.is_secret(schema, property(schema, schema, k)) then
        out[k] = true
      end
    end
  end
  return out
end

--- A copy of a result with every secret field (per the output schema) masked, or left out with
--- `opts.omit`, and every URL password masked, at any depth.
function M.mask(result, schema, opts)
  opts = opts or {}
  local root = is_table(schema) and schema or {}
  local function walk(value, node)
    if type(value) == 'string' then
      return M.mask_url_passwords(value)
    end
    if not is_table(value) then
      return value
    end
    if vim.islist(value) and (next(value) ~= nil or getmetatable(value) == nil) then
      local item = items(root, node)
      return vim.tbl_map(function(v)
        return walk(v, item)
      end, value)
    end
    local out = {}
    for k, v in pairs(value) do
      local child = property(root, node, k)
      if M.is_secret(root, child) and v ~= NIL and v ~= '' then
        if not opts.omit then
          out[k] = M.MASK
        end
      else
        out[k] = walk(v, child)
      end
    end
    return out
  end
  return walk(result, root)
end

return M
