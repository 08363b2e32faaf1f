// Finds the `codeforge` program that runs the language server, the way a user expects: the
// setting, then the workspace's virtual environment, then PATH, then the checkout `make vscode`
// installed this extension from. The extension host's PATH is rarely the one of the user's
// shell (no activated venv), so PATH alone misses the usual install. Free of `vscode` for tests.
import * as path from 'node:path';

export interface LocateInput {
  /** `codeforge.server.command` as the user set it; empty when unset. */
  setting: string;
  /** Workspace folders, first one first. */
  folders: readonly string[];
  env: Readonly<Record<string, string | undefined>>;
  /** The `codeforge` of the checkout whose `make vscode` built this extension ('' if none). */
  installed: string;
  platform: string;
  /** Whether a file exists and may be run. */
  isExecutable(file: string): boolean;
}

export interface Located {
  /** What to run; the bare name when nothing was found (so spawning says ENOENT). */
  command: string;
  found: boolean;
  /** Where it was looked for, in order, for the message when nothing was found. */
  searched: string[];
}

/** The setting's old default: the same as leaving it empty. */
const DEFAULT_NAME = 'codeforge';

function venvCandidates(folder: string, platform: string): string[] {
  return ['.venv', 'venv'].map((venv) =>
    platform === 'win32' ? path.join(folder, venv, 'Scripts', 'codeforge.exe') : path.join(folder, venv, 'bin', 'codeforge'),
  );
}

function onPath(name: string, input: LocateInput): string | undefined {
  const separator = input.platform === 'win32' ? ';' : ':';
  const names = input.platform === 'win32' && !/\.\w+$/.test(name) ? [`${name}.exe`, `${name}.cmd`, name] : [name];
  for (const dir of (input.env['PATH'] ?? '').split(separator).filter(Boolean)) {
    for (const candidate of names) {
      const full = path.join(dir, candidate);
      if (input.isExecutable(full)) {
        return full;
      }
    }
  }
  return undefined;
}

export function locateServer(input: LocateInput): Located {
  const searched: string[] = [];
  const setting = input.setting.trim();
  if (setting !== '' && setting !== DEFAULT_NAME) {
    if (!setting.includes('/') && !setting.includes('\\')) {
      const found = onPath(setting, input);
      searched.push(`"codeforge.server.command" = ${setting}, on PATH (${input.env['PATH'] ?? ''})`);
      return found ? { command: found, found: true, searched } : { command: setting, found: false, searched };
    }
    // A relative path (".venv/bin/codeforge") is relative to the workspace folder.
    const full = path.isAbsolute(setting) || input.folders.length === 0 ? setting : path.resolve(input.folders[0], setting);
    searched.push(`"codeforge.server.command" = ${full}`);
    return { command: full, found: input.isExecutable(full), searched };
  }
  searched.push('"codeforge.server.command" (not set)');
  const candidates = input.folders.flatMap((folder) => venvCandidates(folder, input.platform));
  const active = input.env['VIRTUAL_ENV'];
  if (active) {
    // The editor was started from a shell with a virtual environment activated.
    candidates.push(input.platform === 'win32' ? path.join(active, 'Scripts', 'codeforge.exe') : path.join(active, 'bin', 'codeforge'));
  }
  for (const candidate of candidates) {
    searched.push(candidate);
    if (input.isExecutable(candidate)) {
      return { command: candidate, found: true, searched };
    }
  }
  searched.push(`PATH (${input.env['PATH'] ?? ''})`);
  const fromPath = onPath(DEFAULT_NAME, input);
  if (fromPath) {
    return { command: fromPath, found: true, searched };
  }
  if (input.installed) {
    searched.push(`${input.installed} (the checkout \`make vscode\` installed this extension from)`);
    if (input.isExecutable(input.installed)) {
      return { command: input.installed, found: true, searched };
    }
  }
  return { command: DEFAULT_NAME, found: false, searched };
}
