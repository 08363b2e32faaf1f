// Masking from the catalog entry's output_secrets: what reaches notifications, the output channel
// (and its log file), documents and tree rows, and what only an explicit reveal's dialog shows.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type { Operation } from '../src/prompt';
import { describeItem, forLog, summarize } from '../src/results';
import { isReveal, MASK, maskOutput, maskUrlPasswords, secretValues } from '../src/secrets';
import { DATABASES_REVEAL, ENV_LIST, ENV_REVEAL, PANES_OPEN, TOKENS_CREATED } from './fixtures';

const PASSWORD = 'Sup3r-s3cret';
const URLS = {
  name: 'main',
  url: `postgresql://app_main:${PASSWORD}@127.0.0.1:5432/main`,
  pooled_url: `postgresql://app_main:${PASSWORD}@127.0.0.1:6432/main`,
  pooling: '',
};

/** Every string of a value, at any depth. */
function strings(value: unknown): string[] {
  if (typeof value === 'string') {
    return [value];
  }
  if (Array.isArray(value)) {
    return value.flatMap(strings);
  }
  if (typeof value === 'object' && value !== null) {
    return Object.values(value).flatMap(strings);
  }
  return [];
}

describe('URL passwords', () => {
  it('are masked wherever a URL appears, keeping user, host and database', () => {
    assert.equal(maskUrlPasswords(URLS.url), `postgresql://app_main:${MASK}@127.0.0.1:5432/main`);
    assert.equal(maskUrlPasswords(`connect to mysql://root:pw@db:3306/x now`), `connect to mysql://root:${MASK}@db:3306/x now`);
    // An @ inside the password (unencoded) does not leave its tail behind.
    assert.equal(maskUrlPasswords('postgres://u:p@ss@h/d'), `postgres://u:${MASK}@h/d`);
  });

  it('leave URLs without a password, and masked ones, as they are', () => {
    for (const text of ['http://127.0.0.1:8470/panes/overview?t=x', 'mysql://root@db:3306', `postgresql://u:${MASK}@h/d`, 'plain text: a:b@c']) {
      assert.equal(maskUrlPasswords(text), text);
    }
  });

  it('are masked in unmarked fields too, outside an explicit reveal', () => {
    const info = { name: 'main', url: URLS.url, note: `was ${URLS.pooled_url}` };
    const masked = maskOutput(info, { output_secrets: [] });
    assert.ok(!strings(masked).some((s) => s.includes(PASSWORD)), JSON.stringify(masked));
    assert.deepEqual(maskOutput(info, {}, { keepUrlPasswords: true }), info);
  });
});

describe("secret fields from the catalog entry's output_secrets", () => {
  it('follows paths into list items and maps', () => {
    assert.deepEqual(maskOutput({ pooled_url: 'x', pooling: 'y' }, DATABASES_REVEAL), { pooled_url: MASK, pooling: 'y' });
    assert.deepEqual(maskOutput({ items: [{ token: 'cf_1', id: 'a' }, { token: null, id: 'b' }] }, { output_secrets: ['items[].token'] }), {
      items: [
        { token: MASK, id: 'a' },
        { token: null, id: 'b' },
      ],
    });
    const byName = { by_name: { ci: { token: 'cf_2', id: 'c' } } };
    assert.deepEqual(maskOutput(byName, { output_secrets: ['by_name.*.token'] }), { by_name: { ci: { token: MASK, id: 'c' } } });
    assert.deepEqual(secretValues(byName, { output_secrets: ['by_name.*.token'] }, false), [{ path: 'by_name.ci.token', value: 'cf_2' }]);
  });

  it('masks databases.reveal and tokens.create in logs and notifications', () => {
    const logged = forLog(URLS, DATABASES_REVEAL);
    assert.deepEqual(logged, { name: 'main', url: MASK, pooled_url: MASK, pooling: '' });
    assert.equal(summarize(URLS, DATABASES_REVEAL), 'name: main, pooling: ');
    const token = { id: 't1', name: 'ci', token: 'cf_abcdef', expires_at: null };
    assert.equal(summarize(token, TOKENS_CREATED), 'id: t1, name: ci, expires_at: null');
    assert.ok(!JSON.stringify(forLog(token, TOKENS_CREATED)).includes('cf_abcdef'));
  });

  it('without an entry, still masks the passwords of URLs', () => {
    assert.ok(!summarize(URLS).includes(PASSWORD));
    assert.ok(!JSON.stringify(forLog(URLS)).includes(PASSWORD));
  });

  it('does not mask what is not secret: a plain variable, a name, a content', () => {
    const listed = {
      items: [
        { name: 'LOG_LEVEL', secret: false, value: 'debug', updated_at: 't', updated_by: 'ada' },
        { name: 'API_KEY', secret: true, value: null, updated_at: 't', updated_by: 'ada' },
      ],
    };
    assert.deepEqual(maskOutput(listed, ENV_LIST), listed);
    const row = describeItem((maskOutput(listed, ENV_LIST) as typeof listed).items[0]);
    assert.match(row.description, /value: debug/);
    assert.equal(summarize({ name: 'LOG_LEVEL', secret: false, value: 'debug' }, { output_secrets: [] }), 'name: LOG_LEVEL, secret: false, value: debug');
    assert.equal(summarize({ name: 'env', content: 'A=1' }, { output_secrets: [] }), 'name: env, content: A=1');
  });

  it("masks a pane link's signed URL (it opens the page without signing in)", () => {
    const link = { title: 'Overview', url: 'http://127.0.0.1:8470/panes/overview?t=signed', expires_at: 't' };
    assert.deepEqual(forLog(link, PANES_OPEN), { ...link, url: MASK });
    assert.equal(summarize(link, PANES_OPEN), 'title: Overview, expires_at: t');
  });
});

