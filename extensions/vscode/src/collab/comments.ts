// Review comments through VS Code's comments API: the threads of `codeforge/collab/comments` at
// their current lines (the server keeps their anchors through edits), replies, resolve and
// reopen mapped to the server's commands, and a new thread from the gutter's '+' sent as
// `codeforge.collab.comment`.
import * as vscode from 'vscode';
import { type Comments, type Thread, threadLabel } from './model';

export const CONTROLLER_ID = 'codeforge.collab';

class ShownComment implements vscode.Comment {
  readonly mode = vscode.CommentMode.Preview;
  readonly author: vscode.CommentAuthorInformation;
  readonly body: vscode.MarkdownString;
  readonly timestamp?: Date;

  constructor(author: string, body: string, createdAt: string) {
    this.author = { name: author };
    // Bodies are people's text: shown as Markdown, but never trusted to run commands or HTML.
    this.body = new vscode.MarkdownString(body);
    this.body.isTrusted = false;
    this.body.supportHtml = false;
    const when = createdAt ? new Date(createdAt) : undefined;
    this.timestamp = when && !Number.isNaN(when.getTime()) ? when : undefined;
  }
}

export interface CommentsHost {
  /** Runs a server command; its result, or undefined when it failed (the error is shown). */
  run(command: 'comment' | 'reply' | 'resolve' | 'reopen', argument: Record<string, unknown>): Promise<unknown>;
  /** The server's URI for a document, and back. */
  toServer(uri: vscode.Uri): string;
  toCode(uri: string): vscode.Uri;
}

export class CommentsView implements vscode.Disposable {
  private readonly controller = vscode.comments.createCommentController(CONTROLLER_ID, 'CodeForge review');
  /** Server thread id -> its thread on screen; and the other way round. */
  private readonly threads = new Map<string, vscode.CommentThread>();
  private readonly ids = new WeakMap<vscode.CommentThread, string>();

  constructor(private readonly host: CommentsHost) {
    this.controller.options = { prompt: 'Comment for everyone in the session…', placeHolder: 'Markdown; Ctrl+Enter sends' };
    // Any line of a file may get a comment: the gutter's '+' opens an empty thread there.
    this.controller.commentingRangeProvider = {
      provideCommentingRanges: (document) => (document.uri.scheme === 'file' ? [new vscode.Range(0, 0, Math.max(0, document.lineCount - 1), 0)] : []),
    };
  }

  /** The threads of one document replace what was shown for it. */
  update(comments: Comments): void {
    const uri = this.host.toCode(comments.uri);
    const seen = new Set<string>();
    for (const t of comments.threads) {
      seen.add(t.id);
      this.show(uri, t);
    }
    for (const [id, thread] of this.threads) {
      if (thread.uri.toString() === uri.toString() && !seen.has(id)) {
        thread.dispose();
        this.threads.delete(id);
      }
    }
  }

  private show(uri: vscode.Uri, t: Thread): vscode.CommentThread {
    const range = new vscode.Range(t.line, 0, t.line, 0);
    let thread = this.threads.get(t.id);
    if (thread && thread.uri.toString() !== uri.toString()) {
      thread.dispose();
      thread = undefined;
    }
    const comments = t.comments.map((c) => new ShownComment(c.author, c.body, c.createdAt));
    if (!thread) {
      thread = this.controller.createCommentThread(uri, range, comments);
      this.threads.set(t.id, thread);
      this.ids.set(thread, t.id);
      thread.collapsibleState = vscode.CommentThreadCollapsibleState.Expanded;
    } else {
      thread.range = range;
      thread.comments = comments;
    }
    thread.label = threadLabel(t);
    thread.state = t.state === 'resolved' ? vscode.CommentThreadState.Resolved : vscode.CommentThreadState.Unresolved;
    thread.contextValue = t.state;
    thread.canReply = true;
    return thread;
  }

  /** The widget's send button: a reply to a known thread, or the first comment of a new one. */
  async reply(reply: vscode.CommentReply): Promise<void> {
    const body = reply.text.trim();
    if (!body) {
      void vscode.window.showWarningMessage('CodeForge: an empty comment is not sent; type something first.');
      return;
    }
    const id = this.ids.get(reply.thread);
    if (id) {
      this.adopt(reply.thread.uri, await this.host.run('reply', { thread: id, body }));
      return;
    }
    const line = reply.thread.range?.start.line ?? 0;
    const result = await this.host.run('comment', { uri: this.host.toServer(reply.thread.uri), line, body });
    if (result !== undefined) {
      // The empty thread the '+' opened gives way to the server's.
      reply.thread.dispose();
      this.adopt(reply.thread.uri, result);
    }
  }

  async setState(thread: vscode.CommentThread, command: 'resolve' | 'reopen'): Promise<void> {
    const id = this.ids.get(thread);
    if (id) this.adopt(thread.uri, await this.host.run(command, { thread: id }));
  }

  /** A thread a command returned is shown at once (the server's notification follows). A
   *  thread already shown keeps its line: the server's notifications own lines (an answer can
   *  come after a newer one). */
  private adopt(uri: vscode.Uri, result: unknown): void {
    if (typeof result !== 'object' || result === null) return;
    const r = result as Record<string, unknown>;
    const id = typeof r.id === 'string' ? r.id : typeof r.id === 'number' ? String(r.id) : undefined;
    const shown = id === undefined ? undefined : this.threads.get(id);
    const line = shown?.range && shown.uri.toString() === uri.toString() ? shown.range.start.line : typeof r.line === 'number' ? r.line : undefined;
    if (!id || line === undefined || !Array.isArray(r.comments)) return;
    const comments = r.comments
      .filter((c): c is Record<string, unknown> => typeof c === 'object' && c !== null && typeof (c as Record<string, unknown>).body === 'string')
      .map((c) => ({ author: String(c.author ?? '?'), body: String(c.body), createdAt: String(c.createdAt ?? c.created_at ?? '') }));
    this.show(uri, { id, line, state: r.state === 'resolved' ? 'resolved' : 'open', review: typeof r.review === 'string' ? r.review : undefined, comments });
  }

  clear(): void {
    for (const thread of this.threads.values()) thread.dispose();
    this.threads.clear();
  }

  dispose(): void {
    this.clear();
    this.controller.dispose();
  }
}
