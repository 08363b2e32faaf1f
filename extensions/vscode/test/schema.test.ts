import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { askingOrder, choices, describeField, type FieldSpec, initialText, parseText, promptFields, redact } from '../src/schema';
import { ENV_IMPORT, ENV_SET, JOBS_LIST, MEMBERS_ADD, TOKENS_CREATE } from './fixtures';

function field(fields: FieldSpec[], name: string): FieldSpec {
  const found = promptFields({ input_fields: fields }).find((f) => f.name === name);
  assert.ok(found, `no prompt for ${name}`);
  return found;
}

describe('promptFields', () => {
  it('renders the catalog entry\'s input_fields in their order', () => {
    assert.deepEqual(
      promptFields({ input_fields: ENV_SET }).map((f) => [f.name, f.kind, f.required]),
      [
        ['name', 'string', true],
        ['value', 'password', true],
        ['secret', 'boolean', false],
      ],
    );
  });

  it('survives entries without fields, or with malformed ones', () => {
    assert.deepEqual(promptFields({}), []);
    assert.deepEqual(promptFields({ input_fields: 'nonsense' }), []);
    assert.deepEqual(promptFields({ input_fields: [null, 7, { kind: 'string' }] }), []);
  });
});

describe('parseText', () => {
  const name = field(ENV_SET, 'name');

  it('accepts a value matching the pattern', () => {
    assert.deepEqual(parseText(name, 'DATABASE_URL'), { ok: true, value: 'DATABASE_URL', omit: false });
    assert.deepEqual(parseText(name, '  PADDED  '), { ok: true, value: 'PADDED', omit: false });
  });

  it('refuses a value that breaks the pattern, naming the field and the rule', () => {
    const result = parseText(name, '1BAD-NAME');
    assert.equal(result.ok, false);
    assert.match(!result.ok ? result.error : '', /^name must match \^\[A-Za-z_\]/);
  });

  it('refuses an empty required field and omits an empty optional one', () => {
    assert.deepEqual(parseText(name, ''), { ok: false, error: 'name is required: type a value (Escape cancels)' });
    assert.deepEqual(parseText(field(TOKENS_CREATE, 'username'), '   '), { ok: true, value: undefined, omit: true });
  });

  it('checks string lengths in characters, not UTF-16 units', () => {
    const tokenName = field(TOKENS_CREATE, 'name');
    assert.equal(parseText(tokenName, 'x'.repeat(100)).ok, true);
    const tooLong = parseText(tokenName, 'x'.repeat(101));
    assert.equal(tooLong.ok, false);
    assert.match(!tooLong.ok ? tooLong.error : '', /at most 100 character\(s\); this has 101/);
    assert.equal(parseText({ ...tokenName, max_length: 2 }, '😀😀').ok, true);
  });

  it('checks integers: form and range', () => {
    const days = field(TOKENS_CREATE, 'expires_in_days');
    assert.deepEqual(parseText(days, '30'), { ok: true, value: 30, omit: false });
    for (const [bad, why] of [
      ['3.5', /whole number/],
      ['ten', /whole number/],
      ['0', /at least 1/],
      ['3651', /at most 3650/],
      ['1e3', /whole number/],
    ] as const) {
      const result = parseText(days, bad);
      assert.equal(result.ok, false, bad);
      assert.match(!result.ok ? result.error : '', why);
    }
  });

  it('checks numbers with exclusive bounds', () => {
    const spec: FieldSpec = { name: 'ratio', title: 'Ratio', description: '', kind: 'number', required: true, nullable: false, has_default: false, exclusive_minimum: 0, exclusive_maximum: 1 };
    assert.deepEqual(parseText(spec, '0.5'), { ok: true, value: 0.5, omit: false });
    assert.equal(parseText(spec, '0').ok, false);
    assert.equal(parseText(spec, '1').ok, false);
    assert.equal(parseText(spec, 'NaN').ok, false);
  });

  it('keeps password text exactly as typed', () => {
    assert.deepEqual(parseText(field(ENV_SET, 'value'), '  s3cret '), { ok: true, value: '  s3cret ', omit: false });
  });

  it('parses JSON fields and refuses the wrong JSON type', () => {
    const tags: FieldSpec = { name: 'tags', title: 'Tags', description: '', kind: 'json', required: true, nullable: false, has_default: false, json_type: 'array' };
    assert.deepEqual(parseText(tags, '["a","b"]'), { ok: true, value: ['a', 'b'], omit: false });
    const notJson = parseText(tags, '[a');
    assert.match(!notJson.ok ? notJson.error : '', /must be JSON/);
    const wrongType = parseText(tags, '{"a": 1}');
    assert.match(!wrongType.ok ? wrongType.error : '', /JSON array, not object/);
  });

  it('reads typed booleans and enums, refusing others', () => {
    const secret = field(ENV_SET, 'secret');
    assert.deepEqual(parseText(secret, 'yes'), { ok: true, value: true, omit: false });
    assert.equal(parseText(secret, 'maybe').ok, false);
    const role = field(MEMBERS_ADD, 'role');
    assert.deepEqual(parseText(role, 'admin'), { ok: true, value: 'admin', omit: false });
    const bad = parseText(role, 'emperor');
    assert.match(!bad.ok ? bad.error : '', /one of: viewer, developer, admin, owner/);
  });

  it('does not fail on a pattern JavaScript cannot compile (the server still checks it)', () => {
    const spec: FieldSpec = { name: 'x', title: 'X', description: '', kind: 'string', required: true, nullable: false, has_default: false, pattern: '(?P<name>a)' };
    assert.equal(parseText(spec, 'anything').ok, true);
  });
});

