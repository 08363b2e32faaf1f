import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { choices, describeField, type FieldSpec, initialText, parseText, promptFields, redact, resolveRef } from '../src/schema';
import { ENV_IMPORT, ENV_SET, JOBS_LIST, MEMBERS_ADD, TOKENS_CREATE } from './fixtures';

function field(schema: Record<string, unknown>, name: string): FieldSpec {
  const found = promptFields(schema).find((f) => f.name === name);
  assert.ok(found, `no prompt for ${name}`);
  return found;
}

describe('promptFields', () => {
  it('skips context fields and keeps declaration order', () => {
    assert.deepEqual(
      promptFields(ENV_SET).map((f) => [f.name, f.kind, f.required]),
      [
        ['name', 'string', true],
        ['value', 'password', true],
        ['secret', 'boolean', false],
      ],
    );
  });

  it('resolves $ref enums with sibling defaults', () => {
    const role = field(MEMBERS_ADD, 'role');
    assert.equal(role.kind, 'enum');
    assert.deepEqual(role.enumValues, ['viewer', 'developer', 'admin', 'owner']);
    assert.equal(role.default, 'developer');
    assert.equal(role.description, 'What the member may do.');
  });

  it('unwraps optional (anyOf with null) fields, keeping their limits', () => {
    const days = field(TOKENS_CREATE, 'expires_in_days');
    assert.equal(days.kind, 'integer');
    assert.equal(days.nullable, true);
    assert.equal(days.minimum, 1);
    assert.equal(days.maximum, 3650);
    assert.equal(days.default, 90);
    const state = field(JOBS_LIST, 'state');
    assert.equal(state.kind, 'enum');
    assert.equal(state.nullable, true);
  });

  it('marks x-codeforge-file fields as files', () => {
    const content = field(ENV_IMPORT, 'content');
    assert.equal(content.kind, 'file');
    assert.equal(content.fileHint, '.env');
  });

  it('treats arrays and objects as JSON and survives schemas without properties', () => {
    const fields = promptFields({ properties: { tags: { type: 'array', items: { type: 'string' } }, meta: { type: 'object' } } });
    assert.deepEqual(fields.map((f) => [f.kind, f.jsonType]), [['json', 'array'], ['json', 'object']]);
    assert.deepEqual(promptFields({}), []);
    assert.deepEqual(promptFields({ properties: 'nonsense' }), []);
  });

  it('resolves an unknown $ref to its siblings instead of throwing', () => {
    assert.deepEqual(resolveRef({}, { $ref: '#/$defs/Missing', description: 'x' }), { description: 'x' });
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
    assert.equal(parseText({ ...tokenName, maxLength: 2 }, '😀😀').ok, true);
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
    const spec: FieldSpec = { name: 'ratio', title: 'Ratio', description: '', kind: 'number', required: true, nullable: false, hasDefault: false, exclusiveMinimum: 0, exclusiveMaximum: 1 };
    assert.deepEqual(parseText(spec, '0.5'), { ok: true, value: 0.5, omit: false });
    assert.equal(parseText(spec, '0').ok, false);
    assert.equal(parseText(spec, '1').ok, false);
    assert.equal(parseText(spec, 'NaN').ok, false);
  });

  it('keeps password text exactly as typed', () => {
    assert.deepEqual(parseText(field(ENV_SET, 'value'), '  s3cret '), { ok: true, value: '  s3cret ', omit: false });
  });

  it('parses JSON fields and refuses the wrong JSON type', () => {
    const tags: FieldSpec = { name: 'tags', title: 'Tags', description: '', kind: 'json', required: true, nullable: false, hasDefault: false, jsonType: 'array' };
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
    const spec: FieldSpec = { name: 'x', title: 'X', description: '', kind: 'string', required: true, nullable: false, hasDefault: false, pattern: '(?P<name>a)' };
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
    assert.equal(initialText({ ...field(ENV_SET, 'value'), hasDefault: true, default: 'x' }), '');
  });

  it('describes the rules of a field', () => {
    assert.equal(describeField(field(TOKENS_CREATE, 'expires_in_days')), 'Days until it expires; null for never. (1…3650; optional, default 90)');
  });

  it('masks secrets and file contents in logs', () => {
    assert.deepEqual(redact({ name: 'A', value: 'hunter2', secret: true }, ENV_SET), { name: 'A', value: '••••', secret: true });
    assert.deepEqual(redact({ content: 'A=1\n' }, ENV_IMPORT), { content: '<4 chars>' });
  });
});

describe('the live catalog', () => {
  const path = process.env.CODEFORGE_CATALOG_JSON;
  it('renders prompts for every operation the platform declares', { skip: path ? false : 'CODEFORGE_CATALOG_JSON not set (the pytest wrapper sets it)' }, () => {
    const catalog = JSON.parse(readFileSync(path as string, 'utf-8')) as { name: string; input_schema: Record<string, unknown> }[];
    assert.ok(catalog.length > 0);
    for (const entry of catalog) {
      const fields = promptFields(entry.input_schema);
      assert.ok(!fields.some((f) => f.name === 'project' && entry.input_schema['properties'] && (entry.input_schema['properties'] as Record<string, Record<string, unknown>>)['project']['x-codeforge-context']), entry.name);
      for (const f of fields) {
        assert.notEqual(f.kind, undefined, `${entry.name}.${f.name}`);
        // Every field can be answered: a parse of its initial text never throws.
        parseText(f, initialText(f));
      }
    }
  });
});
