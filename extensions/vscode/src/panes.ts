// Panes: platform web pages (metrics, logs, graphs) that the server opens with window/showDocument.
// VS Code shows them in a webview holding the page in an iframe.
import * as vscode from 'vscode';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export class Panes implements vscode.Disposable {
  private readonly open = new Map<string, vscode.WebviewPanel>();
  private readonly titles = new Map<string, string>();

  /** Name the panel of a page before it opens (an operation's result says what it is). */
  title(uri: vscode.Uri, title: string): void {
    const key = this.key(uri);
    this.titles.set(key, `CodeForge: ${title}`);
    const panel = this.open.get(key);
    if (panel) {
      panel.title = `CodeForge: ${title}`;
    }
  }

  private key(uri: vscode.Uri): string {
    return uri.with({ query: '', fragment: '' }).toString();
  }

  /** Show an http(s) page in a webview; the same URL reuses its panel. */
  async show(uri: vscode.Uri, takeFocus = true): Promise<boolean> {
    // In a remote window (code-server, SSH) a loopback URL must go through the port forwarder.
    // Map only the origin: code-server's forwarder answers `/proxy/PORT/` and drops the path.
    const base = await vscode.env.asExternalUri(uri.with({ path: '/', query: '', fragment: '' }));
    const external = base.with({
      path: base.path.replace(/\/$/, '') + uri.path,
      query: uri.query,
      fragment: uri.fragment,
    });
    // One panel per page: a new signed link (another ?t=) to the same pane reuses it.
    const key = this.key(uri);
    let panel = this.open.get(key);
    if (!panel) {
      panel = vscode.window.createWebviewPanel('codeforge.pane', this.titles.get(key) ?? this.fallbackTitle(uri), vscode.ViewColumn.Active, {
        enableScripts: true,
        retainContextWhenHidden: true,
      });
      this.open.set(key, panel);
      panel.onDidDispose(() => this.open.delete(key));
    }
    const src = external.toString(true);
    const origin = `${external.scheme}://${external.authority}`;
    panel.webview.html = `<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; frame-src ${escapeHtml(origin)} http: https:; style-src 'unsafe-inline';">
<style>html,body,iframe{margin:0;padding:0;border:0;width:100%;height:100%;overflow:hidden;background:#fff}</style>
</head><body><iframe src="${escapeHtml(src)}" title="${escapeHtml(panel.title)}" sandbox="allow-scripts allow-same-origin allow-forms allow-popups"></iframe></body></html>`;
    panel.reveal(undefined, !takeFocus);
    return true;
  }

  private fallbackTitle(uri: vscode.Uri): string {
    const last = uri.path.split('/').filter(Boolean).pop();
    return `CodeForge: ${last ? decodeURIComponent(last) : uri.authority}`;
  }

  dispose(): void {
    for (const panel of this.open.values()) {
      panel.dispose();
    }
    this.open.clear();
  }
}