describe('quick picks and hints', () => {
  it('puts the default first and offers (none) for optional enums', () => {
    assert.deepEqual(choices(field(MEMBERS_ADD, 'role')).map((c) => c.label), ['developer', 'viewer', 'admin', 'owner']);
    const state = choices(field(JOBS_LIST, 'state'));
    assert.equal(state[0].label, '(none)');
    assert.equal(state[0].omit, true);
    assert.deepEqual(choices(field(ENV_SET, 'secret')).map((c) => c.value), [false, true]);
  });

  it('pre-fills defaults but never for passwords', () => {
    assert.equal(initialText(field(TOKENS_CREATE, 'expires_in_days')), '90');
    assert.equal(initialText(field(TOKENS_CREATE, 'username')), '');
    assert.equal(initialText({ ...field(ENV_SET, 'value'), has_default: true, default: 'x' }), '');
  });

  it('describes the rules of a field', () => {
    assert.equal(describeField(field(TOKENS_CREATE, 'expires_in_days')), 'Days until it expires; null for never. (1…3650; optional, default 90)');
  });

  it('masks secrets and file contents in logs', () => {
    assert.deepEqual(redact({ name: 'A', value: 'hunter2', secret: true }, { input_fields: ENV_SET }), { name: 'A', value: '••••', secret: true });
    assert.deepEqual(redact({ content: 'A=1\n' }, { input_fields: ENV_IMPORT }), { content: '<4 chars>' });
  });
});

describe('the live catalog', () => {
  const path = process.env.CODEFORGE_CATALOG_JSON;
  const KINDS = ['string', 'password', 'integer', 'number', 'boolean', 'enum', 'file', 'json'];
  it('renders prompts for every operation the platform declares', { skip: path ? false : 'CODEFORGE_CATALOG_JSON not set (the pytest wrapper sets it)' }, () => {
    type Entry = { name: string; input_fields: unknown; input_schema: { properties?: Record<string, Record<string, unknown>> } };
    const catalog = JSON.parse(readFileSync(path as string, 'utf-8')) as Entry[];
    assert.ok(catalog.length > 0);
    for (const entry of catalog) {
      const fields = promptFields(entry);
      assert.ok(Array.isArray(entry.input_fields), `${entry.name} has no input_fields`);
      assert.equal(fields.length, (entry.input_fields as unknown[]).length, entry.name);
      const properties = entry.input_schema.properties ?? {};
      for (const f of fields) {
        assert.ok(KINDS.includes(f.kind), `${entry.name}.${f.name}: kind ${f.kind}`);
        assert.ok(f.name in properties, `${entry.name}.${f.name} is not an input`);
        // Context fields (the project) are filled by the language server, never asked.
        assert.equal(properties[f.name]['x-codeforge-context'], undefined, `${entry.name}.${f.name} is a context field`);
        // Every field can be answered: a parse of its initial text never throws, and a default is accepted.
        const parsed = parseText(f, initialText(f));
        if (f.has_default && f.default !== null && f.kind !== 'json' && f.kind !== 'file') {
          assert.ok(parsed.ok, `${entry.name}.${f.name}: default ${JSON.stringify(f.default)} refused: ${parsed.ok ? '' : parsed.error}`);
        }
      }
    }
    // env.set's secret value is asked after the boolean that decides it (the journey checks the boxes).
    const envSet = catalog.find((e) => e.name === 'env.set') as Entry;
    assert.deepEqual(askingOrder(promptFields(envSet)).map((f) => f.name), ['name', 'secret', 'value']);
  });
});