describe('what an explicit reveal shows', () => {
  it('is every marked value, URL passwords included', () => {
    assert.deepEqual(secretValues(URLS, DATABASES_REVEAL, true), [
      { path: 'url', value: URLS.url },
      { path: 'pooled_url', value: URLS.pooled_url },
    ]);
    assert.deepEqual(secretValues({ name: 'API_KEY', value: 'pk_1' }, ENV_REVEAL, true), [{ path: 'value', value: 'pk_1' }]);
    // Nothing to show for an empty pooled URL.
    assert.deepEqual(secretValues({ ...URLS, pooled_url: null }, DATABASES_REVEAL, true).map((s) => s.path), ['url']);
  });

  it('falls back to every string of a reveal whose entry lists no secret path', () => {
    assert.deepEqual(secretValues({ name: 'API_KEY', value: 'pk_1' }, { output_secrets: [] }, true).map((s) => s.path), ['name', 'value']);
    assert.deepEqual(secretValues({ name: 'API_KEY', value: 'pk_1' }, { output_secrets: [] }, false), []);
  });

  it('is a reveal only for operations the catalog says reveal (permission reveal, or a secret output)', () => {
    assert.equal(isReveal({ permission: 'reveal', reveals: true }), true);
    assert.equal(isReveal({ permission: 'view', reveals: false }), false);
    assert.equal(isReveal({}), false);
    assert.equal(isReveal({ permission: 'create', reveals: true }), true); // tokens.create, shown once
  });
});

describe('the live catalog', () => {
  const path = process.env.CODEFORGE_CATALOG_JSON;
  const skip = path ? false : 'CODEFORGE_CATALOG_JSON not set (the pytest wrapper sets it)';

  it('masks a sample of every operation output without throwing, leaving no URL password', { skip }, () => {
    const catalog = (JSON.parse(readFileSync(path as string, 'utf-8')) as Operation[] | { operations: Operation[] });
    const operations = Array.isArray(catalog) ? catalog : catalog.operations;
    assert.ok(operations.length > 10);
    for (const op of operations) {
      const properties = (op.output_schema?.properties ?? {}) as Record<string, unknown>;
      // A result with a URL password in every declared field, and in one the schema does not know.
      const sample: Record<string, unknown> = { extra: URLS.url };
      for (const key of Object.keys(properties)) {
        sample[key] = URLS.pooled_url;
      }
      const masked = maskOutput(sample, op);
      assert.ok(!strings(masked).some((s) => s.includes(PASSWORD)), `${op.name}: ${JSON.stringify(masked)}`);
      assert.ok(!summarize(sample, op).includes(PASSWORD), op.name);
    }
  });

  it('marks a secret output field in every reveal operation, so its log line and summary hide it', { skip }, () => {
    const catalog = JSON.parse(readFileSync(path as string, 'utf-8')) as Operation[] | { operations: Operation[] };
    const operations = Array.isArray(catalog) ? catalog : catalog.operations;
    const reveals = operations.filter(isReveal);
    assert.ok(reveals.some((op) => op.name === 'env.reveal') && reveals.some((op) => op.name === 'databases.reveal'), reveals.map((op) => op.name).join());
    assert.ok(reveals.some((op) => op.name === 'tokens.create'), 'tokens.create shows its token once: a reveal in both editors');
    for (const op of reveals) {
      assert.ok((op.output_secrets ?? []).length > 0, `${op.name} lists no output_secrets`);
    }
  });
});
