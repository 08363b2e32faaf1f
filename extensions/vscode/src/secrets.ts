// Which parts of an operation's result are secret, and how a result is masked before it reaches
// a place that keeps it: notifications (VS Code keeps their history), the output channel and its
// log file, documents. The server says where the secrets are: a catalog entry's `output_secrets`
// (paths such as `url`, `items[].token`, `by_name.*.token`) and `reveals`, both built by
// codeforge/catalog/secrets.py, the same rules Neovim (extensions/nvim/lua/codeforge/secrets.lua)
// and the CLI follow. Free of `vscode` so the rules are unit tested over fixtures and the live catalog.

/** Outputs that are pane links (codeforge/catalog/panes.py): their `url` is a signed link. */
export const PANE_KEY = 'x-codeforge-pane';
export const MASK = '••••';

export type JsonSchema = { [key: string]: unknown };

/** What masking reads of a catalog entry (an `Operation`): its secret output paths, and the
 * output schema only for the pane marker. */
export interface SecretSource {
  output_secrets?: readonly string[];
  output_schema?: JsonSchema;
}

function isObject(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The entry's secret paths as lists of segments: `items[].token` → ['items', '[]', 'token']. */
function secretPaths(op: SecretSource | undefined): string[][] {
  return (op?.output_secrets ?? []).map((path) => path.replace(/\[\]/g, '.[]').split('.').filter(Boolean));
}

/** The paths below `key` (`[]` for a list's items; `*` matches any key of a map), and whether one
 * of them ends there, making the value secret. */
function below(paths: string[][], key: string): { secret: boolean; inner: string[][] } {
  let secret = false;
  const inner: string[][] = [];
  for (const [head, ...rest] of paths) {
    if (head === key || (head === '*' && key !== '[]')) {
      if (rest.length === 0) {
        secret = true;
      } else {
        inner.push(rest);
      }
    }
  }
  return { secret, inner };
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

/** A result with every secret field (per the entry's `output_secrets`), a pane link's signed
 * `url`, and every URL password masked. */
export function maskOutput(result: unknown, op: SecretSource | undefined, options: MaskOptions = {}): unknown {
  // A pane link's URL carries a signed token that opens the page without signing in.
  const pane = op?.output_schema?.[PANE_KEY] === true ? [['url']] : [];
  const walk = (value: unknown, paths: string[][]): unknown => {
    if (typeof value === 'string') {
      return options.keepUrlPasswords ? value : maskUrlPasswords(value);
    }
    if (Array.isArray(value)) {
      const { inner } = below(paths, '[]');
      return value.map((v) => walk(v, inner));
    }
    if (isObject(value)) {
      return Object.fromEntries(
        Object.entries(value).map(([key, v]) => {
          const { secret, inner } = below(paths, key);
          return [key, secret && v !== null && v !== undefined && v !== '' ? MASK : walk(v, inner)];
        }),
      );
    }
    return value;
  };
  return walk(result, [...secretPaths(op), ...pane]);
}

export interface SecretValue {
  /** Dotted path of the field, e.g. `pooled_url` or `items.0.token`. */
  path: string;
  value: string;
}

/**
 * The secret strings of a result, for the transient place that shows them (a modal with copy
 * buttons). For an explicit reveal whose entry lists no secret path, every string field is
 * offered: an entry that does not say must not hide the answer the person asked for.
 */
export function secretValues(result: unknown, op: SecretSource | undefined, reveal: boolean): SecretValue[] {
  const out: SecretValue[] = [];
  const walk = (value: unknown, paths: string[][], path: string[]): void => {
    if (paths.length === 0) {
      return;
    }
    if (Array.isArray(value)) {
      const { inner } = below(paths, '[]');
      value.forEach((v, i) => walk(v, inner, [...path, String(i)]));
      return;
    }
    if (!isObject(value)) {
      return;
    }
    for (const [key, v] of Object.entries(value)) {
      const { secret, inner } = below(paths, key);
      if (secret && typeof v === 'string' && v !== '') {
        out.push({ path: [...path, key].join('.'), value: v });
      } else {
        walk(v, inner, [...path, key]);
      }
    }
  };
  walk(result, secretPaths(op), []);
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
