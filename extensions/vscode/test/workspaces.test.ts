// The Workspaces view's rules (src/workspaces/model.ts): rows read from the list operations (bad
// items left out, URL passwords masked), the tree they make, what each row shows and offers, the
// operation each action runs, and the bridge a switch goes to.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Operation } from '../src/prompt';
import {
  actionCall,
  buildTree,
  isCurrent,
  parseSnapshots,
  parseWorkspaces,
  snapshotView,
  switchTarget,
  forCreate,
  type WorkspaceNode,
  workspaceView,
} from '../src/workspaces/model';

const base = {
  project: 'shop',
  template: 'python',
  files: 'btrfs snapshot (copy-on-write)',
  isolation: 'bubblewrap',
  ports: [{ service: 'web', inside: 8000, host: 42001, url: 'http://127.0.0.1:42001' }],
  databases: [{ env_var: 'DATABASE_URL', database: 'app-feature' }],
  limits: { cpus: null, memory_mb: null, disk_mb: null },
  notes: [],
  error: '',
  created_at: '2026-11-30T18:00:00Z',
  created_by: 'ana',
};
const LIST = {
  items: [
    { ...base, name: 'main', state: 'running', runtime: 'local' },
    { ...base, name: 'feature', state: 'stopped', runtime: 'docker', error: 'failed: postgresql://app:hunter2@db:5432/app refused' },
    { ...base, name: 7, state: 'running' },
    'junk',
  ],
};
const SNAPS = {
  items: [
    { name: 'main-1', workspace: 'main', processes: 'checkpointed', missing: [], created_at: '2026-11-30T18:01:00Z', created_by: 'ana' },
    { name: 'main-2', workspace: 'main', processes: 'not: CRIU refused', missing: ['processes: CRIU refused'], created_at: '2026-11-30T18:05:00Z', created_by: 'ana' },
    { name: 'gone-1', workspace: null, processes: '', missing: [], created_at: '2026-11-29T10:00:00Z', created_by: 'bo' },
  ],
};

