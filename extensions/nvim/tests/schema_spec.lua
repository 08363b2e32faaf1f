local schema = require('codeforge.schema')
local fx = dofile(debug.getinfo(1, 'S').source:sub(2):match('(.*/)') .. 'fixtures.lua')

local function field(fields, name)
  for _, f in ipairs(schema.prompt_fields(fx.op('op.fixture', fields))) do
    if f.name == name then
      return f
    end
  end
  error('no prompt for ' .. name)
end

describe('prompt_fields', function()
  it('keeps the fields the server digested, in its order', function()
    local fields = schema.prompt_fields(fx.op('env.set', fx.ENV_SET))
    eq({ 'name', 'value', 'secret' }, vim.tbl_map(function(f) return f.name end, fields))
    eq({ 'string', 'password', 'boolean' }, vim.tbl_map(function(f) return f.kind end, fields))
    eq({ true, true, false }, vim.tbl_map(function(f) return f.required end, fields))
    eq('secret', fields[2].secret_if)
  end)

  it('reads a null default (nil once decoded) as vim.NIL, and keeps enums and limits', function()
    local state = field(fx.JOBS_LIST, 'state')
    eq({ 'enum', true, true }, { state.kind, state.nullable, state.has_default })
    eq(vim.NIL, state.default)
    local days = field(fx.TOKENS_CREATE, 'expires_in_days')
    eq({ 1, 3650, 90 }, { days.minimum, days.maximum, days.default })
    eq({ 'viewer', 'developer', 'admin', 'owner' }, field(fx.MEMBERS_ADD, 'role').enum)
    eq({ 'file', '.env' }, { field(fx.ENV_IMPORT, 'content').kind, field(fx.ENV_IMPORT, 'content').file_hint })
  end)

  it('survives entries without fields and nulls where a key would be', function()
    eq({}, schema.prompt_fields({}))
    eq({}, schema.prompt_fields({ input_fields = 'nonsense' }))
    eq({}, schema.prompt_fields(vim.NIL))
    local f = schema.prompt_fields({ input_fields = { { name = 'tags', kind = 'json', json_type = 'array', pattern = vim.NIL } } })
    eq({ 'json', 'array', nil, '', false }, { f[1].kind, f[1].json_type, f[1].pattern, f[1].description, f[1].required })
  end)
end)

describe('parse_text', function()
  local name = field(fx.ENV_SET, 'name')

  it('accepts a value matching the pattern, trimmed', function()
    eq({ 'DATABASE_URL', false }, { schema.parse_text(name, '  DATABASE_URL ') })
  end)

  it('refuses a value breaking the pattern, naming the field and rule', function()
    local value, omit, err = schema.parse_text(name, '1BAD-NAME')
    eq(nil, value)
    eq(false, omit)
    matches('^name must match %^%[A%-Za%-z_%]', err)
  end)

  it('refuses empty required fields and omits empty optional ones', function()
    local _, _, err = schema.parse_text(name, '   ')
    eq('name is required: type a value (Esc cancels)', err)
    eq({ nil, true, nil }, { schema.parse_text(field(fx.TOKENS_CREATE, 'username'), '') })
  end)

  it('counts characters, not bytes', function()
    local tname = field(fx.TOKENS_CREATE, 'name')
    eq(nil, select(3, schema.parse_text(tname, string.rep('x', 100))))
    matches('at most 100 character%(s%); this has 101', select(3, schema.parse_text(tname, string.rep('x', 101))))
    local short = vim.tbl_extend('force', tname, { max_length = 2 })
    eq(nil, select(3, schema.parse_text(short, 'éé')))
  end)

  it('checks integers for form and range', function()
    local days = field(fx.TOKENS_CREATE, 'expires_in_days')
    eq({ 30, false }, { schema.parse_text(days, '30') })
    for bad, why in pairs({ ['3.5'] = 'whole number', ten = 'whole number', ['0'] = 'at least 1', ['3651'] = 'at most 3650', ['1e3'] = 'whole number' }) do
      matches(why, select(3, schema.parse_text(days, bad)), bad)
    end
  end)

  it('checks numbers with exclusive bounds', function()
    local ratio = { name = 'ratio', kind = 'number', required = true, exclusive_minimum = 0, exclusive_maximum = 1, description = '' }
    eq({ 0.5, false }, { schema.parse_text(ratio, '0.5') })
    matches('greater than 0', select(3, schema.parse_text(ratio, '0')))
    matches('less than 1', select(3, schema.parse_text(ratio, '1')))
    matches('must be a number', select(3, schema.parse_text(ratio, 'nan')))
  end)

  it('keeps passwords exactly as typed', function()
    eq({ '  s3cret ', false }, { schema.parse_text(field(fx.ENV_SET, 'value'), '  s3cret ') })
  end)

  it('parses JSON fields and refuses the wrong JSON type', function()
    local tags = { name = 'tags', kind = 'json', json_type = 'array', required = true, description = '' }
    eq({ { 'a', 'b' }, false }, { schema.parse_text(tags, '["a","b"]') })
    matches('must be JSON', select(3, schema.parse_text(tags, '[a')))
    matches('JSON array, not object', select(3, schema.parse_text(tags, '{"a": 1}')))
  end)

  it('reads booleans and enums, refusing others', function()
    eq({ true, false }, { schema.parse_text(field(fx.ENV_SET, 'secret'), 'yes') })
    matches('true or false', select(3, schema.parse_text(field(fx.ENV_SET, 'secret'), 'maybe')))
    eq({ 'admin', false }, { schema.parse_text(field(fx.MEMBERS_ADD, 'role'), 'admin') })
    matches('one of: viewer, developer, admin, owner', select(3, schema.parse_text(field(fx.MEMBERS_ADD, 'role'), 'emperor')))
  end)

  it('does not fail on a pattern Vim cannot read (the server still checks it)', function()
    local f = { name = 'x', kind = 'string', required = true, pattern = '(?P<name>a)', description = '' }
    eq({ 'anything', false }, { schema.parse_text(f, 'anything') })
  end)

  it('treats <, >, = and @ in patterns literally', function()
    eq(true, schema.matches('^a<b>=c@d$', 'a<b>=c@d'))
    eq(false, schema.matches('^a<b$', 'ab'))
    eq(true, schema.matches('^[a-z0-9][a-z0-9._-]{0,62}$', 'ada.l-1'))
    eq(false, schema.matches('^[a-z0-9][a-z0-9._-]{0,62}$', '-ada'))
  end)
end)

