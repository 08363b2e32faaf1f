// How results look in notifications and in the resource tree. Free of `vscode` for unit tests.
import { MASK, maskOutput, maskUrlPasswords, PANE_KEY, type SecretSource } from './secrets';

/**
 * One line summing a result up for a notification; the whole result goes to the output channel.
 * Secret fields (the operation's `output_secrets`) are left out and URL passwords
 * masked: editors keep a history of notifications.
 */
export function summarize(result: unknown, op?: SecretSource): string {
  if (result === null || result === undefined) {
    return 'done';
  }
  if (typeof result !== 'object') {
    return maskUrlPasswords(String(result));
  }
  const record = result as Record<string, unknown>;
  if (Array.isArray(record['items'])) {
    return `${record['items'].length} item(s)`;
  }
  const masked = maskOutput(record, op) as Record<string, unknown>;
  const parts = Object.entries(masked)
    .filter(([k, v]) => !(v === MASK && record[k] !== MASK) && (v === null || ['string', 'number', 'boolean'].includes(typeof v)))
    .slice(0, 4)
    .map(([k, v]) => `${k}: ${String(v)}`);
  return parts.join(', ') || 'done';
}

/** Keys that name a resource, best first; the first one present labels a tree item. */
const LABEL_KEYS = ['name', 'slug', 'username', 'title', 'id', 'operation'];

export interface ItemView {
  label: string;
  description: string;
  tooltip: string;
}

/** A list item as a tree row: its name, then a few short facts, with everything in the tooltip. */
export function describeItem(item: unknown): ItemView {
  if (typeof item !== 'object' || item === null) {
    return { label: String(item), description: '', tooltip: String(item) };
  }
  const record = item as Record<string, unknown>;
  const key = LABEL_KEYS.find((k) => typeof record[k] === 'string' && record[k] !== '');
  const label = key ? String(record[key]) : JSON.stringify(record).slice(0, 60);
  const facts = Object.entries(record)
    .filter(([k, v]) => k !== key && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'))
    // Timestamps and ids make rows noisy; they stay in the tooltip.
    .filter(([k]) => !/(_at|^id|^time)$/.test(k))
    .slice(0, 3)
    .map(([k, v]) => (typeof v === 'boolean' ? (v ? k : '') : `${k}: ${String(v)}`))
    .filter(Boolean);
  return { label, description: facts.join(' · '), tooltip: JSON.stringify(record, null, 2) };
}

/** Group title of a list operation in the tree: "env" → "Env", "members" → "Members". */
export function groupLabel(capability: string): string {
  return capability.charAt(0).toUpperCase() + capability.slice(1).replace(/_/g, ' ');
}

/** Longest list written to the log in full; a 20 000-name import result would bury the job's lines. */
const LOG_LIST_LIMIT = 20;

/** A result as the output channel shows it: secrets masked, long lists cut with a count. */
export function forLog(result: unknown, op?: SecretSource): unknown {
  const masked = maskOutput(result, op);
  const cut = (value: unknown): unknown => {
    if (Array.isArray(value)) {
      const head = value.slice(0, LOG_LIST_LIMIT).map(cut);
      return value.length > LOG_LIST_LIMIT ? [...head, `… ${value.length - LOG_LIST_LIMIT} more`] : head;
    }
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cut(v)]));
    }
    return value;
  };
  return cut(masked);
}

/** The http(s) URL to open when an operation's output is a pane link; undefined otherwise. */
export function paneUrl(op: SecretSource, result: unknown): string | undefined {
  if (op.output_schema?.[PANE_KEY] !== true || typeof result !== 'object' || result === null) {
    return undefined;
  }
  const url = (result as Record<string, unknown>)['url'];
  return typeof url === 'string' && /^https?:\/\//.test(url) ? url : undefined;
}

/** A property of a list item, if the item is an object. */
export function field(item: unknown, key: string): unknown {
  return typeof item === 'object' && item !== null ? (item as Record<string, unknown>)[key] : undefined;
}

/** Items of a list whose `parent` is `parent` (a database's branches); with `parent`
 * undefined, the roots: items whose parent is not in the list. */
export function childrenOf(items: readonly unknown[], parent?: unknown): unknown[] {
  if (parent !== undefined) {
    return items.filter((i) => field(i, 'parent') === parent);
  }
  const names = new Set<unknown>(items.map((i) => field(i, 'name')).filter((n) => typeof n === 'string'));
  return items.filter((i) => !names.has(field(i, 'parent')));
}

