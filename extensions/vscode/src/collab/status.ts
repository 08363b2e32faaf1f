// The collaboration status item: session, your role, mode, driver and whom you follow
// (text from model.statusView). Hidden out of a session; a click lists the participants.
// The session's call adds its marks (call/roster.ts): who talks now in the text, who is in the
// call, muted or talking in the tooltip, and a link that joins the call.
import * as vscode from 'vscode';
import { CALL_UI_COMMANDS } from '../call';
import { callRoster } from '../call/roster';
import { type CollabState, COMMANDS, statusView } from './model';

export class CollabStatus implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('codeforge.collab', vscode.StatusBarAlignment.Left, 8);
  private last: CollabState | undefined;
  private readonly unsubscribe = callRoster.subscribe(() => this.last && this.show(this.last));

  constructor() {
    this.item.name = 'CodeForge Collaboration';
    this.item.command = COMMANDS.participants;
  }

  show(state: CollabState): void {
    this.last = state;
    const view = statusView(state);
    if (!view.text) {
      this.item.hide();
      return;
    }
    const talking = callRoster.talking();
    this.item.text = talking.length ? `${view.text} · $(megaphone) ${talking.join(', ')}` : view.text;
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.isTrusted = { enabledCommands: [CALL_UI_COMMANDS.join] };
    tooltip.appendText(view.tooltip);
    const inCall = callRoster.describe();
    tooltip.appendText(`\nIn the call: ${inCall || 'nobody'}\n\n`);
    tooltip.appendMarkdown(`[$(call-incoming) ${inCall ? 'Join the call' : 'Start a call'}](command:${CALL_UI_COMMANDS.join})`);
    this.item.tooltip = tooltip;
    this.item.backgroundColor = view.readOnly ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  dispose(): void {
    this.unsubscribe();
    this.item.dispose();
  }
}
