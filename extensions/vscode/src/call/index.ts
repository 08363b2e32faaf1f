// Calls in VS Code (docs/voice.md): the session's call in a webview panel using the browser's
// WebRTC, wired to the language client:
//   model.ts   the rules, free of `vscode`       panel.ts   the webview (strict CSP, nonce)
//   roster.ts  who is in the call, for the collaboration status item's talking marks
// The page offers; this side runs `codeforge.call.join {sdp}` on the language server and gives
// it the answer, so the page never holds a token and nothing but the SDP crosses. Every other
// control (mute, share, watch, leave, end) is a server command too. The join's ICE servers (a
// TURN password, maybe) are never logged or shown; only command names and outcomes are logged.
import * as vscode from 'vscode';
import { ExecuteCommandRequest, type LanguageClient } from 'vscode-languageclient/node';
import {
  CALL_COMMANDS,
  CALL_STATE_NOTIFICATION,
  type CallCommand,
  type CallState,
  callStatusText,
  deviceMessage,
  type FromWebview,
  me,
  parseCall,
  parseCallNotification,
  parseIceServers,
  parseJoin,
  scrubCallText,
} from './model';
import { CallPanel } from './panel';
import { callRoster } from './roster';

export interface CallHost {
  client(): LanguageClient | undefined;
  log(line: string): void;
  /** Our platform username (from `codeforge/status`). */
  me(): string | undefined;
  extensionUri: vscode.Uri;
}

type Args = Record<string, unknown>;
type Outcome = { ok: true; result: unknown } | { ok: false; message: string };

