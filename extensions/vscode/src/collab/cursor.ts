// Our cursor for the others: `codeforge/collab/cursor` on a selection change, a scroll (visible
// range) and focusing another file, at most every 50 ms (always the latest), only while in a
// session. VS Code's positions are UTF-16, what vscode-languageclient negotiates.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { cursorParams, NOTIFICATIONS, sameCursor, Throttle } from './model';

const THROTTLE_MS = 50;

export class CursorReporter implements vscode.Disposable {
  private readonly throttle: Throttle<Record<string, unknown>>;
  private readonly subscriptions: vscode.Disposable[];
  private active = false;
  private last: Record<string, unknown> | undefined;

  constructor(
    private readonly client: () => LanguageClient | undefined,
    private readonly log: (line: string) => void,
  ) {
    this.throttle = new Throttle(THROTTLE_MS, (params) => this.send(params));
    this.subscriptions = [
      vscode.window.onDidChangeTextEditorSelection((e) => this.report(e.textEditor)),
      vscode.window.onDidChangeTextEditorVisibleRanges((e) => this.report(e.textEditor)),
      vscode.window.onDidChangeActiveTextEditor((editor) => editor && this.report(editor, true)),
    ];
  }

  /** In a session or not: out of one nothing is sent. Entering one reports the cursor at once. */
  setActive(active: boolean): void {
    if (active === this.active) return;
    this.active = active;
    this.last = undefined;
    if (active && vscode.window.activeTextEditor) this.report(vscode.window.activeTextEditor, true);
    if (!active) this.throttle.dispose();
  }

  /** A new language client (restart): the server knows nothing of our cursor yet. */
  reset(): void {
    this.last = undefined;
  }

  private report(editor: vscode.TextEditor, force = false): void {
    const client = this.client();
    if (!this.active || !client || editor !== vscode.window.activeTextEditor) return;
    if (editor.document.uri.scheme !== 'file' && editor.document.uri.scheme !== 'untitled') return;
    const convert = client.code2ProtocolConverter;
    const visible = editor.visibleRanges[0];
    const params = cursorParams(
      convert.asUri(editor.document.uri),
      editor.selections.map((s) => ({ anchor: convert.asPosition(s.anchor), head: convert.asPosition(s.active) })),
      visible ? convert.asRange(visible) : undefined,
    );
    if (force) this.last = undefined;
    this.throttle.push(params);
  }

  private send(params: Record<string, unknown>): void {
    const client = this.client();
    if (!client || !this.active || sameCursor(this.last, params)) return;
    this.last = params;
    client.sendNotification(NOTIFICATIONS.cursor, params).catch((error: unknown) => this.log(`collab cursor: ${String(error)}`));
  }

  dispose(): void {
    this.throttle.dispose();
    for (const s of this.subscriptions) s.dispose();
  }
}
