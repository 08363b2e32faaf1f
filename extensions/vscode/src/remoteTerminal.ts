// "CodeForge remote terminal": a terminal profile (the "+" menu of the terminal panel) and a
// command, both running `codeforge connect URL --terminal`, a pty in the workspace. The token
// goes to the process's environment only.
import * as vscode from 'vscode';
import { connectArgs, connectEnv } from './remote';
import { readSettings, remoteUrlOf } from './settings';

export const TERMINAL_PROFILE_ID = 'codeforge.remoteTerminal';
export const TERMINAL_NAME = 'CodeForge remote terminal';

/** The terminal's options, or why there is none (no remote workspace set). */
export function remoteTerminalOptions(attach?: string): vscode.TerminalOptions | string {
  const settings = readSettings();
  const url = remoteUrlOf(settings);
  if (!url) {
    return settings.remote.error ?? 'No remote workspace: run "CodeForge: Connect to Remote Workspace" first.';
  }
  if (!settings.server.located.found) {
    return `Cannot find the \`codeforge\` program (looked in: ${settings.server.located.searched.join('; ')}).`;
  }
  return {
    name: TERMINAL_NAME,
    shellPath: settings.server.command,
    shellArgs: connectArgs(url, { kind: 'terminal', attach }),
    env: connectEnv(settings.init.token, settings.server.env),
    iconPath: new vscode.ThemeIcon('remote'),
  };
}

export class RemoteTerminalProfile implements vscode.TerminalProfileProvider {
  provideTerminalProfile(): vscode.ProviderResult<vscode.TerminalProfile> {
    const options = remoteTerminalOptions();
    if (typeof options === 'string') {
      // The terminal panel shows this error itself.
      throw new Error(`CodeForge: ${options}`);
    }
    return new vscode.TerminalProfile(options);
  }
}

/** "CodeForge: Open Remote Terminal". */
export function openRemoteTerminal(): vscode.Terminal | undefined {
  const options = remoteTerminalOptions();
  if (typeof options === 'string') {
    void vscode.window.showErrorMessage(`CodeForge: ${options}`);
    return undefined;
  }
  const terminal = vscode.window.createTerminal(options);
  terminal.show();
  return terminal;
}
