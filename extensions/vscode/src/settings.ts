// The extension's typed settings, and the initializationOptions the language server receives.
import { accessSync, constants, statSync } from 'node:fs';
import * as vscode from 'vscode';
import { type Located, locateServer } from './serverCommand';

// Set by esbuild.mjs from CODEFORGE_INSTALLED_COMMAND: `make vscode` bakes in the `codeforge` of
// the checkout it ran in, so a fresh install finds its server without any setting.
declare const __CODEFORGE_INSTALLED_COMMAND__: string;

export interface ServerSettings {
  command: string;
  /** How `command` was found (or where it was looked for). */
  located: Located;
  args: string[];
  env: Record<string, string>;
}

/** What `codeforge lsp` reads from `initializationOptions`; empty values mean "use the login". */
export interface InitializationOptions {
  url: string;
  token: string;
  project: string;
  /** The extension shows results itself (with "Open Result"), so the server stays quiet. */
  showResults: 'all' | 'changes' | 'none';
}

export interface Settings {
  server: ServerSettings;
  init: InitializationOptions;
}

export const SECTION = 'codeforge';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

export function readSettings(): Settings {
  const config = vscode.workspace.getConfiguration(SECTION);
  const env = config.get<Record<string, unknown>>('server.env', {});
  const located = locateServer({
    setting: config.get<string>('server.command', ''),
    folders: (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === 'file').map((f) => f.uri.fsPath),
    env: process.env,
    installed: typeof __CODEFORGE_INSTALLED_COMMAND__ === 'string' ? __CODEFORGE_INSTALLED_COMMAND__ : '',
    platform: process.platform,
    isExecutable,
  });
  return {
    server: {
      command: located.command,
      located,
      args: config.get<string[]>('server.args', ['lsp']).map(String),
      // Only strings can go into a process environment; drop anything else instead of failing.
      env: Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string')),
    },
    init: {
      url: config.get<string>('platform.url', '').trim(),
      token: config.get<string>('platform.token', '').trim(),
      project: config.get<string>('project', '').trim(),
      showResults: 'none',
    },
  };
}

/** Whether a configuration change needs a new language server process. */
export function affectsServer(event: vscode.ConfigurationChangeEvent): boolean {
  return event.affectsConfiguration(SECTION);
}
