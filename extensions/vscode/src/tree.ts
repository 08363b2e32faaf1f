// The "Resources" view: one group per list operation of the catalog (lists_resources), whose
// children are the `items` that operation returns when called with no arguments.
import * as vscode from 'vscode';
import { ExecuteCommandRequest, type LanguageClient } from 'vscode-languageclient/node';
import { adviseOnError } from './errors';
import type { Operation } from './prompt';
import { childrenOf, describeItem, field, groupLabel } from './results';
import { promptFields } from './schema';
import { maskOutput } from './secrets';

export type Node =
  | { kind: 'group'; op: Operation }
  // `siblings`: the whole list the item came from, where its children (branches) are found.
  | { kind: 'item'; op: Operation; item: unknown; siblings: readonly unknown[] }
  | { kind: 'note'; text: string; tooltip: string };

/** List operations that can run without asking anything (context fields are filled by the server). */
export function listOperations(catalog: readonly Operation[]): Operation[] {
  return catalog.filter((op) => op.lists_resources && promptFields(op).every((f) => !f.required));
}

export class ResourceTree implements vscode.TreeDataProvider<Node> {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;

  constructor(
    private readonly client: () => LanguageClient | undefined,
    private readonly catalog: () => readonly Operation[],
  ) {}

  refresh(): void {
    this.changed.fire(undefined);
  }

  getTreeItem(node: Node): vscode.TreeItem {
    if (node.kind === 'group') {
      // Collapsed: each group costs a platform call, made only when someone opens it.
      const item = new vscode.TreeItem(groupLabel(node.op.capability), vscode.TreeItemCollapsibleState.Collapsed);
      item.description = node.op.title;
      item.id = `group:${node.op.name}`;
      item.contextValue = 'codeforge.group';
      item.iconPath = new vscode.ThemeIcon('folder-library');
      return item;
    }
    if (node.kind === 'note') {
      const item = new vscode.TreeItem(node.text, vscode.TreeItemCollapsibleState.None);
      item.tooltip = node.tooltip;
      item.iconPath = new vscode.ThemeIcon('info');
      return item;
    }
    const view = describeItem(node.item);
    const name = field(node.item, 'name');
    const branches = typeof name === 'string' ? childrenOf(node.siblings, name) : [];
    const item = new vscode.TreeItem(view.label, branches.length ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.None);
    item.description = view.description;
    item.tooltip = new vscode.MarkdownString().appendCodeblock(view.tooltip, 'json');
    item.contextValue = `codeforge.item.${node.op.capability}`;
    item.iconPath = new vscode.ThemeIcon('symbol-field');
    return item;
  }

  async getChildren(node?: Node): Promise<Node[]> {
    const client = this.client();
    if (!node) {
      const groups = listOperations(this.catalog());
      if (!client || groups.length === 0) {
        return [{ kind: 'note', text: 'Not connected to CodeForge', tooltip: 'Run "CodeForge: Show Connection" for details.' }];
      }
      return groups.map((op) => ({ kind: 'group', op }));
    }
    if (node.kind === 'item') {
      const name = field(node.item, 'name');
      return typeof name === 'string' ? childrenOf(node.siblings, name).map((item) => ({ kind: 'item', op: node.op, item, siblings: node.siblings })) : [];
    }
    if (node.kind !== 'group' || !client) {
      return [];
    }
    try {
      const result = (await client.sendRequest(ExecuteCommandRequest.type, { command: node.op.command, arguments: [{}] })) as {
        items?: unknown[];
      } | null;
      // Rows and tooltips show what the log may show: secret fields and URL passwords masked.
      const masked = maskOutput(result, node.op) as { items?: unknown[] } | null;
      const items = masked?.items ?? [];
      if (items.length === 0) {
        return [{ kind: 'note', text: 'none yet', tooltip: `${node.op.name} returned no items` }];
      }
      return childrenOf(items).map((item) => ({ kind: 'item', op: node.op, item, siblings: items }));
    } catch (error) {
      const advice = adviseOnError(node.op.name, error);
      return [{ kind: 'note', text: advice.message.replace(/^CodeForge: /, ''), tooltip: advice.message }];
    }
  }
}
