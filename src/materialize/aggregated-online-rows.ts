/**
 * Online rows of aggregated views: the aggregate values together with the entity's event buffer
 * (../aggregate/event-buffer.ts), written through the online store's compare-and-set `update`.
 * Materialization takes the values from the training-set SQL over the view's offline events and
 * the buffers from its source; push updates both with the JS engine.
 *
 * The stored "as of" time orders writes: a write as of an earlier time than the stored one leaves
 * the entity as it is (an older materialization range changes nothing, as for plain views).
 */
import type { FeatureViewDef } from "../definitions/definition-types.js";
import { joinKeysOf, joinKeyTypesOf } from "../definitions/feature-view.js";
import { bufferColumns, pushMarksOf, bufferExpiresAt, encodeBuffer, longestWindow, mergeEvents, pruneBuffer, type BufferedEvent, type EventBuffer } from "../aggregate/event-buffer.js";
import type { OnlineStore, StateModify } from "../online/online-store.js";
import { aggregationsOf, forEachTransformedRow, viewValueColumns } from "../pipeline/view-pipeline.js";
import { onlineEntityKey } from "../data/entity-keys.js";

/** Where a view's batch source is read from (as for backfills). */
export interface SourceReadContext {
  repoDir: string;
  postgresUrl: string | undefined;
}

/** An entity's events as materialization found them. */
export interface EntityEvents {
  /** The events that still matter as of `end − 1` (pruned). */
  buffer: EventBuffer;
  /** The last instant before `end` at which an aggregate could change: an event, or an event leaving a window. */
  lastChange: number;
}

/**
 * The entities whose aggregates can change in [start, end) — those with a transformed source event
 * in [start − longest window, end), or any before `end` when a window is unbounded — each with its
 * events as a buffer pruned as of `end − 1` and the last instant before `end` at which an event
 * entered or left a window. Memory holds the pruned buffers: an entity's list is pruned whenever
 * it doubles (pruning is idempotent and commutes with adding events, so the result is the same).
 * A view with an unbounded window reads its source's whole history at each materialization.
 */
export async function readEntityEvents(ctx: SourceReadContext, view: FeatureViewDef, range: { start: number; end: number }): Promise<Map<string, EntityEvents>> {
  const { end } = range;
  const aggs = aggregationsOf(view);
  const columns = bufferColumns(aggs);
  const valueColumns = viewValueColumns(view);
  const pick = columns.map((c) => valueColumns.indexOf(c));
  const joinKeys = joinKeysOf(view);
  const keyTypes = joinKeyTypesOf(view);
  const longest = longestWindow(aggs);
  const windows = [...new Set(aggs.map((a) => a.def.windowMs).filter((w): w is number => w !== null))];
  const asOf = end - 1;
  const lists = new Map<string, { events: BufferedEvent[]; pruneAt: number; lastChange: number }>();
  const prune = (events: BufferedEvent[]): BufferedEvent[] => pruneBuffer(mergeEvents({ columns, events: [] }, events), aggs, asOf).events;
  await forEachTransformedRow(ctx, view, { ...(Number.isFinite(longest) ? { start: range.start - longest } : {}), end }, (keyParts, ts, created, values) => {
    const key = onlineEntityKey(keyParts, keyTypes, joinKeys);
    if (key === null) return;
    let list = lists.get(key);
    if (list === undefined) lists.set(key, (list = { events: [], pruneAt: 64, lastChange: Number.NEGATIVE_INFINITY }));
    let change = ts;
    for (const w of windows) if (ts + w <= asOf && ts + w > change) change = ts + w;
    if (change > list.lastChange) list.lastChange = change;
    list.events.push({ ts, created, values: pick.map((i) => values[i] ?? null) });
    if (list.events.length >= list.pruneAt) {
      list.events = prune(list.events);
      list.pruneAt = Math.max(64, list.events.length * 2);
    }
  });
  const out = new Map<string, EntityEvents>();
  for (const [key, list] of lists) out.set(key, { buffer: { columns, events: prune(list.events) }, lastChange: list.lastChange });
  return out;
}

/** What materialization writes for one entity of an aggregated view. */
export interface AggregatedOnlineRow {
  /** The aggregates as of the write's `asOf`, in schema order, typed as the schema says. */
  values: unknown[];
  /** The last instant ≤ asOf at which an aggregate could change. */
  eventTs: number;
  buffer: EventBuffer;
}

/**
 * Writes each entity's aggregates as of `asOf` with its buffer, in batches; an entity stored as of
 * a later time is left as it is (counted stale).
 */
export async function writeAggregatedRows(
  online: OnlineStore,
  project: string,
  view: FeatureViewDef,
  entities: ReadonlyMap<string, AggregatedOnlineRow>,
  asOf: number,
  opts: { batchSize: number; maxInFlight: number },
  onRows: (n: number) => void,
): Promise<{ written: number; stale: number; expired: number }> {
  const aggs = aggregationsOf(view);
  const features = Object.keys(view.schema);
  const modify: StateModify = (key, cur) => {
    if (cur !== null && cur.asOf > asOf) return null;
    const row = entities.get(key)!;
    // Marks of idempotent pushes stay: a retry of one must not merge its events a second time.
    const pushes = cur === null ? [] : pushMarksOf(cur.state);
    const buffer = pushes.length > 0 ? { ...row.buffer, pushes } : row.buffer;
    return { eventTs: row.eventTs, values: row.values, asOf, state: encodeBuffer(buffer), stateExpiresAt: bufferExpiresAt(buffer, aggs, row.eventTs, view.ttlMs) };
  };
  const keys = [...entities.keys()];
  const counts = { written: 0, stale: 0, expired: 0 };
  const batches: string[][] = [];
  for (let i = 0; i < keys.length; i += opts.batchSize) batches.push(keys.slice(i, i + opts.batchSize));
  // Up to maxInFlight batches at once: distinct entities, so their order does not matter.
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < batches.length && !failed) {
      const batch = batches[next++]!;
      const r = await online.update(project, view.name, batch, modify, { features, ttlMs: view.ttlMs }).catch((err: unknown) => {
        failed = true;
        throw err;
      });
      counts.written += r.written - r.expired;
      counts.stale += r.unchanged;
      counts.expired += r.expired;
      onRows(batch.length);
    }
  };
  // Every worker has stopped before this returns or throws: no write outlives the run.
  const settled = await Promise.allSettled(Array.from({ length: Math.min(opts.maxInFlight, batches.length) }, worker));
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failure) throw failure.reason;
  return counts;
}
