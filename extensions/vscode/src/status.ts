// The status bar item: platform, user, project and whether the language server reached them.
// It asks the server's `codeforge/status` now and then (more often while the platform is down),
// and at once when an operation found the platform unreachable, so a platform that stopped is
// shown as down without waiting for the person to run something.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';
import { type PlatformStatus, POLL_DOWN_MS, POLL_UP_MS, statusView } from './statusView';

export type { PlatformStatus };
export const STATUS_REQUEST = 'codeforge/status';

export class StatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('codeforge.status', vscode.StatusBarAlignment.Left, 10);
  private timer: ReturnType<typeof setTimeout> | undefined;
  private disposed = false;
  private readonly focus: vscode.Disposable;
  last: PlatformStatus | undefined;

  constructor(private readonly client: () => LanguageClient | undefined) {
    this.item.name = 'CodeForge';
    this.item.command = 'codeforge.showStatus';
    this.show('$(sync~spin) CodeForge', 'Starting the CodeForge language server…');
    // Coming back to the window is when a person looks: ask again then.
    this.focus = vscode.window.onDidChangeWindowState((state) => {
      if (state.focused) {
        void this.update();
      }
    });
  }

  show(text: string, tooltip: string, warning = false): void {
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.backgroundColor = warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  /** Ask the server for the status now, show it, and schedule the next look. */
  async update(): Promise<PlatformStatus | undefined> {
    const client = this.client();
    let status: PlatformStatus | undefined;
    let error: string | undefined;
    if (client && client.isRunning()) {
      try {
        status = await client.sendRequest<PlatformStatus>(STATUS_REQUEST, {});
      } catch (failure) {
        error = failure instanceof Error ? failure.message : String(failure);
      }
    }
    const view = client && client.isRunning() ? statusView({ running: true, status, error }) : statusView({ running: false });
    this.last = status;
    this.show(view.text, view.tooltip, view.warning);
    this.schedule(status?.connected ? POLL_UP_MS : POLL_DOWN_MS);
    return status;
  }

  private schedule(delay: number): void {
    if (this.timer) {
      clearTimeout(this.timer);
    }
    if (!this.disposed) {
      this.timer = setTimeout(() => void this.update(), delay);
    }
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer) {
      clearTimeout(this.timer);
    }
    this.focus.dispose();
    this.item.dispose();
  }
}
