// The `codeforge` debug type in VS Code: configurations (defaults filled, mistakes said before
// anything starts), the adapter (`codeforge connect URL --dap`, a stdio DAP relay to debugpy in
// the remote workspace), joining a running session of the workspace, and the client side of the
// language server's "Debug this test" / "Debug this file" code lenses (`codeforge.debug.start`).
// The rules live in debug.ts.
import * as vscode from 'vscode';
import { ExecuteCommandRequest, type LanguageClient } from 'vscode-languageclient/node';
import {
  bridgeDebugSessions,
  type CodeforgeDebugConfiguration,
  DEBUG_TYPE,
  type DebugContext,
  dapArgs,
  INITIAL_CONFIGURATIONS,
  lensConfiguration,
  checkSessionId,
  NEEDS_REMOTE,
  resolveConfiguration,
  sessionAnnouncement,
} from './debug';
import { connectEnv } from './remote';
import { readSettings, remoteUrlOf } from './settings';

function context(): DebugContext {
  const editor = vscode.window.activeTextEditor;
  const folder = (vscode.workspace.workspaceFolders ?? []).find((f) => f.uri.scheme === 'file')?.uri.fsPath ?? '';
  const file = editor?.document.uri.scheme === 'file' ? editor.document.uri.fsPath : '';
  return { folder, activeFile: file, activeLanguage: editor?.document.languageId ?? '' };
}

/** Refuses to go on (undefined) after telling the person why. */
function refuse(message: string): undefined {
  void vscode.window.showErrorMessage(`CodeForge: ${message}`);
  return undefined;
}

export class CodeforgeDebugConfigurations implements vscode.DebugConfigurationProvider {
  provideDebugConfigurations(): vscode.ProviderResult<vscode.DebugConfiguration[]> {
    return INITIAL_CONFIGURATIONS;
  }

  // Before variables are substituted: only an empty configuration (F5, no launch.json) is
  // filled here, so that `${file}` keeps meaning the file that was active.
  resolveDebugConfiguration(_folder: vscode.WorkspaceFolder | undefined, config: vscode.DebugConfiguration): vscode.ProviderResult<vscode.DebugConfiguration> {
    if (!config.type && !config.request && !config.name) {
      const ctx = context();
      if (ctx.activeLanguage !== 'python') {
        return refuse('open a Python file to debug it, or add a "codeforge" configuration to launch.json.');
      }
      return { type: DEBUG_TYPE, request: 'launch', name: 'CodeForge: Debug the current file', program: '${file}' };
    }
    return config;
  }

  resolveDebugConfigurationWithSubstitutedVariables(
    _folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): vscode.ProviderResult<vscode.DebugConfiguration> {
    if (!remoteUrlOf(readSettings())) {
      return refuse(NEEDS_REMOTE);
    }
    const resolved = resolveConfiguration(config as Partial<CodeforgeDebugConfiguration>, context());
    return resolved.config ? (resolved.config as vscode.DebugConfiguration) : refuse(resolved.error);
  }
}

export class CodeforgeDebugAdapters implements vscode.DebugAdapterDescriptorFactory {
  constructor(private readonly log: (line: string) => void) {}

  createDebugAdapterDescriptor(session: vscode.DebugSession): vscode.ProviderResult<vscode.DebugAdapterDescriptor> {
    const settings = readSettings();
    const url = remoteUrlOf(settings);
    if (!url) {
      throw new Error(NEEDS_REMOTE);
    }
    if (!settings.server.located.found) {
      throw new Error(`Cannot find the \`codeforge\` program (looked in: ${settings.server.located.searched.join('; ')}).`);
    }
    const args = dapArgs(url, session.configuration as CodeforgeDebugConfiguration);
    this.log(`debug: ${settings.server.command} ${args.join(' ')}`);
    // The token goes to the relay's environment (merged with the extension host's), never its arguments.
    return new vscode.DebugAdapterExecutable(settings.server.command, args, { env: connectEnv(settings.init.token, settings.server.env) });
  }
}

/**
 * What a person reads in the CodeForge output when a session ends early, without a trace
 * setting: the start (launch/attach) and its answer, failed requests, the program's stderr,
 * its end, and the relay's exit. Never request bodies (they may hold the program's environment).
 */
export class CodeforgeDebugTrackers implements vscode.DebugAdapterTrackerFactory {
  constructor(private readonly log: (line: string) => void) {}