export const CALL_UI_COMMANDS = {
  join: 'codeforge.callUi.join',
  toggleMute: 'codeforge.callUi.toggleMute',
  shareScreen: 'codeforge.callUi.shareScreen',
  shareCamera: 'codeforge.callUi.shareCamera',
  stopShare: 'codeforge.callUi.stopShare',
  watch: 'codeforge.callUi.watch',
  muteParticipant: 'codeforge.callUi.muteParticipant',
  leave: 'codeforge.callUi.leave',
  end: 'codeforge.callUi.end',
} as const;

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class Calls implements vscode.Disposable {
  private call: CallState | null = null;
  private panel: CallPanel | undefined;
  /** Our peer connection (the panel's) is in the call. */
  private joined = false;
  /** The last state named us since we joined (its absence afterwards: we were taken out). */
  private sawMe = false;
  private hearing = false;
  private readonly item = vscode.window.createStatusBarItem('codeforge.call', vscode.StatusBarAlignment.Left, 7.9);
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly host: CallHost) {
    this.item.name = 'CodeForge Call';
    this.item.command = CALL_UI_COMMANDS.join;
    const c = CALL_UI_COMMANDS;
    this.disposables.push(
      this.item,
      vscode.commands.registerCommand(c.join, () => this.open()),
      vscode.commands.registerCommand(c.toggleMute, () => this.toggleMute()),
      vscode.commands.registerCommand(c.shareScreen, () => this.toPanel('shareScreen')),
      vscode.commands.registerCommand(c.shareCamera, () => this.toPanel('shareCamera')),
      vscode.commands.registerCommand(c.stopShare, () => this.toPanel('stopShare')),
      vscode.commands.registerCommand(c.watch, () => this.pickWatch()),
      vscode.commands.registerCommand(c.muteParticipant, () => this.pickMute()),
      vscode.commands.registerCommand(c.leave, () => this.leave()),
      vscode.commands.registerCommand(c.end, () => this.end()),
    );
    void vscode.commands.executeCommand('setContext', 'codeforge.call.joined', false);
  }

  /** A new language client, before it starts: its notification, and none of the last one's call. */
  prepare(client: LanguageClient): void {
    if (this.joined) this.lost('Not in the call: the language server restarted. Press Rejoin.');
    this.setCall(null);
    client.onNotification(CALL_STATE_NOTIFICATION, (params: unknown) => {
      const notification = parseCallNotification(params);
      if (notification) this.setCall(notification.call);
      else this.host.log('call: a state notification that is not one was ignored');
    });
  }

  private setJoined(joined: boolean): void {
    this.joined = joined;
    if (!joined) this.sawMe = false;
    void vscode.commands.executeCommand('setContext', 'codeforge.call.joined', joined);
  }

  private setCall(call: CallState | null): void {
    this.call = call;
    callRoster.set(call);
    if (this.joined) {
      if (me(call, this.host.me())) {
        this.sawMe = true;
      } else if (!call || call.state === 'ended' || this.sawMe) {
        // The server said why (a window/showMessage); the panel says where we are.
        this.lost(call?.state === 'ended' ? 'The call ended.' : 'You are no longer in the call.');
      }
    }
    this.render();
  }

  private render(): void {
    const view = callStatusText(this.call, this.host.me(), this.joined);
    if (view.text) {
      this.item.text = view.text;
      this.item.tooltip = view.tooltip;
      this.item.show();
    } else {
      this.item.hide();
    }
    this.panel?.post({ type: 'state', call: this.call, me: this.host.me() ?? null });
  }

  /** Our connection is gone (removed, ended, the server restarted): the panel closes its side. */
  private lost(reason: string): void {
    this.setJoined(false);
    this.hearing = false;
    this.panel?.post({ type: 'left', reason });
  }

  // ---- the panel ---------------------------------------------------------------------------

  /** `CodeForge: Join Call`: the panel (created, or shown) joins unless it is in the call. */
  open(): void {
    if (!this.host.client()) {
      void vscode.window.showErrorMessage('CodeForge: the language server is not running; run "CodeForge: Restart Language Server", then join the call again.');
      return;
    }
    if (this.panel) {
      this.panel.reveal();
      if (!this.joined) void this.startJoin();
      return;
    }
    const panel = new CallPanel(
      this.host.extensionUri,
      {
        message: (message) => void this.onMessage(message),
        closed: () => {
          if (this.panel === panel) this.panel = undefined;
          // Closing the panel ends its peer connection: leave, so the others see it at once.
          if (this.joined) {
            this.setJoined(false);
            void this.run(CALL_COMMANDS.leave, {}, { quiet: true });
          }
        },
      },
      this.host.log,
    );
    this.panel = panel;
    this.render();
    void this.startJoin();
  }

  /**
   * Tells the panel to join. A browser gathers its candidates before it offers, so it needs the
   * ICE servers (TURN behind NAT) first: taken from `codeforge.call.participants` when the
   * server gives them there (the contract gives them with the answer only: loopback and LAN
   * need none). They go to the page only, never to a log.
   */
  private async startJoin(): Promise<void> {
    const done = await this.run(CALL_COMMANDS.participants, {}, { quiet: true });
    const iceServers = done.ok && isObject(done.result) ? parseIceServers(done.result.iceServers) : [];
    this.panel?.post({ type: 'join', iceServers });
  }

  private async onMessage(message: FromWebview): Promise<void> {
    switch (message.type) {
      case 'ready':
        this.render();
        return;
      case 'offer':
        await this.answer(message.sdp);
        return;
      case 'device': {
        const text = deviceMessage(message.device, message.error, vscode.env.uiKind === vscode.UIKind.Desktop ? 'desktop' : 'browser');
        this.host.log(`call: the ${message.device} is not available (${message.error})`);
        this.panel?.post({ type: 'message', text, level: 'warning', key: `device-${message.device}` });
        void vscode.window.showWarningMessage(`CodeForge: ${text}`);
        return;
      }
      case 'mute':
        await this.run(CALL_COMMANDS.mute, message.username ? { muted: message.muted, username: message.username } : { muted: message.muted });
        return;
      case 'share': {
        const done = await this.run(CALL_COMMANDS.share, { kind: message.kind });
        if (!done.ok && message.kind) this.panel?.post({ type: 'shareRefused' });
        return;
      }
      case 'watch':
        await this.run(CALL_COMMANDS.watch, message.username ? { username: message.username } : {});
        return;
      case 'leave':
        await this.leave();
        return;
      case 'end':
        await this.end();
        return;
      case 'rejoin':
        if (!this.joined) await this.startJoin();
        return;
      case 'connection':
        if (message.state === 'connected' || message.state === 'failed') this.host.log(`call: media connection ${message.state}`);
        return;
      case 'stats':
        if (!this.hearing && message.stats.inBytes > 0) {
          this.hearing = true;
          this.host.log('call: receiving the call\u2019s audio');
        }
        return;
    }
  }

  /** The page's offer to the server; its answer back to the page. */
  private async answer(sdp: string): Promise<void> {
    const done = await this.run(CALL_COMMANDS.join, { sdp }, { quiet: true });
    if (!done.ok) {
      this.panel?.post({ type: 'left', reason: 'Not in the call' });
      this.panel?.post({ type: 'message', text: `Could not join the call: ${done.message}`, level: 'error', key: 'connection' });
      void vscode.window.showErrorMessage(`CodeForge: could not join the call: ${done.message}`);
      return;
    }
    const joined = parseJoin(done.result);
    if (!joined) {
      this.panel?.post({ type: 'left', reason: 'Not in the call' });
      this.panel?.post({ type: 'message', text: 'The language server answered the call without an SDP answer; update CodeForge and try again.', level: 'error', key: 'connection' });
      return;
    }
    this.setJoined(true);
    this.sawMe = me(joined.call, this.host.me()) !== undefined;
    this.host.log('call: joined');
    this.panel?.post({ type: 'answer', sdp: joined.sdp });
    if (joined.call) this.setCall(joined.call);
  }

  // ---- controls ----------------------------------------------------------------------------

  private async toggleMute(): Promise<void> {
    if (this.panel && this.joined) {
      this.panel.post({ type: 'command', action: 'toggleMute' });
      return;
    }
    // Not in the panel's call: the server mutes whichever client carries our media.
    const mine = me(this.call, this.host.me());
    await this.run(CALL_COMMANDS.mute, { muted: !(mine?.muted ?? false) });
  }

  private toPanel(action: 'shareScreen' | 'shareCamera' | 'stopShare'): void {
    if (!this.panel || !this.joined) {
      void vscode.window.showInformationMessage('CodeForge: join the call first ("CodeForge: Join Call"), then share from its panel.');
      return;
    }
    this.panel.reveal();
    this.panel.post({ type: 'command', action });
  }

  private async pickWatch(): Promise<void> {
    const mine = this.host.me();
    const sharing = (this.call?.participants ?? []).filter((p) => p.sharing && p.username !== mine);
    if (sharing.length === 0) {
      void vscode.window.showInformationMessage('CodeForge: nobody in the call is sharing a screen or camera.');
      return;
    }
    const chosen = await vscode.window.showQuickPick(
      [...sharing.map((p) => ({ label: p.name, description: `${p.username} · ${p.sharing}`, value: p.username as string | null })), { label: 'Nobody', description: 'stop watching', value: null }],
      { title: 'CodeForge: Watch whose share?', ignoreFocusOut: true },
    );
    if (!chosen) return;
    await this.run(CALL_COMMANDS.watch, chosen.value ? { username: chosen.value } : {});
    this.panel?.reveal();
  }

  private async pickMute(): Promise<void> {
    const mine = this.host.me();
    const others = (this.call?.participants ?? []).filter((p) => p.username !== mine && !p.muted);
    if (others.length === 0) {
      void vscode.window.showInformationMessage('CodeForge: nobody else in the call can be muted.');
      return;
    }
    const chosen = await vscode.window.showQuickPick(
      others.map((p) => ({ label: p.name, description: p.username, value: p.username })),
      { title: 'CodeForge: Mute whom? (the host only; they can unmute themselves)', ignoreFocusOut: true },
    );
    if (chosen) await this.run(CALL_COMMANDS.mute, { username: chosen.value, muted: true });
  }

  private async leave(): Promise<void> {
    const done = await this.run(CALL_COMMANDS.leave, {});
    if (done.ok) {
      this.host.log('call: left');
      const call = isObject(done.result) ? parseCall(done.result.call) : null;
      this.lost('You left the call.');
      if (call) this.setCall(call);
    }
  }

  private async end(): Promise<void> {
    const ok = await vscode.window.showWarningMessage('CodeForge: end the call for everyone in it?', { modal: true }, 'End Call');
    if (ok !== 'End Call') return;
    const done = await this.run(CALL_COMMANDS.end, {});
    if (done.ok) {
      this.host.log('call: ended');
      this.lost('You ended the call.');
    }
  }

  /** A server command; a failure is shown (unless quiet) and logged, without secrets. */
  private async run(command: CallCommand, argument: Args, options: { quiet?: boolean } = {}): Promise<Outcome> {
    const client = this.host.client();
    const short = command.replace('codeforge.call.', '');
    if (!client) {
      const message = 'the language server is not running; run "CodeForge: Restart Language Server"';
      if (!options.quiet) void vscode.window.showErrorMessage(`CodeForge: ${message}.`);
      return { ok: false, message };
    }
    try {
      const result: unknown = await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [argument] });
      if (command !== CALL_COMMANDS.join) this.host.log(`call: ${short} done`);
      const call = isObject(result) && 'call' in result ? parseCall(result.call) : undefined;
      if (call !== undefined && command !== CALL_COMMANDS.join && call !== null) this.setCall(call);
      return { ok: true, result };
    } catch (error) {
      const message = scrubCallText(messageOf(error));
      this.host.log(`call: ${short} failed: ${message}`);
      if (!options.quiet) void vscode.window.showErrorMessage(`CodeForge: call ${short} failed: ${message}`);
      return { ok: false, message };
    }
  }

  dispose(): void {
    this.panel?.dispose();
    for (const d of this.disposables) d.dispose();
    callRoster.set(null);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
