// The call's webview panel: the page (media/call.html's parts built here, media/call.js,
// media/call.css) under a strict Content-Security-Policy whose only script is ours (a nonce),
// kept alive while hidden (the peer connection lives in it). Messages from the page are checked
// (model.parseFromWebview) before anyone acts on them; the page gets only what it shows.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import { callCsp, type FromWebview, type IceServer, parseFromWebview } from './model';

export const CALL_VIEW_TYPE = 'codeforge.call';

/** What the extension posts to the page (media/call.js's `message` handler). */
export type ToWebview =
  | { type: 'join'; iceServers: IceServer[] }
  | { type: 'answer'; sdp: string }
  | { type: 'state'; call: unknown; me: string | null }
  | { type: 'message'; text: string; level: 'info' | 'warning' | 'error'; key?: string }
  | { type: 'left'; reason: string }
  | { type: 'shareRefused' }
  | { type: 'command'; action: 'toggleMute' | 'shareScreen' | 'shareCamera' | 'stopShare' };

export interface CallPanelEvents {
  message(message: FromWebview): void;
  closed(): void;
}

export class CallPanel implements vscode.Disposable {
  private readonly panel: vscode.WebviewPanel;
  private readonly subscriptions: vscode.Disposable[] = [];
  private ready = false;
  private readonly queue: ToWebview[] = [];

  constructor(extensionUri: vscode.Uri, events: CallPanelEvents, log: (line: string) => void) {
    const media = vscode.Uri.joinPath(extensionUri, 'media');
    this.panel = vscode.window.createWebviewPanel(
      CALL_VIEW_TYPE,
      'CodeForge: Call',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: false },
      { enableScripts: true, retainContextWhenHidden: true, localResourceRoots: [media] },
    );
    this.panel.iconPath = vscode.Uri.joinPath(media, 'codeforge.svg');
    this.panel.webview.html = callHtml(this.panel.webview, media, nonce());
    this.subscriptions.push(
      this.panel.webview.onDidReceiveMessage((raw: unknown) => {
        const message = parseFromWebview(raw);
        if (!message) {
          log('call: a message from the call panel that is not one was ignored');
          return;
        }
        if (message.type === 'ready') {
          this.ready = true;
          for (const queued of this.queue.splice(0)) void this.panel.webview.postMessage(queued);
        }
        events.message(message);
      }),
      this.panel.onDidDispose(() => {
        for (const s of this.subscriptions) s.dispose();
        events.closed();
      }),
    );
  }

  /** To the page; held until it said it is ready (a message before that would be lost). */
  post(message: ToWebview): void {
    if (this.ready) void this.panel.webview.postMessage(message);
    else this.queue.push(message);
  }

  reveal(): void {
    this.panel.reveal(undefined, false);
  }

  dispose(): void {
    this.panel.dispose();
  }
}

function nonce(): string {
  return randomBytes(18).toString('base64').replace(/[^A-Za-z0-9]/g, '');
}

/** The page, under model.callCsp (our script and stylesheet only, no network). */
export function callHtml(webview: vscode.Webview, media: vscode.Uri, scriptNonce: string): string {
  const script = webview.asWebviewUri(vscode.Uri.joinPath(media, 'call.js'));
  const style = webview.asWebviewUri(vscode.Uri.joinPath(media, 'call.css'));
  const csp = callCsp(webview.cspSource, scriptNonce);
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${style.toString()}">
<title>CodeForge: Call</title>
</head><body>
<h1>Call</h1>
<div id="phase">Starting…</div>
<div id="messages"></div>
<div class="controls">
  <button id="mute" disabled>Mute</button>
  <button id="share-screen" class="secondary" disabled>Share Screen</button>
  <button id="share-camera" class="secondary" disabled>Share Camera</button>
  <button id="stop-share" class="secondary" hidden>Stop Sharing</button>
  <button id="play" class="secondary" hidden>Play Sound</button>
  <button id="leave" class="secondary" hidden>Leave</button>
  <button id="end" class="danger" hidden>End Call for Everyone</button>
  <button id="rejoin" hidden>Rejoin</button>
</div>
<h2>In the call</h2>
<ul id="people"></ul>
<div id="empty">Nobody is in the call yet.</div>
<h2>Watch</h2>
<label for="watch">Whose share to watch: </label><select id="watch"></select>
<div class="videos">
  <figure id="watch-figure" hidden><video id="watch-video" autoplay playsinline muted></video><figcaption id="watch-caption"></figcaption></figure>
  <figure id="own-figure" hidden><video id="own-video" autoplay playsinline muted></video><figcaption id="own-caption"></figcaption></figure>
</div>
<div id="stats"></div>
<audio id="remote-audio" autoplay></audio>
<script nonce="${scriptNonce}" src="${script.toString()}"></script>
</body></html>`;
}
