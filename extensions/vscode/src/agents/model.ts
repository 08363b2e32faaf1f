// The rules of what follows an agent run in VS Code, free of `vscode` (unit-testable): which
// commands start runs, how their answer reads, and which next steps a notification offers.

/** The language server's commands that start a run (codeforge/lsp/capabilities/agents/). */
export const RUN_COMMANDS: ReadonlySet<string> = new Set([
  'codeforge.agents.fix',
  'codeforge.agents.tests',
  'codeforge.agents.refactor',
  'codeforge.agents.feature',
]);

export const SAVE = 'Save';
export const UNDO = 'Undo';
export const TRANSCRIPT = 'Show Transcript';
export type NextStep = typeof SAVE | typeof UNDO | typeof TRANSCRIPT;

/** What a run command answers once the person applied or discarded its change. */
export interface RunAnswer {
  run: string;
  agent: string;
  applied: boolean;
  /** Workspace-relative paths the change touches (empty: the run changed nothing). */
  files: string[];
  cost_usd: number;
  summary: string;
}

/** Where the person is with a run's change; each step taken moves it on. */
export interface RunProgress {
  saved: boolean;
  undone: boolean;
  transcriptShown: boolean;
}

const RUN_ID = /^[0-9a-f]{32}$/;

/** The run command's answer, or undefined when it is not one (an error, a cancelled run). */
export function parseRunAnswer(value: unknown): RunAnswer | undefined {
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const v = value as Record<string, unknown>;
  if (typeof v['run'] !== 'string' || !RUN_ID.test(v['run']) || typeof v['agent'] !== 'string') {
    return undefined;
  }
  const files = Array.isArray(v['files']) ? v['files'].filter((f): f is string => typeof f === 'string') : [];
  return {
    run: v['run'],
    agent: v['agent'],
    applied: v['applied'] === true,
    files,
    cost_usd: typeof v['cost_usd'] === 'number' && Number.isFinite(v['cost_usd']) ? v['cost_usd'] : 0,
    summary: typeof v['summary'] === 'string' ? v['summary'] : '',
  };
}

/** Whether the notification is worth showing: a run that changed nothing is already explained
 * by the language server (with its own "Show transcript"). */
export function offersNextSteps(answer: RunAnswer): boolean {
  return answer.files.length > 0;
}

/** The buttons for where the person is: save and undo only for an applied change. */
export function nextSteps(answer: RunAnswer, progress: RunProgress): NextStep[] {
  const steps: NextStep[] = [];
  if (answer.applied && !progress.saved) {
    steps.push(SAVE);
  }
  if (answer.applied && !progress.undone) {
    steps.push(UNDO);
  }
  if (!progress.transcriptShown) {
    steps.push(TRANSCRIPT);
  }
  return steps;
}

function listed(files: string[]): string {
  return files.length <= 3 ? files.join(', ') : `${files.slice(0, 3).join(', ')} and ${files.length - 3} more`;
}

/** The notification's text: what happened, the cost, and what saving means now. */
export function runMessage(answer: RunAnswer, progress: RunProgress): string {
  const cost = `$${answer.cost_usd.toFixed(4)}`;
  const head = `CodeForge: ${answer.agent} (run ${answer.run.slice(0, 8)}, ${cost})`;
  const files = listed(answer.files);
  if (!answer.applied) {
    return `${head}: the change to ${files} was not applied; no file changed.`;
  }
  if (progress.undone) {
    return progress.saved ? `${head}: undone; ${files} saved as before the run.` : `${head}: undone in ${files}; save to keep it.`;
  }
  const what = answer.summary ? ` ${answer.summary}.` : '';
  return progress.saved ? `${head} changed ${files}, saved.${what}` : `${head} changed ${files}; save to keep it.${what}`;
}
