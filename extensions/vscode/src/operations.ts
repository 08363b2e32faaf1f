// Runs catalog operations: the command palette entries, their prompts, the result and errors.
// Nothing here knows any single operation; everything comes from `codeforge/catalog`.
import * as vscode from 'vscode';
import { ExecuteCommandRequest, type LanguageClient } from 'vscode-languageclient/node';
import { adviseOnError, isInvalidParams, isPlatformDown, shortenIds } from './errors';
import { type Arguments, askField, collectArguments, confirmationText, fieldOfError, type Operation, type PromptUi } from './prompt';
import { operationsForItem } from './itemOperations';
import { describeItem, forLog, paneUrl, summarize } from './results';
import { redact } from './schema';
import { isReveal, maskOutput, maskUrlPasswords, secretValues } from './secrets';

export const CATALOG_REQUEST = 'codeforge/catalog';

/** Asking for a field again after the server refused it: at most this often per run. */
const MAX_SERVER_RETRIES = 5;

export interface OperationHost {
  client(): LanguageClient | undefined;
  log(line: string): void;
  /** Runs a button chosen on an error message ("Open Settings", "Show Logs", "Restart Server"). */
  act(action: string): void;
  /** Called after every operation that ran, so views can refresh. */
  changed(op: Operation): void;
  /** The title of a pane the server is about to open (window/showDocument carries none). */
  titlePane(url: string, title: string): void;
  /** An operation found the platform unreachable: the status bar should say so now. */
  platformDown(): void;
}

export class Operations implements vscode.Disposable {
  private operations: Operation[] = [];
  private readonly commands: vscode.Disposable[] = [];

  constructor(
    private readonly host: OperationHost,
    private readonly ui: PromptUi,
  ) {}

  get catalog(): readonly Operation[] {
    return this.operations;
  }

  find(name: string): Operation | undefined {
    return this.operations.find((o) => o.name === name);
  }

  /** Fetch the catalog and (re)register one `codeforge.op.<name>` command per operation. */
  async refresh(): Promise<readonly Operation[]> {
    const client = this.host.client();
    if (!client) {
      return this.operations;
    }
    const response = await client.sendRequest<{ operations: Operation[] }>(CATALOG_REQUEST, {});
    this.operations = [...(response?.operations ?? [])].sort((a, b) => a.name.localeCompare(b.name));
    this.disposeCommands();
    for (const op of this.operations) {
      // Usable from keybindings and other extensions, e.g. `codeforge.op.env.set`, optionally
      // with some arguments already given.
      this.commands.push(vscode.commands.registerCommand(`codeforge.op.${op.name}`, (given?: Arguments) => this.run(op, given)));
    }
    return this.operations;
  }

  /** A resource tree item's "Run an Operation on This": the operations that take it. */
  async runOnItem(listOp: Operation, item: unknown): Promise<unknown> {
    const label = describeItem(item).label;
    const choices = operationsForItem(this.operations, listOp, item).map((c) => ({ label: c.op.title, description: c.op.name, c }));
    if (choices.length === 0) {
      void vscode.window.showInformationMessage(`CodeForge: no operation takes ${label}.`);
      return undefined;
    }
    const chosen = await vscode.window.showQuickPick(choices, { title: `CodeForge: ${label}`, placeHolder: 'Operation to run on it' });
    return chosen ? this.run(chosen.c.op, chosen.c.given) : undefined;
  }

  /** The "CodeForge: Run Operation…" quick pick: every operation of the catalog. */
  async pickAndRun(): Promise<unknown> {
    if (this.operations.length === 0) {
      try {
        await this.refresh();
      } catch (error) {
        this.fail('loading the catalog', error);
        return undefined;
      }
    }
    const picked = await vscode.window.showQuickPick(
      this.operations.map((op) => ({
        label: op.title,
        description: op.name,
        detail: [op.long_running ? 'long-running' : '', op.destructive ? 'destructive' : '', op.permission ? `needs ${op.permission}` : '']
          .filter(Boolean)
          .join(' · ') || undefined,
        op,
      })),
      { title: 'CodeForge: Run Operation', placeHolder: 'Operation to run (type to filter)', matchOnDescription: true, ignoreFocusOut: true },
    );
    return picked ? this.run(picked.op) : undefined;
  }

  /** The operation a command id runs, if it is a catalog command. */
  byCommand(command: string): Operation | undefined {
    return this.operations.find((o) => o.command === command);
  }

  /**
   * Ask for the arguments not `given`, confirm destructive operations, run, show the result or
   * what went wrong. Code actions and tree items come here too, with some arguments given.
   */
  async run(op: Operation, given: Arguments = {}): Promise<unknown> {
    const args = await collectArguments(this.ui, op, given);
    if (args === undefined) {
      this.host.log(`${op.name}: cancelled`);
      return undefined;
    }
    if (op.destructive) {
      const answer = await vscode.window.showWarningMessage(
        confirmationText(op, redact(args, op)),
        { modal: true, detail: `Runs ${op.name} on the CodeForge platform.` },
        'Run',
      );
      if (answer !== 'Run') {
        this.host.log(`${op.name}: not confirmed`);
        return undefined;
      }
    }
    return this.execute(op, args);
  }

