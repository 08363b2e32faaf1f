// The collaboration status bar item: session, your role, mode, driver and whom you follow
// (text from model.statusView). Hidden out of a session; a click lists the participants.
import * as vscode from 'vscode';
import { type CollabState, COMMANDS, statusView } from './model';

export class CollabStatus implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('codeforge.collab', vscode.StatusBarAlignment.Left, 8);

  constructor() {
    this.item.name = 'CodeForge Collaboration';
    this.item.command = COMMANDS.participants;
  }

  show(state: CollabState): void {
    const view = statusView(state);
    if (!view.text) {
      this.item.hide();
      return;
    }
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.readOnly ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }
}
