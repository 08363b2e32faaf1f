// What the remote status bar item says, from the notifications `codeforge connect` adds to the
// CodeForge language server's stream: `codeforge/connection` ({state}) and `codeforge/syncStatus`
// (a sync event: message and data). Also finds the two versions a conflict message names.
// Free of `vscode` so it is unit tested; remoteUi.ts puts it on screen.

export type ConnectionState = 'connected' | 'reconnecting';
/** What the status bar shows: the relay's states, and `stopped` when the server is not running. */
export type ShownState = ConnectionState | 'stopped';

export interface SyncStatus {
  /** One line, e.g. "initial sync 1200/10000 files" or "in sync". */
  message: string;
  /** Files or bytes done and in all, when the sync reports progress. */
  done?: number;
  total?: number;
  /** The sync found an error it could not get past (shown with the warning colour). */
  error: boolean;
  /** Still working (scan, initial transfer, changes in flight). */
  busy: boolean;
}

function numberOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function parseConnection(params: unknown): ConnectionState | undefined {
  const state = typeof params === 'object' && params !== null ? (params as { state?: unknown }).state : undefined;
  return state === 'connected' || state === 'reconnecting' ? state : undefined;
}

/** A `codeforge/syncStatus` notification's params: `{kind, message, data}` or flat fields. */
export function parseSyncStatus(params: unknown): SyncStatus | undefined {
  if (typeof params !== 'object' || params === null) {
    return undefined;
  }
  const flat = params as Record<string, unknown>;
  const data = typeof flat.data === 'object' && flat.data !== null ? (flat.data as Record<string, unknown>) : {};
  const field = (name: string): unknown => flat[name] ?? data[name];
  const message = typeof flat.message === 'string' ? flat.message.trim() : '';
  const state = String(field('state') ?? field('phase') ?? '').toLowerCase();
  const done = numberOf(field('done') ?? field('files_done') ?? field('sent'));
  const total = numberOf(field('total') ?? field('files_total'));
  const error = flat.kind === 'error' || state === 'error' || state === 'failed';
  const idle = ['idle', 'synced', 'in sync', 'done', 'watching', 'ready'].includes(state);
  const busy = !error && !idle && (state !== '' || (done !== undefined && total !== undefined && done < total));
  return { message: message || state || 'sync', done, total, error, busy };
}

export interface RemoteView {
  text: string;
  tooltip: string;
  warning: boolean;
}

function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The status bar item of a remote workspace; `host` is the bridge's host (never a token). */
export function remoteView(host: string, connection: ShownState | undefined, sync: SyncStatus | undefined): RemoteView {
  const lines = [`Remote workspace: ${host}`];
  if (connection === 'stopped') {
    return {
      text: `$(debug-disconnect) ${shorten(host, 40)}: not connected`,
      tooltip: `${lines[0]}\nThe CodeForge language server through this bridge is not running: see the "CodeForge" output, then run "CodeForge: Restart Language Server" or "CodeForge: Connect to Remote Workspace".`,
      warning: true,
    };
  }
  if (connection === 'reconnecting') {
    lines.push('Connection lost: reconnecting. Open files, language servers and terminals are kept while it does.');
  } else {
    lines.push(connection === 'connected' ? 'Connected' : 'Connecting…');
  }
  let syncPart = '';
  if (sync) {
    const progress = sync.done !== undefined && sync.total !== undefined && sync.total > 0 ? ` ${sync.done}/${sync.total}` : '';
    lines.push(`Sync: ${sync.message}${progress && !sync.message.includes(`${sync.done}/`) ? ` (${progress.trim()})` : ''}`);
    const icon = sync.error ? '$(error)' : sync.busy ? '$(sync~spin)' : '$(check)';
    syncPart = ` ${icon} ${shorten(sync.message, 32)}${progress && !sync.message.includes(`${sync.done}/`) ? progress : ''}`;
  }
  const plug = connection === 'reconnecting' ? '$(debug-disconnect) reconnecting' : connection === 'connected' ? '$(remote)' : '$(loading~spin)';
  return {
    text: `${plug} ${shorten(host, 40)}${syncPart}`,
    tooltip: lines.join('\n'),
    warning: connection === 'reconnecting' || (sync?.error ?? false),
  };
}

/** The two versions of a file a conflict message names: the file and its kept copy. */
export interface ConflictPair {
  /** The file as it is now (relative to the workspace folder, or absolute). */
  file: string;
  /** The other side's version, kept as `name.conflict-<side>-<time>`. */
  copy: string;
}

// A conflict copy: `<name>.conflict-<side>-<time>`; the name may sit in quotes or backticks.
const CONFLICT_COPY = /(?:^|[\s"'`(])((?:[^\s"'`()]*?)\.conflict-[A-Za-z]+-[0-9A-Za-z:._-]*[0-9A-Za-z])/g;

const WHOLE_COPY = /^[^\n]+\.conflict-[A-Za-z]+-[0-9A-Za-z:._-]*[0-9A-Za-z]$/;

/** Every conflict pair a message (or its data) names, each once. */
export function conflictPairs(message: string, data?: unknown): ConflictPair[] {
  const pairs = new Map<string, ConflictPair>();
  const add = (copy: string): void => {
    const file = copy.slice(0, copy.lastIndexOf('.conflict-'));
    if (file !== '' && !file.endsWith('/') && !pairs.has(copy)) {
      pairs.set(copy, { file, copy });
    }
  };
  // Data fields hold whole paths (spaces included): a field that is a conflict copy is one.
  if (typeof data === 'object' && data !== null) {
    for (const value of Object.values(data as Record<string, unknown>)) {
      for (const text of Array.isArray(value) ? value : [value]) {
        if (typeof text === 'string' && WHOLE_COPY.test(text)) {
          add(text);
        }
      }
    }
  }
  for (const match of message.matchAll(CONFLICT_COPY)) {
    add(match[1]);
  }
  return [...pairs.values()];
}