  createDebugAdapterTracker(session: vscode.DebugSession): vscode.DebugAdapterTracker {
    const name = session.name;
    const log = this.log;
    const START = new Set(['launch', 'attach']);
    return {
      onWillReceiveMessage(message: { command?: string }) {
        if (START.has(message.command ?? '')) {
          log(`debug ${name}: → ${message.command}`);
        }
      },
      onDidSendMessage(message: { type?: string; command?: string; event?: string; success?: boolean; message?: string; body?: { reason?: string; category?: string; output?: string; exitCode?: number } }) {
        if (message.type === 'response' && (message.success === false || START.has(message.command ?? ''))) {
          log(`debug ${name}: ← ${message.command ?? '?'}${message.success === false ? ` failed: ${message.message ?? ''}` : ''}`);
        } else if (message.type === 'event' && message.event === 'output' && message.body?.category === 'stderr') {
          log(`debug ${name}: stderr: ${String(message.body.output ?? '').trimEnd().slice(0, 300)}`);
        } else if (message.type === 'event' && (message.event === 'exited' || message.event === 'terminated')) {
          log(`debug ${name}: ${message.event}${typeof message.body?.exitCode === 'number' ? ` (exit code ${message.body.exitCode})` : ''}`);
        }
      },
      onError(error: Error) {
        log(`debug ${name}: adapter error: ${error.message}`);
      },
      onExit(code: number | undefined, signal: string | undefined) {
        log(`debug ${name}: \`codeforge connect --dap\` exited (${code ?? signal ?? '?'})`);
      },
    };
  }
}

/** The workspace's running debug sessions, from the platform's `bridges.list` (the language server runs it). */
async function listSessions(client: LanguageClient | undefined, url: string): Promise<ReturnType<typeof bridgeDebugSessions>> {
  if (!client) {
    throw new Error('the CodeForge language server is not running');
  }
  const result = await client.sendRequest(ExecuteCommandRequest.type, { command: 'codeforge.bridges.list', arguments: [{}] });
  return bridgeDebugSessions(result, url);
}

/** The id typed by the person (when the bridge cannot list its sessions). */
async function typeSessionId(why: string): Promise<string | undefined> {
  const id = await vscode.window.showInputBox({
    title: 'CodeForge: Join a Debug Session',
    prompt: `Id of the debug session to join (${why})`,
    placeHolder: 'e.g. 7fc4303ca659',
    ignoreFocusOut: true,
    validateInput: checkSessionId,
  });
  return id?.trim() || undefined;
}

/** A quick pick over the workspace's debug sessions; the id, or undefined (cancels the launch). */
export async function pickDebugSession(client: LanguageClient | undefined): Promise<string | undefined> {
  const url = remoteUrlOf(readSettings());
  if (!url) {
    return refuse(NEEDS_REMOTE);
  }
  let sessions;
  try {
    sessions = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'CodeForge: listing debug sessions' }, () => listSessions(client, url));
  } catch (error) {
    // A bridge (or `codeforge`) that cannot list them: the id is shown to whoever started it.
    return typeSessionId(`the list is not available: ${error instanceof Error ? error.message : String(error)}`.slice(0, 300));
  }
  if (sessions.length === 0) {
    return refuse('no debug session runs in the remote workspace: start one (F5 with a "codeforge" configuration), then join it.');
  }
  const picked = await vscode.window.showQuickPick(
    sessions.map((s) => ({ label: s.label, description: s.id, detail: s.detail || undefined, id: s.id })),
    { title: 'CodeForge: Join a Debug Session', placeHolder: 'A debug session of the remote workspace' },
  );
  return picked?.id;
}

/** Tells whoever started a session its id, which others need to join it. */
export function announceSession(event: vscode.DebugSessionCustomEvent, log: (line: string) => void): void {
  if (event.session.type !== DEBUG_TYPE || event.session.configuration.request === 'attach') {
    return;
  }
  const announced = sessionAnnouncement(event.event, event.body);
  if (!announced) {
    return;
  }
  log(announced.message);
  void vscode.window.showInformationMessage(`CodeForge: ${announced.message}`, 'Copy Id').then((action) => {
    if (action) {
      void vscode.env.clipboard.writeText(announced.id);
    }
  });
}

/** "CodeForge: Join a Debug Session…": attach to one everyone then drives together. */
export async function joinDebugSession(client: LanguageClient | undefined): Promise<boolean> {
  const id = await pickDebugSession(client);
  if (!id) {
    return false;
  }
  const folder = vscode.workspace.workspaceFolders?.[0];
  return vscode.debug.startDebugging(folder, { type: DEBUG_TYPE, request: 'attach', name: `CodeForge: debug session ${id}`, join: id });
}

/** `codeforge.debug.start` (a code lens' command): starts the configuration it carries. */
export async function startFromLens(argument: unknown): Promise<boolean> {
  const config = lensConfiguration(argument, context().folder);
  if (typeof config === 'string') {
    refuse(config);
    return false;
  }
  const folder = vscode.workspace.workspaceFolders?.[0];
  return vscode.debug.startDebugging(folder, config as vscode.DebugConfiguration);
}
