// Asks a person for an operation's arguments, one field at a time, through an abstract UI so the
// same loop runs against VS Code's quick input (vscodeUi.ts) and against a scripted UI in tests.

import {
  askingOrder,
  checkFileContent,
  choices,
  describeField,
  effectiveField,
  type FieldSpec,
  initialText,
  parseText,
  promptFields,
} from './schema';
import type { JsonSchema } from './secrets';

export interface InputRequest {
  title: string;
  prompt: string;
  placeholder: string;
  value: string;
  password: boolean;
  /** Shown at once, e.g. why the previous entry was refused. */
  error?: string;
  /** Called when the person presses Enter: an error keeps the box open with that message. */
  validate: (text: string) => string | undefined;
}

export interface PickItem {
  label: string;
  description?: string;
  value: unknown;
  omit: boolean;
}

export interface PromptUi {
  /** The accepted text, or undefined when the person cancelled. */
  input(request: InputRequest): Promise<string | undefined>;
  pick(title: string, placeholder: string, items: PickItem[]): Promise<PickItem | undefined>;
  /** Lets the person choose a file; its text, or undefined when cancelled. */
  pickFile(title: string, hint: string): Promise<{ path: string; content: string } | undefined>;
  /** Shows a message about a refused entry (for UIs that cannot keep the box open). */
  refused(message: string): void;
}

export interface Operation {
  name: string;
  title: string;
  capability: string;
  command: string;
  long_running: boolean;
  destructive: boolean;
  lists_resources: boolean;
  permission?: string;
  /** The fields to ask, digested on the server from the input schema (codeforge/catalog/prompts.py). */
  input_fields: FieldSpec[];
  output_schema?: JsonSchema;
  /** Paths of the secret output fields (`url`, `items[].token`, `by_name.*.token`), from
   * codeforge/catalog/secrets.py: masked everywhere a result is kept. */
  output_secrets?: string[];
  /** Whether the operation exists to show a secret (shown only in a modal dialog). */
  reveals?: boolean;
}

export type Arguments = Record<string, unknown>;

/** A refused entry is asked again at most this many times, so a scripted caller cannot loop forever. */
const MAX_TRIES = 20;

async function askText(ui: PromptUi, field: FieldSpec, title: string, error?: string): Promise<{ value: unknown; omit: boolean } | undefined> {
  let lastError = error;
  let lastText = initialText(field);
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const text = await ui.input({
      title,
      prompt: `${field.name} — ${describeField(field)}`,
      placeholder: field.required ? `${field.name}` : `${field.name} (Enter to skip)`,
      value: field.kind === 'password' ? '' : lastText,
      password: field.kind === 'password',
      error: lastError,
      validate: (candidate) => {
        const parsed = parseText(field, candidate);
        return parsed.ok ? undefined : parsed.error;
      },
    });
    if (text === undefined) {
      return undefined;
    }
    const parsed = parseText(field, text);
    if (parsed.ok) {
      return { value: parsed.value, omit: parsed.omit };
    }
    // The UI let a wrong entry through (or could not check it): refuse it and ask again.
    ui.refused(parsed.error);
    lastError = parsed.error;
    lastText = text;
  }
  return undefined;
}

async function askFile(ui: PromptUi, field: FieldSpec, title: string, error?: string): Promise<{ value: unknown; omit: boolean } | undefined> {
  if (error) {
    ui.refused(error);
  }
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    const file = await ui.pickFile(`${title}: choose the ${field.file_hint || 'file'} for ${field.name}`, field.file_hint ?? '');
    if (file === undefined) {
      return undefined;
    }
    const problem = checkFileContent(field, file.content);
    if (!problem) {
      return { value: file.content, omit: false };
    }
    ui.refused(`${file.path}: ${problem}`);
  }
  return undefined;
}

/**
 * Ask for one field; `error` says why an earlier value was refused (by us or by the server).
 * `answers` are the arguments so far: they decide whether a conditional secret is hidden.
 */
export async function askField(
  ui: PromptUi,
  spec: FieldSpec,
  title: string,
  error?: string,
  answers: Arguments = {},
): Promise<{ value: unknown; omit: boolean } | undefined> {
  const field = effectiveField(spec, answers);
  if (field.kind === 'boolean' || field.kind === 'enum') {
    if (error) {
      ui.refused(error);
    }
    const items: PickItem[] = choices(field).map((c) => ({
      label: c.label,
      description: c.isDefault ? 'default' : undefined,
      value: c.value,
      omit: c.omit,
    }));
    const picked = await ui.pick(title, `${field.name} — ${describeField(field)}`, items);
    return picked === undefined ? undefined : { value: picked.value, omit: picked.omit };
  }
  if (field.kind === 'file') {
    return askFile(ui, field, title, error);
  }
  return askText(ui, field, title, error);
}

/**
 * Ask for every argument of an operation. Values already in `given` are kept (code actions and
 * tree items pass some); context fields are never asked. Undefined when the person cancelled.
 */
export async function collectArguments(ui: PromptUi, op: Operation, given: Arguments = {}): Promise<Arguments | undefined> {
  const args: Arguments = { ...given };
  const fields = askingOrder(promptFields(op)).filter((f) => !(f.name in given));
  for (const [index, field] of fields.entries()) {
    const title = `${op.title} (${index + 1}/${fields.length})`;
    const answer = await askField(ui, field, title, undefined, args);
    if (answer === undefined) {
      return undefined;
    }
    if (!answer.omit) {
      args[field.name] = answer.value;
    }
  }
  return args;
}

/**
 * Which prompted field a server error is about: the LSP error's `data.errors[].field`
 * (codeforge/lsp/errors.py), else the message, which lists problems as "field: message (fix)"
 * joined with "; " (codeforge/catalog/errors.py).
 */
export function fieldOfError(message: string, op: Operation, data?: unknown): FieldSpec | undefined {
  const fields = promptFields(op);
  const problems = (data as { errors?: { field?: unknown }[] } | undefined)?.errors;
  if (Array.isArray(problems)) {
    for (const problem of problems) {
      const field = fields.find((f) => f.name === problem?.field);
      if (field) {
        return field;
      }
    }
  }
  for (const part of message.split(/;\s*/)) {
    const match = /^\s*([A-Za-z_][\w.]*):\s/.exec(part);
    const field = match && fields.find((f) => f.name === match[1]);
    if (field) {
      return field;
    }
  }
  return undefined;
}

/** The sentence a destructive operation's confirmation shows. */
export function confirmationText(op: Operation, args: Arguments): string {
  const target = Object.entries(args)
    .filter(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(', ');
  return `${op.title}${target ? ` (${target})` : ''}? This cannot be undone.`;
}
