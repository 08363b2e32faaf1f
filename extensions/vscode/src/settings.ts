// The extension's typed settings, and the initializationOptions the language server receives.
import * as vscode from 'vscode';

export interface ServerSettings {
  command: string;
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

export function readSettings(): Settings {
  const config = vscode.workspace.getConfiguration(SECTION);
  const env = config.get<Record<string, unknown>>('server.env', {});
  return {
    server: {
      command: config.get<string>('server.command', 'codeforge').trim() || 'codeforge',
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
