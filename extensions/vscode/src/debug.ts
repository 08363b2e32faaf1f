// The `codeforge` debug type's rules, free of `vscode` so they are unit tested: which launch
// configuration a person (or a code lens) gets, what is wrong with one, and the
// `codeforge connect URL --dap` command line that relays the editor's DAP to debugpy in the
// remote workspace (docs/bridge.md, "Debugging"). The token never goes on that command line.
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEBUG_TYPE = 'codeforge';

/** What the `codeforge` debug type accepts (package.json's `configurationAttributes`). */
export interface CodeforgeDebugConfiguration {
  type: string;
  request: string;
  name: string;
  /** launch: a Python file (a local path under the folder, or relative to the workspace). */
  program?: string;
  /** launch: a module run as `python -m` (`pytest` for a test). */
  module?: string;
  args?: string[];
  cwd?: string;
  env?: Record<string, string>;
  stopOnEntry?: boolean;
  justMyCode?: boolean;
  /** attach: join the workspace's running debug session with this id (collaborative). */
  join?: string;
  /** attach: a process started with debugpy listening on this port in the workspace. */
  connect?: { host?: string; port: number };
  /** attach: a process id in the workspace (debugpy injects itself). */
  processId?: number | string;
  /** The editor's folder that stands for the workspace (filled in: the first folder). */
  localRoot?: string;
  [key: string]: unknown;
}

/** What `resolve` knows about the editor. */
export interface DebugContext {
  /** The local folder mirrored by the remote workspace ('' when none is open). */
  folder: string;
  /** The active editor's file ('' when none), and its language id. */
  activeFile: string;
  activeLanguage: string;
}

export type Resolved = { config: CodeforgeDebugConfiguration; error?: undefined } | { config?: undefined; error: string };

/** The configurations `launch.json` starts with, and its snippets. */
export const INITIAL_CONFIGURATIONS: CodeforgeDebugConfiguration[] = [
  { type: DEBUG_TYPE, request: 'launch', name: 'CodeForge: Debug the current file', program: '${file}' },
  { type: DEBUG_TYPE, request: 'launch', name: 'CodeForge: Debug a module', module: 'app' },
  { type: DEBUG_TYPE, request: 'launch', name: 'CodeForge: Debug the tests of this file', module: 'pytest', args: ['${file}'] },
  { type: DEBUG_TYPE, request: 'attach', name: 'CodeForge: Join a debug session of the workspace', join: '${command:codeforge.debug.pickSession}' },
];

const SESSION_ID = /^[A-Za-z0-9_.:@+-]{1,128}$/;
const MODULE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

