// Workspaces in VS Code (docs/workspaces.md, "Editors"): the "Workspaces" view lists the
// project's workspaces (state and runtime beside each) with their snapshots as children, and
// its items' actions run the catalog's operations through Operations.run (so prompts for what is
// missing, confirmation of destructive ones, progress, results and errors are the palette's):
//   start, stop, snapshot, clone, switch, delete, logs   on a workspace
//   restore, clone, delete                                on a snapshot
//   create, refresh                                       on the view's title
// Switch asks workspaces.connect for the workspace's bridge, then points the remote connection
// at it: "codeforge.remote.url", as "Connect to Remote Workspace" does (remoteUi.ts), so the
// language server, terminals and ports restart through `codeforge connect` to the new bridge;
// the window's folder and open editors stay. The rules live in model.ts.
import * as vscode from 'vscode';
import { ExecuteCommandRequest, type LanguageClient } from 'vscode-languageclient/node';
import { adviseOnError } from '../errors';
import type { Arguments, Operation } from '../prompt';
import { readSettings, remoteUrlOf, SECTION } from '../settings';
import { maskOutput } from '../secrets';
import {
  type Action,
  ACTIONS,
  actionCall,
  buildTree,
  CONNECT,
  CREATE,
  LIST,
  parseSnapshots,
  parseWorkspaces,
  SNAPSHOTS,
  snapshotView,
  switchTarget,
  forCreate,
  type WorkspaceNode,
  workspaceView,
} from './model';

export const VIEW_ID = 'codeforge.workspaces';
const SWITCHED_KEY = 'codeforge.workspaces.switched';

export interface WorkspacesHost {
  client(): LanguageClient | undefined;
  /** The catalog entry of an operation (Operations.find). */
  find(name: string): Operation | undefined;
  /** Operations.run: asks for what is missing, confirms, runs, shows the result or the error. */
  run(op: Operation, given: Arguments): Promise<unknown>;
  log(line: string): void;
  /** Where the workspace last switched to is remembered (the window's workspace state). */
  state: vscode.Memento;
}

