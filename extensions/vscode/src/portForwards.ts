// Port forwarding commands: list the workspace's listening ports (`codeforge connect URL --ports
// --json`) in a quick pick, forward one (`codeforge connect URL --forward REMOTE:LOCAL`, a
// process that runs until stopped), list and stop the active forwards.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import * as vscode from 'vscode';
import { connectArgs, connectEnv, parseForwardSpec, parsePorts, type RemotePort, scrub } from './remote';
import { readSettings, remoteUrlOf, type Settings } from './settings';

interface Forward {
  remote: number;
  local: number;
  process: ChildProcess;
  /** The last lines it wrote, for the message when it stops unasked. */
  tail: string[];
  stopping: boolean;
}

const LIST_TIMEOUT_MS = 30_000;

function remoteOrSay(): { settings: Settings; url: string } | undefined {
  const settings = readSettings();
  const url = remoteUrlOf(settings);
  if (!url) {
    void vscode.window.showErrorMessage(
      `CodeForge: ${settings.remote.error ?? 'no remote workspace: run "CodeForge: Connect to Remote Workspace" first.'}`,
    );
    return undefined;
  }
  return { settings, url };
}

export class PortForwards implements vscode.Disposable {
  private readonly forwards = new Map<number, Forward>();

  constructor(private readonly log: (line: string) => void) {}

  /** The workspace's listening ports, from the bridge. */
  private list(settings: Settings, url: string): Promise<RemotePort[]> {
    const token = settings.init.token;
    return new Promise((resolve, reject) => {
      execFile(
        settings.server.command,
        connectArgs(url, { kind: 'ports' }),
        { env: { ...process.env, ...connectEnv(token, settings.server.env) }, timeout: LIST_TIMEOUT_MS, maxBuffer: 4 * 1024 * 1024 },
        (error, stdout, stderr) => {
          if (error) {
            const why = (stderr || error.message).trim().split('\n').pop() ?? '';
            reject(new Error(scrub(why, [token])));
            return;
          }
          try {
            resolve(parsePorts(stdout));
          } catch (failure) {
            reject(failure instanceof Error ? failure : new Error(String(failure)));
          }
        },
      );
    });
  }

