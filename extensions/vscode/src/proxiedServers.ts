// The workspace's own language servers (basedpyright, pylsp, …) run by the bridge next to the
// files: one LanguageClient per name in "codeforge.remote.languageServers", each started as
// `codeforge connect URL --lsp NAME` for the files of its languages. The bridge rewrites file
// URIs both ways, so these clients see only this machine's paths.
import * as vscode from 'vscode';
import { LanguageClient, type LanguageClientOptions, type ServerOptions, State } from 'vscode-languageclient/node';
import { connectArgs, connectEnv, type ProxiedServer, scrub } from './remote';
import { remoteUrlOf, type Settings } from './settings';

const START_WAIT_MS = 30_000;

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class ProxiedServers implements vscode.Disposable {
  private clients: LanguageClient[] = [];
  // One change at a time: clients of the same name must never run side by side (their
  // commands, e.g. basedpyright's, would be registered twice).
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly log: (line: string) => void) {}

  /** Starts the proxied servers the settings name (stopping any from before). */
  start(settings: Settings): Promise<void> {
    const next = this.queue.then(() => this.doStart(settings));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async doStart(settings: Settings): Promise<void> {
    await this.doStop();
    const url = remoteUrlOf(settings);
    for (const problem of settings.remote.problems) {
      this.log(problem);
      void vscode.window.showWarningMessage(`CodeForge: ${problem}`);
    }
    if (!url || !settings.server.located.found) {
      return;
    }
    await Promise.all(settings.remote.servers.map((server) => this.startOne(settings, url, server)));
  }

  private async startOne(settings: Settings, url: string, server: ProxiedServer): Promise<void> {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    const serverOptions: ServerOptions = {
      command: settings.server.command,
      args: connectArgs(url, { kind: 'proxy', name: server.name }),
      options: { cwd: folder, env: { ...process.env, ...connectEnv(settings.init.token, settings.server.env) } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: server.languages.map((language) => ({ scheme: 'file', language })),
    };
    const client = new LanguageClient(`codeforge-${server.name}`, `CodeForge remote: ${server.name}`, serverOptions, clientOptions);
    // The relay and the bridge's proxy add these to every proxied stream; the CodeForge client
    // already shows the connection, and a restarted server comes with a message of its own.
    client.onNotification('codeforge/connection', (params: { state?: string }) => this.log(`${server.name}: connection ${params?.state ?? '?'}`));
    client.onNotification('codeforge/languageServer', (params: unknown) => this.log(`${server.name}: ${JSON.stringify(params)}`));
    this.clients.push(client);
    this.log(`starting the remote language server ${server.name} for ${server.languages.join(', ')}`);
    try {
      await Promise.race([client.start(), delay(START_WAIT_MS)]);
    } catch (error) {
      const why = scrub(error instanceof Error ? error.message : String(error), [settings.init.token]);
      this.log(`the remote language server ${server.name} did not start: ${why}`);
      void vscode.window.showErrorMessage(
        `CodeForge: the remote language server "${server.name}" did not start: ${why}. Check that the workspace's codeforge.yaml configures it.`,
      );
    }
  }

  private async doStop(): Promise<void> {
    const clients = this.clients;
    this.clients = [];
    await Promise.all(
      clients.map(async (client) => {
        if (client.state === State.Starting) {
          // A starting client cannot be stopped: let its start settle first.
          await Promise.race([client.start().catch(() => undefined), delay(START_WAIT_MS)]);
        }
        await client.stop(5000).catch(() => undefined);
      }),
    );
  }

  dispose(): void {
    const next = this.queue.then(() => this.doStop());
    this.queue = next.catch(() => undefined);
  }
}
