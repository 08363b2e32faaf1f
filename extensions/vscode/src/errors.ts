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

/** What to tell the person when an operation failed, and which buttons to offer. */
export function adviseOnError(what: string, error: unknown): ErrorAdvice {
  const { code, message } = messageOf(error);
  const text = message.split('\n')[0].trim() || 'unknown error';
  if (code === REQUEST_CANCELLED) {
    return { message: `CodeForge: ${text.startsWith(what) ? text : `${what}: ${text}`}`, actions: ['Show Logs'], severity: 'info' };
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
  return { message: `CodeForge: ${what} failed: ${text}${hint}`, actions, severity: 'error' };
}

/** What to tell the person when `codeforge lsp` could not be started at all. */
export function adviseOnStartFailure(command: string, error: unknown): ErrorAdvice {
  const { message } = messageOf(error);
  return {
    message:
      `CodeForge: cannot start the language server \`${command}\` (${message}). ` +
      'Install CodeForge (`pip install codeforge`) or set "codeforge.server.command" to the full path of the `codeforge` program.',
    actions: ['Open Settings', 'Show Logs'],
    severity: 'error',
  };
}