  /** "CodeForge: Forward a Remote Port…": pick a listening port (or type one), then forward it. */
  async pickAndForward(): Promise<void> {
    const remote = remoteOrSay();
    if (!remote) {
      return;
    }
    let ports: RemotePort[];
    try {
      ports = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'CodeForge: listing remote ports' },
        () => this.list(remote.settings, remote.url),
      );
    } catch (error) {
      void vscode.window.showErrorMessage(`CodeForge: could not list the workspace's ports: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    const OTHER = 'Another port…';
    const items: (vscode.QuickPickItem & { port?: number })[] = ports.map((p) => ({
      label: String(p.port),
      description: p.process || undefined,
      detail: [p.workspace ? 'in the workspace' : 'on the workspace machine', p.address ? `listening on ${p.address}` : ''].filter(Boolean).join(', '),
      port: p.port,
    }));
    items.push({ label: OTHER, description: 'type REMOTE or REMOTE:LOCAL' });
    const chosen = await vscode.window.showQuickPick(items, {
      title: 'CodeForge: Forward a Remote Port',
      placeHolder: ports.length ? 'A port listening in the workspace' : 'Nothing listens in the workspace yet',
      ignoreFocusOut: true,
    });
    if (!chosen) {
      return;
    }
    const typed = await vscode.window.showInputBox({
      title: 'CodeForge: Forward a Remote Port',
      prompt: 'REMOTE:LOCAL: the workspace port, and the port on this machine that reaches it',
      value: chosen.port ? `${chosen.port}:${chosen.port}` : '',
      ignoreFocusOut: true,
      validateInput: (text) => {
        const spec = parseForwardSpec(text);
        if ('error' in spec) {
          return spec.error;
        }
        return this.forwards.has(spec.local) ? `local port ${spec.local} is already forwarded: stop that forward or pick another` : undefined;
      },
    });
    if (!typed) {
      return;
    }
    const spec = parseForwardSpec(typed);
    if (!('error' in spec)) {
      this.forward(remote.settings, remote.url, spec.remote, spec.local);
    }
  }

  private forward(settings: Settings, url: string, remotePort: number, local: number): void {
    const token = settings.init.token;
    const child = spawn(settings.server.command, connectArgs(url, { kind: 'forward', spec: `${remotePort}:${local}` }), {
      env: { ...process.env, ...connectEnv(token, settings.server.env) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const forward: Forward = { remote: remotePort, local, process: child, tail: [], stopping: false };
    this.forwards.set(local, forward);
    let ready = false;
    const keep = (chunk: Buffer): void => {
      for (const line of scrub(chunk.toString('utf-8'), [token]).split('\n').filter((l) => l.trim())) {
        this.log(`forward ${remotePort}→${local}: ${line}`);
        forward.tail = [...forward.tail, line].slice(-5);
        // `connect --forward` says "forwarding 127.0.0.1:LOCAL -> workspace port REMOTE" once
        // it listens: only then is the port worth opening.
        if (!ready && /^forwarding 127\.0\.0\.1:\d+/.test(line)) {
          ready = true;
          void vscode.window
            .showInformationMessage(`CodeForge: remote port ${remotePort} is forwarded to localhost:${local}`, 'Open in Browser')
            .then((action) => {
              if (action) {
                void vscode.env.openExternal(vscode.Uri.parse(`http://localhost:${local}/`));
              }
            });
        }
      }
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('error', (error) => keep(Buffer.from(error.message)));
    child.on('close', (code) => {
      this.forwards.delete(local);
      if (!forward.stopping) {
        const why = forward.tail.at(-1) ?? `exit status ${code ?? 'unknown'}`;
        void vscode.window.showWarningMessage(`CodeForge: the forward of remote port ${remotePort} to localhost:${local} stopped: ${why}`);
      }
    });
    this.log(`starting the forward of remote port ${remotePort} to localhost:${local}`);
  }

  /** "CodeForge: Show Port Forwards": the active ones; choosing one offers to stop or open it. */
  async showForwards(): Promise<void> {
    if (this.forwards.size === 0) {
      const action = await vscode.window.showInformationMessage('CodeForge: no port is forwarded.', 'Forward a Port…');
      if (action) {
        await this.pickAndForward();
      }
      return;
    }
    const chosen = await vscode.window.showQuickPick(
      [...this.forwards.values()].map((f) => ({ label: `localhost:${f.local}`, description: `→ remote port ${f.remote}`, local: f.local })),
      { title: 'CodeForge: Port Forwards', placeHolder: 'Choose a forward to stop or open', ignoreFocusOut: true },
    );
    if (!chosen) {
      return;
    }
    const action = await vscode.window.showQuickPick(['Stop Forward', 'Open in Browser'], { title: chosen.label });
    if (action === 'Stop Forward') {
      this.stop(chosen.local);
    } else if (action === 'Open in Browser') {
      void vscode.env.openExternal(vscode.Uri.parse(`http://localhost:${chosen.local}/`));
    }
  }

  /** "CodeForge: Stop Port Forward". */
  async pickAndStop(): Promise<void> {
    if (this.forwards.size === 0) {
      void vscode.window.showInformationMessage('CodeForge: no port is forwarded.');
      return;
    }
    const chosen = await vscode.window.showQuickPick(
      [...this.forwards.values()].map((f) => ({ label: `localhost:${f.local}`, description: `→ remote port ${f.remote}`, local: f.local })),
      { title: 'CodeForge: Stop Port Forward', ignoreFocusOut: true },
    );
    if (chosen) {
      this.stop(chosen.local);
    }
  }

  private stop(local: number): void {
    const forward = this.forwards.get(local);
    if (forward) {
      forward.stopping = true;
      forward.process.kill('SIGTERM');
      this.forwards.delete(local);
      this.log(`stopped the forward of remote port ${forward.remote} to localhost:${local}`);
      void vscode.window.showInformationMessage(`CodeForge: stopped forwarding localhost:${local}`);
    }
  }

  /** Every forward belongs to one bridge: a new remote URL stops them. */
  stopAll(): void {
    for (const forward of this.forwards.values()) {
      forward.stopping = true;
      forward.process.kill('SIGTERM');
    }
    this.forwards.clear();
  }

  dispose(): void {
    this.stopAll();
  }
}
