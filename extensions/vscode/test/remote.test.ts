// The remote workspace's rules: the bridge URL as typed (bad ones refused with what to type),
// `codeforge connect` command lines (never a token on them), ports, forwards, proxied servers,
// and the status bar and conflict messages built from the relay's notifications.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectArgs, connectEnv, parseForwardSpec, parsePorts, parseProxiedServers, parseRemoteUrl, redactUrl, scrub } from '../src/remote';
import { conflictPairs, parseConnection, parseSyncStatus, remoteView } from '../src/remoteView';

const TOKEN = 'cf_5ecret_token_value';

describe('the bridge URL', () => {
  it('takes ws and wss, and turns http(s) into them', () => {
    assert.equal(parseRemoteUrl(' wss://dev.example.com:8471/ ').url, 'wss://dev.example.com:8471');
    assert.equal(parseRemoteUrl('ws://127.0.0.1:8471').url, 'ws://127.0.0.1:8471');
    assert.equal(parseRemoteUrl('https://dev.example.com/bridge/').url, 'wss://dev.example.com/bridge');
    assert.equal(parseRemoteUrl('http://[::1]:9000').url, 'ws://[::1]:9000');
  });

  it('refuses empty, malformed and other schemes, saying what to type', () => {
    assert.match(parseRemoteUrl('').error ?? '', /No bridge URL.*wss:\/\//);
    assert.match(parseRemoteUrl('dev.example.com:8471').error ?? '', /not a bridge URL scheme|not a URL/);
    assert.match(parseRemoteUrl('not a url').error ?? '', /is not a URL/);
    assert.match(parseRemoteUrl('ftp://dev.example.com').error ?? '', /"ftp:" is not a bridge URL scheme: use ws:\/\/ or wss:\/\//);
    assert.match(parseRemoteUrl('ws://host:8471/?session=1').error ?? '', /no query/);
  });

  it('refuses a URL carrying a token or password, and never repeats it', () => {
    for (const url of [`wss://ana:${TOKEN}@dev.example.com`, `wss://dev.example.com/?token=${TOKEN}`, `ws://h/?access_token=${TOKEN}`]) {
      const error = parseRemoteUrl(url).error ?? '';
      assert.match(error, /must not carry a token/);
      assert.ok(!error.includes(TOKEN), error);
    }
    assert.ok(!(parseRemoteUrl(`:::${TOKEN}?token=${TOKEN}`).error ?? '').includes(TOKEN));
    assert.equal(redactUrl(`wss://ana:${TOKEN}@h:1/x?token=${TOKEN}`), 'wss://h:1/x');
  });

  it('scrubs the token and bearer values from text shown or logged', () => {
    const text = `refused ${TOKEN}: Authorization: Bearer abc.def ws://h/?token=xyz&a=1`;
    const out = scrub(text, [TOKEN]);
    assert.ok(!out.includes(TOKEN) && !out.includes('abc.def') && !out.includes('xyz'), out);
    assert.equal(scrub('nothing secret', ['']), 'nothing secret');
  });
});

describe('codeforge connect command lines', () => {
  it('one per channel, never with the token', () => {
    const url = 'wss://dev.example.com:8471';
    assert.deepEqual(connectArgs(url, { kind: 'lsp' }), ['connect', url]);
    assert.deepEqual(connectArgs(url, { kind: 'lsp', sync: '/home/ana/shop' }), ['connect', url, '--sync', '/home/ana/shop']);
    assert.deepEqual(connectArgs(url, { kind: 'proxy', name: 'python' }), ['connect', url, '--lsp', 'python']);
    assert.deepEqual(connectArgs(url, { kind: 'terminal' }), ['connect', url, '--terminal']);
    assert.deepEqual(connectArgs(url, { kind: 'terminal', attach: 't1' }), ['connect', url, '--terminal', '--attach', 't1']);
    assert.deepEqual(connectArgs(url, { kind: 'ports' }), ['connect', url, '--ports', '--json']);
    assert.deepEqual(connectArgs(url, { kind: 'forward', spec: '8000:18000' }), ['connect', url, '--forward', '8000:18000']);
    assert.deepEqual(connectEnv(TOKEN, { A: '1' }), { A: '1', CODEFORGE_TOKEN: TOKEN });
    assert.deepEqual(connectEnv(''), {});
  });
});

describe('proxied language servers', () => {
  it('reads names and objects, with each name\'s usual language', () => {
    const { servers, problems } = parseProxiedServers(['python', 'pylsp', { name: 'gopls' }, { name: 'custom', languages: ['lua'] }, 'Python', 'elixir']);
    // codeforge.yaml's names are lower-case.
    assert.equal(problems.length, 1);
    assert.match(problems[0], /"Python" is not a server name \(lower-case/);
    assert.deepEqual(servers, [
      { name: 'python', languages: ['python'] },
      { name: 'pylsp', languages: ['python'] },
      { name: 'gopls', languages: ['go'] },
      { name: 'custom', languages: ['lua'] },
      { name: 'elixir', languages: ['elixir'] },
    ]);
  });

  it('leaves out bad entries, saying which', () => {
    const { servers, problems } = parseProxiedServers(['python', 'python', '--lsp', 'a b', 3, { languages: ['x'] }]);
    assert.deepEqual(servers.map((s) => s.name), ['python']);
    assert.equal(problems.length, 5);
    assert.match(problems[0], /"python" is listed twice/);
    assert.match(problems[1], /"--lsp" is not a server name/);
    assert.deepEqual(parseProxiedServers('python').problems, ['"codeforge.remote.languageServers" must be a list, e.g. ["python"]']);
    assert.deepEqual(parseProxiedServers(undefined), { servers: [], problems: [] });
  });
});

describe('ports and forwards', () => {
  it('reads the port list in either shape, workspace ports first, skipping nonsense', () => {
    const listed = JSON.stringify([
      { port: 8000, address: '0.0.0.0', process: 'python3 -m http.server', pid: 42 },
      { port: 5432, host: '127.0.0.1', process: { name: 'postgres', pid: 7 } },
      { port: 70000 },
      'junk',
    ]);
    assert.deepEqual(parsePorts(listed), [
      { port: 5432, address: '127.0.0.1', process: 'postgres, pid 7', workspace: false },
      { port: 8000, address: '0.0.0.0', process: 'python3 -m http.server, pid 42', workspace: false },
    ]);
    // The bridge's own shape (codeforge/bridge/ports.py).
    const bridge = JSON.stringify([
      { port: 22, addresses: ['0.0.0.0', '::'], pid: null, process: null, cmdline: null, workspace: false },
      { port: 8000, addresses: ['127.0.0.1'], pid: 42, process: 'python3', cmdline: 'python3 -m http.server 8000', workspace: true },
    ]);
    assert.deepEqual(parsePorts(bridge), [
      { port: 8000, address: '127.0.0.1', process: 'python3 -m http.server 8000, pid 42', workspace: true },
      { port: 22, address: '0.0.0.0, ::', process: '', workspace: false },
    ]);
    assert.deepEqual(parsePorts('{"ports": []}'), []);
    assert.throws(() => parsePorts('Traceback ...'), /not JSON: Traceback/);
    assert.throws(() => parsePorts('{"nope": 1}'), /no `ports` array/);
  });

  it('reads REMOTE[:LOCAL] and refuses the rest', () => {
    assert.deepEqual(parseForwardSpec('8000'), { remote: 8000, local: 8000, spec: '8000:8000' });
    assert.deepEqual(parseForwardSpec(' 8000:18000 '), { remote: 8000, local: 18000, spec: '8000:18000' });
    assert.match((parseForwardSpec('0') as { error: string }).error, /remote port 0 is out of range/);
    assert.match((parseForwardSpec('80:99999') as { error: string }).error, /local port 99999 is out of range/);
    assert.match((parseForwardSpec('http') as { error: string }).error, /not PORT or REMOTE:LOCAL/);
    assert.match((parseForwardSpec('1:2:3') as { error: string }).error, /not PORT or REMOTE:LOCAL/);
  });
});

describe('remote status bar', () => {
  it('reads connection states and ignores others', () => {
    assert.equal(parseConnection({ state: 'reconnecting' }), 'reconnecting');
    assert.equal(parseConnection({ state: 'connected' }), 'connected');
    assert.equal(parseConnection({ state: 'exploded' }), undefined);
    assert.equal(parseConnection(null), undefined);
  });

  it('shows reconnecting as a warning, then connected with the sync state', () => {
    const lost = remoteView('dev.example.com:8471', 'reconnecting', undefined);
    assert.match(lost.text, /reconnecting/);
    assert.equal(lost.warning, true);
    assert.match(lost.tooltip, /Open files, language servers and terminals are kept/);
    const syncing = parseSyncStatus({ kind: 'status', message: 'initial sync', data: { state: 'syncing', done: 120, total: 10000 } });
    assert.deepEqual(syncing, { message: 'initial sync', done: 120, total: 10000, error: false, busy: true });
    const view = remoteView('dev.example.com:8471', 'connected', syncing);
    assert.equal(view.text, '$(remote) dev.example.com:8471 $(sync~spin) initial sync 120/10000');
    // The relay's shape: {kind, message, phase, files_done, files_total, ...} (sync/client.py).
    const relayed = parseSyncStatus({ kind: 'status', message: 'syncing: 3/10 files, 0.1/1.0 MB', phase: 'initial', files_done: 3, files_total: 10 });
    assert.deepEqual(relayed, { message: 'syncing: 3/10 files, 0.1/1.0 MB', done: 3, total: 10, error: false, busy: true });
    assert.equal(remoteView('h', 'connected', relayed).text, '$(remote) h $(sync~spin) syncing: 3/10 files, 0.1/1.0 MB');
    const watching = parseSyncStatus({ kind: 'status', message: 'watching for changes', phase: 'watching' });
    assert.equal(watching?.busy, false);
    assert.equal(parseSyncStatus({ kind: 'status', message: 'in sync: 0 files transferred, 3 already the same', phase: 'done', files_done: 0, files_total: 0 })?.busy, false);
    assert.equal(view.warning, false);
    const idle = remoteView('h', 'connected', parseSyncStatus({ message: 'in sync', state: 'idle' }));
    assert.equal(idle.text, '$(remote) h $(check) in sync');
    const failed = remoteView('h', 'connected', parseSyncStatus({ kind: 'error', message: 'disk full on the workspace' }));
    assert.equal(failed.warning, true);
    assert.match(failed.text, /\$\(error\) disk full/);
    assert.equal(parseSyncStatus('nope'), undefined);
    const stopped = remoteView('h:1', 'stopped', undefined);
    assert.equal(stopped.text, '$(debug-disconnect) h:1: not connected');
    assert.equal(stopped.warning, true);
    assert.match(stopped.tooltip, /Restart Language Server/);
  });
});

describe('sync conflicts', () => {
  it('finds the file and its kept copy in the message or its data', () => {
    assert.deepEqual(conflictPairs('Conflict: src/app.py changed on both sides; the other version is kept as src/app.py.conflict-remote-20261129T211500Z'), [
      { file: 'src/app.py', copy: 'src/app.py.conflict-remote-20261129T211500Z' },
    ]);
    assert.deepEqual(conflictPairs('sync conflict', { kept: ['a b/x.txt.conflict-local-1701234567'] }), [
      { file: 'a b/x.txt', copy: 'a b/x.txt.conflict-local-1701234567' },
    ]);
    assert.deepEqual(conflictPairs('sync conflict', { copies: ['notes.md.conflict-local-1701234567', 'notes.md.conflict-local-1701234567'] }), [
      { file: 'notes.md', copy: 'notes.md.conflict-local-1701234567' },
    ]);
    assert.deepEqual(conflictPairs('kept "/w/x.conflict-remote-5"'), [{ file: '/w/x', copy: '/w/x.conflict-remote-5' }]);
    assert.deepEqual(conflictPairs('nothing to see'), []);
    // As the sync (codeforge/bridge/sync/peer.py) words it, through the relay's showMessage.
    const said =
      'CodeForge sync: docs/notes.md changed on both sides: the local version is kept as docs/notes.md, ' +
      "the workspace's as docs/notes.md.conflict-workspace-20261129T211500Z";
    assert.deepEqual(conflictPairs(said), [{ file: 'docs/notes.md', copy: 'docs/notes.md.conflict-workspace-20261129T211500Z' }]);
    assert.deepEqual(conflictPairs('x.conflict-workspace-20261129T211500Z-2.'), [
      { file: 'x', copy: 'x.conflict-workspace-20261129T211500Z-2' },
    ]);
  });
});
