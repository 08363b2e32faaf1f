// Finding the `codeforge` program, and what the status bar says in each state.
import assert from 'node:assert/strict';
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type LocateInput, locateServer } from '../src/serverCommand';
import { statusView } from '../src/statusView';

function input(files: string[], extra: Partial<LocateInput> = {}): LocateInput {
  const present = new Set(files);
  return {
    setting: '',
    folders: ['/work/shop'],
    env: { PATH: '/usr/local/bin:/usr/bin' },
    installed: '',
    platform: 'linux',
    isExecutable: (file) => present.has(file),
    ...extra,
  };
}

describe('locating codeforge', () => {
  it('takes the setting first, a relative path from the workspace folder', () => {
    const all = ['/opt/cf/bin/codeforge', '/work/shop/.venv/bin/codeforge', '/usr/bin/codeforge', '/work/shop/tools/codeforge'];
    assert.equal(locateServer(input(all, { setting: '/opt/cf/bin/codeforge' })).command, '/opt/cf/bin/codeforge');
    assert.equal(locateServer(input(all, { setting: 'tools/codeforge' })).command, '/work/shop/tools/codeforge');
    const missing = locateServer(input([], { setting: '/opt/cf/bin/codeforge' }));
    assert.equal(missing.found, false);
    assert.deepEqual(missing.searched, ['"codeforge.server.command" = /opt/cf/bin/codeforge']);
  });

  it("then the workspace's .venv, before PATH (the extension host has no activated venv)", () => {
    const found = locateServer(input(['/work/shop/.venv/bin/codeforge', '/usr/bin/codeforge']));
    assert.deepEqual([found.command, found.found], ['/work/shop/.venv/bin/codeforge', true]);
    assert.equal(locateServer(input(['/work/shop/venv/bin/codeforge'])).command, '/work/shop/venv/bin/codeforge');
    // The old default setting, "codeforge", means the same as none.
    assert.equal(locateServer(input(['/work/shop/.venv/bin/codeforge'], { setting: 'codeforge' })).command, '/work/shop/.venv/bin/codeforge');
  });

  it('then an activated virtual environment, PATH, and the checkout `make vscode` ran in', () => {
    assert.equal(locateServer(input(['/v/bin/codeforge'], { env: { PATH: '/usr/bin', VIRTUAL_ENV: '/v' } })).command, '/v/bin/codeforge');
    assert.equal(locateServer(input(['/usr/bin/codeforge'])).command, '/usr/bin/codeforge');
    assert.equal(locateServer(input(['/src/codeforge/.venv/bin/codeforge'], { installed: '/src/codeforge/.venv/bin/codeforge' })).command, '/src/codeforge/.venv/bin/codeforge');
  });

  it('says everywhere it looked when it finds nothing', () => {
    const none = locateServer(input([], { installed: '/src/cf/.venv/bin/codeforge' }));
    assert.equal(none.found, false);
    assert.equal(none.command, 'codeforge');
    assert.deepEqual(none.searched, [
      '"codeforge.server.command" (not set)',
      '/work/shop/.venv/bin/codeforge',
      '/work/shop/venv/bin/codeforge',
      'PATH (/usr/local/bin:/usr/bin)',
      '/src/cf/.venv/bin/codeforge (the checkout `make vscode` installed this extension from)',
    ]);
  });

  it('finds a real executable on disk, not a plain file', () => {
    const folder = mkdtempSync(join(tmpdir(), 'cf-locate-'));
    mkdirSync(join(folder, '.venv', 'bin'), { recursive: true });
    const program = join(folder, '.venv', 'bin', 'codeforge');
    writeFileSync(program, '#!/bin/sh\n');
    const isExecutable = (file: string): boolean => {
      try {
        accessSync(file, constants.X_OK);
        return true;
      } catch {
        return false;
      }
    };
    const located = () => locateServer({ setting: '', folders: [folder], env: { PATH: '' }, installed: '', platform: 'linux', isExecutable });
    // Root may execute anything; the mode check is only meaningful for others.
    if (process.getuid?.() !== 0) {
      assert.equal(located().found, false);
    }
    chmodSync(program, 0o755);
    assert.deepEqual([located().command, located().found], [program, true]);
  });
});

describe('the status bar', () => {
  const up = { platform: 'http://127.0.0.1:8470', connected: true, username: 'ada', organization: 'acme', project: 'demo', role: 'owner' };

  it('names user, organization and project when connected', () => {
    const view = statusView({ running: true, status: up });
    assert.equal(view.text, '$(cloud) CodeForge: ada@acme · demo');
    assert.equal(view.warning, false);
  });

  it('says the platform is down, with the reason and the fix', () => {
    const view = statusView({
      running: true,
      status: { platform: 'http://127.0.0.1:8470', connected: false, error: 'cannot reach the platform at http://127.0.0.1:8470 (ConnectError)' },
    });
    assert.equal(view.text, '$(cloud-offline) CodeForge: platform down');
    assert.equal(view.warning, true);
    assert.match(view.tooltip, /ConnectError[\s\S]*codeforge up/);
  });

  it('tells a refused token from a platform that is down', () => {
    const view = statusView({ running: true, status: { platform: 'http://x', connected: false, error: 'the token was refused (401)' } });
    assert.equal(view.text, '$(key) CodeForge: not signed in');
  });

  it('says when the language server is not running or does not answer', () => {
    assert.equal(statusView({ running: false }).text, '$(debug-disconnect) CodeForge: server stopped');
    assert.match(statusView({ running: true, error: 'timeout' }).tooltip, /timeout/);
  });
});
