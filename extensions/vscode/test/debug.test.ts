// The `codeforge` debug type's rules: the configuration a person or a code lens gets (defaults
// filled, mistakes refused with what to do), the `codeforge connect --dap` command line (never a
// token on it) and the workspace's debug sessions as the bridge lists them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bridgeDebugSessions, checkSessionId, dapArgs, DEBUG_TYPE, INITIAL_CONFIGURATIONS, lensConfiguration, NEEDS_REMOTE, resolveConfiguration, sessionAnnouncement } from '../src/debug';

const FOLDER = '/home/ana/shop';
const ctx = { folder: FOLDER, activeFile: `${FOLDER}/app/main.py`, activeLanguage: 'python' };

describe('resolving a codeforge debug configuration', () => {
  it('debugs the current Python file when nothing is configured (F5, no launch.json)', () => {
    const { config } = resolveConfiguration({}, ctx);
    assert.equal(config?.type, DEBUG_TYPE);
    assert.equal(config?.request, 'launch');
    assert.equal(config?.program, `${FOLDER}/app/main.py`);
    assert.equal(config?.localRoot, FOLDER);
    assert.equal(config?.name, 'CodeForge: main.py');
  });

  it('says to open a Python file when the active one is not Python', () => {
    assert.match(resolveConfiguration({}, { ...ctx, activeLanguage: 'markdown' }).error ?? '', /Open a Python file/);
    assert.match(resolveConfiguration({}, { ...ctx, activeFile: '' }).error ?? '', /Open a Python file/);
  });

  it('needs a folder that stands for the workspace', () => {
    assert.match(resolveConfiguration({ request: 'launch', program: 'a.py' }, { ...ctx, folder: '' }).error ?? '', /Open the folder/);
  });

  it('keeps a module launch (a pytest test) and its arguments', () => {
    const { config } = resolveConfiguration({ request: 'launch', name: 't', module: 'pytest', args: ['tests/test_a.py::test_b', '-x'] }, ctx);
    assert.deepEqual(config?.args, ['tests/test_a.py::test_b', '-x']);
    assert.equal(config?.module, 'pytest');
  });

  it('takes a file: URI or a relative program, and refuses a file outside the folder', () => {
    assert.equal(resolveConfiguration({ request: 'launch', program: `file://${FOLDER}/a%20b.py` }, ctx).config?.program, `${FOLDER}/a b.py`);
    assert.equal(resolveConfiguration({ request: 'launch', program: 'scripts/run.py' }, ctx).config?.program, 'scripts/run.py');
    for (const outside of ['/etc/passwd', `${FOLDER}/../other/x.py`, `${FOLDER}-evil/x.py`]) {
      assert.match(resolveConfiguration({ request: 'launch', program: outside }, ctx).error ?? '', /outside \/home\/ana\/shop/, outside);
    }
  });

  it('refuses launches without or with both of program and module, bad modules and bad args', () => {
    assert.match(resolveConfiguration({ request: 'launch', name: 'x' }, ctx).error ?? '', /needs "program".*or "module"/);
    assert.match(resolveConfiguration({ request: 'launch', program: 'a.py', module: 'a' }, ctx).error ?? '', /not both/);
    assert.match(resolveConfiguration({ request: 'launch', module: 'os; rm -rf' }, ctx).error ?? '', /not a module name/);
    assert.match(resolveConfiguration({ request: 'launch', module: 'a', args: 'x' as unknown as string[] }, ctx).error ?? '', /"args" must be a list/);
    assert.match(resolveConfiguration({ request: 'debug' as string, program: 'a.py' }, ctx).error ?? '', /"launch" or "attach"/);
  });

  it('attaches by joining a session id, a debugpy port or a process id: exactly one', () => {
    assert.equal(resolveConfiguration({ request: 'attach', join: 'a1b2c3' }, ctx).config?.join, 'a1b2c3');
    assert.equal(resolveConfiguration({ request: 'attach', connect: { port: 5678 } }, ctx).config?.connect?.port, 5678);
    assert.equal(resolveConfiguration({ request: 'attach', processId: '4242' }, ctx).config?.processId, '4242');
    assert.match(resolveConfiguration({ request: 'attach' }, ctx).error ?? '', /one of "join"/);
    assert.match(resolveConfiguration({ request: 'attach', join: 'a', processId: 1 }, ctx).error ?? '', /one of "join"/);
    assert.match(resolveConfiguration({ request: 'attach', join: 'no spaces/../x' }, ctx).error ?? '', /not a debug session id/);
    assert.match(resolveConfiguration({ request: 'attach', connect: { port: 70000 } }, ctx).error ?? '', /connect.port/);
    assert.match(resolveConfiguration({ request: 'attach', processId: '1; kill' }, ctx).error ?? '', /"processId" must be/);
  });
});

