// The prompts of an operation, from the fields the server digests out of its input JSON Schema
// (the catalog entry's `input_fields`, codeforge/catalog/prompts.py), and checking and converting
// what a person types. Nothing here interprets JSON Schema. Pure logic: no `vscode` import, so the
// unit tests run it in plain Node and every editor-facing module shares one set of rules.

import { MASK } from './secrets';

/** How a field is asked for. */
export type FieldKind = 'string' | 'password' | 'integer' | 'number' | 'boolean' | 'enum' | 'file' | 'json';

/** One prompt field as the catalog gives it; keys that do not apply to the field are absent.
 * Context fields (the project) are never among them: the language server fills those. */
export interface FieldSpec {
  name: string;
  title: string;
  description: string;
  kind: FieldKind;
  required: boolean;
  /** `null` is an accepted value. */
  nullable: boolean;
  has_default: boolean;
  default?: unknown;
  enum?: readonly (string | number)[];
  pattern?: string;
  min_length?: number;
  max_length?: number;
  minimum?: number;
  maximum?: number;
  exclusive_minimum?: number;
  exclusive_maximum?: number;
  /** For `file` fields: the kind of file to choose (".env"). */
  file_hint?: string;
  /** For `json` fields: the JSON type the value must have ("array" or "object"). */
  json_type?: string;
  /** The boolean field that decides whether this value is secret (`env.set`'s `value` is secret
   * only with `secret: true`), so that boolean is asked first and a plain value is typed in a
   * plain box. */
  secret_if?: string;
  /** The list operation whose items this field names ("databases.list#name"). */
  values?: string;
}

/** The result of reading typed text: a value to send, "omit" (use the server's default), or an error. */
export type Parsed = { ok: true; value: unknown; omit: boolean } | { ok: false; error: string };

/** The fields a person is asked for, in declaration order: the catalog entry's `input_fields`. */
export function promptFields(op: { input_fields?: unknown }): FieldSpec[] {
  const fields = Array.isArray(op.input_fields) ? (op.input_fields as unknown[]) : [];
  return fields.filter((f): f is FieldSpec => typeof f === 'object' && f !== null && typeof (f as FieldSpec).name === 'string');
}

function compile(pattern: string): RegExp | undefined {
  try {
    return new RegExp(pattern, 'u');
  } catch {
    // A Python-only construct the JavaScript engine cannot read: the server still checks it.
    return undefined;
  }
}

function checkRange(field: FieldSpec, value: number): string | undefined {
  if (field.minimum !== undefined && value < field.minimum) {
    return `${field.name} must be at least ${field.minimum}`;
  }
  if (field.maximum !== undefined && value > field.maximum) {
    return `${field.name} must be at most ${field.maximum}`;
  }
  if (field.exclusive_minimum !== undefined && value <= field.exclusive_minimum) {
    return `${field.name} must be greater than ${field.exclusive_minimum}`;
  }
  if (field.exclusive_maximum !== undefined && value >= field.exclusive_maximum) {
    return `${field.name} must be less than ${field.exclusive_maximum}`;
  }
  return undefined;
}

function checkString(field: FieldSpec, text: string): string | undefined {
  const length = [...text].length;
  if (field.min_length !== undefined && length < field.min_length) {
    return `${field.name} needs at least ${field.min_length} character(s)`;
  }
  if (field.max_length !== undefined && length > field.max_length) {
    return `${field.name} takes at most ${field.max_length} character(s); this has ${length}`;
  }
  if (field.pattern !== undefined) {
    const re = compile(field.pattern);
    if (re && !re.test(text)) {
      const hint = field.description ? ` (${field.description})` : '';
      return `${field.name} must match ${field.pattern}${hint}`;
    }
  }
  return undefined;
}

/**
 * Read what a person typed into an input box for this field. Empty text means "not given":
 * an error for a required field, otherwise the field is left out so the server's default applies.
 */
