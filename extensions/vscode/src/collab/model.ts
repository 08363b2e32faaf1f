// Collaboration's rules, free of `vscode` so they are unit tested: the server's notifications
// (docs/collab.md, "Language-server protocol (editors)") checked into typed values, the status
// bar text, what each palette command still has to ask, participants' colours made safe for
// CSS, and the throttle of the cursor notifications. collab/*.ts (the VS Code side) use them.

/** The server's collaboration commands (`workspace/executeCommand`, one object argument). */
export const COMMANDS = {
  start: 'codeforge.collab.start',
  invite: 'codeforge.collab.invite',
  join: 'codeforge.collab.join',
  leave: 'codeforge.collab.leave',
  end: 'codeforge.collab.end',
  participants: 'codeforge.collab.participants',
  follow: 'codeforge.collab.follow',
  handover: 'codeforge.collab.handover',
  setMode: 'codeforge.collab.setMode',
  setRole: 'codeforge.collab.setRole',
  resolveConflict: 'codeforge.collab.resolveConflict',
  comment: 'codeforge.collab.comment',
  reply: 'codeforge.collab.reply',
  resolve: 'codeforge.collab.resolve',
  reopen: 'codeforge.collab.reopen',
  review: 'codeforge.collab.review',
} as const;
export type CollabCommand = (typeof COMMANDS)[keyof typeof COMMANDS];
const ALL_COMMANDS: ReadonlySet<string> = new Set(Object.values(COMMANDS));

export function isCollabCommand(command: string): command is CollabCommand {
  return ALL_COMMANDS.has(command);
}

export const NOTIFICATIONS = {
  cursor: 'codeforge/collab/cursor',
  state: 'codeforge/collab/state',
  presence: 'codeforge/collab/presence',
  conflict: 'codeforge/collab/conflict',
  comments: 'codeforge/collab/comments',
} as const;

export const ROLES = ['driver', 'navigator', 'guest'] as const;
export type Role = (typeof ROLES)[number];
export const MODES = ['free', 'pair'] as const;
export type Mode = (typeof MODES)[number];
export const CHOICES = ['ours', 'theirs', 'both'] as const;
export type Choice = (typeof CHOICES)[number];

export const ROLE_HELP: Record<Role, string> = {
  driver: 'edits (the only one who edits in pair mode)',
  navigator: 'edits in free mode; watches and comments in pair mode',
  guest: 'read-only: sees everything, edits nothing',
};
export const MODE_HELP: Record<Mode, string> = {
  free: 'everyone but guests edits at once',
  pair: 'one driver at a time, handed over explicitly',
};

export interface Position {
  line: number;
  character: number;
}
export interface Range {
  start: Position;
  end: Position;
}
export interface Selection {
  anchor: Position;
  head: Position;
}

export interface Participant {
  username: string;
  name: string;
  /** Always a CSS-safe `#rrggbb` here (see `safeColor`). */
  color: string;
  role: Role;
}

export interface CollabState {
  session: string | null;
  title: string;
  role?: Role;
  mode?: Mode;
  driver?: string;
  host?: string;
  mayEdit: boolean;
  following?: string;
  participants: Participant[];
}

export const OUT_OF_SESSION: CollabState = { session: null, title: '', mayEdit: true, participants: [] };

export interface PresenceParticipant extends Participant {
  selections: Selection[];
  visibleRange?: Range;
}

export interface Presence {
  uri: string;
  participants: PresenceParticipant[];
}

export interface Conflict {
  id: string;
  uri: string;
  base: string;
  ours: string;
  theirs: string;
}

export interface ThreadComment {
  author: string;
  body: string;
  createdAt: string;
}

export interface Thread {
  id: string;
  line: number;
  state: 'open' | 'resolved';
  review?: string;
  /** The anchored text was deleted: the thread stays at its last known line, saying so. */
  detached?: boolean;
  note?: string;
  comments: ThreadComment[];
}

