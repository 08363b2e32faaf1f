// Operations on one item of the resource tree: those with an input field whose values come from
// the item's list operation (`x-codeforge-values: "databases.list#name"`), that field filled
// in from the item. Nothing here names an operation; the catalog says it all.
import type { Arguments, Operation } from './prompt';

export const VALUES_KEY = 'x-codeforge-values';

export interface ItemOperation {
  op: Operation;
  given: Arguments;
}

export function operationsForItem(catalog: readonly Operation[], listOp: Operation, item: unknown): ItemOperation[] {
  if (typeof item !== 'object' || item === null) {
    return [];
  }
  const out: ItemOperation[] = [];
  for (const op of catalog) {
    const properties = op.input_schema['properties'];
    if (op.name === listOp.name || typeof properties !== 'object' || properties === null) {
      continue;
    }
    for (const [field, schema] of Object.entries(properties as Record<string, unknown>)) {
      const spec = typeof schema === 'object' && schema !== null ? (schema as Record<string, unknown>)[VALUES_KEY] : undefined;
      if (typeof spec !== 'string') {
        continue;
      }
      const [source, key = 'name'] = spec.split('#');
      const value = (item as Record<string, unknown>)[key];
      if (source === listOp.name && value !== undefined && value !== null) {
        out.push({ op, given: { [field]: value } });
        break;
      }
    }
  }
  return out;
}
