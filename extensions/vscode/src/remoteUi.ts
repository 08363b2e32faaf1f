// A remote workspace in VS Code: the "Connect to Remote Workspace" command, the status bar item
// fed by `codeforge/connection` and `codeforge/syncStatus`, and sync conflicts shown with an
// action that opens both versions side by side. The rules are in remote.ts and remoteView.ts.
import { execFile } from 'node:child_process';
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { connectArgs, connectEnv, parseRemoteUrl, redactUrl, scrub } from './remote';
import { type ConflictPair, conflictPairs, parseConnection, parseSyncStatus, remoteView, type ShownState, type SyncStatus } from './remoteView';
import { readSettings, remoteUrlOf, SECTION } from './settings';
import { VscodePromptUi } from './vscodeUi';

export const CONNECTION_NOTIFICATION = 'codeforge/connection';
export const SYNC_NOTIFICATION = 'codeforge/syncStatus';
const COMPARE = 'Compare Both Versions';

/**
 * Whether the bridge at `url` answers with this token: one `codeforge connect URL --ports`
 * round trip. Returns what `codeforge connect` said when it does not (unreachable, refused
 * token), scrubbed; a bridge without the ports channel still counts as reached.
 */
function checkBridge(url: string): Promise<string | undefined> {
  const settings = readSettings();
  const token = settings.init.token;
  return new Promise((resolve) => {
    execFile(
      settings.server.command,
      connectArgs(url, { kind: 'ports' }),
      { env: { ...process.env, ...connectEnv(token, settings.server.env) }, timeout: 30_000 },
      (error, _stdout, stderr) => {
        if (!error) {
          resolve(undefined);
          return;
        }
        const last = (stderr || error.message).trim().split('\n').pop() ?? '';
        resolve(last.includes('unknown channel') ? undefined : scrub(last.replace(/^codeforge connect: /, ''), [token]));
      },
    );
  });
}

/** Asks for the bridge URL, checks that it answers, and stores it in "codeforge.remote.url"
 * (the language server restarts through it). */
export async function connectToRemote(): Promise<void> {
  let value = remoteUrlOf(readSettings());
  for (;;) {
    const typed = await new VscodePromptUi().input({
      title: 'CodeForge: Connect to Remote Workspace',
      prompt: 'Address of the workspace\'s bridge, as `codeforge bridge` printed it. The token comes from your login (`codeforge up`) or "codeforge.platform.token".',
      placeholder: 'wss://dev.example.com:8471',
      value,
      password: false,
      validate: (text) => parseRemoteUrl(text).error,
    });
    const url = typed === undefined ? undefined : parseRemoteUrl(typed).url;
    if (!url) {
      return;
    }
    value = url;
    const problem = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `CodeForge: checking the bridge at ${url}` },
      () => checkBridge(url),
    );
    if (problem !== undefined) {
      const choice = await vscode.window.showErrorMessage(`CodeForge: ${problem}`, 'Try Again', 'Use It Anyway');
      if (choice === 'Try Again') {
        continue;
      }
      if (choice !== 'Use It Anyway') {
        return;
      }
    }
    // Per folder when one is open: another project may be local or use another bridge.
    const target = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
    await vscode.workspace.getConfiguration(SECTION).update('remote.url', url, target);
    void vscode.window.showInformationMessage(`CodeForge: connecting to ${url}`);
    return;
  }
}

/** Back to a local folder: clears "codeforge.remote.url" wherever it was set. */
export async function disconnectFromRemote(): Promise<void> {
  const config = vscode.workspace.getConfiguration(SECTION);
  const where = config.inspect<string>('remote.url');
  if (where?.workspaceValue) {
    await config.update('remote.url', undefined, vscode.ConfigurationTarget.Workspace);
  }
  if (where?.globalValue) {
    await config.update('remote.url', undefined, vscode.ConfigurationTarget.Global);
  }
}

/** The remote status bar item and the handlers of the relay's notifications. */
export class RemoteStatus implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('codeforge.remote', vscode.StatusBarAlignment.Left, 9);
  private connection: ShownState | undefined;
  private sync: SyncStatus | undefined;
  private host = '';

  constructor(private readonly log: (line: string) => void) {
    this.item.name = 'CodeForge Remote';
    this.item.command = 'codeforge.showStatus';
  }

  /** Called for each new language client, before it starts (a fresh session each time). */
  prepare(client: LanguageClient, url: string): void {
    this.connection = undefined;
    this.sync = undefined;
    this.host = url ? new URL(url).host : '';
    this.render();
    if (!url) {
      return;
    }
    client.onNotification(CONNECTION_NOTIFICATION, (params: unknown) => {
      const state = parseConnection(params);
      if (state) {
        this.log(`remote connection: ${state}`);
        this.connection = state;
        this.render();
      }
    });
    client.onNotification(SYNC_NOTIFICATION, (params: unknown) => {
      const sync = parseSyncStatus(params);
      if (sync) {
        this.sync = sync;
        this.render();
      }
    });
    // Replaces the client's own window/showMessage handler (same messages, same levels) to add
    // "Compare Both Versions" when a sync conflict names the copy it kept.
    client.onNotification('window/showMessage', (params: { type?: number; message?: string; data?: unknown }) => {
      void this.showMessage(params.type ?? 3, scrub(params.message ?? '', [readSettings().init.token]), params.data);
    });
  }

  /** The language server started (a remote one answered): connected unless told otherwise. */
  started(url: string): void {
    if (url && (this.connection === undefined || this.connection === 'stopped')) {
      this.connection = 'connected';
    }
    this.render();
  }

  /** The language server stopped or could not start. */
  stopped(): void {
    this.connection = 'stopped';
    this.render();
  }

  private render(): void {
    if (!this.host) {
      this.item.hide();
      return;
    }
    const view = remoteView(this.host, this.connection, this.sync);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  private async showMessage(type: number, message: string, data: unknown): Promise<void> {
    const pairs = conflictPairs(message, data);
    const actions = pairs.length > 0 ? [COMPARE] : [];
    const show = type === 1 ? vscode.window.showErrorMessage : type === 2 ? vscode.window.showWarningMessage : vscode.window.showInformationMessage;
    if (type === 4) {
      this.log(message);
      return;
    }
    const chosen = await show(message, ...actions);
    if (chosen === COMPARE) {
      for (const pair of pairs) {
        await compare(pair);
      }
    }
  }

  dispose(): void {
    this.item.dispose();
  }
}

/** Opens a diff of the kept copy (left) against the file as it is now (right). */
async function compare(pair: ConflictPair): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const resolve = (path: string): vscode.Uri | undefined =>
    path.startsWith('/') ? vscode.Uri.file(path) : folder ? vscode.Uri.joinPath(folder, path) : undefined;
  const copy = resolve(pair.copy);
  const file = resolve(pair.file);
  if (!copy || !file) {
    void vscode.window.showWarningMessage(`CodeForge: open a folder to compare ${redactUrl(pair.file)} with its conflict copy.`);
    return;
  }
  const base = (path: string): string => path.split('/').pop() ?? path;
  await vscode.commands.executeCommand('vscode.diff', copy, file, `${base(pair.copy)} ↔ ${base(pair.file)}`);
}