describe('the codeforge connect --dap command line', () => {
  it('maps the local folder and joins by id, never carrying a token', () => {
    assert.deepEqual(dapArgs('wss://dev:8471', { request: 'launch', localRoot: FOLDER }), ['connect', 'wss://dev:8471', '--dap', '--local-root', FOLDER]);
    assert.deepEqual(dapArgs('ws://h:1', { request: 'attach', join: 'abc', localRoot: FOLDER }), ['connect', 'ws://h:1', '--dap', '--join', 'abc', '--local-root', FOLDER]);
    // A launch never joins, even if a stale `join` is left in it.
    assert.deepEqual(dapArgs('ws://h:1', { request: 'launch', join: 'abc' }), ['connect', 'ws://h:1', '--dap']);
  });

  it('says that a remote workspace is needed, and how to get one', () => {
    assert.match(NEEDS_REMOTE, /Connect to Remote Workspace/);
    assert.match(NEEDS_REMOTE, /codeforge bridge \./);
  });

  it('offers launch.json configurations that all resolve', () => {
    for (const config of INITIAL_CONFIGURATIONS) {
      const substituted = JSON.parse(JSON.stringify(config).replace('${file}', `${FOLDER}/a.py`).replace('${command:codeforge.debug.pickSession}', 'abc'));
      assert.ok(resolveConfiguration(substituted, ctx).config, config.name);
    }
  });
});

describe('code lenses and the session list', () => {
  it('turns a lens argument into a codeforge launch', () => {
    const config = lensConfiguration({ title: 'Debug test_b', module: 'pytest', args: ['tests/test_a.py::test_b'] });
    assert.equal(typeof config, 'object');
    assert.deepEqual(config, { title: 'Debug test_b', module: 'pytest', args: ['tests/test_a.py::test_b'], type: DEBUG_TYPE, request: 'launch', name: 'Debug test_b' });
    assert.equal((lensConfiguration({ type: 'python', program: 'a.py', name: 'x' }) as { type: string }).type, DEBUG_TYPE);
    for (const bad of [undefined, null, 'a.py', ['a.py'], 3]) {
      assert.match(lensConfiguration(bad) as string, /takes one launch configuration/);
    }
  });

  it('turns the workspace\'s paths a remote language server names into workspace-relative ones', () => {
    const WS = '/srv/workspaces/shop';
    const file = lensConfiguration({ type: 'codeforge', request: 'launch', name: 'Debug main.py', program: `${WS}/app/main.py`, cwd: WS }, FOLDER);
    assert.deepEqual(file, { type: DEBUG_TYPE, request: 'launch', name: 'Debug main.py', program: 'app/main.py' });
    assert.ok(resolveConfiguration(file as object, ctx).config);
    const test = lensConfiguration({ request: 'launch', name: 'Debug test_b', module: 'pytest', args: ['tests/test_a.py::test_b'], cwd: WS }, FOLDER) as { cwd?: string; args: string[] };
    assert.equal(test.cwd, undefined);
    assert.deepEqual(test.args, ['tests/test_a.py::test_b']);
    // A local language server names this folder's paths: kept as they are.
    const local = lensConfiguration({ program: `${FOLDER}/app/main.py`, cwd: FOLDER }, FOLDER) as { program: string; cwd: string };
    assert.equal(local.program, `${FOLDER}/app/main.py`);
    assert.equal(local.cwd, FOLDER);
    // A path outside both stays absolute, and is refused when resolved.
    const elsewhere = lensConfiguration({ program: '/etc/x.py', cwd: WS }, FOLDER);
    assert.match(resolveConfiguration(elsewhere as object, ctx).error ?? '', /outside/);
  });

  it('lists the debug sessions of bridges.list, only those of this bridge when it is listed', () => {
    const listed = {
      items: [
        { username: 'ana', bridge: 'b1', debug: [{ id: 'a1', label: 'main.py' }, { id: 'bad id!' }, { id: 'c3', label: 'x', closing: true }], terminals: [] },
        { username: 'bo', bridge: 'b2', debug: [{ id: 'b2s', label: '' }] },
        { username: 'cy', bridge: 'b1' },
        'junk',
      ],
      bridges: [
        { id: 'b1', url: 'ws://127.0.0.1:8471/' },
        { id: 'b2', url: 'wss://other:8471' },
      ],
    };
    assert.deepEqual(bridgeDebugSessions(listed, 'ws://127.0.0.1:8471'), [{ id: 'a1', label: 'main.py', detail: 'started by ana' }]);
    // A bridge the platform knows by another address: every session is offered.
    assert.deepEqual(
      bridgeDebugSessions(listed, 'ws://dev.example.com:8471').map((s) => s.id),
      ['a1', 'b2s'],
    );
    assert.equal(bridgeDebugSessions(listed, 'ws://dev.example.com:8471')[1].label, 'debug session');
    assert.deepEqual(bridgeDebugSessions(null, 'ws://h:1'), []);
    assert.deepEqual(bridgeDebugSessions({ items: 'x' }, 'ws://h:1'), []);
  });

  it('checks a typed session id and reads the bridge\'s session announcement', () => {
    assert.equal(checkSessionId(' 7fc4303ca659 '), undefined);
    assert.match(checkSessionId('') ?? '', /Type the id/);
    assert.match(checkSessionId('a b/../c') ?? '', /is not a debug session id/);
    const said = sessionAnnouncement('codeforge/debugSession', { id: '7fc4303ca659', label: 'main.py' });
    assert.equal(said?.id, '7fc4303ca659');
    assert.match(said?.message ?? '', /Join a Debug Session/);
    assert.equal(sessionAnnouncement('output', { id: 'x' }), undefined);
    assert.equal(sessionAnnouncement('codeforge/debugSession', { id: 'bad id!' }), undefined);
    assert.equal(sessionAnnouncement('codeforge/debugSession', null), undefined);
  });
});