describe('workspaces view', () => {
  it('reads the list operations, leaving out items that are not workspaces and masking URL passwords', () => {
    const rows = parseWorkspaces(LIST);
    assert.deepEqual(
      rows.map((r) => [r.name, r.state, r.runtime]),
      [
        ['main', 'running', 'local'],
        ['feature', 'stopped', 'docker'],
      ],
    );
    assert.ok(!JSON.stringify(rows).includes('hunter2'));
    assert.match(rows[1].error, /postgresql:\/\/app:••••@db/);
    assert.deepEqual(rows[0].databases, ['app-feature']);
    assert.deepEqual(parseWorkspaces(undefined), []);
    assert.deepEqual(parseWorkspaces({ items: 'no' }), []);
    assert.deepEqual(
      parseSnapshots(SNAPS).map((s) => [s.name, s.workspace]),
      [
        ['main-2', 'main'],
        ['main-1', 'main'],
        ['gone-1', ''],
      ],
    );
  });

  it('makes workspaces with their snapshots as children, and orphaned snapshots one group', () => {
    const tree = buildTree(parseWorkspaces(LIST), parseSnapshots(SNAPS));
    assert.deepEqual(
      tree.map((n) => n.kind),
      ['workspace', 'workspace', 'orphans'],
    );
    const [feature, main, orphans] = tree as [WorkspaceNode & { kind: 'workspace' }, WorkspaceNode & { kind: 'workspace' }, WorkspaceNode & { kind: 'orphans' }];
    assert.equal(feature.workspace.name, 'feature');
    assert.deepEqual(feature.snapshots, []);
    assert.deepEqual(
      main.snapshots.map((s) => s.name),
      ['main-2', 'main-1'],
    );
    assert.deepEqual(
      orphans.snapshots.map((s) => s.name),
      ['gone-1'],
    );
    assert.deepEqual(
      buildTree([], []).map((n) => n.kind),
      ['note'],
    );
  });

  it('shows state and runtime beside a workspace, and offers start or stop by its state', () => {
    const [main, feature] = parseWorkspaces(LIST);
    const running = workspaceView({ workspace: main, current: false });
    assert.equal(running.label, 'main');
    assert.equal(running.description, 'running · local');
    assert.equal(running.contextValue, 'codeforge.workspace.running');
    assert.match(running.tooltip, /port web 8000 → http:\/\/127\.0\.0\.1:42001/);
    assert.equal(workspaceView({ workspace: main, current: true }).description, 'running · local · current');
    const stopped = workspaceView({ workspace: feature, current: false });
    assert.equal(stopped.contextValue, 'codeforge.workspace.stopped');
    assert.ok(!stopped.tooltip.includes('hunter2'), stopped.tooltip);
    assert.equal(workspaceView({ workspace: { ...main, state: 'creating' }, current: false }).contextValue, 'codeforge.workspace.busy');
    const snap = snapshotView(parseSnapshots(SNAPS)[0]);
    assert.equal(snap.contextValue, 'codeforge.workspaceSnapshot');
    assert.match(snap.tooltip, /not captured: processes: CRIU refused/);
    assert.match(snapshotView(parseSnapshots(SNAPS)[2]).tooltip, /its workspace is deleted/);
  });

  it('runs each action as the catalog operation with what the row gives', () => {
    const [main] = parseWorkspaces(LIST);
    const ws: WorkspaceNode = { kind: 'workspace', workspace: main, snapshots: [], current: false };
    const snap: WorkspaceNode = { kind: 'snapshot', snapshot: parseSnapshots(SNAPS)[0] };
    assert.deepEqual(actionCall('start', ws), { op: 'workspaces.start', given: { name: 'main' } });
    assert.deepEqual(actionCall('stop', ws), { op: 'workspaces.stop', given: { name: 'main' } });
    assert.deepEqual(actionCall('snapshot', ws), { op: 'workspaces.snapshot', given: { name: 'main' } });
    assert.deepEqual(actionCall('clone', ws), { op: 'workspaces.clone', given: { source: 'main' } });
    assert.deepEqual(actionCall('switch', ws), { op: 'workspaces.connect', given: { name: 'main' } });
    assert.deepEqual(actionCall('delete', ws), { op: 'workspaces.delete', given: { name: 'main' } });
    assert.deepEqual(actionCall('logs', ws), { op: 'workspaces.logs', given: { name: 'main' } });
    assert.equal(actionCall('restore', ws), undefined);
    assert.deepEqual(actionCall('restore', snap), { op: 'workspaces.restore', given: { snapshot: 'main-2' } });
    assert.deepEqual(actionCall('clone', snap), { op: 'workspaces.clone', given: { source: 'main-2' } });
    assert.deepEqual(actionCall('delete', snap), { op: 'workspaces.delete_snapshot', given: { snapshot: 'main-2' } });
    assert.equal(actionCall('start', snap), undefined);
    assert.equal(actionCall('switch', { kind: 'note', text: '', tooltip: '' }), undefined);
  });

  it('switches to the bridge workspaces.connect answers, refusing one that carries a secret', () => {
    assert.deepEqual(switchTarget({ name: 'feature', bridge_url: 'ws://127.0.0.1:42010/', bridge_id: 'b1', folder: '/w/feature' }), {
      name: 'feature',
      url: 'ws://127.0.0.1:42010',
      folder: '/w/feature',
    });
    assert.deepEqual(switchTarget({ name: 'f', bridge_url: 'http://h:1' }), { name: 'f', url: 'ws://h:1', folder: '' });
    const secret = switchTarget({ name: 'f', bridge_url: 'wss://h:1/?token=cf_s3cret' });
    assert.ok('error' in secret && /must not carry a token/.test(secret.error) && !secret.error.includes('cf_s3cret'));
    assert.ok('error' in switchTarget({ name: 'f', bridge_url: 'ftp://h' }));
    assert.ok('error' in switchTarget(undefined));
    assert.ok('error' in switchTarget({ name: 'f' }));
  });

  it('knows the current workspace by its bridge or by the last switch', () => {
    const [main] = parseWorkspaces(LIST);
    assert.equal(isCurrent(main, '', undefined), false);
    assert.equal(isCurrent({ ...main, bridgeUrl: 'ws://127.0.0.1:42010/' }, 'ws://127.0.0.1:42010', undefined), true);
    assert.equal(isCurrent(main, 'ws://127.0.0.1:42010', { name: 'main', url: 'ws://127.0.0.1:42010' }), true);
    assert.equal(isCurrent(main, 'ws://127.0.0.1:42011', { name: 'main', url: 'ws://127.0.0.1:42010' }), false);
    assert.equal(isCurrent(main, 'ws://127.0.0.1:42010', { name: 'other', url: 'ws://127.0.0.1:42010' }), false);
  });

  it('never asks for the environment when creating (its values may be secrets)', () => {
    const op = {
      name: 'workspaces.create',
      input_fields: ['name', 'template', 'folder', 'devcontainer', 'runtime', 'cpus', 'env'].map((name) => ({ name, kind: 'string', required: name === 'name' })),
    } as unknown as Operation;
    assert.deepEqual(
      forCreate(op).input_fields.map((f) => f.name),
      ['name', 'template', 'runtime'],
    );
    assert.equal(op.input_fields.length, 7);
  });

  const path = process.env.CODEFORGE_CATALOG_JSON;
  it('runs operations the platform declares, under command ids none of its commands take', { skip: path ? false : 'CODEFORGE_CATALOG_JSON not set (the pytest wrapper sets it)' }, () => {
    // The language client registers every server command (a catalog operation's `command`,
    // codeforge.workspaces.clone) as a VS Code command: the view's own must not be one of them.
    const catalog = JSON.parse(readFileSync(path as string, 'utf-8')) as Operation[];
    const taken = new Set(catalog.map((o) => o.command));
    const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf-8')) as { contributes: { commands: { command: string }[] } };
    const view = manifest.contributes.commands.map((c) => c.command).filter((c) => c.startsWith('codeforge.workspacesView.'));
    assert.equal(view.length, 10);
    for (const command of view) {
      assert.ok(!taken.has(command), `${command} is a language server command`);
    }
    const [main] = parseWorkspaces(LIST);
    const nodes: WorkspaceNode[] = [
      { kind: 'workspace', workspace: main, snapshots: [], current: false },
      { kind: 'snapshot', snapshot: parseSnapshots(SNAPS)[0] },
    ];
    for (const node of nodes) {
      for (const action of ['start', 'stop', 'snapshot', 'clone', 'restore', 'switch', 'delete', 'logs'] as const) {
        const call = actionCall(action, node);
        if (call) {
          const op = catalog.find((o) => o.name === call.op);
          assert.ok(op, `${call.op} is not in the catalog`);
          const fields = op.input_fields.map((f) => f.name);
          assert.ok(Object.keys(call.given).every((k) => fields.includes(k)), `${call.op} has no field ${Object.keys(call.given).join(', ')}`);
        }
      }
    }
    const create = catalog.find((o) => o.name === 'workspaces.create') as Operation;
    assert.deepEqual(
      forCreate(create).input_fields.map((f) => f.name),
      ['name', 'template', 'runtime'],
    );
  });
});
