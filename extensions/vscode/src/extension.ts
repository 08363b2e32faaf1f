// Entry point: wiring only. Each concern lives in its own module:
//   session.ts  language client lifetime      operations.ts  catalog commands and prompts
//   tree.ts     resource view                 status.ts      status bar item
//   panes.ts    webviews for showDocument     progress.ts    cancellable job progress
//   remoteUi.ts remote connect, status, conflicts   remoteTerminal.ts / portForwards.ts /
//   proxiedServers.ts  the bridge's terminals, ports and language servers (rules in remote.ts)
//   debugUi.ts  the `codeforge` debug type through `codeforge connect --dap` (rules in debug.ts)
//   collab/     collaboration: session commands, status, presence, conflicts, comments
//   call/       the session's call in a webview panel (browser WebRTC; signalling through the server)
//   agents/     next steps after an agent run (save, undo, transcript pane)
//   workspaces/ the Workspaces view: workspaces and snapshots, their actions, switching
import * as vscode from 'vscode';
import type { Middleware } from 'vscode-languageclient/node';
import { AgentRuns } from './agents';
import { Calls } from './call';
import { Collab, isCollabCommand } from './collab';
import { DEBUG_TYPE } from './debug';
import { announceSession, CodeforgeDebugAdapters, CodeforgeDebugConfigurations, CodeforgeDebugTrackers, joinDebugSession, pickDebugSession, startFromLens } from './debugUi';
import { Operations } from './operations';
import { Panes } from './panes';
import { PortForwards } from './portForwards';
import { ProxiedServers } from './proxiedServers';
import { RemoteTerminalProfile, openRemoteTerminal, TERMINAL_PROFILE_ID } from './remoteTerminal';
import { connectToRemote, disconnectFromRemote, RemoteStatus } from './remoteUi';
import { Session } from './session';
import { affectsServer, readSettings, remoteUrlOf, SECTION } from './settings';
import { StatusItem } from './status';
import { type Node, ResourceTree } from './tree';
import { VscodePromptUi } from './vscodeUi';
import { Workspaces } from './workspaces';

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel('CodeForge', { log: true });
  const trace = vscode.window.createOutputChannel('CodeForge Trace');
  const panes = new Panes();
  const status = new StatusItem(() => session.client());
  const remoteLog = (line: string): void => output.info(line);
  const remoteStatus = new RemoteStatus(remoteLog);
  const forwards = new PortForwards(remoteLog);
  const proxied = new ProxiedServers(remoteLog);
  let remoteUrl = remoteUrlOf(readSettings());
  const collab = new Collab({ client: () => session.client(), log: remoteLog, me: () => status.last?.username ?? undefined });
  const calls = new Calls({ client: () => session.client(), log: remoteLog, me: () => status.last?.username ?? undefined, extensionUri: context.extensionUri });

  let operations: Operations | undefined;
  const agentRuns = new AgentRuns(remoteLog);
  const middleware: Middleware = {
    // Catalog commands run by code actions (or any other LSP-side command) go through the same
    // path as the palette: missing required fields are asked for, results and errors shown.
    executeCommand: async (command, args, next) => {
      // The collaboration commands ask for what is missing and show their results themselves.
      if (isCollabCommand(command)) {
        return collab.intercept(command, args);
      }
      const op = operations?.byCommand(command);
      if (!op) {
        try {
          const result: unknown = await next(command, args);
          agentRuns.after(command, result);
          return result;
        } catch (error) {
          operations?.fail(command, error);
          return undefined;
        }
      }
      const given = args.length === 1 && typeof args[0] === 'object' && args[0] !== null ? (args[0] as Record<string, unknown>) : {};
      return operations?.run(op, given);
    },
    window: {
      // Panes are web pages: show http(s) ones in a webview unless the server asks for a browser.
      showDocument: async (params, next) => {
        const uri = vscode.Uri.parse(params.uri);
        if ((uri.scheme === 'http' || uri.scheme === 'https') && !params.external) {
          return { success: await panes.show(uri, params.takeFocus ?? true) };
        }
        const result = await next(params, new vscode.CancellationTokenSource().token);
        return 'success' in result ? result : { success: false };
      },
    },
  };

  const act = (action: string): void => {
    if (action === 'Open Settings') {
      void vscode.commands.executeCommand('workbench.action.openSettings', SECTION);
    } else if (action === 'Show Logs') {
      output.show(true);
    } else if (action === 'Restart Server') {
      void vscode.commands.executeCommand('codeforge.restartServer');
    }
  };

  let tree: ResourceTree | undefined;
  let workspaces: Workspaces | undefined;
  const session = new Session(output, trace, middleware, {
    prepare: (client, settings) => {
      remoteStatus.prepare(client, remoteUrlOf(settings));
      collab.prepare(client);
      calls.prepare(client);
      if (settings.remote.error) {
        void vscode.window.showErrorMessage(`CodeForge: "codeforge.remote.url" is not used: ${settings.remote.error}`, 'Open Settings').then((a) => a && act(a));
      }
    },
    connected: () => {
      remoteStatus.started(remoteUrl);
      void operations?.refresh().then(
        () => {
          tree?.refresh();
          workspaces?.refresh();
        },
        (error: unknown) => output.error(`codeforge/catalog failed: ${String(error)}`),
      );
      void status.update();
    },
    disconnected: () => {
      remoteStatus.stopped();
      tree?.refresh();
      workspaces?.refresh();
      void status.update();
    },
    act,
  });
  operations = new Operations(
    {
      client: () => session.client(),
      log: (line) => output.info(line),
      act,
      changed: () => {
        tree?.refresh();
        workspaces?.refresh();
        void status.update();
      },
      titlePane: (url, title) => panes.title(vscode.Uri.parse(url), title),
      platformDown: () => void status.update(),
    },
    new VscodePromptUi(),
  );
  const ops = operations;
  tree = new ResourceTree(() => session.client(), () => ops.catalog);
  workspaces = new Workspaces({
    client: () => session.client(),
    find: (name) => ops.find(name),
    run: (op, given) => ops.run(op, given),
    log: remoteLog,
    state: context.workspaceState,
  });

  context.subscriptions.push(
    output,
    trace,
    panes,
    status,
    remoteStatus,
    forwards,
    proxied,
    collab,
    calls,
    session,
    ops,
    workspaces,
    vscode.window.registerTreeDataProvider('codeforge.resources', tree),
    vscode.commands.registerCommand('codeforge.runOperation', () => ops.pickAndRun()),
    vscode.commands.registerCommand('codeforge.runOnItem', (node?: Node) => (node?.kind === 'item' ? ops.runOnItem(node.op, node.item) : undefined)),
    vscode.commands.registerCommand('codeforge.refreshResources', async () => {
      await ops.refresh().catch((error: unknown) => ops.fail('loading the catalog', error));
      tree?.refresh();
      await status.update();
    }),
    vscode.commands.registerCommand('codeforge.restartServer', () => session.restart()),
    vscode.commands.registerCommand('codeforge.connectRemote', () => connectToRemote()),
    vscode.commands.registerCommand('codeforge.disconnectRemote', () => disconnectFromRemote()),
    vscode.commands.registerCommand('codeforge.openRemoteTerminal', () => void openRemoteTerminal()),
    vscode.window.registerTerminalProfileProvider(TERMINAL_PROFILE_ID, new RemoteTerminalProfile()),
    vscode.commands.registerCommand('codeforge.forwardPort', () => forwards.pickAndForward()),
    vscode.commands.registerCommand('codeforge.showForwards', () => forwards.showForwards()),
    vscode.commands.registerCommand('codeforge.stopForward', () => forwards.pickAndStop()),
    vscode.commands.registerCommand('codeforge.showOutput', () => output.show(true)),
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, new CodeforgeDebugConfigurations()),
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new CodeforgeDebugAdapters(remoteLog)),
    vscode.debug.registerDebugAdapterTrackerFactory(DEBUG_TYPE, new CodeforgeDebugTrackers(remoteLog)),
    vscode.debug.onDidReceiveDebugSessionCustomEvent((event) => announceSession(event, remoteLog)),
    vscode.commands.registerCommand('codeforge.debug.start', (argument?: unknown) => startFromLens(argument)),
    vscode.commands.registerCommand('codeforge.debug.pickSession', () => pickDebugSession(session.client())),
    vscode.commands.registerCommand('codeforge.debug.join', () => joinDebugSession(session.client())),
    vscode.commands.registerCommand('codeforge.showStatus', async () => {
      const current = await status.update();
      const summary =
        (remoteUrl ? `Remote workspace ${remoteUrl}. ` : '') +
        (current
          ? `${current.connected ? 'Connected to' : 'Cannot reach'} ${current.platform} as ${current.username ?? '?'} (${current.role ?? '?'}), project ${current.project ?? '(none)'}`
          : 'The CodeForge language server is not running.');
      const action = await vscode.window.showInformationMessage(summary, 'Restart Server', 'Open Settings', 'Show Logs');
      if (action) {
        act(action);
      }
    }),
    vscode.commands.registerCommand('codeforge.openPane', async (url?: string) => {
      const base = status.last?.platform;
      const target =
        url ??
        (await vscode.window.showInputBox({
          title: 'CodeForge: Open Pane',
          prompt: 'Page of the platform to open (a path such as /panes/jobs, or a full http(s) URL)',
          value: '/',
        }));
      if (!target) {
        return;
      }
      const uri = /^https?:\/\//.test(target) ? target : base ? new URL(target, base).toString() : undefined;
      if (!uri) {
        void vscode.window.showErrorMessage('CodeForge: not connected to a platform; start it with `codeforge up` and try again.');
        return;
      }
      await panes.show(vscode.Uri.parse(uri));
    }),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (affectsServer(event)) {
        const settings = readSettings();
        if (remoteUrlOf(settings) !== remoteUrl) {
          // Forwards belong to the bridge they were opened on.
          forwards.stopAll();
          remoteUrl = remoteUrlOf(settings);
        }
        void session.restart();
        void proxied.start(settings);
      }
    }),
  );
  void session.start();
  void proxied.start(readSettings());
}

export function deactivate(): void {
  // Disposables in context.subscriptions stop the client.
}
