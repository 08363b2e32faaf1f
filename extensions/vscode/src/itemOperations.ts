// Operations on one item of the resource tree: those with an input field whose values come from
// the item's list operation (the field's `values`: "databases.list#name"), that field filled
// in from the item. Nothing here names an operation; the catalog says it all.
import type { Arguments, Operation } from './prompt';
import { promptFields } from './schema';

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
    if (op.name === listOp.name) {
      continue;
    }
    for (const field of promptFields(op)) {
      const [source, key = 'name'] = (field.values ?? '').split('#');
      const value = (item as Record<string, unknown>)[key];
      if (source === listOp.name && value !== undefined && value !== null) {
        out.push({ op, given: { [field.name]: value } });
        break;
      }
    }
  }
  return out;
}
