// The remote workspace's rules, free of `vscode` so they are unit tested: the bridge URL a
// person types, the `codeforge connect` command line of each channel, the token kept out of
// command lines and messages, and the proxied language servers' settings.
//
// The token never goes on a command line (other users see `ps`, and the extension logs what it
// starts): each `codeforge connect` process gets it as CODEFORGE_TOKEN in its environment.

export interface RemoteUrl {
  /** The URL to pass to `codeforge connect` (ws:// or wss://, no trailing slash). */
  url: string;
  error?: undefined;
}

export interface RemoteUrlError {
  url?: undefined;
  /** What is wrong and what to type instead. */
  error: string;
}

const EXAMPLE = 'e.g. wss://dev.example.com:8471 or ws://127.0.0.1:8471';

/**
 * Checks a bridge URL as typed. http(s) is accepted and turned into ws(s), which is what a
 * person copying the bridge's address from a browser bar has. A URL carrying credentials (a
 * user:password part or a token in the query) is refused: the setting would show it.
 */
export function parseRemoteUrl(text: string): RemoteUrl | RemoteUrlError {
  const typed = text.trim();
  if (typed === '') {
    return { error: `No bridge URL: type the address \`codeforge bridge\` printed (${EXAMPLE}).` };
  }
  let parsed: URL;
  try {
    parsed = new URL(typed);
  } catch {
    // Not echoed: what was typed may be a pasted token.
    return { error: `What was typed is not a URL: type the bridge's address (${EXAMPLE}).` };
  }
  const scheme = { 'ws:': 'ws:', 'wss:': 'wss:', 'http:': 'ws:', 'https:': 'wss:' }[parsed.protocol];
  if (!scheme) {
    return { error: `"${parsed.protocol}" is not a bridge URL scheme: use ws:// or wss:// (${EXAMPLE}).` };
  }
  if (!parsed.hostname) {
    return { error: `The bridge URL has no host (${EXAMPLE}).` };
  }
  if (parsed.username || parsed.password || /(^|[?&])(token|access_token|auth)=/i.test(parsed.search)) {
    return {
      error:
        'The bridge URL must not carry a token or password (settings show it in clear text): type it without, ' +
        'and sign in with `codeforge up` or the "codeforge.platform.token" setting.',
    };
  }
  if (parsed.search || parsed.hash) {
    return { error: `The bridge URL takes no query or fragment: type only scheme, host and port (${EXAMPLE}).` };
  }
  const path = parsed.pathname.replace(/\/+$/, '');
  return { url: `${scheme}//${parsed.host}${path}` };
}

