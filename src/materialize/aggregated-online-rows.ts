/**
 * Online rows of aggregated views: the aggregate values together with the entity's event buffer
 * (../aggregate/event-buffer.ts), written through the online store's compare-and-set `update`.
 * Materialization writes them from the offline store and the source; push updates them.
 *
 * The stored "as of" time orders writes: a write as of an earlier time than the stored one leaves
 * the entity as it is (an older materialization range changes nothing, as for plain views).
 */
import type { FeatureViewDef } from "../definitions/definition-types.js";
import { joinKeysOf, joinKeyTypesOf } from "../definitions/feature-view.js";
import { bufferColumns, pushMarksOf, bufferExpiresAt, encodeBuffer, longestWindow, mergeEvents, pruneBuffer, type BufferedEvent, type EventBuffer } from "../aggregate/event-buffer.js";
import type { OnlineStore, StateModify } from "../online/online-store.js";
import { aggregationsOf, forEachTransformedRow, viewValueColumns } from "../pipeline/view-pipeline.js";
import type { LatestRow } from "./latest-rows.js";
import { onlineEntityKey } from "../offline/entity-keys.js";

/** Where a view's batch source is read from (as for backfills). */
export interface SourceReadContext {
  repoDir: string;
  postgresUrl: string | undefined;
}

/**
 * The transformed source events with timestamps in [end − longest window, end) (all history when a
 * window is unbounded) of the given entities, as sorted buffers pruned as of `end − 1`. Memory holds
 * the pruned buffers: an entity's list is pruned whenever it doubles (pruning is idempotent and
 * commutes with adding events, so the result is the same). A view with an unbounded window reads
 * its source's whole history at each materialization.
 */
export async function readEventBuffers(ctx: SourceReadContext, view: FeatureViewDef, end: number, entityKeys: ReadonlySet<string>): Promise<Map<string, EventBuffer>> {
  const aggs = aggregationsOf(view);
  const columns = bufferColumns(aggs);
  const valueColumns = viewValueColumns(view);
  const pick = columns.map((c) => valueColumns.indexOf(c));
  const joinKeys = joinKeysOf(view);
  const keyTypes = joinKeyTypesOf(view);
  const longest = longestWindow(aggs);
  const asOf = end - 1;
  const lists = new Map<string, { events: BufferedEvent[]; pruneAt: number }>();
  const prune = (events: BufferedEvent[]): BufferedEvent[] => pruneBuffer(mergeEvents({ columns, events: [] }, events), aggs, asOf).events;
  await forEachTransformedRow(ctx, view, { ...(Number.isFinite(longest) ? { start: end - longest } : {}), end }, (keyParts, ts, created, values) => {
    const key = onlineEntityKey(keyParts, keyTypes, joinKeys);
    if (key === null || !entityKeys.has(key)) return;
    let list = lists.get(key);
    if (list === undefined) lists.set(key, (list = { events: [], pruneAt: 64 }));
    list.events.push({ ts, created, values: pick.map((i) => values[i] ?? null) });
    if (list.events.length >= list.pruneAt) {
      list.events = prune(list.events);
      list.pruneAt = Math.max(64, list.events.length * 2);
    }
  });
  const out = new Map<string, EventBuffer>();
  for (const [key, list] of lists) out.set(key, { columns, events: prune(list.events) });
  return out;
}

/**
 * Writes each entity's latest offline row (its aggregates as of `asOf`) with its buffer, in batches;
 * an entity stored as of a later time is left as it is (counted stale).
 */
export async function writeAggregatedRows(
  online: OnlineStore,
  project: string,
  view: FeatureViewDef,
  latest: ReadonlyMap<string, LatestRow>,
  buffers: ReadonlyMap<string, EventBuffer>,
  asOf: number,
  opts: { batchSize: number; maxInFlight: number },
  onRows: (n: number) => void,
): Promise<{ written: number; stale: number; expired: number }> {
  const aggs = aggregationsOf(view);
  const columns = bufferColumns(aggs);
  const features = Object.keys(view.schema);
  const modify: StateModify = (key, cur) => {
    if (cur !== null && cur.asOf > asOf) return null;
    const row = latest.get(key)!;
    const fromSource = buffers.get(key) ?? { columns, events: [] };
    // Marks of idempotent pushes stay: a retry of one must not merge its events a second time.
    const pushes = cur === null ? [] : pushMarksOf(cur.state);
    const buffer = pushes.length > 0 ? { ...fromSource, pushes } : fromSource;
    return { eventTs: row.eventTs, values: row.values, asOf, state: encodeBuffer(buffer), stateExpiresAt: bufferExpiresAt(buffer, aggs, row.eventTs, view.ttlMs) };
  };
  const keys = [...latest.keys()];
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
