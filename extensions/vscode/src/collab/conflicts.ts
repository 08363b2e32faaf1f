// A merge that needs a person (`codeforge/collab/conflict`): the three versions are served as
// read-only documents (scheme codeforge-conflict), the diff editor shows theirs against ours,
// and Accept Ours / Theirs / Both (notification buttons, and the diff editor's title bar) send
// `codeforge.collab.resolveConflict`; the server applies the choice to the room for everyone.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { type Choice, type Conflict } from './model';

export const CONFLICT_SCHEME = 'codeforge-conflict';
type Side = 'base' | 'ours' | 'theirs';
const ACTIONS: Record<string, Choice> = { 'Accept Ours': 'ours', 'Accept Theirs': 'theirs', 'Accept Both': 'both' };

export interface ConflictHost {
  /** Sends resolveConflict; true when the server took it (it shows its own errors). */
  resolve(id: string, choice: Choice): Promise<boolean>;
  /** The file's name for titles, from the server's URI. */
  label(uri: string): string;
}

export class ConflictView implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly conflicts = new Map<string, Conflict>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly registration: vscode.Disposable;

  constructor(private readonly host: ConflictHost) {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(CONFLICT_SCHEME, this);
  }

  pending(): Conflict[] {
    return [...this.conflicts.values()];
  }

  sideUri(conflict: Conflict, side: Side): vscode.Uri {
    // The file's own name last, so the versions get its language's colours.
    const name = path.posix.basename(this.host.label(conflict.uri)) || 'file';
    return vscode.Uri.from({ scheme: CONFLICT_SCHEME, path: `/${encodeURIComponent(conflict.id)}/${side}/${name}` });
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const [, id, side] = uri.path.split('/');
    const conflict = this.conflicts.get(decodeURIComponent(id ?? ''));
    if (!conflict) return '(this conflict is resolved)';
    return side === 'base' ? conflict.base : side === 'ours' ? conflict.ours : conflict.theirs;
  }

  /** A new conflict: the diff editor, and a notification whose buttons resolve it. */
  async show(conflict: Conflict): Promise<void> {
    this.conflicts.set(conflict.id, conflict);
    for (const side of ['base', 'ours', 'theirs'] as const) this.changed.fire(this.sideUri(conflict, side));
    const name = this.host.label(conflict.uri);
    await vscode.commands.executeCommand('vscode.diff', this.sideUri(conflict, 'theirs'), this.sideUri(conflict, 'ours'), `${name}: theirs ↔ ours (conflict)`, { preview: false });
    for (;;) {
      // The server says what happened (a disk change, or file sync: `origin: "sync"`).
      const said = (conflict as Conflict & { message?: unknown }).message;
      const what = typeof said === 'string' && said ? said : `${name} changed on disk while it had unsaved edits in the session`;
      const theirs = (conflict as Conflict & { origin?: unknown }).origin === 'sync' ? 'the synced machine’s' : 'on disk';
      const action = await vscode.window.showWarningMessage(
        `CodeForge: ${what}. Keep which version? (left: theirs, ${theirs}; right: ours, the session's)`,
        'Accept Ours',
        'Accept Theirs',
        'Accept Both',
        'Show Base',
      );
      if (!action || !this.conflicts.has(conflict.id)) return; // dismissed, or resolved elsewhere
      if (action === 'Show Base') {
        await vscode.window.showTextDocument(this.sideUri(conflict, 'base'), { preview: true, viewColumn: vscode.ViewColumn.Beside });
        continue;
      }
      await this.accept(conflict.id, ACTIONS[action]);
      return;
    }
  }

  /** The conflict a codeforge-conflict document belongs to (editor title buttons). */
  idOf(uri: vscode.Uri | undefined): string | undefined {
    if (!uri || uri.scheme !== CONFLICT_SCHEME) return undefined;
    const id = decodeURIComponent(uri.path.split('/')[1] ?? '');
    return this.conflicts.has(id) ? id : undefined;
  }

  async accept(id: string, choice: Choice): Promise<void> {
    if (!(await this.host.resolve(id, choice))) return;
    this.forget(id);
  }

  /** Resolved (here or by someone else): its views close. */
  forget(id: string): void {
    const conflict = this.conflicts.get(id);
    if (!conflict) return;
    this.conflicts.delete(id);
    const ours = new Set((['base', 'ours', 'theirs'] as const).map((s) => this.sideUri(conflict, s).toString()));
    const tabs = vscode.window.tabGroups.all.flatMap((g) => g.tabs).filter((tab) => {
      const input = tab.input;
      if (input instanceof vscode.TabInputTextDiff) return ours.has(input.modified.toString()) || ours.has(input.original.toString());
      return input instanceof vscode.TabInputText && ours.has(input.uri.toString());
    });
    if (tabs.length) void vscode.window.tabGroups.close(tabs);
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
    this.conflicts.clear();
  }
}