/** A URL as it may be shown: without user, password, query or fragment. */
export function redactUrl(text: string): string {
  return text
    .replace(/\/\/[^/@\s]*@/, '//')
    .replace(/[?#].*$/, '')
    .slice(0, 200);
}

/** Replaces every secret (the token) in a text shown to the person or written to a log. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4) {
      out = out.split(secret).join('••••');
    }
  }
  // Whatever else looks like a bearer token or a token query parameter.
  return out.replace(/(Bearer\s+)\S+/gi, '$1••••').replace(/([?&]token=)[^&\s]+/gi, '$1••••');
}

/** The channels of `codeforge connect` (docs/bridge.md, "Client side"). */
export type Channel =
  /** `sync`: a local folder kept in two-way sync with the workspace beside the server. */
  | { kind: 'lsp'; sync?: string }
  | { kind: 'proxy'; name: string }
  | { kind: 'terminal'; attach?: string }
  | { kind: 'ports' }
  | { kind: 'forward'; spec: string };

/** The arguments after the `codeforge` program for one channel of the bridge at `url`. */
export function connectArgs(url: string, channel: Channel): string[] {
  const base = ['connect', url];
  switch (channel.kind) {
    case 'lsp':
      return channel.sync ? [...base, '--sync', channel.sync] : base;
    case 'proxy':
      return [...base, '--lsp', channel.name];
    case 'terminal':
      return channel.attach ? [...base, '--terminal', '--attach', channel.attach] : [...base, '--terminal'];
    case 'ports':
      return [...base, '--ports', '--json'];
    case 'forward':
      return [...base, '--forward', channel.spec];
  }
}

/** The environment a `codeforge connect` process needs on top of the extension host's. */
export function connectEnv(token: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  return token ? { ...extra, CODEFORGE_TOKEN: token } : { ...extra };
}

/** One language server the bridge runs for the workspace, and the editor languages it serves. */
export interface ProxiedServer {
  name: string;
  languages: string[];
}

// The usual language of well-known server names; any other name is taken as a language id.
const LANGUAGE_OF: Record<string, string> = {
  python: 'python',
  basedpyright: 'python',
  pyright: 'python',
  pylsp: 'python',
  'python-lsp-server': 'python',
  ruff: 'python',
  typescript: 'typescript',
  tsserver: 'typescript',
  gopls: 'go',
  go: 'go',
  'rust-analyzer': 'rust',
  rust: 'rust',
};

// codeforge.yaml's `language_servers` names (codeforge/projectfile/language_servers.py).
const NAME = /^[a-z][a-z0-9_-]{0,39}$/;

/**
 * `codeforge.remote.languageServers`: names (`"python"`) or objects (`{"name": "pylsp",
 * "languages": ["python"]}`). Returns the servers and one problem line per entry left out.
 */
export function parseProxiedServers(setting: unknown): { servers: ProxiedServer[]; problems: string[] } {
  const servers: ProxiedServer[] = [];
  const problems: string[] = [];
  if (setting === undefined || setting === null) {
    return { servers, problems };
  }
  if (!Array.isArray(setting)) {
    return { servers, problems: ['"codeforge.remote.languageServers" must be a list, e.g. ["python"]'] };
  }
  const seen = new Set<string>();
  for (const entry of setting as unknown[]) {
    const name = typeof entry === 'string' ? entry : typeof entry === 'object' && entry !== null ? (entry as { name?: unknown }).name : undefined;
    if (typeof name !== 'string' || !NAME.test(name)) {
      problems.push(`"codeforge.remote.languageServers": ${JSON.stringify(entry)} is not a server name (lower-case letters, digits, "-", "_", starting with a letter)`);
      continue;
    }
    if (seen.has(name)) {
      problems.push(`"codeforge.remote.languageServers": "${name}" is listed twice`);
      continue;
    }
    seen.add(name);
    const given = typeof entry === 'object' && entry !== null ? (entry as { languages?: unknown }).languages : undefined;
    const languages =
      Array.isArray(given) && given.length > 0 && given.every((l) => typeof l === 'string' && l !== '')
        ? (given as string[])
        : [LANGUAGE_OF[name.toLowerCase()] ?? name.toLowerCase()];
    servers.push({ name, languages });
  }
  return { servers, problems };
}

/** A listening port of the workspace, as `codeforge connect URL --ports --json` lists it. */
export interface RemotePort {
  port: number;
  address: string;
  /** The process behind it ("python3 -m http.server, pid 42"), when the bridge could see it. */
  process: string;
  /** Its process belongs to the workspace (a terminal's server), not just the machine. */
  workspace: boolean;
}

function validPort(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/**
 * The JSON `--ports --json` prints (codeforge/bridge/ports.py: a list of `{port, addresses,
 * pid, process, cmdline, workspace}`; an object with a `ports` list is read too). Workspace
 * ports first, then by number.
 */
export function parsePorts(stdout: string): RemotePort[] {
  let data: unknown;
  try {
    data = JSON.parse(stdout);
  } catch {
    throw new Error(`the port list is not JSON: ${stdout.trim().slice(0, 200) || '(empty output)'}`);
  }
  const list = Array.isArray(data) ? data : typeof data === 'object' && data !== null ? (data as { ports?: unknown }).ports : undefined;
  if (!Array.isArray(list)) {
    throw new Error('the port list has no `ports` array');
  }
  const out: RemotePort[] = [];
  for (const item of list as unknown[]) {
    if (typeof item !== 'object' || item === null) {
      continue;
    }
    const record = item as Record<string, unknown>;
    if (!validPort(record.port)) {
      continue;
    }
    const proc = record.process;
    const inner = typeof proc === 'object' && proc !== null ? (proc as Record<string, unknown>) : {};
    const command = text(record.cmdline) || text(record.command) || text(inner.command);
    const name = text(proc) || text(inner.name) || text(record.name);
    const pid = record.pid ?? inner.pid;
    const addresses = Array.isArray(record.addresses) ? record.addresses.filter((a): a is string => typeof a === 'string') : [];
    out.push({
      port: record.port,
      address: addresses.join(', ') || text(record.address) || text(record.host),
      process: [command || name, typeof pid === 'number' ? `pid ${pid}` : ''].filter(Boolean).join(', '),
      workspace: record.workspace === true,
    });
  }
  return out.sort((a, b) => Number(b.workspace) - Number(a.workspace) || a.port - b.port);
}

/** `REMOTE[:LOCAL]` as typed; the local port defaults to the remote one. */
export function parseForwardSpec(text: string): { remote: number; local: number; spec: string } | { error: string } {
  const match = /^\s*(\d{1,5})\s*(?::\s*(\d{1,5})\s*)?$/.exec(text);
  if (!match) {
    return { error: `"${text.trim().slice(0, 40)}" is not PORT or REMOTE:LOCAL, e.g. 8000 or 8000:18000` };
  }
  const remote = Number(match[1]);
  const local = match[2] === undefined ? remote : Number(match[2]);
  for (const [which, port] of [
    ['remote', remote],
    ['local', local],
  ] as const) {
    if (!validPort(port)) {
      return { error: `${which} port ${port} is out of range: use 1 to 65535` };
    }
  }
  return { remote, local, spec: `${remote}:${local}` };
}