describe('choices and hints', function()
  it('puts the default first and offers (none) for optional enums', function()
    eq({ 'developer', 'viewer', 'admin', 'owner' }, vim.tbl_map(function(c) return c.label end, schema.choices(field(fx.MEMBERS_ADD, 'role'))))
    local state = schema.choices(field(fx.JOBS_LIST, 'state'))
    eq({ '(none)', true }, { state[1].label, state[1].omit })
    eq({ false, true }, vim.tbl_map(function(c) return c.value end, schema.choices(field(fx.ENV_SET, 'secret'))))
  end)

  it('pre-fills defaults, never for passwords', function()
    eq('90', schema.initial_text(field(fx.TOKENS_CREATE, 'expires_in_days')))
    eq('', schema.initial_text(field(fx.TOKENS_CREATE, 'username')))
    eq('', schema.initial_text(vim.tbl_extend('force', field(fx.ENV_SET, 'value'), { has_default = true, default = 'x' })))
  end)

  it('describes a field', function()
    eq('Days until it expires; null for never. (1..3650; optional, default 90)', schema.describe(field(fx.TOKENS_CREATE, 'expires_in_days')))
  end)

  it('masks secrets and file contents', function()
    eq({ name = 'A', value = '****', secret = true }, schema.redact({ name = 'A', value = 'hunter2', secret = true }, fx.op('env.set', fx.ENV_SET)))
    eq({ content = '<4 chars>' }, schema.redact({ content = 'A=1\n' }, fx.op('env.import', fx.ENV_IMPORT)))
  end)
end)

describe('the live catalog', function()
  it('renders prompts for every operation the platform declares', function()
    local path = os.getenv('CODEFORGE_CATALOG_JSON')
    if not path then
      skip('CODEFORGE_CATALOG_JSON not set (the pytest wrapper sets it)')
    end
    -- Decoded as LSP responses are: JSON null in an object is nil.
    local catalog = vim.json.decode(table.concat(vim.fn.readfile(path), '\n'), { luanil = { object = true } })
    assert(#catalog > 0, 'empty catalog')
    local asked = 0
    for _, op in ipairs(catalog) do
      for _, f in ipairs(schema.prompt_fields(op)) do
        asked = asked + 1
        local props = op.input_schema.properties
        assert(not (props[f.name]['x-codeforge-context']), op.name .. ': context field asked: ' .. f.name)
        schema.parse_text(f, schema.initial_text(f))
        schema.describe(f)
        if f.kind == 'enum' or f.kind == 'boolean' then
          assert(#schema.choices(f) > 0, op.name .. '.' .. f.name .. ' has no choices')
        end
      end
    end
    assert(asked > 20, 'the catalog has almost no input_fields: ' .. asked)
  end)
end)
