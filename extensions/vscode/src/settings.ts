// The extension's typed settings, and the initializationOptions the language server receives.
import { accessSync, constants, statSync } from 'node:fs';
import * as vscode from 'vscode';
import { connectArgs, connectEnv, type ProxiedServer, parseProxiedServers, parseRemoteUrl } from './remote';
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

/** A remote workspace reached through `codeforge connect` (empty url: a local folder). */
export interface RemoteSettings {
  /** The checked bridge URL; '' when none is set or the setting is wrong (see `error`). */
  url: string;
  /** Why `codeforge.remote.url` was not used. */
  error?: string;
  /** Language servers the bridge runs for the workspace, one LanguageClient each. */
  servers: ProxiedServer[];
  problems: string[];
}

export interface Settings {
  server: ServerSettings;
  init: InitializationOptions;
  remote: RemoteSettings;
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
  const token = config.get<string>('platform.token', '').trim();
  // Only strings can go into a process environment; drop anything else instead of failing.
  const serverEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => typeof e[1] === 'string'));
  const typedUrl = config.get<string>('remote.url', '').trim();
  const checked = typedUrl === '' ? undefined : parseRemoteUrl(typedUrl);
  const proxied = parseProxiedServers(config.get<unknown>('remote.languageServers', []));
  const remote: RemoteSettings = { url: checked?.url ?? '', error: checked?.error, servers: proxied.servers, problems: proxied.problems };
  // A remote URL wins over "codeforge.server.args": one setting is enough to go remote.
  // "codeforge.remote.sync" keeps the (first) folder in sync with the workspace beside it.
  const folder = (vscode.workspace.workspaceFolders ?? []).find((f) => f.uri.scheme === 'file')?.uri.fsPath;
  const sync = config.get<boolean>('remote.sync', false) && folder ? folder : undefined;
  const args = remote.url ? connectArgs(remote.url, { kind: 'lsp', sync }) : config.get<string[]>('server.args', ['lsp']).map(String);
  return {
    server: {
      command: located.command,
      located,
      args,
      // `codeforge connect` takes the token from its environment, never from its command line.
      env: args[0] === 'connect' ? connectEnv(token, serverEnv) : serverEnv,
    },
    init: {
      url: config.get<string>('platform.url', '').trim(),
      token,
      project: config.get<string>('project', '').trim(),
      showResults: 'none',
    },
    remote,
  };
}

/** The bridge URL in use: "codeforge.remote.url", else a `connect URL` in "codeforge.server.args". */
export function remoteUrlOf(settings: Settings): string {
  if (settings.remote.url) {
    return settings.remote.url;
  }
  const args = settings.server.args;
  return args[0] === 'connect' && args[1] && !args[1].startsWith('-') ? args[1] : '';
}

/** Whether a configuration change needs a new language server process. */
export function affectsServer(event: vscode.ConfigurationChangeEvent): boolean {
  return event.affectsConfiguration(SECTION);
}
