import type { EntityKey } from "../offline/entity-keys.js";

/**
 * The order that sorts rows by (entity, event ts, created ts, arrival): a counting sort by entity
 * (entities in first-seen order) and a small sort within each entity. Returns the permutation and
 * the start of each entity's run in it.
 */
export function sortByKeyTime(keys: readonly EntityKey[], ts: ArrayLike<number>, created: ArrayLike<number>): { order: Int32Array; runStarts: Int32Array } {
  const n = keys.length;
  const ids = new Int32Array(n);
  const idOf = new Map<EntityKey, number>();
  for (let i = 0; i < n; i++) {
    const k = keys[i]!;
    let id = idOf.get(k);
    if (id === undefined) {
      id = idOf.size;
      idOf.set(k, id);
    }
    ids[i] = id;
  }
  const groups = idOf.size;
  const starts = new Int32Array(groups + 1);
  for (let i = 0; i < n; i++) starts[ids[i]! + 1]!++;
  for (let g = 0; g < groups; g++) starts[g + 1]! += starts[g]!;
  const cursor = starts.slice(0, groups);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[cursor[ids[i]!]!++] = i;
  const cmp = (a: number, b: number) => ts[a]! - ts[b]! || created[a]! - created[b]! || a - b;
  for (let g = 0; g < groups; g++) {
    const from = starts[g]!;
    const to = starts[g + 1]!;
    if (to - from < 2) continue;
    let sorted = true;
    for (let i = from + 1; i < to; i++) if (cmp(order[i - 1]!, order[i]!) > 0) { sorted = false; break; }
    if (!sorted) order.subarray(from, to).sort(cmp);
  }
  return { order, runStarts: starts };
}
