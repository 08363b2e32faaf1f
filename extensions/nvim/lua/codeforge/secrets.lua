--- Which parts of a result are secret and masking before a result reaches a place that keeps it
--- (:messages, vim.notify history, the log). The server says where the secrets are: a catalog
--- entry's `output_secrets` (paths such as `url`, `items[].token`, `by_name.*.token`) and
--- `reveals`, both built by codeforge/catalog/secrets.py, which has the rules:
--- - the paths' fields are masked outside an explicit reveal;
--- - the password of a URL-shaped string (scheme://user:password@host…) is masked anywhere;
--- - an explicit reveal (permission `reveal`, or an output declaring a secret field, like
---   tokens.create's token, shown once) shows them, and then only in a float.
local M = {}

M.MASK = '••••'
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

--- Whether an operation (a catalog entry) exists to show a secret.
function M.reveals(op)
  return type(op) == 'table' and op.reveals == true
end

--- The entry's secret paths as lists of segments: `items[].token` → { 'items', '[]', 'token' }.
local function secret_paths(op)
  local out = {}
  for _, path in ipairs(type(op) == 'table' and is_table(op.output_secrets) and op.output_secrets or {}) do
    local segments = {}
    for part in path:gsub('%[%]', '.[]'):gmatch('[^.]+') do
      segments[#segments + 1] = part
    end
    out[#out + 1] = segments
  end
  return out
end

--- Top-level keys of a result that hold a secret, per the catalog entry.
function M.secret_keys(result, op)
  local out = {}
  if is_table(result) then
    for _, segments in ipairs(secret_paths(op)) do
      if #segments == 1 and result[segments[1]] ~= nil then
        out[segments[1]] = true
      end
    end
  end
  return out
end

--- A copy of a result with every secret field (per the catalog entry `op`) masked, or left out
--- with `opts.omit`, and every URL password masked, at any depth.
function M.mask(result, op, opts)
  opts = opts or {}
  local function walk(value, paths)
    if type(value) == 'string' then
      return M.mask_url_passwords(value)
    end
    if not is_table(value) then
      return value
    end
    if vim.islist(value) and (next(value) ~= nil or getmetatable(value) == nil) then
      local inner = {}
      for _, p in ipairs(paths) do
        if p[1] == '[]' and #p > 1 then
          inner[#inner + 1] = vim.list_slice(p, 2)
        end
      end
      return vim.tbl_map(function(v)
        return walk(v, inner)
      end, value)
    end
    local out = {}
    for k, v in pairs(value) do
      local secret, inner = false, {}
      for _, p in ipairs(paths) do
        if p[1] == k or p[1] == '*' then
          if #p == 1 then
            secret = true
          else
            inner[#inner + 1] = vim.list_slice(p, 2)
          end
        end
      end
      if secret and v ~= NIL and v ~= '' then
        if not opts.omit then
          out[k] = M.MASK
        end
      else
        out[k] = walk(v, inner)
      end
    end
    return out
  end
  return walk(result, secret_paths(op))
end

return M
