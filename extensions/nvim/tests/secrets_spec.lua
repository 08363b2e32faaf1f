-- Masking from the output schema (x-codeforge-secret) and of URL passwords, over the live
-- catalog; what the result floats, vim.notify and the log show; commands with no fields.
local secrets = require('codeforge.secrets')
local ui = require('codeforge.ui')

local DB_URL = 'postgresql://app:s3cr3t-pw@127.0.0.1:5432/app'
local MASK = secrets.MASK

local catalog
local function op(name)
  if not catalog then
    local path = os.getenv('CODEFORGE_CATALOG_JSON')
    if not path then
      skip('CODEFORGE_CATALOG_JSON not set (the pytest wrapper sets it)')
    end
    catalog = vim.json.decode(table.concat(vim.fn.readfile(path), '\n'))
  end
  for _, entry in ipairs(catalog) do
    if entry.name == name then
      return entry
    end
  end
  error('no operation ' .. name .. ' in the catalog')
end

describe('URL passwords', function()
  it('are masked wherever they are, and nothing else is', function()
    eq('postgresql://app:' .. MASK .. '@127.0.0.1:5432/app', secrets.mask_url_passwords(DB_URL))
    eq('mysql://root:' .. MASK .. '@db/x?ssl=1', secrets.mask_url_passwords('mysql://root:p@ss@db/x?ssl=1'))
    eq('redis://:' .. MASK .. '@cache/0', secrets.mask_url_passwords('redis://:pw@cache/0'))
    eq('a postgresql://a:' .. MASK .. '@h/d b mysql://c:' .. MASK .. '@h/e', secrets.mask_url_passwords('a postgresql://a:b@h/d b mysql://c:d@h/e'))
    eq('postgresql://app@host/db', secrets.mask_url_passwords('postgresql://app@host/db'))
    eq('https://example.com/a@b', secrets.mask_url_passwords('https://example.com/a@b'))
    eq('user:pw@host', secrets.mask_url_passwords('user:pw@host'))
  end)
end)

describe('the live catalog', function()
  it('marks the secret outputs, and explicit reveals are the operations that show them', function()
    local revealing = {}
    for _, entry in ipairs((op('env.list') and catalog)) do
      if secrets.reveals(entry) then
        revealing[#revealing + 1] = entry.name
      end
    end
    table.sort(revealing)
    eq({ 'collab.invite', 'databases.pool', 'databases.reveal', 'env.reveal', 'tokens.create' }, revealing)
    eq({ pooled_url = true, url = true }, secrets.secret_keys({ name = 'm', url = 'u', pooled_url = 'p', pooling = 'x' }, op('databases.reveal')))
    eq({ token = true }, secrets.secret_keys({ id = 'i', token = 't' }, op('tokens.create')))
    -- Inputs still say it: the server digests format: password into the field's kind.
    local kinds = {}
    for _, f in ipairs(op('env.set').input_fields) do
      kinds[f.name] = f.kind
    end
    assert(kinds.value == 'password', 'env.set value is not secret')
    assert(kinds.name ~= 'password', 'env.set name is secret')
  end)

  it('masks the output_secrets paths at any depth: list items and map values', function()
    local entry = { output_secrets = { 'items[].token', 'by_name.*.token' } }
    local result = { items = { { id = 'a', token = 'cf_1' }, { id = 'b', token = vim.NIL } }, by_name = { ci = { token = 'cf_2', id = 'c' } } }
    eq({ items = { { id = 'a', token = MASK }, { id = 'b', token = vim.NIL } }, by_name = { ci = { token = MASK, id = 'c' } } }, secrets.mask(result, entry))
    eq({ items = { { id = 'a' }, { id = 'b', token = vim.NIL } }, by_name = { ci = { id = 'c' } } }, secrets.mask(result, entry, { omit = true }))
  end)

  it('summaries leave secret fields out and mask URL passwords, even for a reveal', function()
    local urls = { name = 'main', url = DB_URL, pooled_url = vim.NIL, pooling = 'PgBouncer' }
    eq('name: main, pooling: PgBouncer', ui.summarize(urls, op('databases.reveal')))
    eq('name: API_KEY', ui.summarize({ name = 'API_KEY', value = 'pk_live_1' }, op('env.reveal')))
    local token = ui.summarize({ id = 't1', name = 'ci', token = 'cf_tok', expires_at = vim.NIL }, op('tokens.create'))
    assert(not token:find('cf_tok'), token)
    local plain = ui.summarize({ name = 'DB', secret = false, value = DB_URL, updated_by = 'a' }, op('env.set'))
    matches('value: postgresql://app:' .. MASK .. '@127', plain)
    assert(not plain:find('s3cr3t'), plain)
    local pane = ui.summarize({ title = 'Overview', url = 'http://h/panes/overview?t=signed' }, op('panes.open'))
    eq('title: Overview', pane)
  end)

  it('floats show plain values, mask URL passwords, and show a secret only for a reveal', function()
    local listed = {
      items = {
        { name = 'LOG_LEVEL', secret = false, value = 'debug' },
        { name = 'DB', secret = false, value = DB_URL },
        { name = 'API_KEY', secret = true, value = vim.NIL },
      },
    }
    local text = table.concat(ui.render(listed, op('env.list')), '\n')
    matches('value=debug', text)
    matches('value=postgresql://app:' .. MASK .. '@', text)
    assert(not text:find('s3cr3t'), text)
    local revealed = { name = 'API_KEY', value = 'pk_live_1' }
    eq({ 'name: API_KEY', 'value: pk_live_1' }, ui.render(revealed, op('env.reveal'), { reveal = true }))
    eq({ 'name: API_KEY', 'value: (hidden)' }, ui.render(revealed, op('env.reveal')))
    local urls = { name = 'main', url = DB_URL, pooled_url = vim.NIL, pooling = '-' }
    matches(DB_URL:gsub('%p', '%%%0'), table.concat(ui.render(urls, op('databases.reveal'), { reveal = true }), '\n'))
  end)
end)

describe('command arguments', function()
  it('are a JSON object even with no fields', function()
    local codeforge = require('codeforge')
    eq('{}', vim.json.encode(codeforge.arguments({})))
    eq('{}', vim.json.encode(codeforge.arguments(nil)))
    eq('{"name":"X"}', vim.json.encode(codeforge.arguments({ name = 'X' })))
    -- What a command with no fields sends: one object, never an empty list.
    eq('[{}]', vim.json.encode({ codeforge.arguments({}) }))
  end)
end)
