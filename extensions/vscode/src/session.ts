// The language client's lifetime: start, restart on settings change or on request, and tell the
// views when the server (re)connects.
import * as vscode from 'vscode';
import { type LanguageClient, type Middleware, State } from 'vscode-languageclient/node';
import { createClient } from './client';
import { adviseOnStartFailure } from './errors';
import { readSettings, type Settings } from './settings';

export interface SessionEvents {
  /** The server is running (first start or a restart): reload catalog, status, tree. */
  connected(): void;
  /** The server stopped (crash before restart, or start failure). */
  disconnected(): void;
  act(action: string): void;
  /** A new client, before it starts: add notification handlers (remote status, conflicts). */
  prepare?(client: LanguageClient, settings: Settings): void;
}

export class Session implements vscode.Disposable {
  private current: LanguageClient | undefined;
  private stateListener: vscode.Disposable | undefined;

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly trace: vscode.OutputChannel,
    private readonly middleware: Middleware,
    private readonly events: SessionEvents,
  ) {}

  client(): LanguageClient | undefined {
    return this.current?.isRunning() ? this.current : undefined;
  }

  log(line: string): void {
    this.output.info(line);
  }

  async start(): Promise<void> {
    const settings = readSettings();
    const client = createClient(settings, this.output, this.trace, this.middleware, (line) => this.log(line));
    this.current = client;
    this.events.prepare?.(client, settings);
    this.stateListener = client.onDidChangeState(({ newState }) => {
      if (newState === State.Running) {
        this.events.connected();
      } else if (newState === State.Stopped) {
        this.events.disconnected();
      }
    });
    const { located } = settings.server;
    this.log(`starting ${settings.server.command} ${settings.server.args.join(' ')}${located.found ? '' : ` (not found; looked in: ${located.searched.join('; ')})`}`);
    try {
      if (!located.found) {
        throw new Error('not found');
      }
      await client.start();
    } catch (error) {
      this.events.disconnected();
      const advice = adviseOnStartFailure(settings.server.command, error, located.searched);
      this.log(advice.message);
      const action = await vscode.window.showErrorMessage(advice.message, ...advice.actions);
      if (action) {
        this.events.act(action);
      }
      return;
    }
    // `Running` fires before the built-in features initialize; tell the views once start() is done.
    this.events.connected();
  }

  async stop(): Promise<void> {
    const client = this.current;
    this.current = undefined;
    this.stateListener?.dispose();
    this.stateListener = undefined;
    if (client) {
      try {
        await client.stop(5000);
      } catch (error) {
        this.log(`stopping the language server: ${String(error)}`);
      }
    }
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  dispose(): void {
    void this.stop();
  }
}
