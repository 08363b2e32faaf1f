// The status bar item: platform, user, project and whether the language server reached them.
import * as vscode from 'vscode';
import type { LanguageClient } from 'vscode-languageclient/node';

export const STATUS_REQUEST = 'codeforge/status';

export interface PlatformStatus {
  platform: string;
  connected: boolean;
  username?: string | null;
  organization?: string | null;
  project?: string | null;
  role?: string | null;
}

export class StatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('codeforge.status', vscode.StatusBarAlignment.Left, 10);
  last: PlatformStatus | undefined;

  constructor() {
    this.item.name = 'CodeForge';
    this.item.command = 'codeforge.showStatus';
    this.show('$(sync~spin) CodeForge', 'Starting the CodeForge language server…');
  }

  show(text: string, tooltip: string, warning = false): void {
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.backgroundColor = warning ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.item.show();
  }

  async update(client: LanguageClient | undefined): Promise<PlatformStatus | undefined> {
    if (!client || !client.isRunning()) {
      this.last = undefined;
      this.show('$(debug-disconnect) CodeForge: server stopped', 'The CodeForge language server is not running. Click for options.', true);
      return undefined;
    }
    try {
      const status = await client.sendRequest<PlatformStatus>(STATUS_REQUEST, {});
      this.last = status;
      if (status.connected) {
        const who = [status.username, status.organization].filter(Boolean).join('@');
        this.show(
          `$(cloud) CodeForge: ${who || 'signed in'}${status.project ? ` · ${status.project}` : ''}`,
          `Platform ${status.platform}\nUser ${status.username ?? '?'} (${status.role ?? '?'}) in ${status.organization ?? '?'}\nProject ${status.project ?? '(none)'}`,
        );
      } else {
        this.show(
          '$(cloud-offline) CodeForge: offline',
          `Cannot reach the platform at ${status.platform}. Start it with \`codeforge up\` or set "codeforge.platform.url".`,
          true,
        );
      }
      return status;
    } catch (error) {
      this.last = undefined;
      this.show('$(warning) CodeForge: error', `codeforge/status failed: ${error instanceof Error ? error.message : String(error)}`, true);
      return undefined;
    }
  }

  dispose(): void {
    this.item.dispose();
  }
}
