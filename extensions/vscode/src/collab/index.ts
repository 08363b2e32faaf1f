// Collaboration in VS Code, wired to the language client:
//   status.ts     the status bar item           presence.ts  others' cursors as decorations
//   cursor.ts     our cursor for the others      conflicts.ts three-way view and its choices
//   comments.ts   review threads (comments API)  model.ts     the rules, free of `vscode`
// The palette commands are the server's own (`codeforge.collab.*`, which vscode-languageclient
// registers from executeCommandProvider): the extension's middleware hands them to
// `Collab.intercept`, which asks for what is missing, runs them and shows the result. The
// invitation's link and token are never logged: only command names are.
import * as vscode from 'vscode';
import { ExecuteCommandRequest, type LanguageClient } from 'vscode-languageclient/node';
import { CommentsView } from './comments';
import { CONFLICT_SCHEME, ConflictView } from './conflicts';
import { CursorReporter } from './cursor';
import {
  type Ask,
  asksFor,
  checkInvitation,
  type Choice,
  CHOICES,
  type CollabCommand,
  type CollabState,
  COMMANDS,
  describeParticipants,
  isCollabCommand,
  MODE_HELP,
  MODES,
  NOTIFICATIONS,
  OUT_OF_SESSION,
  parseComments,
  parseConflict,
  parseInvitation,
  parsePresence,
  parseState,
  participantChoices,
  ROLE_HELP,
  ROLES,
  scrubSecrets,
} from './model';
import { PresenceView } from './presence';
import { CollabStatus } from './status';

export { isCollabCommand };

export interface CollabHost {
  client(): LanguageClient | undefined;
  log(line: string): void;
  /** Our platform username (from `codeforge/status`), to leave ourselves out of the pickers. */
  me(): string | undefined;
}

