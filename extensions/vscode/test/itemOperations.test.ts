import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { operationsForItem } from '../src/itemOperations';
import type { Operation } from '../src/prompt';
import type { FieldSpec } from '../src/schema';
import { op } from './fixtures';

const text = (name: string, values?: string): FieldSpec => ({ name, title: name, description: '', kind: 'string', required: true, nullable: false, has_default: false, values });
const LIST = op('databases.list', [], { lists_resources: true });
const DELETE = op('databases.delete', [text('name', 'databases.list#name')]);
const BRANCH = op('databases.branch', [text('name'), text('source', 'databases.list#name')]);
const REVEAL_ENV = op('env.reveal', [text('name', 'env.list#name')]);
const PLAIN = op('jobs.list', [text('state')]);

describe('operationsForItem', () => {
  it('offers the operations whose field takes items of that list, the field filled in', () => {
    const found = operationsForItem([LIST, DELETE, BRANCH, REVEAL_ENV, PLAIN], LIST, { name: 'main', parent: null });
    assert.deepEqual(
      found.map((f) => [f.op.name, f.given]),
      [
        ['databases.delete', { name: 'main' }],
        ['databases.branch', { source: 'main' }],
      ],
    );
  });

  it('offers nothing for an item without the named key, or for no item at all', () => {
    assert.deepEqual(operationsForItem([DELETE], LIST, { id: 'x' }), []);
    assert.deepEqual(operationsForItem([DELETE], LIST, null), []);
    assert.deepEqual(operationsForItem([DELETE], LIST, 'main'), []);
  });

  const path = process.env.CODEFORGE_CATALOG_JSON;
  it('finds operations for database and variable items in the platform catalog', { skip: path ? false : 'CODEFORGE_CATALOG_JSON not set (the pytest wrapper sets it)' }, () => {
    const catalog = JSON.parse(readFileSync(path as string, 'utf-8')) as Operation[];
    const byName = (name: string) => catalog.find((o) => o.name === name) as Operation;
    const onDatabase = operationsForItem(catalog, byName('databases.list'), { name: 'main' }).map((f) => f.op.name);
    for (const name of ['databases.branch', 'databases.use', 'databases.delete', 'backups.create', 'migrations.apply']) {
      assert.ok(onDatabase.includes(name), `${name} in ${onDatabase.join(', ')}`);
    }
    assert.ok(!onDatabase.includes('databases.create'));
    const onVariable = operationsForItem(catalog, byName('env.list'), { name: 'API_KEY' }).map((f) => f.op.name);
    assert.deepEqual(onVariable.sort(), ['env.reveal', 'env.set', 'env.unset']);
  });
});