export function parseText(field: FieldSpec, rawText: string): Parsed {
  // The platform strips surrounding whitespace from strings; do the same before checking.
  const text = field.kind === 'password' ? rawText : rawText.trim();
  if (text === '') {
    if (field.required) {
      return { ok: false, error: `${field.name} is required: type a value (Escape cancels)` };
    }
    return { ok: true, value: undefined, omit: true };
  }
  switch (field.kind) {
    case 'integer': {
      if (!/^[+-]?\d+$/.test(text)) {
        return { ok: false, error: `${field.name} must be a whole number, like 42` };
      }
      const value = Number(text);
      const error = checkRange(field, value);
      return error ? { ok: false, error } : { ok: true, value, omit: false };
    }
    case 'number': {
      const value = Number(text);
      if (!Number.isFinite(value)) {
        return { ok: false, error: `${field.name} must be a number, like 1.5` };
      }
      const error = checkRange(field, value);
      return error ? { ok: false, error } : { ok: true, value, omit: false };
    }
    case 'json': {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        return { ok: false, error: `${field.name} must be JSON, like ${field.json_type === 'array' ? '["a", "b"]' : '{"key": "value"}'}` };
      }
      const actual = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
      if (field.json_type && actual !== field.json_type && !(field.json_type === 'integer' && actual === 'number')) {
        return { ok: false, error: `${field.name} must be a JSON ${field.json_type}, not ${actual}` };
      }
      return { ok: true, value, omit: false };
    }
    case 'boolean': {
      const lowered = text.toLowerCase();
      if (['true', 'yes', 'y', '1', 'on'].includes(lowered)) {
        return { ok: true, value: true, omit: false };
      }
      if (['false', 'no', 'n', '0', 'off'].includes(lowered)) {
        return { ok: true, value: false, omit: false };
      }
      return { ok: false, error: `${field.name} must be true or false` };
    }
    case 'enum': {
      const match = (field.enum ?? []).find((v) => String(v) === text);
      if (match === undefined) {
        return { ok: false, error: `${field.name} must be one of: ${(field.enum ?? []).join(', ')}` };
      }
      return { ok: true, value: match, omit: false };
    }
    default: {
      const error = checkString(field, text);
      return error ? { ok: false, error } : { ok: true, value: text, omit: false };
    }
  }
}

/** Check a file's content (for `x-codeforge-file` fields) against the string limits. */
export function checkFileContent(field: FieldSpec, content: string): string | undefined {
  if (field.required && content === '') {
    return `${field.name}: the chosen file is empty; pick another file`;
  }
  return checkString(field, content);
}

/** The text an input box starts with: the default, when there is a simple one. */
export function initialText(field: FieldSpec): string {
  if (!field.has_default || field.default === null || field.default === undefined || field.kind === 'password') {
    return '';
  }
  return typeof field.default === 'object' ? JSON.stringify(field.default) : String(field.default);
}

/** One line under the input box: what the field is and what it accepts. */
export function describeField(field: FieldSpec): string {
  const parts: string[] = [];
  if (field.description) {
    parts.push(field.description);
  }
  const rules: string[] = [];
  if (field.pattern) {
    rules.push(`pattern ${field.pattern}`);
  }
  if (field.min_length !== undefined || field.max_length !== undefined) {
    rules.push(`${field.min_length ?? 0}–${field.max_length ?? '∞'} characters`);
  }
  if (field.minimum !== undefined || field.maximum !== undefined) {
    rules.push(`${field.minimum ?? '−∞'}…${field.maximum ?? '∞'}`);
  }
  if (!field.required) {
    rules.push(field.has_default && field.default !== null ? `optional, default ${JSON.stringify(field.default)}` : 'optional');
  }
  if (rules.length > 0) {
    parts.push(`(${rules.join('; ')})`);
  }
  return parts.join(' ');
}

/** Choices of a quick pick for a boolean or enum field, the default first. */
export function choices(field: FieldSpec): { label: string; value: unknown; omit: boolean; isDefault: boolean }[] {
  const values: unknown[] = field.kind === 'boolean' ? [true, false] : [...(field.enum ?? [])];
  const out = values.map((value) => ({
    label: String(value),
    value,
    omit: false,
    isDefault: field.has_default && field.default === value,
  }));
  if (field.nullable && !field.required) {
    out.push({ label: '(none)', value: null, omit: !field.has_default || field.default === null, isDefault: field.default === null });
  }
  out.sort((a, b) => Number(b.isDefault) - Number(a.isDefault));
  return out;
}

/**
 * A field as it is asked given the answers so far: a password field whose secrecy depends on a
 * boolean (`secret_if`) is a plain string when that boolean is not true.
 */
export function effectiveField(field: FieldSpec, answers: Record<string, unknown>): FieldSpec {
  return field.kind === 'password' && field.secret_if !== undefined && answers[field.secret_if] !== true ? { ...field, kind: 'string' } : field;
}

/**
 * The order fields are asked in: declaration order, except that a boolean deciding how another
 * field is asked (`secret_if`) comes just before the first field it decides.
 */
export function askingOrder(fields: readonly FieldSpec[]): FieldSpec[] {
  const out: FieldSpec[] = [];
  for (const field of fields) {
    if (field.secret_if !== undefined) {
      const decider = fields.find((f) => f.name === field.secret_if);
      if (decider && !out.includes(decider)) {
        out.push(decider);
      }
    }
    if (!out.includes(field)) {
      out.push(field);
    }
  }
  return out;
}

/** Arguments as they may be written to a log: secrets and file contents masked. */
export function redact(args: Record<string, unknown>, op: { input_fields?: unknown }): Record<string, unknown> {
  const fields = new Map(promptFields(op).map((f) => [f.name, f]));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(args)) {
    const field = fields.get(key);
    const kind = field ? effectiveField(field, args).kind : undefined;
    out[key] = kind === 'password' ? MASK : kind === 'file' && typeof value === 'string' ? `<${value.length} chars>` : value;
  }
  return out;
}
