// Everyone else's cursors as decorations: per participant a selection background, a caret bar
// and a name label after the caret, in their colour. `codeforge/collab/presence` replaces one
// document's cursors; an empty list clears them; someone who left everywhere has their
// decoration types disposed (which removes them from every editor at once).
import * as vscode from 'vscode';
import { contrastText, labelOf, type Position, type Presence, type PresenceParticipant, presenceMarks, type Range, withAlpha } from './model';

interface Look {
  key: string;
  selection: vscode.TextEditorDecorationType;
  caret: vscode.TextEditorDecorationType;
  label: vscode.TextEditorDecorationType;
}

function createLook(p: PresenceParticipant): Look {
  // `p.color` is `#rrggbb` (model.safeColor): nothing else reaches the CSS.
  const color = p.color;
  return {
    key: `${p.username}|${p.color}|${labelOf(p)}`,
    selection: vscode.window.createTextEditorDecorationType({
      backgroundColor: withAlpha(color, 0.25),
      overviewRulerColor: color,
      overviewRulerLane: vscode.OverviewRulerLane.Center,
      rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    }),
    // A zero-width character with a border is a 2 px bar the height of the line; the negative
    // margin keeps the text from moving.
    caret: vscode.window.createTextEditorDecorationType({
      before: { contentText: '\u200b', border: `1px solid ${color}`, margin: '0 -2px 0 0' },
      rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    }),
    label: vscode.window.createTextEditorDecorationType({
      after: { contentText: ` ${labelOf(p)} `, color: contrastText(color), backgroundColor: color, margin: '0 0 0 2px', fontWeight: 'normal' },
      rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    }),
  };
}

function disposeLook(look: Look): void {
  look.selection.dispose();
  look.caret.dispose();
  look.label.dispose();
}

const LABELS_SETTING = 'codeforge.collab.nameLabels';

export type ToCode = { uri(uri: string): vscode.Uri };

export class PresenceView implements vscode.Disposable {
  /** Document (code URI string) -> the participants with cursors in it. */
  private readonly byDocument = new Map<string, PresenceParticipant[]>();
  private readonly looks = new Map<string, Look>();
  private readonly subscriptions: vscode.Disposable[];

  constructor() {
    this.subscriptions = [
      // An editor that comes into view (another tab, a split) gets the cursors already known.
      vscode.window.onDidChangeVisibleTextEditors(() => this.renderAll()),
      vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration(LABELS_SETTING) && this.renderAll()),
    ];
  }

  /** Cursors in one document, as the server sent them (positions already the client's). */
  update(presence: Presence, toCode: ToCode): void {
    const key = toCode.uri(presence.uri).toString();
    if (presence.participants.length === 0) {
      this.byDocument.delete(key);
    } else {
      this.byDocument.set(key, presence.participants);
    }
    this.collect();
    this.renderAll();
  }

  /** Only these people are still in the session: anyone else's cursors go, everywhere. */
  keepOnly(usernames: ReadonlySet<string>): void {
    for (const [uri, people] of this.byDocument) {
      const kept = people.filter((p) => usernames.has(p.username));
      if (kept.length === 0) this.byDocument.delete(uri);
      else this.byDocument.set(uri, kept);
    }
    this.collect();
    this.renderAll();
  }

  clear(): void {
    this.byDocument.clear();
    this.collect();
  }

  /** Whose cursors are shown in a document (for the participants list and tests). */
  shownIn(uri: vscode.Uri): string[] {
    return (this.byDocument.get(uri.toString()) ?? []).map((p) => p.username);
  }

  /** The look of each participant on screen; the looks of those gone are disposed. */
  private collect(): void {
    const wanted = new Map<string, PresenceParticipant>();
    for (const people of this.byDocument.values()) {
      for (const p of people) wanted.set(p.username, p);
    }
    for (const [username, look] of this.looks) {
      const p = wanted.get(username);
      if (!p || look.key !== `${p.username}|${p.color}|${labelOf(p)}`) {
        disposeLook(look);
        this.looks.delete(username);
      }
    }
    for (const [username, p] of wanted) {
      if (!this.looks.has(username)) this.looks.set(username, createLook(p));
    }
  }

  private renderAll(): void {
    const labels = vscode.workspace.getConfiguration().get<boolean>(LABELS_SETTING, true);
    for (const editor of vscode.window.visibleTextEditors) {
      const people = this.byDocument.get(editor.document.uri.toString()) ?? [];
      const present = new Set(people.map((p) => p.username));
      for (const p of people) {
        const look = this.looks.get(p.username);
        if (!look) continue;
        const marks = presenceMarks(p);
        const name = new vscode.MarkdownString();
        name.appendText(`${p.name} (${p.username}, ${p.role})`);
        editor.setDecorations(look.selection, marks.selections.map((r) => ({ range: toRange(r), hoverMessage: name })));
        const carets = marks.carets.map((c) => ({ range: new vscode.Range(toPosition(c), toPosition(c)), hoverMessage: name }));
        editor.setDecorations(look.caret, carets);
        editor.setDecorations(look.label, labels ? carets : []);
      }
      for (const [username, look] of this.looks) {
        if (!present.has(username)) {
          editor.setDecorations(look.selection, []);
          editor.setDecorations(look.caret, []);
          editor.setDecorations(look.label, []);
        }
      }
    }
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
    for (const look of this.looks.values()) disposeLook(look);
    this.looks.clear();
    this.byDocument.clear();
  }
}

function toPosition(p: Position): vscode.Position {
  return new vscode.Position(p.line, p.character);
}

function toRange(r: Range): vscode.Range {
  return new vscode.Range(toPosition(r.start), toPosition(r.end));
}
