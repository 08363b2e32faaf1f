// What the status bar item says for each state of the language server and the platform. Free of
// `vscode` so the states are unit tested; status.ts puts the view on screen.

/** The answer of the server's `codeforge/status` request (codeforge/lsp/features/custom_requests.py). */
export interface PlatformStatus {
  platform: string;
  connected: boolean;
  username?: string | null;
  organization?: string | null;
  project?: string | null;
  role?: string | null;
  /** Why the platform is not connected: unreachable, or the token was refused. */
  error?: string | null;
  project_error?: string | null;
}

export interface StatusView {
  text: string;
  tooltip: string;
  /** Drawn with the warning background: something needs the person's attention. */
  warning: boolean;
}

/** How often the platform is asked while it answers, and while it does not (to see it return). */
export const POLL_UP_MS = 15_000;
export const POLL_DOWN_MS = 5_000;

export function statusView(state: { running: false } | { running: true; status?: PlatformStatus; error?: string }): StatusView {
  if (!state.running) {
    return {
      text: '$(debug-disconnect) CodeForge: server stopped',
      tooltip: 'The CodeForge language server is not running. Click for options.',
      warning: true,
    };
  }
  const { status, error } = state;
  if (!status) {
    return { text: '$(warning) CodeForge: error', tooltip: `codeforge/status failed: ${error ?? 'no answer'}`, warning: true };
  }
  if (status.connected) {
    const who = [status.username, status.organization].filter(Boolean).join('@');
    const project = status.project_error ? `(codeforge.yaml: ${status.project_error})` : (status.project ?? '(none)');
    return {
      text: `$(cloud) CodeForge: ${who || 'signed in'}${status.project ? ` · ${status.project}` : ''}`,
      tooltip: `Platform ${status.platform}\nUser ${status.username ?? '?'} (${status.role ?? '?'}) in ${status.organization ?? '?'}\nProject ${project}`,
      warning: false,
    };
  }
  const reason = status.error ?? '';
  const down = reason === '' || /cannot reach|connection refused|econnrefused|unavailable|timed? ?out/i.test(reason);
  if (!down && /token|unauthenticated|not signed in/i.test(reason)) {
    return {
      text: '$(key) CodeForge: not signed in',
      tooltip: `The platform at ${status.platform} refused the token: ${reason}\nRun \`codeforge up\` once, or set "codeforge.platform.token".`,
      warning: true,
    };
  }
  if (!down) {
    return { text: '$(warning) CodeForge: platform error', tooltip: `The platform at ${status.platform} answered: ${reason}`, warning: true };
  }
  return {
    text: '$(cloud-offline) CodeForge: platform down',
    tooltip:
      `Cannot reach the platform at ${status.platform}${reason ? `: ${reason}` : ''}\n` +
      'Start it with `codeforge up`, or set "codeforge.platform.url". Checked again every few seconds.',
    warning: true,
  };
}
