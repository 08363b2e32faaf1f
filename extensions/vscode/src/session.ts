// The language client's lifetime: start, restart on settings change or on request, and tell the
// views when the server (re)connects.
import * as vscode from 'vscode';
import { type LanguageClient, type Middleware, State } from 'vscode-languageclient/node';
import { createClient } from './client';
import { adviseOnStartFailure } from './errors';
import { readSettings, type Settings } from './settings';

const STOP_WAIT_MS = 30_000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

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

  /** Starts, stops and restarts run one after the other: a restart asked for while the
   * server is still starting (a settings change right after the window opened) must not start
   * a second client beside the first, whose commands would still be registered. */
  private queue: Promise<void> = Promise.resolve();

  private serial(operation: () => Promise<void>): Promise<void> {
    const next = this.queue.then(operation, operation);
    this.queue = next.catch(() => undefined);
    return next;
  }

  start(): Promise<void> {
    return this.serial(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.serial(() => this.doStop());
  }

  restart(): Promise<void> {
    return this.serial(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  private async doStart(): Promise<void> {
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
    // The queue waits for the start, but not forever: a remote that never answers must not
    // hold back the restart that fixes its URL.
    await Promise.race([this.launch(client, settings), delay(STOP_WAIT_MS)]);
  }

  /** Starts `client`; a failure is told with advice (never awaited: a notification stays up). */
  private async launch(client: LanguageClient, settings: Settings): Promise<void> {
    const { located } = settings.server;
    try {
      if (!located.found) {
        throw new Error('not found');
      }
      await client.start();
    } catch (error) {
      if (this.current !== client) {
        return; // replaced meanwhile: its failure is no longer news
      }
      this.events.disconnected();
      const advice = adviseOnStartFailure(settings.server.command, error, located.searched);
      this.log(advice.message);
      void vscode.window.showErrorMessage(advice.message, ...advice.actions).then((action) => action && this.events.act(action));
      return;
    }
    // `Running` fires before the built-in features initialize; tell the views once start() is done.
    if (this.current === client) {
      this.events.connected();
    }
  }

  private async doStop(): Promise<void> {
    const client = this.current;
    this.current = undefined;
    this.stateListener?.dispose();
    this.stateListener = undefined;
    if (!client) {
      return;
    }
    if (client.state === State.Starting) {
      // A starting client cannot be stopped (vscode-languageclient refuses): let its start
      // finish or fail first, for at most STOP_WAIT_MS (a remote that never answers).
      await Promise.race([client.start().catch(() => undefined), delay(STOP_WAIT_MS)]);
    }
    try {
      await client.stop(5000);
    } catch (error) {
      this.log(`stopping the language server: ${String(error)}`);
    }
  }

  dispose(): void {
    void this.stop();
  }
}
