// Agents in VS Code (docs/agents.md, "Editors"). The language server does the run: its code
// actions ("Fix with agent: …", "Write tests for …", "Refactor selection…", "Build the feature…")
// start it with progress, and its change comes as a workspace/applyEdit whose edits need
// confirmation, which VS Code shows in its Refactor Preview (the person ticks the changes to
// keep, then Apply or Discard). The command's answer names the run; this side turns it into the
// next steps as buttons on one notification, so nobody types a run id:
//   Save             save the files the change touched (an applied change is unsaved)
//   Undo             the catalog's agents.undo through the language server (`write: false`: the
//                    editor reverses the change itself, after the usual confirmation)
//   Show Transcript  the run's `agent-run` pane (steps, tokens, cost, transcript, diff) in a webview
// The rules live in model.ts.
import * as vscode from 'vscode';
import { nextSteps, offersNextSteps, parseRunAnswer, RUN_COMMANDS, runMessage, type RunAnswer, type RunProgress, SAVE, TRANSCRIPT, UNDO } from './model';

export { RUN_COMMANDS } from './model';

/** The catalog's commands these buttons run (registered by operations.ts from the catalog). */
const UNDO_COMMAND = 'codeforge.agents.undo';
const OPEN_PANE_COMMAND = 'codeforge.op.panes.open';
const TRANSCRIPT_COMMAND = 'codeforge.agents.transcript';
const RUN_PANE = 'agent-run';

export class AgentRuns {
  constructor(private readonly log: (line: string) => void) {}

  /** Called with every language-server command's answer; acts on the run commands' only. */
  after(command: string, result: unknown): void {
    if (!RUN_COMMANDS.has(command)) {
      return;
    }
    const answer = parseRunAnswer(result);
    if (!answer || !offersNextSteps(answer)) {
      return;
    }
    this.log(`${command}: run ${answer.run} ${answer.applied ? 'applied' : 'not applied'} (${answer.files.join(', ')})`);
    // Not awaited: the command has answered; the notification stays until the person is done.
    void this.offer(answer).catch((error: unknown) => this.log(`agent run ${answer.run}: ${String(error)}`));
  }

  private async offer(answer: RunAnswer): Promise<void> {
    const progress: RunProgress = { saved: false, undone: false, transcriptShown: false };
    for (;;) {
      const steps = nextSteps(answer, progress);
      if (steps.length === 0) {
        return;
      }
      const choice = await vscode.window.showInformationMessage(runMessage(answer, progress), ...steps);
      if (choice === SAVE) {
        progress.saved = await this.save(answer);
      } else if (choice === UNDO) {
        // Through the middleware: the catalog's agents.undo, confirmed first (it is destructive).
        const undone = await vscode.commands.executeCommand(UNDO_COMMAND, { run: answer.run, write: false });
        if (undone !== undefined) {
          progress.undone = true;
          progress.saved = false;
        }
      } else if (choice === TRANSCRIPT) {
        await this.showTranscript(answer.run);
        progress.transcriptShown = true;
      } else {
        return; // closed
      }
    }
  }

  /** Save the files the run's change touched; false when one could not be saved. */
  private async save(answer: RunAnswer): Promise<boolean> {
    const root = vscode.workspace.workspaceFolders?.[0]?.uri;
    if (!root) {
      return false;
    }
    let all = true;
    for (const path of answer.files) {
      const uri = vscode.Uri.joinPath(root, ...path.split('/'));
      try {
        const document = await vscode.workspace.openTextDocument(uri);
        if (document.isDirty && !(await document.save())) {
          all = false;
        }
      } catch (error) {
        // A file the change deleted has no document to save.
        this.log(`saving ${path} of run ${answer.run}: ${String(error)}`);
      }
    }
    return all;
  }

  /** The run's pane through the catalog command (named after the run), else the server's command. */
  private async showTranscript(run: string): Promise<void> {
    const commands = await vscode.commands.getCommands(true);
    if (commands.includes(OPEN_PANE_COMMAND)) {
      await vscode.commands.executeCommand(OPEN_PANE_COMMAND, { pane: RUN_PANE, item: run });
    } else {
      await vscode.commands.executeCommand(TRANSCRIPT_COMMAND, { run });
    }
  }
}
