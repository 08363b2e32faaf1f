// Builds the language client that runs `codeforge lsp` over stdio.
import * as vscode from 'vscode';
import {
  CloseAction,
  type CloseHandlerResult,
  ErrorAction,
  type ErrorHandler,
  type ErrorHandlerResult,
  LanguageClient,
  type LanguageClientOptions,
  type Middleware,
  RevealOutputChannelOn,
  type ServerOptions,
} from 'vscode-languageclient/node';
import { NotificationProgressFeature } from './progress';
import type { Settings } from './settings';

export const CLIENT_ID = 'codeforge';
const RESTART_WINDOW_MS = 3 * 60 * 1000;
const MAX_RESTARTS = 5;

/** Restarts a server that went away, unless it keeps dying (then it says how to find out why). */
class RestartingErrorHandler implements ErrorHandler {
  private readonly restarts: number[] = [];

  constructor(private readonly log: (line: string) => void) {}

  error(): ErrorHandlerResult {
    // A broken message is not a reason to give up the connection.
    return { action: ErrorAction.Continue };
  }

  closed(): CloseHandlerResult {
    const now = Date.now();
    this.restarts.push(now);
    while (this.restarts.length > 0 && now - this.restarts[0] > RESTART_WINDOW_MS) {
      this.restarts.shift();
    }
    if (this.restarts.length > MAX_RESTARTS) {
      return {
        action: CloseAction.DoNotRestart,
        message:
          'The CodeForge language server stopped 6 times in 3 minutes and is not restarted. ' +
          'See the "CodeForge" output for its error, fix it, then run "CodeForge: Restart Language Server".',
      };
    }
    this.log('the language server stopped; restarting it');
    return { action: CloseAction.Restart, handled: true };
  }
}

export function createClient(
  settings: Settings,
  output: vscode.OutputChannel,
  traceOutput: vscode.OutputChannel,
  middleware: Middleware,
  log: (line: string) => void,
): LanguageClient {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  const serverOptions: ServerOptions = {
    // No `transport`: plain stdio, without the `--stdio` flag TransportKind.stdio would append.
    command: settings.server.command,
    args: settings.server.args,
    options: { cwd: folder, env: { ...process.env, ...settings.server.env } },
  };
  const clientOptions: LanguageClientOptions = {
    // codeforge.yaml gets schema features; every other file may get agent code actions.
    documentSelector: [
      { scheme: 'file', pattern: '**/codeforge.yaml' },
      { scheme: 'file' },
      { scheme: 'untitled', language: 'yaml' },
    ],
    initializationOptions: settings.init,
    outputChannel: output,
    traceOutputChannel: traceOutput,
    revealOutputChannelOn: RevealOutputChannelOn.Never,
    errorHandler: new RestartingErrorHandler(log),
    middleware,
  };
  const client = new LanguageClient(CLIENT_ID, 'CodeForge', serverOptions, clientOptions);
  client.registerFeature(new NotificationProgressFeature(client, log));
  return client;
}