function isInside(file: string, folder: string): boolean {
  const relative = path.relative(folder, file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** A `file:` URI as a path; anything else as it is. */
function asPath(value: string): string {
  return value.startsWith('file:') ? fileURLToPath(value) : value;
}

/**
 * Fills what a person leaves out and checks the rest (after VS Code substituted `${file}` and
 * friends). An empty configuration (F5 without a launch.json) debugs the current Python file.
 */
export function resolveConfiguration(given: Partial<CodeforgeDebugConfiguration>, context: DebugContext): Resolved {
  const config: CodeforgeDebugConfiguration = {
    ...given,
    type: DEBUG_TYPE,
    request: given.request ?? 'launch',
    name: given.name ?? 'CodeForge: Debug',
  };
  if (!given.request && !given.program && !given.module && !given.join) {
    if (!context.activeFile || context.activeLanguage !== 'python') {
      return { error: 'Open a Python file to debug it, or add a "codeforge" configuration to launch.json (a program, a module or a test).' };
    }
    config.program = context.activeFile;
    config.name = `CodeForge: ${path.basename(context.activeFile)}`;
  }
  if (!context.folder) {
    return { error: 'Open the folder that mirrors the remote workspace first: debugging maps its files to the workspace.' };
  }
  config.localRoot = typeof given.localRoot === 'string' && given.localRoot ? given.localRoot : context.folder;
  if (config.args !== undefined && !(Array.isArray(config.args) && config.args.every((a) => typeof a === 'string'))) {
    return { error: '"args" must be a list of strings, e.g. ["--verbose"].' };
  }
  if (config.request === 'launch') {
    if (config.program && config.module) {
      return { error: 'Give "program" or "module", not both.' };
    }
    if (typeof config.program === 'string' && config.program) {
      const program = asPath(config.program);
      if (path.isAbsolute(program) && !isInside(program, config.localRoot)) {
        return {
          error: `${program} is outside ${config.localRoot}, the folder that stands for the remote workspace: only the workspace's files run there.`,
        };
      }
      config.program = program;
    } else if (typeof config.module === 'string' && config.module) {
      if (!MODULE.test(config.module)) {
        return { error: `"${config.module.slice(0, 60)}" is not a module name (e.g. app.main or pytest).` };
      }
    } else {
      return { error: 'A "codeforge" launch needs "program" (a Python file) or "module" (e.g. "pytest").' };
    }
    return { config };
  }
  if (config.request === 'attach') {
    const ways = [config.join !== undefined, config.connect !== undefined, config.processId !== undefined].filter(Boolean).length;
    if (ways !== 1) {
      return { error: 'A "codeforge" attach needs one of "join" (a debug session id), "connect": {"port"} or "processId".' };
    }
    if (config.join !== undefined && (typeof config.join !== 'string' || !SESSION_ID.test(config.join))) {
      return { error: `"${String(config.join).slice(0, 60)}" is not a debug session id: pick one with "CodeForge: Join a Debug Session".` };
    }
    const port = config.connect?.port;
    if (config.connect !== undefined && !(typeof port === 'number' && Number.isInteger(port) && port >= 1 && port <= 65535)) {
      return { error: '"connect.port" must be the port debugpy listens on in the workspace (1 to 65535).' };
    }
    if (config.processId !== undefined && !/^[1-9]\d{0,9}$/.test(String(config.processId))) {
      return { error: `"processId" must be a process id in the workspace, not "${String(config.processId).slice(0, 40)}".` };
    }
    return { config };
  }
  return { error: `"request" must be "launch" or "attach", not "${String(config.request).slice(0, 40)}".` };
}

/** The arguments after the `codeforge` program: `connect URL --dap [--join ID] --local-root DIR`. */
export function dapArgs(url: string, config: Pick<CodeforgeDebugConfiguration, 'request' | 'join' | 'localRoot'>): string[] {
  const args = ['connect', url, '--dap'];
  if (config.request === 'attach' && config.join) {
    args.push('--join', config.join);
  }
  if (config.localRoot) {
    args.push('--local-root', config.localRoot);
  }
  return args;
}

/**
 * The argument of `codeforge.debug.start` (the language server's "Debug this test" / "Debug this
 * file" code lenses): a launch configuration, maybe without type or name.
 */
export function lensConfiguration(argument: unknown, folder = ''): Partial<CodeforgeDebugConfiguration> | string {
  if (typeof argument !== 'object' || argument === null || Array.isArray(argument)) {
    return 'codeforge.debug.start takes one launch configuration (an object with "program" or "module").';
  }
  const given = argument as Record<string, unknown>;
  const config: Partial<CodeforgeDebugConfiguration> = { ...given, type: DEBUG_TYPE, request: typeof given.request === 'string' ? given.request : 'launch' };
  config.name = typeof given.name === 'string' && given.name ? given.name : typeof given.title === 'string' ? given.title : 'CodeForge: Debug';
  // A language server running beside the workspace (through the bridge) names the workspace's
  // own paths, which are not this folder's: the program is then given relative to the
  // workspace root (`cwd`), and that cwd left to the workspace's default.
  const cwd = typeof config.cwd === 'string' ? asPath(config.cwd) : '';
  const foreign = (p: string): boolean => folder !== '' && path.isAbsolute(p) && p !== folder && !isInside(p, folder);
  if (typeof config.program === 'string') {
    const program = asPath(config.program);
    if (foreign(program) && cwd && isInside(program, cwd)) {
      config.program = path.relative(cwd, program);
    }
  }
  if (cwd && foreign(cwd)) {
    delete config.cwd;
  }
  return config;
}

/** A running debug session of the workspace, as the bridge lists it. */
export interface DebugSessionInfo {
  id: string;
  label: string;
  detail: string;
}

/**
 * The debug sessions in `bridges.list`'s answer (`{items: [{username, bridge, debug: [{id,
 * label, closing}]}], bridges: [{id, url}]}`). When one of the listed bridges is the one at
 * `url`, only its sessions (a session is joined through the bridge that runs it).
 */
export function bridgeDebugSessions(result: unknown, url: string): DebugSessionInfo[] {
  const record = typeof result === 'object' && result !== null ? (result as { items?: unknown; bridges?: unknown }) : {};
  const bridges = Array.isArray(record.bridges) ? (record.bridges as { id?: unknown; url?: unknown }[]) : [];
  const bare = (u: unknown): string => (typeof u === 'string' ? u.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '').toLowerCase() : '');
  const ours = new Set(bridges.filter((b) => bare(b.url) !== '' && bare(b.url) === bare(url)).map((b) => b.id));
  const out: DebugSessionInfo[] = [];
  for (const session of Array.isArray(record.items) ? (record.items as unknown[]) : []) {
    if (typeof session !== 'object' || session === null) {
      continue;
    }
    const s = session as { username?: unknown; bridge?: unknown; debug?: unknown };
    if (ours.size > 0 && !ours.has(s.bridge)) {
      continue;
    }
    for (const item of Array.isArray(s.debug) ? (s.debug as unknown[]) : []) {
      const d = typeof item === 'object' && item !== null ? (item as { id?: unknown; label?: unknown; closing?: unknown }) : {};
      if (typeof d.id !== 'string' || !SESSION_ID.test(d.id) || d.closing === true) {
        continue;
      }
      const by = typeof s.username === 'string' ? `started by ${s.username}` : '';
      out.push({ id: d.id, label: typeof d.label === 'string' && d.label ? d.label : 'debug session', detail: by });
    }
  }
  return out;
}

/** Checks a debug session id as typed; the problem, or undefined when it is fine. */
export function checkSessionId(text: string): string | undefined {
  const id = text.trim();
  if (id === '') {
    return 'Type the id of the debug session (whoever started it sees it when it starts).';
  }
  return SESSION_ID.test(id) ? undefined : `"${id.slice(0, 40)}" is not a debug session id (letters, digits and _.:@+- only).`;
}

/**
 * The bridge's `codeforge/debugSession` event (after `initialize`): the session's id, which
 * others give to join it. Undefined for anything else.
 */
export function sessionAnnouncement(event: string, body: unknown): { id: string; message: string } | undefined {
  if (event !== 'codeforge/debugSession' || typeof body !== 'object' || body === null) {
    return undefined;
  }
  const id = (body as { id?: unknown }).id;
  if (typeof id !== 'string' || !SESSION_ID.test(id)) {
    return undefined;
  }
  return { id, message: `Debug session ${id} runs in the remote workspace: others join it with "CodeForge: Join a Debug Session…" and this id.` };
}

/** Why debugging cannot start without a remote workspace, and what to do. */
export const NEEDS_REMOTE =
  'Debugging with CodeForge runs the program in the remote workspace, through its bridge: run "CodeForge: Connect to Remote Workspace" first ' +
  '(for this machine\'s files, start `codeforge bridge .` and connect to the address it prints).';
