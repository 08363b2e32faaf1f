// Turns an operation's input JSON Schema (as pydantic writes it into the catalog) into a list of
// prompts, and checks and converts what a person types. Pure logic: no `vscode` import, so the
// unit tests run it in plain Node and every editor-facing module shares one set of rules.

export const CONTEXT_KEY = 'x-codeforge-context';
export const FILE_KEY = 'x-codeforge-file';
/** On a password field: the boolean field that says whether it is secret (`env.set`'s `value`
 * is secret only with `secret: true`), so that boolean is asked first and a plain value is typed
 * in a plain box. */
export const SECRET_IF_KEY = 'x-codeforge-secret-if';

export type JsonSchema = { [key: string]: unknown };

/** How a field is asked for. */
export type FieldKind = 'string' | 'password' | 'integer' | 'number' | 'boolean' | 'enum' | 'file' | 'json';

export interface FieldSpec {
  name: string;
  title: string;
  description: string;
  kind: FieldKind;
  required: boolean;
  /** `null` is an accepted value (an `anyOf` with `{type: "null"}`). */
  nullable: boolean;
  hasDefault: boolean;
  default?: unknown;
  enumValues?: readonly (string | number)[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  /** For `file` fields: the file name hint the schema gives (".env"). */
  fileHint?: string;
  /** For `json` fields: the JSON type the value must have ("array" or "object"). */
  jsonType?: string;
  /** For `password` fields: the boolean field that decides whether the value is secret. */
  secretIf?: string;
}

/** The result of reading typed text: a value to send, "omit" (use the server's default), or an error. */
export type Parsed = { ok: true; value: unknown; omit: boolean } | { ok: false; error: string };

function isObject(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Follow a local `$ref` ("#/$defs/Role") inside the root schema; unknown refs resolve to `{}`. */
export function resolveRef(root: JsonSchema, schema: JsonSchema): JsonSchema {
  const ref = schema['$ref'];
  if (typeof ref !== 'string' || !ref.startsWith('#/')) {
    return schema;
  }
  let node: unknown = root;
  for (const part of ref.slice(2).split('/')) {
    node = isObject(node) ? node[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  }
  // Sibling keys of a $ref (description, default) win over the target's, as pydantic intends.
  const { $ref: _ignored, ...siblings } = schema;
  return isObject(node) ? { ...node, ...siblings } : siblings;
}

/** Strip `anyOf: [X, {type: null}]` (pydantic's `X | None`) to X, remembering that null is allowed. */
function unwrapNullable(root: JsonSchema, schema: JsonSchema): { schema: JsonSchema; nullable: boolean } {
  const variants = schema['anyOf'] ?? schema['oneOf'];
  let nullable = schema['type'] === 'null';
  let base = resolveRef(root, schema);
  if (Array.isArray(variants)) {
    const others = variants.filter((v) => !(isObject(v) && v['type'] === 'null'));
    nullable = nullable || others.length < variants.length;
    if (others.length === 1 && isObject(others[0])) {
      const { anyOf: _a, oneOf: _o, ...outer } = schema;
      base = { ...resolveRef(root, others[0]), ...outer };
    }
  }
  if (Array.isArray(base['type'])) {
    const types = (base['type'] as unknown[]).filter((t) => t !== 'null');
    nullable = nullable || types.length < (base['type'] as unknown[]).length;
    base = { ...base, type: types.length === 1 ? types[0] : types };
  }
  return { schema: base, nullable };
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function kindOf(schema: JsonSchema): FieldKind {
  if (schema[FILE_KEY] !== undefined) {
    return 'file';
  }
  if (Array.isArray(schema['enum'])) {
    return 'enum';
  }
  if (schema['const'] !== undefined) {
    return 'enum';
  }
  switch (schema['type']) {
    case 'boolean':
      return 'boolean';
    case 'integer':
      return 'integer';
    case 'number':
      return 'number';
    case 'string':
      return schema['format'] === 'password' || schema['writeOnly'] === true ? 'password' : 'string';
    default:
      // Arrays, objects and unions the prompts cannot break down are typed as JSON.
      return 'json';
  }
}

/** Whether a property is filled by the client from its context (the current project). */
export function isContextField(root: JsonSchema, property: JsonSchema): boolean {
  return unwrapNullable(root, property).schema[CONTEXT_KEY] !== undefined || property[CONTEXT_KEY] !== undefined;
}

/**
 * The fields a person is asked for, in declaration order. Context fields (`x-codeforge-context`)
 * are left out: the language server fills them from codeforge.yaml or the login.
 */
export function promptFields(inputSchema: JsonSchema): FieldSpec[] {
  const properties = isObject(inputSchema['properties']) ? inputSchema['properties'] : {};
  const required = new Set(Array.isArray(inputSchema['required']) ? (inputSchema['required'] as string[]) : []);
  const fields: FieldSpec[] = [];
  for (const [name, raw] of Object.entries(properties)) {
    if (!isObject(raw) || isContextField(inputSchema, raw)) {
      continue;
    }
    const { schema, nullable } = unwrapNullable(inputSchema, raw);
    const kind = kindOf(schema);
    const spec: FieldSpec = {
      name,
      title: typeof schema['title'] === 'string' ? schema['title'] : name,
      description: typeof schema['description'] === 'string' ? schema['description'] : '',
      kind,
      required: required.has(name),
      nullable,
      hasDefault: 'default' in raw || 'default' in schema,
      default: 'default' in raw ? raw['default'] : schema['default'],
    };
    if (kind === 'enum') {
      spec.enumValues = Array.isArray(schema['enum'])
        ? (schema['enum'] as (string | number)[])
        : [schema['const'] as string | number];
    }
    if (typeof schema['pattern'] === 'string') {
      spec.pattern = schema['pattern'];
    }
    spec.minLength = num(schema['minLength']);
    spec.maxLength = num(schema['maxLength']);
    spec.minimum = num(schema['minimum']);
    spec.maximum = num(schema['maximum']);
    spec.exclusiveMinimum = num(schema['exclusiveMinimum']);
    spec.exclusiveMaximum = num(schema['exclusiveMaximum']);
    if (kind === 'file') {
      spec.fileHint = String(schema[FILE_KEY]);
    }
    if (kind === 'json' && typeof schema['type'] === 'string') {
      spec.jsonType = schema['type'];
    }
    const secretIf = schema[SECRET_IF_KEY] ?? raw[SECRET_IF_KEY];
    if (kind === 'password' && typeof secretIf === 'string' && secretIf in properties) {
      spec.secretIf = secretIf;
    }
    fields.push(spec);
  }
  return fields;
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
  if (field.exclusiveMinimum !== undefined && value <= field.exclusiveMinimum) {
    return `${field.name} must be greater than ${field.exclusiveMinimum}`;
  }
  if (field.exclusiveMaximum !== undefined && value >= field.exclusiveMaximum) {
    return `${field.name} must be less than ${field.exclusiveMaximum}`;
  }
  return undefined;
}

function checkString(field: FieldSpec, text: string): string | undefined {
  const length = [...text].length;
  if (field.minLength !== undefined && length < field.minLength) {
    return `${field.name} needs at least ${field.minLength} character(s)`;
  }
  if (field.maxLength !== undefined && length > field.maxLength) {
    return `${field.name} takes at most ${field.maxLength} character(s); this has ${length}`;
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
        return { ok: false, error: `${field.name} must be JSON, like ${field.jsonType === 'array' ? '["a", "b"]' : '{"key": "value"}'}` };
      }
      const actual = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
      if (field.jsonType && actual !== field.jsonType && !(field.jsonType === 'integer' && actual === 'number')) {
        return { ok: false, error: `${field.name} must be a JSON ${field.jsonType}, not ${actual}` };
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
      const match = (field.enumValues ?? []).find((v) => String(v) === text);
      if (match === undefined) {
        return { ok: false, error: `${field.name} must be one of: ${(field.enumValues ?? []).join(', ')}` };
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
  if (!field.hasDefault || field.default === null || field.default === undefined || field.kind === 'password') {
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
  if (field.minLength !== undefined || field.maxLength !== undefined) {
    rules.push(`${field.minLength ?? 0}–${field.maxLength ?? '∞'} characters`);
  }
  if (field.minimum !== undefined || field.maximum !== undefined) {
    rules.push(`${field.minimum ?? '−∞'}…${field.maximum ?? '∞'}`);
  }
  if (!field.required) {
    rules.push(field.hasDefault && field.default !== null ? `optional, default ${JSON.stringify(field.default)}` : 'optional');
  }
  if (rules.length > 0) {
    parts.push(`(${rules.join('; ')})`);
  }
  return parts.join(' ');
}

/** Choices of a quick pick for a boolean or enum field, the default first. */
export function choices(field: FieldSpec): { label: string; value: unknown; omit: boolean; isDefault: boolean }[] {
  const values: unknown[] = field.kind === 'boolean' ? [true, false] : [...(field.enumValues ?? [])];
  const out = values.map((value) => ({
    label: String(value),
    value,
    omit: false,
    isDefault: field.hasDefault && field.default === value,
  }));
  if (field.nullable && !field.required) {
    out.push({ label: '(none)', value: null, omit: !field.hasDefault || field.default === null, isDefault: field.default === null });
  }
  out.sort((a, b) => Number(b.isDefault) - Number(a.isDefault));
  return out;
}

/**
 * A field as it is asked given the answers so far: a password field whose secrecy depends on a
 * boolean (`x-codeforge-secret-if`) is a plain string when that boolean is not true.
 */
export function effectiveField(field: FieldSpec, answers: Record<string, unknown>): FieldSpec {
  return field.kind === 'password' && field.secretIf !== undefined && answers[field.secretIf] !== true ? { ...field, kind: 'string' } : field;
}

/**
 * The order fields are asked in: declaration order, except that a boolean deciding how another
 * field is asked (`x-codeforge-secret-if`) comes just before the first field it decides.
 */
export function askingOrder(fields: readonly FieldSpec[]): FieldSpec[] {
  const out: FieldSpec[] = [];
  for (const field of fields) {
    if (field.secretIf !== undefined) {
      const decider = fields.find((f) => f.name === field.secretIf);
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

/** Field names that hold secrets, for masking arguments in logs. */
export function secretFields(inputSchema: JsonSchema): Set<string> {
  return new Set(promptFields(inputSchema).filter((f) => f.kind === 'password').map((f) => f.name));
}

/** Arguments as they may be written to a log: secrets and file contents masked. */
export function redact(args: Record<string, unknown>, inputSchema: JsonSchema): Record<string, unknown> {
  const fields = new Map(promptFields(inputSchema).map((f) => [f.name, f]));
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(args)) {
    const field = fields.get(key);
    const kind = field ? effectiveField(field, args).kind : undefined;
    out[key] = kind === 'password' ? '••••' : kind === 'file' && typeof value === 'string' ? `<${value.length} chars>` : value;
  }
  return out;
}