export class Workspaces implements vscode.TreeDataProvider<WorkspaceNode>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<WorkspaceNode | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly disposables: vscode.Disposable[] = [this.changed];

  constructor(private readonly host: WorkspacesHost) {
    this.disposables.push(
      vscode.window.registerTreeDataProvider(VIEW_ID, this),
      vscode.commands.registerCommand('codeforge.workspacesView.refresh', () => this.refresh()),
      vscode.commands.registerCommand('codeforge.workspacesView.create', () => this.create()),
      ...ACTIONS.map((action) => vscode.commands.registerCommand(`codeforge.workspacesView.${action}`, (node?: WorkspaceNode) => this.act(action, node))),
    );
  }

  refresh(): void {
    this.changed.fire(undefined);
  }

  getTreeItem(node: WorkspaceNode): vscode.TreeItem {
    if (node.kind === 'note') {
      const item = new vscode.TreeItem(node.text, vscode.TreeItemCollapsibleState.None);
      item.tooltip = node.tooltip;
      item.iconPath = new vscode.ThemeIcon('info');
      return item;
    }
    if (node.kind === 'orphans') {
      const item = new vscode.TreeItem('Snapshots of deleted workspaces', vscode.TreeItemCollapsibleState.Collapsed);
      item.id = 'workspaces:orphans';
      item.iconPath = new vscode.ThemeIcon('archive');
      return item;
    }
    const view = node.kind === 'workspace' ? workspaceView(node) : snapshotView(node.snapshot);
    const collapsible = node.kind === 'workspace' && node.snapshots.length > 0 ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None;
    const item = new vscode.TreeItem(view.label, collapsible);
    item.id = `${node.kind}:${view.label}`;
    item.description = view.description;
    item.tooltip = view.tooltip;
    item.contextValue = view.contextValue;
    item.iconPath = new vscode.ThemeIcon(view.icon);
    return item;
  }

  async getChildren(node?: WorkspaceNode): Promise<WorkspaceNode[]> {
    if (node?.kind === 'workspace' || node?.kind === 'orphans') {
      return node.snapshots.map((snapshot) => ({ kind: 'snapshot', snapshot }));
    }
    if (node) {
      return [];
    }
    const client = this.host.client();
    const list = this.host.find(LIST);
    if (!client) {
      return [{ kind: 'note', text: 'Not connected to CodeForge', tooltip: 'Run "CodeForge: Show Connection" for details.' }];
    }
    if (!list) {
      return [{ kind: 'note', text: 'This platform has no workspaces', tooltip: `Its catalog has no ${LIST}: upgrade the platform (codeforge up).` }];
    }
    try {
      const [workspaces, snapshots] = await Promise.all([this.call(client, list), this.find(SNAPSHOTS, (op) => this.call(client, op))]);
      return buildTree(parseWorkspaces(workspaces), parseSnapshots(snapshots), remoteUrlOf(readSettings()), this.host.state.get(SWITCHED_KEY));
    } catch (error) {
      const advice = adviseOnError(LIST, error);
      return [{ kind: 'note', text: advice.message.replace(/^CodeForge: /, ''), tooltip: advice.message }];
    }
  }

  private async find(name: string, use: (op: Operation) => Promise<unknown>): Promise<unknown> {
    const op = this.host.find(name);
    return op ? use(op) : undefined;
  }

  /** A list operation with no arguments (the project comes from the server's context), masked. */
  private async call(client: LanguageClient, op: Operation): Promise<unknown> {
    const result: unknown = await client.sendRequest(ExecuteCommandRequest.type, { command: op.command, arguments: [{}] });
    return maskOutput(result, op);
  }

  private async create(): Promise<void> {
    const op = this.operation(CREATE);
    if (op) {
      await this.host.run(forCreate(op), {});
      this.refresh();
    }
  }

  private operation(name: string): Operation | undefined {
    const op = this.host.find(name);
    if (!op) {
      void vscode.window.showErrorMessage(`CodeForge: the platform has no ${name}: upgrade it (codeforge up), or run "CodeForge: Refresh Resources" once it is connected.`);
    }
    return op;
  }

  /** An item action; from the palette (no item), the operation asks which workspace itself. */
  async act(action: Action, node?: WorkspaceNode): Promise<unknown> {
    const call = node ? actionCall(action, node) : { op: action === 'switch' ? CONNECT : `workspaces.${action}`, given: {} };
    if (!call) {
      return undefined;
    }
    const op = this.operation(call.op);
    if (!op) {
      return undefined;
    }
    const result = await this.host.run(op, call.given);
    if (action === 'switch' && result !== undefined) {
      await this.switchTo(result);
    }
    this.refresh();
    return result;
  }

  /** Points the remote connection at the workspace's bridge (the language server restarts
   * through onDidChangeConfiguration, as after "Connect to Remote Workspace"). */
  private async switchTo(result: unknown): Promise<void> {
    const target = switchTarget(result);
    if ('error' in target) {
      this.host.log(`workspaces switch: ${target.error}`);
      void vscode.window.showErrorMessage(`CodeForge: cannot switch: ${target.error}`);
      return;
    }
    const config = vscode.workspace.getConfiguration(SECTION);
    // Where "Connect to Remote Workspace" puts it: per folder when one is open.
    const where = vscode.workspace.workspaceFolders?.length ? vscode.ConfigurationTarget.Workspace : vscode.ConfigurationTarget.Global;
    await this.host.state.update(SWITCHED_KEY, { name: target.name, url: target.url });
    if (remoteUrlOf(readSettings()) === target.url) {
      this.host.log(`workspaces switch: already connected to ${target.name} (${target.url})`);
    } else {
      this.host.log(`workspaces switch: ${target.name} through its bridge ${target.url}`);
      await config.update('remote.url', target.url, where);
    }
    void vscode.window.showInformationMessage(`CodeForge: switched to workspace ${target.name} (${target.url})`);
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) {
      d.dispose();
    }
  }
}
