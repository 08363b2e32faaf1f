-- A small test runner for headless Neovim:
--   nvim --headless -u NONE -i NONE --cmd 'set rtp^=extensions/nvim' -l extensions/nvim/tests/run.lua [spec ...]
-- Runs every tests/*_spec.lua (or the given files), prints one line per test, exits 1 on failure.
local here = debug.getinfo(1, 'S').source:sub(2):match('(.*/)') or './'
local results = { passed = 0, failed = 0, skipped = 0 }
local prefix = {}

_G.describe = function(name, body)
  table.insert(prefix, name)
  body()
  table.remove(prefix)
end

_G.it = function(name, body)
  local full = table.concat(prefix, ' › ') .. ' › ' .. name
  local ok, err = xpcall(body, debug.traceback)
  if ok then
    results.passed = results.passed + 1
    print('ok ' .. full)
  elseif type(err) == 'string' and err:match('^SKIP: ') then
    results.skipped = results.skipped + 1
    print('skip ' .. full .. ' (' .. err:match('^SKIP: ([^\n]*)') .. ')')
  else
    results.failed = results.failed + 1
    print('not ok ' .. full .. '\n' .. tostring(err))
  end
end

_G.skip = function(reason)
  error('SKIP: ' .. reason, 0)
end

_G.eq = function(expected, actual, what)
  if not vim.deep_equal(expected, actual) then
    error(('%sexpected %s, got %s'):format(what and (what .. ': ') or '', vim.inspect(expected), vim.inspect(actual)), 2)
  end
end

_G.matches = function(pattern, text, what)
  if type(text) ~= 'string' or not text:find(pattern) then
    error(('%sexpected text matching %q, got %s'):format(what and (what .. ': ') or '', pattern, vim.inspect(text)), 2)
  end
end

local specs = _G.arg and #_G.arg > 0 and _G.arg or vim.fn.glob(here .. '*_spec.lua', false, true)
for _, spec in ipairs(specs) do
  local chunk, err = loadfile(spec)
  if not chunk then
    results.failed = results.failed + 1
    print('not ok loading ' .. spec .. ': ' .. err)
  else
    chunk()
  end
end
print(('# pass %d fail %d skip %d'):format(results.passed, results.failed, results.skipped))
os.exit(results.failed == 0 and results.passed > 0 and 0 or 1)
