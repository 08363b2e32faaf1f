// Which parts of an operation's result are secret, read from its output schema (never from a
// list of key names), and how a result is masked before it reaches a place that keeps it:
// notifications (VS Code keeps their history), the output channel and its log file, documents.
// Free of `vscode` so the rules are unit tested over fixtures and the live catalog.

/** Output fields holding a secret carry this key (codeforge/catalog, like inputs' password format). */
export const SECRET_KEY = 'x-codeforge-secret';
/** Outputs that are pane links (codeforge/catalog/panes.py): their `url` is a signed link. */
export const PANE_KEY = 'x-codeforge-pane';
export const MASK = '••••';

export type JsonSchema = { [key: string]: unknown };

function isObject(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Follow a local `$ref` ("#/$defs/EnvVariable") inside the root schema; unknown refs resolve to
 * their sibling keys, which win over the target's, as pydantic intends. */
export function resolveRef(root: JsonSchema, schema: JsonSchema): JsonSchema {
  const ref = schema['$ref'];
  if (typeof ref !== 'string' || !ref.startsWith('#/')) {
    return schema;
  }
  let node: unknown = root;
  for (const part of ref.slice(2).split('/')) {
    node = isObject(node) ? node[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined;
  }
  const { $ref: _ignored, ...siblings } = schema;
  return isObject(node) ? { ...node, ...siblings } : siblings;
}

/** The schema of a value, with `$ref` followed and `anyOf`/`oneOf` variants merged (pydantic's
 * `X | None` and unions): a property is secret when any variant says so. */
function variants(root: JsonSchema, schema: unknown): JsonSchema[] {
  if (!isObject(schema)) {
    return [];
  }
  const resolved = resolveRef(root, schema);
  const out: JsonSchema[] = [resolved];
  for (const key of ['anyOf', 'oneOf', 'allOf']) {
    const list = resolved[key];
    if (Array.isArray(list)) {
      for (const item of list) {
        out.push(...variants(root, item));
      }
    }
  }
  return out;
}

/** Whether a schema marks its value as secret: the output marker, or the input side's
 * `format: password` / `writeOnly`, which mean the same. */
export function isSecretSchema(root: JsonSchema, schema: unknown): boolean {
  return variants(root, schema).some((s) => s[SECRET_KEY] === true || s['format'] === 'password' || s['writeOnly'] === true);
}

function propertySchema(root: JsonSchema, schema: unknown, key: string): unknown {
  for (const variant of variants(root, schema)) {
    const properties = variant['properties'];
    if (isObject(properties) && key in properties) {
      return properties[key];
    }
  }
  for (const variant of variants(root, schema)) {
    if (isObject(variant['additionalProperties'])) {
      return variant['additionalProperties'];
    }
  }
  return undefined;
}

function itemSchema(root: JsonSchema, schema: unknown): unknown {
  for (const variant of variants(root, schema)) {
    if (isObject(variant['items'])) {
      return variant['items'];
    }
  }
  return undefined;
}

// scheme://user:password@host → the password part; the authority ends at / ? # or a space, and
// the last @ before that ends the password (so a stray @ in it is masked too).
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*:)([^\s/?#]+)@/gi;

/** A text with the password of every URL in it masked (`postgresql://app:••••@db:5432/app`). */
export function maskUrlPasswords(text: string): string {
  return text.replace(URL_PASSWORD, (_match, head: string, password: string) => (password === MASK ? `${head}${password}@` : `${head}${MASK}@`));
}

export interface MaskOptions {
  /** Leave URL passwords as they are (a value an explicit reveal shows in a transient place). */
  keepUrlPasswords?: boolean;
}

/** A result with every secret field (per the output schema) and every URL password masked. */
export function maskOutput(result: unknown, outputSchema: JsonSchema | undefined, options: MaskOptions = {}): unknown {
  const root = outputSchema ?? {};
  const pane = root[PANE_KEY] === true;
  const walk = (value: unknown, schema: unknown, depth: number): unknown => {
    if (typeof value === 'string') {
      return options.keepUrlPasswords ? value : maskUrlPasswords(value);
    }
    if (Array.isArray(value)) {
      const items = itemSchema(root, schema);
      return value.map((v) => walk(v, items, depth + 1));
    }
    if (isObject(value)) {
      return Object.fromEntries(
        Object.entries(value).map(([key, v]) => {
          const child = propertySchema(root, schema, key);
          // A pane link's URL carries a signed token that opens the page without signing in.
          const secret = isSecretSchema(root, child) || (pane && depth === 0 && key === 'url');
          if (secret && v !== null && v !== undefined && v !== '') {
            return [key, MASK];
          }
          return [key, walk(v, child, depth + 1)];
        }),
      );
    }
    return value;
  };
  return walk(result, root, 0);
}

export interface SecretValue {
  /** Dotted path of the field, e.g. `pooled_url` or `items.0.token`. */
  path: string;
  value: string;
}

/**
 * The secret strings of a result, for the transient place that shows them (a modal with copy
 * buttons). For an explicit reveal whose schema marks nothing, every string field is offered:
 * a schema that does not say must not hide the answer the person asked for.
 */
export function secretValues(result: unknown, outputSchema: JsonSchema | undefined, reveal: boolean): SecretValue[] {
  const root = outputSchema ?? {};
  const out: SecretValue[] = [];
  const walk = (value: unknown, schema: unknown, path: string[]): void => {
    if (Array.isArray(value)) {
      const items = itemSchema(root, schema);
      value.forEach((v, i) => walk(v, items, [...path, String(i)]));
      return;
    }
    if (!isObject(value)) {
      return;
    }
    for (const [key, v] of Object.entries(value)) {
      const child = propertySchema(root, schema, key);
      if (isSecretSchema(root, child) && typeof v === 'string' && v !== '') {
        out.push({ path: [...path, key].join('.'), value: v });
      } else {
        walk(v, child, [...path, key]);
      }
    }
  };
  walk(result, root, []);
  if (out.length === 0 && reveal && isObject(result)) {
    for (const [key, v] of Object.entries(result)) {
      if (typeof v === 'string' && v !== '') {
        out.push({ path: key, value: v });
      }
    }
  }
  return out;
}

/** Whether an operation exists to show a secret: it is shown only in a transient place. The
 * server decides (`reveals` in the catalog entry: permission reveal, or an output declaring a
 * secret field, like tokens.create's token), the same rule Neovim and the CLI follow. */
export function isReveal(op: { permission?: string; reveals?: boolean }): boolean {
  return op.reveals === true;
}
