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

describe('pattern translation', function()
  -- Each pattern the catalog uses, with values the server takes and refuses (pydantic's Rust regex).
  local CATALOG_PATTERNS = {
    -- optional fields: codeforge/catalog/base.py optional_pattern (PCRE `(?:…)`, unread by Vim)
    { '^(?:[a-z][a-z0-9-]{0,29})?$', { '', 'snap-1', 'a' .. string.rep('b', 29) }, { 'Snap', '1snap', 'a' .. string.rep('b', 30), 'snap_1', ' ' } },
    { '^(?:[a-z][a-z0-9-]{0,62})?$', { '', 'python' }, { 'Python', '-x', 'a' .. string.rep('b', 63) } },
    { '^(?:[a-z][a-z0-9_-]{0,39})?$', { '', 'nightly_1' }, { '_x', 'a.b' } },
    { '^(?:[A-Za-z_][A-Za-z0-9_]{0,127})?$', { '', '_main', 'Feature_2' }, { '2x', 'a-b' } },
    { '^(?:[A-Za-z0-9][A-Za-z0-9._@+-]{0,99})?$', { '', 'ada@laptop', 'k.1+x' }, { '@x', 'a b', 'a#b' } },
    { '^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$', { '5m', '1h30m', '250ms', '2y1w' }, { '', '5', 'm', '5x', '5 m', '5M' } },
    -- `\s` inside brackets (Vim reads `[\s]` as a backslash or an s)
    { '^[^#\\s][^\\n]*#[1-9][0-9]{0,5}$', { 'src/app.py#12', 'see sheet#1' }, { ' x#1', '#1', 'x#0', 'a\nb#1', '\u{3000}a#1', 'x#1234567' } },
    { '^https?://[^\\s]+$', { 'https://example.com/hook', 'http://a' }, { 'ftp://a', 'https://a b', 'https://', 'https://a\tb' } },
    { '^[^\\x00-\\x1f\\x7f]+$', { 'main.py', 'é x' }, { '', 'a\tb', 'a\0b', 'a\nb', 'a\127' } },
    { '^[A-Za-z0-9_.-]{1,200}\\.sql$', { '001_init.sql' }, { 'init.sqlx', '.sql', 'a/b.sql', 'aXsql' } },
    { '^[A-Za-z0-9+/=_-]*$', { '', 'aGk=', 'a-b_c/d+' }, { 'a b', 'a\n' } },
    { '^[0-9]*$', { '', '42' }, { '4a', '4\n' } },
    { '^[0-9a-f]{32}$', { string.rep('0a', 16) }, { string.rep('0A', 16), string.rep('0', 31) } },
  }

  it('enforces every kind of pattern the catalog uses', function()
    for _, case in ipairs(CATALOG_PATTERNS) do
      local pattern, good, bad = case[1], case[2], case[3]
      assert(schema.vim_pattern(pattern), 'no Vim translation: ' .. pattern)
      for _, text in ipairs(good) do
        eq(true, schema.matches(pattern, text), pattern .. ' on ' .. vim.inspect(text))
      end
      for _, text in ipairs(bad) do
        eq(false, schema.matches(pattern, text), pattern .. ' on ' .. vim.inspect(text))
      end
    end
  end)

  it('refuses a bad optional value typed at a prompt, and leaves an empty one out', function()
    local f = { name = 'name', kind = 'string', required = false, pattern = '^(?:[a-z][a-z0-9-]{0,29})?$', description = '' }
    local value, omit, err = schema.parse_text(f, 'Not A Name')
    eq({ nil, false }, { value, omit })
    matches('^name must match %^%(%?:', err)
    eq({ 'snap-1', false }, { schema.parse_text(f, 'snap-1') })
    eq({ nil, true }, { schema.parse_text(f, '') })
  end)

  it('reads $ as the end of the text and . as anything but a newline, as the server does', function()
    eq(false, schema.matches('^a$', 'a\n'))
    eq(true, schema.matches('^a.c$', 'a-c'))
    eq(false, schema.matches('^a.c$', 'a\nc'))
    eq(true, schema.matches('^a\\nc$', 'a\nc'))
    eq(true, schema.matches('^a\\sc$', 'a\u{a0}c'))
    eq(false, schema.matches('^\\S+$', 'a\u{2003}c'))
  end)

  it('keeps escapes, ranges and literal punctuation', function()
    eq(true, schema.matches('^a_b\\_c~d&e%f$', 'a_b_c~d&e%f'))
    eq(false, schema.matches('^a~b$', 'ab'))
    eq(true, schema.matches('^[\\]\\\\^-]+$', ']\\^-'))
    eq(true, schema.matches('^[]a]+$', ']a'))
    eq(true, schema.matches('^\\x41\\u00e9$', 'Aé'))
    eq(true, schema.matches('^[é-ë]+$', 'êé'))
    eq(false, schema.matches('^[é-ë]+$', 'e'))
    eq(true, schema.matches('^(ab|cd){2}$', 'abcd'))
    eq(false, schema.matches('^x{2,3}$', 'xxxx'))
    eq(true, schema.matches('^a{$', 'a{'))
  end)

  it('has no translation for syntax Vim would read differently', function()
    for _, pattern in ipairs({ '(?=a)', '(?P<n>a)', 'a*?', 'a+?', '\\bword', '[[:alpha:]]', '[a[b]]', '\\ue000' }) do
      eq(nil, schema.vim_pattern(pattern), pattern)
      eq(true, schema.matches(pattern, 'anything'), pattern)
    end
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
    local asked, patterns = 0, 0
    for _, op in ipairs(catalog) do
      for _, f in ipairs(schema.prompt_fields(op)) do
        asked = asked + 1
        local props = op.input_schema.properties
        assert(not (props[f.name]['x-codeforge-context']), op.name .. ': context field asked: ' .. f.name)
        if f.pattern then
          patterns = patterns + 1
          local translated = schema.vim_pattern(f.pattern)
          assert(translated, op.name .. '.' .. f.name .. ': no Vim translation for ' .. f.pattern)
          assert(pcall(vim.regex, translated), op.name .. '.' .. f.name .. ': Vim cannot compile ' .. translated)
        end
        schema.parse_text(f, schema.initial_text(f))
        schema.describe(f)
        if f.kind == 'enum' or f.kind == 'boolean' then
          assert(#schema.choices(f) > 0, op.name .. '.' .. f.name .. ' has no choices')
        end
      end
    end
    assert(asked > 20, 'the catalog has almost no input_fields: ' .. asked)
    assert(patterns > 20, 'the catalog has almost no patterns: ' .. patterns)
  end)
end)