type Args = Record<string, unknown>;
const CHOICE_HELP: Record<Choice, string> = {
  ours: "keep the session's text (right side)",
  theirs: 'keep the text on disk (left side)',
  both: 'keep both: ours, then theirs',
};

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class Collab implements vscode.Disposable {
  private state: CollabState = OUT_OF_SESSION;
  private readonly status = new CollabStatus();
  private readonly presence = new PresenceView();
  private readonly cursor: CursorReporter;
  private readonly conflicts: ConflictView;
  private readonly comments: CommentsView;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly host: CollabHost) {
    this.cursor = new CursorReporter(() => host.client(), host.log);
    this.conflicts = new ConflictView({
      resolve: async (id, choice) => (await this.run(COMMANDS.resolveConflict, { id, choice })) !== undefined,
      label: (uri) => vscode.workspace.asRelativePath(this.toCode(uri), false),
    });
    this.comments = new CommentsView({
      run: (command, argument) => this.run(COMMANDS[command], argument),
      toServer: (uri) => host.client()?.code2ProtocolConverter.asUri(uri) ?? uri.toString(),
      toCode: (uri) => this.toCode(uri),
    });
    const accept = (choice: Choice) => (uri?: vscode.Uri) => {
      const id = this.conflicts.idOf(uri ?? vscode.window.activeTextEditor?.document.uri);
      if (!id) {
        void vscode.window.showWarningMessage('CodeForge: this conflict is already resolved.');
        return;
      }
      return this.conflicts.accept(id, choice);
    };
    this.disposables.push(
      // Client-side commands (the server's are registered by the language client).
      vscode.commands.registerCommand('codeforge.collabUi.acceptOurs', accept('ours')),
      vscode.commands.registerCommand('codeforge.collabUi.acceptTheirs', accept('theirs')),
      vscode.commands.registerCommand('codeforge.collabUi.acceptBoth', accept('both')),
      vscode.commands.registerCommand('codeforge.collabUi.reply', (reply: vscode.CommentReply) => this.comments.reply(reply)),
      vscode.commands.registerCommand('codeforge.collabUi.resolveThread', (thread: vscode.CommentThread) => this.comments.setState(thread, 'resolve')),
      vscode.commands.registerCommand('codeforge.collabUi.reopenThread', (thread: vscode.CommentThread) => this.comments.setState(thread, 'reopen')),
    );
    void vscode.commands.executeCommand('setContext', 'codeforge.collab.inSession', false);
  }

  private toCode(uri: string): vscode.Uri {
    return this.host.client()?.protocol2CodeConverter.asUri(uri) ?? vscode.Uri.parse(uri);
  }

  /** A new language client, before it starts: its notifications, and nothing of the last one. */
  prepare(client: LanguageClient): void {
    this.setState(OUT_OF_SESSION);
    this.cursor.reset();
    client.onNotification(NOTIFICATIONS.state, (params: unknown) => {
      const state = parseState(params);
      if (state) this.setState(state);
      else this.host.log('collab: a state notification that is not one was ignored');
    });
    client.onNotification(NOTIFICATIONS.presence, (params: unknown) => {
      const presence = parsePresence(params);
      if (presence) this.presence.update(presence, { uri: (uri) => client.protocol2CodeConverter.asUri(uri) });
    });
    client.onNotification(NOTIFICATIONS.conflict, (params: unknown) => {
      const conflict = parseConflict(params);
      if (conflict) void this.conflicts.show(conflict);
    });
    client.onNotification(NOTIFICATIONS.comments, (params: unknown) => {
      const comments = parseComments(params);
      if (comments) this.comments.update(comments);
    });
  }

  private setState(state: CollabState): void {
    const was = this.state;
    this.state = state;
    this.status.show(state);
    this.cursor.setActive(state.session !== null);
    if (state.session === null) this.presence.clear();
    else this.presence.keepOnly(new Set(state.participants.map((p) => p.username)));
    if (was.session !== state.session) {
      void vscode.commands.executeCommand('setContext', 'codeforge.collab.inSession', state.session !== null);
      this.host.log(state.session ? `collab: in session ${state.session.slice(0, 8)} as ${state.role ?? '?'}` : 'collab: out of a session');
    }
  }

  /** A server command run from the palette (or a code path without all its arguments). */
  async intercept(command: CollabCommand, args: unknown[]): Promise<unknown> {
    const given: Args = args.length >= 1 && typeof args[0] === 'object' && args[0] !== null ? { ...(args[0] as Args) } : {};
    for (const ask of asksFor(command, given)) {
      if (!(await this.ask(ask, command, given))) return undefined;
    }
    if (command === COMMANDS.comment && (given.uri === undefined || given.line === undefined) && !this.fillFromEditor(given)) {
      return undefined;
    }
    delete given.confirmed;
    const result = await this.run(command, given);
    if (result !== undefined) await this.after(command, given, result);
    return result;
  }

  /** A comment from the palette goes on the active editor's cursor line. */
  private fillFromEditor(given: Args): boolean {
    const editor = vscode.window.activeTextEditor;
    const client = this.host.client();
    if (!editor || !client) {
      void vscode.window.showWarningMessage('CodeForge: open the file and put the cursor on the line to comment on, then run the command again.');
      return false;
    }
    given.uri = client.code2ProtocolConverter.asUri(editor.document.uri);
    given.line = editor.selection.active.line;
    return true;
  }

  /** Runs a server command; undefined when it failed (the error is shown, without secrets). */
  async run(command: CollabCommand, argument: Args): Promise<unknown> {
    const client = this.host.client();
    if (!client) {
      void vscode.window.showErrorMessage('CodeForge: the language server is not running; run "CodeForge: Restart Language Server".');
      return undefined;
    }
    const short = command.replace('codeforge.collab.', '');
    try {
      const result: unknown = await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [argument] });
      this.host.log(`collab: ${short} done`);
      // A command may answer null (nothing to say) and still have worked.
      return result ?? {};
    } catch (error) {
      const secrets = [typeof argument.invitation === 'string' ? argument.invitation : undefined];
      const message = scrubSecrets(messageOf(error), secrets);
      this.host.log(`collab: ${short} failed: ${message}`);
      void vscode.window.showErrorMessage(`CodeForge: ${short} failed: ${message}`);
      return undefined;
    }
  }

  private async pick<T>(title: string, items: (vscode.QuickPickItem & { value: T })[]): Promise<T | undefined> {
    const chosen = await vscode.window.showQuickPick(items, { title: `CodeForge: ${title}`, ignoreFocusOut: true });
    return chosen?.value;
  }

  private async ask(ask: Ask, command: CollabCommand, given: Args): Promise<boolean> {
    switch (ask.kind) {
      case 'title': {
        const title = await vscode.window.showInputBox({ title: 'CodeForge: Start a Collaboration Session', prompt: 'Title of the session (optional)', ignoreFocusOut: true });
        if (title === undefined) return false;
        if (title.trim()) given.title = title.trim();
        else delete given.title;
        return true;
      }
      case 'mode': {
        const mode = await this.pick(
          command === COMMANDS.start ? 'Session mode' : 'Set the session mode',
          MODES.map((m) => ({ label: m, description: MODE_HELP[m], value: m })),
        );
        given.mode = mode;
        return mode !== undefined;
      }
      case 'role': {
        const order = ask.default ? [ask.default, ...ROLES.filter((r) => r !== ask.default)] : [...ROLES];
        const role = await this.pick(
          command === COMMANDS.invite ? 'Invite with which role?' : 'New role',
          order.map((r) => ({ label: r, description: ROLE_HELP[r], value: r })),
        );
        given.role = role;
        return role !== undefined;
      }
      case 'invitation': {
        const invitation = await vscode.window.showInputBox({
          title: 'CodeForge: Join a Collaboration Session',
          prompt: 'The invitation link (or its token) the host sent you',
          placeHolder: 'codeforge://… or https://…/collab/join/…',
          password: true,
          ignoreFocusOut: true,
          validateInput: (text) => checkInvitation(text),
        });
        if (invitation === undefined) return false;
        given.invitation = invitation.trim();
        return true;
      }
      case 'participant': {
        const choices = participantChoices(this.state, ask.purpose, this.host.me());
        if (!this.state.session || choices.length === 0) {
          void vscode.window.showInformationMessage(this.state.session ? 'CodeForge: nobody else is in the session yet.' : 'CodeForge: you are not in a collaboration session; start or join one first.');
          return false;
        }
        const titles = { follow: 'Follow whom?', handover: 'Hand the keyboard to whom?', setRole: 'Change whose role?' };
        const chosen = await vscode.window.showQuickPick(
          choices.map((c) => ({ label: c.label, description: c.description, value: c.username })),
          { title: `CodeForge: ${titles[ask.purpose]}`, ignoreFocusOut: true },
        );
        if (!chosen) return false;
        if (chosen.value === null) delete given.username;
        else given.username = chosen.value;
        return true;
      }
      case 'conflict': {
        const pending = this.conflicts.pending();
        if (pending.length === 0) {
          void vscode.window.showInformationMessage('CodeForge: no conflict is waiting.');
          return false;
        }
        const id = await this.pick(
          'Which conflict?',
          pending.map((c) => ({ label: vscode.workspace.asRelativePath(this.toCode(c.uri), false), description: c.id.slice(0, 8), value: c.id })),
        );
        given.id = id;
        return id !== undefined;
      }
      case 'choice': {
        const choice = await this.pick(
          'Keep which version?',
          CHOICES.map((c) => ({ label: `Accept ${c[0].toUpperCase()}${c.slice(1)}`, description: CHOICE_HELP[c], value: c })),
        );
        given.choice = choice;
        return choice !== undefined;
      }
      case 'body': {
        const body = await vscode.window.showInputBox({
          title: 'CodeForge: Comment',
          prompt: 'Your comment (Markdown), for everyone in the session',
          ignoreFocusOut: true,
          validateInput: (text) => (text.trim() ? undefined : 'An empty comment is not sent.'),
        });
        if (body === undefined) return false;
        given.body = body.trim();
        return true;
      }
      case 'ref': {
        const ref = await vscode.window.showInputBox({ title: 'CodeForge: Review Changes', prompt: 'Review the changes since which git ref?', value: 'HEAD', ignoreFocusOut: true });
        if (ref === undefined) return false;
        given.ref = ref.trim() || 'HEAD';
        return true;
      }
      case 'confirm': {
        const ok = await vscode.window.showWarningMessage(`CodeForge: ${ask.message}`, { modal: true }, 'End Session');
        given.confirmed = ok === 'End Session';
        return ok === 'End Session';
      }
    }
  }

  /** What a command's result means for the person. */
  private async after(command: CollabCommand, given: Args, result: unknown): Promise<void> {
    switch (command) {
      case COMMANDS.invite: {
        const invitation = parseInvitation(result);
        if (!invitation) {
          void vscode.window.showErrorMessage('CodeForge: the server answered the invitation without a link.');
          return;
        }
        await vscode.env.clipboard.writeText(invitation.link);
        // A modal dialog, not a notification: VS Code keeps notifications in its history, and the
        // link carries the token. It is shown once.
        const again = await vscode.window.showInformationMessage(
          `CodeForge: invitation for a ${invitation.role} copied to the clipboard`,
          { modal: true, detail: `${invitation.link}\n\nSend it to the person you invite${invitation.expiresAt ? `; it expires at ${invitation.expiresAt}` : ''}. It is shown once.` },
          'Copy Again',
        );
        if (again === 'Copy Again') await vscode.env.clipboard.writeText(invitation.link);
        return;
      }
      case COMMANDS.participants: {
        const people = describeParticipants(result);
        const chosen = await vscode.window.showQuickPick(
          people.map((p) => ({ label: p.label, description: p.description, value: p.username })),
          { title: 'CodeForge: Participants (pick one to follow)', ignoreFocusOut: true },
        );
        if (chosen && chosen.value !== this.host.me()) await this.run(COMMANDS.follow, { username: chosen.value });
        return;
      }
      case COMMANDS.start:
      case COMMANDS.join: {
        const session = result as Args;
        const title = typeof session.title === 'string' && session.title ? `"${session.title}"` : 'the session';
        void vscode.window.showInformationMessage(`CodeForge: ${command === COMMANDS.start ? 'started' : 'joined'} ${title}.`);
        return;
      }
      case COMMANDS.follow:
        void vscode.window.setStatusBarMessage(given.username ? `CodeForge: following ${String(given.username)}` : 'CodeForge: stopped following', 3000);
        return;
      case COMMANDS.review: {
        const review = result as Args;
        const files = Array.isArray(review.files) ? review.files.length : 0;
        void vscode.window.showInformationMessage(`CodeForge: review ${typeof review.title === 'string' ? `"${review.title}" ` : ''}created over ${files} file(s); comment on its lines from the gutter.`);
        return;
      }
      default:
        return;
    }
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
    this.cursor.dispose();
    this.presence.dispose();
    this.conflicts.dispose();
    this.comments.dispose();
    this.status.dispose();
  }
}

export { CONFLICT_SCHEME };