  /** Send the command; when the platform refuses a field, ask for that field again and retry. */
  private async execute(op: Operation, initial: Arguments): Promise<unknown> {
    let args = initial;
    for (let attempt = 0; ; attempt++) {
      const client = this.host.client();
      if (!client) {
        this.fail(op.title, new Error('the client is not running'));
        return undefined;
      }
      this.host.log(`▶ ${op.name} ${JSON.stringify(redact(args, op))}`);
      try {
        const result = await client.sendRequest(ExecuteCommandRequest.type, { command: op.command, arguments: [args] });
        // The whole result goes to the log with its secrets masked (the catalog's output_secrets). A
        // reveal's result is not logged at all: it exists to show a secret, which is shown only
        // in a dialog (showSecrets), never where it is kept.
        this.host.log(
          isReveal(op)
            ? `✔ ${op.name}: revealed in a dialog, not logged`
            : `✔ ${op.name} ${JSON.stringify(forLog(result, op), null, 2)}`,
        );
        this.host.changed(op);
        // A pane link (x-codeforge-pane) is opened by the server with window/showDocument
        // (see extension.ts), after this answer: the page is the result, shown under its title.
        const pane = paneUrl(op, result);
        if (pane) {
          const title = (result as { title?: unknown }).title;
          this.host.titlePane(pane, typeof title === 'string' ? title : op.title);
        } else {
          void this.showResult(op, result);
        }
        return result;
      } catch (error) {
        const { message, data } = error as { message?: string; data?: unknown };
        this.host.log(`✖ ${op.name}: ${message ?? String(error)}`);
        const field = isInvalidParams(error) ? fieldOfError(String(message), op, data) : undefined;
        if (!field || attempt >= MAX_SERVER_RETRIES) {
          this.fail(op.title, error);
          return undefined;
        }
        // The platform refused a value the prompts could not check: ask for that field again.
        const answer = await askField(this.ui, field, `${op.title}: ${field.name} again`, message, args);
        if (answer === undefined) {
          return undefined;
        }
        args = { ...args };
        if (answer.omit) {
          delete args[field.name];
        } else {
          args[field.name] = answer.value;
        }
      }
    }
  }

  private async showResult(op: Operation, result: unknown): Promise<void> {
    const reveal = isReveal(op);
    const secrets = secretValues(result, op, reveal);
    if (reveal || secrets.length > 0) {
      await this.showSecrets(op, result, secrets, reveal);
      return;
    }
    const text = shortenIds(`CodeForge: ${op.title} — ${summarize(result, op)}`);
    const choice = await vscode.window.showInformationMessage(text, 'Open Result');
    if (choice === 'Open Result') {
      // Masked like the log: an untitled document is kept by hot exit's backups.
      const shown = maskOutput(result, op);
      const document = await vscode.workspace.openTextDocument({ language: 'json', content: JSON.stringify(shown, null, 2) });
      await vscode.window.showTextDocument(document, { preview: true });
    }
  }

  /**
   * A secret the person asked for (a reveal, or a token shown once) goes into a modal dialog
   * with a copy button per value: it is gone when the dialog closes, and unlike notifications,
   * the output channel and documents, nothing keeps it. Outside an explicit reveal, passwords in
   * URLs stay masked even here.
   */
  private async showSecrets(op: Operation, result: unknown, secrets: { path: string; value: string }[], reveal: boolean): Promise<void> {
    const shown = secrets.map((s) => ({ ...s, value: reveal ? s.value : maskUrlPasswords(s.value) }));
    // The message names what was revealed; the values go only into the dialog's detail.
    const rest = typeof result === 'object' && result !== null && !Array.isArray(result) ? { ...(result as Record<string, unknown>) } : result;
    for (const s of secrets) {
      if (typeof rest === 'object' && rest !== null) {
        delete (rest as Record<string, unknown>)[s.path.split('.')[0]];
      }
    }
    const summary = summarize(rest, op);
    const detail = shown.length > 0 ? shown.map((s) => `${s.path}: ${s.value}`).join('\n\n') : 'The result holds no value to show.';
    const buttons = shown.map((s) => `Copy ${s.path}`);
    const choice = await vscode.window.showInformationMessage(shortenIds(`CodeForge: ${op.title} — ${summary}`), { modal: true, detail }, ...buttons);
    const copied = shown.find((s) => choice === `Copy ${s.path}`);
    if (copied) {
      await vscode.env.clipboard.writeText(copied.value);
      this.host.log(`${op.name}: ${copied.path} copied to the clipboard`);
    }
  }

  fail(what: string, error: unknown): void {
    if (isPlatformDown(error)) {
      this.host.platformDown();
    }
    const advice = adviseOnError(what, error);
    const show = advice.severity === 'info' ? vscode.window.showInformationMessage : vscode.window.showErrorMessage;
    void show(advice.message, ...advice.actions).then((action) => {
      if (action) {
        this.host.act(action);
      }
    });
  }

  private disposeCommands(): void {
    for (const command of this.commands.splice(0)) {
      command.dispose();
    }
  }

  dispose(): void {
    this.disposeCommands();
  }
}
