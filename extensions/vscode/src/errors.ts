// Turns language-server and platform errors into one message a person can act on.
// Kept free of `vscode` so its rules are unit tested.

export interface ErrorAdvice {
  message: string;
  /** Buttons that help: "Open Settings", "Show Logs", "Restart Server". */
  actions: string[];
  /** A cancelled job is what the person asked for: not shown as an error. */
  severity: 'error' | 'info';
}

const INVALID_PARAMS = -32602;
const REQUEST_CANCELLED = -32800;

function messageOf(error: unknown): { code?: number; message: string } {
  if (typeof error === 'object' && error !== null) {
    const e = error as { code?: unknown; message?: unknown };
    return { code: typeof e.code === 'number' ? e.code : undefined, message: typeof e.message === 'string' ? e.message : String(error) };
  }
  return { message: String(error) };
}

export function isInvalidParams(error: unknown): boolean {
  return messageOf(error).code === INVALID_PARAMS;
}

// Platform ids are 32 hex digits (or UUIDs): a message shows the first 8, enough to tell jobs
// apart; the output channel keeps the whole line.
const LONG_ID = /\b([0-9a-f]{8})(?:[0-9a-f]{24}|-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b/gi;

/** A message with long ids (job ids) cut to their first 8 characters. */
export function shortenIds(text: string): string {
  return text.replace(LONG_ID, '$1');
}

/** `text` without a leading "CodeForge:" (the server's or an earlier layer's). */
function withoutProduct(text: string): string {
  let out = text.trim();
  while (/^codeforge:\s*/i.test(out)) {
    out = out.replace(/^codeforge:\s*/i, '');
  }
  return out;
}

/** "CodeForge: <what> failed: <text>", unless the text already starts with what it did. */
function prefixed(what: string, text: string, verb: string): string {
  const body = withoutProduct(text);
  const lowered = body.toLowerCase();
  const subject = what.toLowerCase();
  return `CodeForge: ${lowered.startsWith(subject) ? body : `${what}${verb}: ${body}`}`;
}

/** What to tell the person when an operation failed, and which buttons to offer. */
export function adviseOnError(what: string, error: unknown): ErrorAdvice {
  const { code, message } = messageOf(error);
  const text = shortenIds(message.split('\n')[0].trim()) || 'unknown error';
  if (code === REQUEST_CANCELLED) {
    return { message: prefixed(what, text, ''), actions: ['Show Logs'], severity: 'info' };
  }
  const lowered = text.toLowerCase();
  const actions: string[] = [];
  let hint = '';
  if (/cannot reach the platform|unavailable|connection refused|econnrefused/.test(lowered)) {
    actions.push('Open Settings');
    if (!/fix:/.test(lowered)) {
      hint = ' Start the platform with `codeforge up`, or set "codeforge.platform.url".';
    }
  } else if (/token|not signed in|unauthenticated/.test(lowered)) {
    actions.push('Open Settings');
    if (!/fix:/.test(lowered)) {
      hint = ' Run `codeforge up` once, or set "codeforge.platform.token".';
    }
  } else if (/permission/.test(lowered) && !/fix:/.test(lowered)) {
    hint = ' Ask an admin of your organization for a role that allows it.';
  } else if (/client is not running|connection got disposed|pending response rejected|stopped/.test(lowered)) {
    actions.push('Restart Server');
    hint = ' The CodeForge language server is not running: restart it, or check "codeforge.server.command".';
  }
  actions.push('Show Logs');
  return { message: `${prefixed(what, text, ' failed')}${hint}`, actions, severity: 'error' };
}

/** Whether an error says the platform cannot be reached (the status bar should say so at once). */
export function isPlatformDown(error: unknown): boolean {
  return /cannot reach the platform|connection refused|econnrefused|platform.*unavailable/i.test(messageOf(error).message);
}

/** What to tell the person when `codeforge lsp` could not be started at all. */
export function adviseOnStartFailure(command: string, error: unknown, searched: readonly string[] = []): ErrorAdvice {
  const { message } = messageOf(error);
  const looked = searched.length > 0 ? ` Looked for it in: ${searched.join('; ')}.` : '';
  return {
    message:
      `CodeForge: cannot start the language server \`${command}\` (${message}).${looked} ` +
      'Fix: run `make vscode` in your CodeForge checkout (it builds this extension and points it at that ' +
      "checkout's .venv), or set \"codeforge.server.command\" to the full path of `codeforge`, " +
      'e.g. /path/to/codeforge/.venv/bin/codeforge.',
    actions: ['Open Settings', 'Show Logs'],
    severity: 'error',
  };
}