export interface Comments {
  uri: string;
  threads: Thread[];
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function oneOf<T extends string>(values: readonly T[], value: unknown): T | undefined {
  return typeof value === 'string' && (values as readonly string[]).includes(value) ? (value as T) : undefined;
}

function natural(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
}

function position(value: unknown): Position | undefined {
  if (!isObject(value)) return undefined;
  const line = natural(value.line);
  const character = natural(value.character);
  return line === undefined || character === undefined ? undefined : { line, character };
}

function range(value: unknown): Range | undefined {
  if (!isObject(value)) return undefined;
  const start = position(value.start);
  const end = position(value.end);
  return start && end ? { start, end } : undefined;
}

/** A distinct, readable colour for whoever the server sent none (or a bad one) for. */
const FALLBACK_PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#9a6324'];

/**
 * A colour as `#rrggbb`: `#rgb` and `#rrggbb` are taken (lower-cased), anything else — it goes
 * into CSS the editor renders — is replaced by a palette colour chosen from the username, so
 * the same person keeps the same colour.
 */
export function safeColor(color: unknown, username: string): string {
  if (typeof color === 'string') {
    const c = color.trim().toLowerCase();
    if (/^#[0-9a-f]{6}$/.test(c)) return c;
    if (/^#[0-9a-f]{3}$/.test(c)) return `#${c[1]}${c[1]}${c[2]}${c[2]}${c[3]}${c[3]}`;
  }
  let hash = 0;
  for (const ch of username) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  return FALLBACK_PALETTE[hash % FALLBACK_PALETTE.length];
}

/** `#rrggbb` with an alpha, as `rgba(…)` (selection backgrounds let the text show through). */
export function withAlpha(color: string, alpha: number): string {
  const n = Number.parseInt(color.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

/** Black or white, whichever reads better on `color` (the name label's text). */
export function contrastText(color: string): string {
  const n = Number.parseInt(color.slice(1), 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? '#000000' : '#ffffff';
}

function participant(value: unknown): Participant | undefined {
  if (!isObject(value)) return undefined;
  const username = str(value.username);
  if (!username) return undefined;
  return {
    username,
    name: str(value.name) ?? username,
    color: safeColor(value.color, username),
    role: oneOf(ROLES, value.role) ?? 'guest',
  };
}

/** `codeforge/collab/state`, or undefined when it is not one (then nothing changes). */
export function parseState(params: unknown): CollabState | undefined {
  if (!isObject(params)) return undefined;
  if (params.session === null || params.session === undefined) return OUT_OF_SESSION;
  const session = str(params.session);
  if (!session) return undefined;
  const participants = Array.isArray(params.participants) ? params.participants.map(participant).filter((p): p is Participant => p !== undefined) : [];
  return {
    session,
    title: str(params.title) ?? '',
    role: oneOf(ROLES, params.role),
    mode: oneOf(MODES, params.mode),
    driver: str(params.driver),
    host: str(params.host),
    mayEdit: params.mayEdit !== false,
    following: str(params.following),
    participants,
  };
}

function selection(value: unknown): Selection | undefined {
  if (!isObject(value)) return undefined;
  const anchor = position(value.anchor);
  const head = position(value.head);
  return anchor && head ? { anchor, head } : undefined;
}

/** `codeforge/collab/presence`: everyone else's cursors in one document. */
export function parsePresence(params: unknown): Presence | undefined {
  if (!isObject(params)) return undefined;
  const uri = str(params.uri);
  if (!uri || !Array.isArray(params.participants)) return undefined;
  const participants: PresenceParticipant[] = [];
  for (const raw of params.participants) {
    const who = participant(raw);
    if (!who || !isObject(raw)) continue;
    const selections = Array.isArray(raw.selections) ? raw.selections.map(selection).filter((s): s is Selection => s !== undefined) : [];
    participants.push({ ...who, selections, visibleRange: range(raw.visibleRange) });
  }
  return { uri, participants };
}

/** `codeforge/collab/conflict`: base, ours and theirs are whole texts (ours may be empty). */
export function parseConflict(params: unknown): Conflict | undefined {
  if (!isObject(params)) return undefined;
  const id = str(params.id);
  const uri = str(params.uri);
  const texts = [params.base, params.ours, params.theirs];
  if (!id || !uri || !texts.every((t) => typeof t === 'string')) return undefined;
  return { id, uri, base: params.base as string, ours: params.ours as string, theirs: params.theirs as string };
}

function thread(value: unknown): Thread | undefined {
  if (!isObject(value)) return undefined;
  const id = str(value.id) ?? (typeof value.id === 'number' ? String(value.id) : undefined);
  const line = natural(value.line);
  if (!id || line === undefined) return undefined;
  const comments: ThreadComment[] = [];
  for (const c of Array.isArray(value.comments) ? value.comments : []) {
    if (isObject(c) && typeof c.body === 'string') {
      comments.push({ author: str(c.author) ?? '?', body: c.body, createdAt: str(c.createdAt) ?? '' });
    }
  }
  const thread: Thread = { id, line, state: value.state === 'resolved' ? 'resolved' : 'open', review: str(value.review), comments };
  if (value.detached === true) thread.detached = true;
  if (str(value.note)) thread.note = str(value.note);
  return thread;
}

/** `codeforge/collab/comments`: the threads of one document at their current lines. */
export function parseComments(params: unknown): Comments | undefined {
  if (!isObject(params)) return undefined;
  const uri = str(params.uri);
  if (!uri || !Array.isArray(params.threads)) return undefined;
  return { uri, threads: params.threads.map(thread).filter((t): t is Thread => t !== undefined) };
}

function nameOf(state: CollabState, username: string | undefined): string | undefined {
  if (!username) return undefined;
  return state.participants.find((p) => p.username === username)?.name ?? username;
}

export interface CollabStatusView {
  /** Empty: out of a session (the item is hidden). */
  text: string;
  tooltip: string;
  /** Read-only (a guest, or a navigator in pair mode): drawn with the warning background. */
  readOnly: boolean;
}

/** The status bar item: session, your role, mode, driver, and whom you follow. */
export function statusView(state: CollabState): CollabStatusView {
  if (!state.session) return { text: '', tooltip: '', readOnly: false };
  const title = state.title || `session ${state.session.slice(0, 8)}`;
  const parts = [`$(live-share) ${title}`, state.role ?? '?'];
  if (state.mode) parts.push(state.mode === 'pair' ? `pair, driver ${nameOf(state, state.driver) ?? '?'}` : 'free');
  if (state.following) parts.push(`Following ${nameOf(state, state.following)}`);
  parts.push(state.participants.length === 1 ? '1 person' : `${state.participants.length} people`);
  const people = state.participants.map((p) => `${p.name} (${p.role}${p.username === state.host ? ', host' : ''})`).join(', ');
  const tooltip = [
    `CodeForge session "${title}"`,
    `You: ${state.role ?? '?'}${state.mayEdit ? '' : ' — read-only'}`,
    `Mode: ${state.mode ?? '?'}${state.mode ? ` (${MODE_HELP[state.mode]})` : ''}`,
    `Driver: ${nameOf(state, state.driver) ?? '—'}`,
    state.following ? `Following: ${nameOf(state, state.following)}` : 'Following nobody',
    `Participants: ${people || '—'}`,
  ].join('\n');
  return { text: parts.join(' · '), tooltip, readOnly: !state.mayEdit };
}

/**
 * An invitation as typed (a link or a bare token): trimmed, one line, no spaces. The server
 * decides whether it is valid; this only refuses what cannot be one, without repeating it.
 */
export function checkInvitation(text: string): string | undefined {
  const value = text.trim();
  if (!value) return 'Paste the invitation link (or its token) the host sent you.';
  if (/\s/.test(value)) return 'An invitation is one word or link, without spaces or line breaks.';
  if (value.length > 4096) return 'That is too long to be an invitation.';
  return undefined;
}

/** Text for messages and the output channel, without the invitation's token or link. */
export function scrubSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 4) out = out.split(secret).join('••••');
  }
  return out.replace(/([?&#](?:token|invitation)=)[^&\s]+/gi, '$1••••');
}

/** The invite command's result, checked: the link and token are secrets shown once. */
export interface Invitation {
  link: string;
  token: string;
  role: string;
  expiresAt: string;
}

export function parseInvitation(result: unknown): Invitation | undefined {
  if (!isObject(result)) return undefined;
  const link = str(result.link);
  const token = str(result.token);
  if (!link || !token) return undefined;
  return { link, token, role: str(result.role) ?? 'navigator', expiresAt: str(result.expiresAt) ?? '' };
}

/** What a palette command has to ask before it can go to the server. */
export type Ask =
  | { kind: 'title' }
  | { kind: 'mode' }
  | { kind: 'role'; field: 'role'; default?: Role }
  | { kind: 'invitation' }
  | { kind: 'participant'; purpose: 'follow' | 'handover' | 'setRole' }
  | { kind: 'conflict' }
  | { kind: 'choice' }
  | { kind: 'body' }
  | { kind: 'ref' }
  | { kind: 'confirm'; message: string };

function has(given: Json, key: string): boolean {
  return given[key] !== undefined && given[key] !== null && given[key] !== '';
}

/**
 * The prompts a command still needs, in order, given the arguments it came with. A command run
 * from code with its arguments asks nothing; `follow` without a username asks whom (stopping
 * is one of the choices), `end` asks for a confirmation (it ends everyone's access).
 */
export function asksFor(command: CollabCommand, given: Json): Ask[] {
  switch (command) {
    case COMMANDS.start: {
      const asks: Ask[] = [];
      if (!('title' in given)) asks.push({ kind: 'title' });
      if (!has(given, 'mode')) asks.push({ kind: 'mode' });
      return asks;
    }
    case COMMANDS.invite:
      return has(given, 'role') ? [] : [{ kind: 'role', field: 'role', default: 'navigator' }];
    case COMMANDS.join:
      return has(given, 'invitation') ? [] : [{ kind: 'invitation' }];
    case COMMANDS.follow:
      return 'username' in given ? [] : [{ kind: 'participant', purpose: 'follow' }];
    case COMMANDS.handover:
      return has(given, 'username') ? [] : [{ kind: 'participant', purpose: 'handover' }];
    case COMMANDS.setMode:
      return has(given, 'mode') ? [] : [{ kind: 'mode' }];
    case COMMANDS.setRole: {
      const asks: Ask[] = [];
      if (!has(given, 'username')) asks.push({ kind: 'participant', purpose: 'setRole' });
      if (!has(given, 'role')) asks.push({ kind: 'role', field: 'role' });
      return asks;
    }
    case COMMANDS.resolveConflict: {
      const asks: Ask[] = [];
      if (!has(given, 'id')) asks.push({ kind: 'conflict' });
      if (!has(given, 'choice')) asks.push({ kind: 'choice' });
      return asks;
    }
    case COMMANDS.comment:
      return has(given, 'body') ? [] : [{ kind: 'body' }];
    case COMMANDS.reply:
      return has(given, 'body') ? [] : [{ kind: 'body' }];
    case COMMANDS.review:
      return has(given, 'ref') ? [] : [{ kind: 'ref' }];
    case COMMANDS.end:
      return given.confirmed === true ? [] : [{ kind: 'confirm', message: 'End the session? Every participant loses access at once.' }];
    default:
      return [];
  }
}

export interface ParticipantChoice {
  label: string;
  description: string;
  /** null: stop following. */
  username: string | null;
}

/**
 * The quick pick of participants: whom to follow or whose role to set (never yourself), whom to
 * hand the keyboard to (anyone but the driver and guests: the host may take it back).
 */
export function participantChoices(state: CollabState, purpose: 'follow' | 'handover' | 'setRole', me: string | undefined): ParticipantChoice[] {
  const candidates = state.participants.filter((p) =>
    purpose === 'handover' ? p.username !== state.driver && p.role !== 'guest' : p.username !== me,
  );
  const choices: ParticipantChoice[] = candidates.map((p) => ({
    label: p.username === me ? `${p.name} (you)` : p.name,
    description: `${p.username} · ${p.role}${p.username === state.driver ? ' · driving' : ''}${p.username === state.host ? ' · host' : ''}`,
    username: p.username,
  }));
  if (purpose === 'follow' && state.following) {
    choices.unshift({ label: 'Stop following', description: `you follow ${nameOf(state, state.following)}`, username: null });
  }
  return choices;
}

/** One line per participant of the `participants` command's result (file and line when known). */
export function describeParticipants(result: unknown): { label: string; description: string; username: string; uri?: string; line?: number }[] {
  const list = Array.isArray(result) ? result : isObject(result) && Array.isArray(result.participants) ? result.participants : [];
  const out: { label: string; description: string; username: string; uri?: string; line?: number }[] = [];
  for (const raw of list) {
    const who = participant(raw);
    if (!who || !isObject(raw)) continue;
    const file = str(raw.file) ?? str(raw.path) ?? str(raw.uri);
    const line = natural(raw.line);
    const where = file ? `${file}${line !== undefined ? `:${line + 1}` : ''}` : 'no file open';
    out.push({ label: who.name, description: `${who.role} · ${where}`, username: who.username, uri: str(raw.uri), line });
  }
  return out;
}

/** The cursor notification's parameters (positions already in the negotiated encoding). */
export function cursorParams(uri: string, selections: Selection[], visibleRange?: Range): Json {
  return visibleRange ? { uri, selections, visibleRange } : { uri, selections };
}

/** The same cursor report twice in a row is not sent again (a focus event repeats it). */
export function sameCursor(a: Json | undefined, b: Json): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

export interface Timers {
  set(callback: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/**
 * At most one call per `ms`, and always the latest value: a burst of selection changes sends
 * the first at once and the last when the window closes, never a stale one in between.
 */
export class Throttle<T> {
  private pending: { value: T } | undefined;
  private timer: unknown;

  constructor(
    private readonly ms: number,
    private readonly send: (value: T) => void,
    private readonly timers: Timers = { set: (c, ms) => setTimeout(c, ms), clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) },
  ) {}

  push(value: T): void {
    if (this.timer !== undefined) {
      this.pending = { value };
      return;
    }
    this.send(value);
    this.timer = this.timers.set(() => this.tick(), this.ms);
  }

  private tick(): void {
    this.timer = undefined;
    const pending = this.pending;
    this.pending = undefined;
    if (pending) this.push(pending.value);
  }

  dispose(): void {
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = undefined;
    this.pending = undefined;
  }
}

/** A participant's cursors, as the decorations draw them: selected ranges and caret positions. */
export interface PresenceMarks {
  selections: Range[];
  carets: Position[];
}

function before(a: Position, b: Position): boolean {
  return a.line < b.line || (a.line === b.line && a.character < b.character);
}

export function presenceMarks(p: PresenceParticipant): PresenceMarks {
  const selections: Range[] = [];
  const carets: Position[] = [];
  for (const s of p.selections) {
    carets.push(s.head);
    if (s.anchor.line !== s.head.line || s.anchor.character !== s.head.character) {
      selections.push(before(s.anchor, s.head) ? { start: s.anchor, end: s.head } : { start: s.head, end: s.anchor });
    }
  }
  return { selections, carets };
}

/** The thread's label in the comments UI: its review, and why it is detached when it is. */
export function threadLabel(t: Thread): string | undefined {
  const parts = [t.review ? `Review ${t.review.slice(0, 8)}` : undefined, t.detached ? (t.note ?? 'its text was deleted') : undefined].filter(Boolean);
  return parts.length ? parts.join(' · ') : undefined;
}

/** The name label: the display name, and the role when it matters (a read-only guest). */
export function labelOf(p: Participant): string {
  return p.role === 'guest' ? `${p.name} (guest)` : p.name;
}
