import type { FeatureViewDef } from "../definitions/definition-types.js";
import { joinKeysOf, joinKeyTypesOf } from "../definitions/feature-view.js";
import { LarderError, toLarderError } from "../errors.js";
import type { OfflineStore } from "../offline/offline-store.js";
import type { OnlineRow, OnlineStore } from "../online/online-store.js";
import { DEFAULT_RUN_LEASE_MS, type RegistryStore } from "../registry/registry-store.js";
import { startViewRun } from "../pipeline/view-run.js";
import { aggregationsOf } from "../pipeline/view-pipeline.js";
import { latestRowsByFile } from "./latest-rows.js";
import { onlineEntityKey } from "../data/entity-keys.js";
import { readEntityEvents, writeAggregatedRows, type AggregatedOnlineRow, type SourceReadContext } from "./aggregated-online-rows.js";
import { bufferColumns, longestWindow } from "../aggregate/event-buffer.js";
import { aggregatedViewJoin } from "../offline/aggregated-view-join.js";
import { columnGet } from "../data/columnar.js";

/** Run and watermark kind of materializations in the registry. */
export const MATERIALIZE_KIND = "materialize";

/**
 * Watermark kind recording, per view, that a materialization marker was written to the online
 * store (its value: the marker's watermark). A view with this record but no marker online lost
 * its online data (see ./online-data-loss.ts); a view without it (never materialized, or
 * materialized before markers existed) just gets its first marker.
 */
export const ONLINE_MARKER_KIND = "online_marker";

export interface MaterializeContext {
  project: string;
  registry: RegistryStore;
  /** The lease of the run (default DEFAULT_RUN_LEASE_MS). */
  leaseMs?: number;
  offline: OfflineStore;
  online: OnlineStore;
  /** Rows per online write (default 1,000). */
  batchSize?: number;
  /** Writes in flight at once (default 4). */
  maxInFlight?: number;
  onProgress?: (p: { view: string; rows: number }) => void;
  /**
   * Where the view's batch source is read from. Needed by aggregated views, whose online rows carry
   * the source events of their longest window (the event buffer push updates).
   */
  source?: SourceReadContext;
}

/** The event-time range [start, end) of a materialization. */
export interface MaterializeRange {
  start: number;
  end: number;
  /**
   * True when the range refills the whole view (it starts where a first run starts): its marker
   * is then written even if the online store lost the previous one.
   */
  complete?: boolean;
}

export interface MaterializeResult {
  view: string;
  start: number;
  end: number;
  /** Rows sent to the online store (one per entity and offline file). */
  rows: number;
  /** Rows the store kept (it ignores rows older than what it holds). */
  written: number;
  /** Rows the store ignored because it held a newer event timestamp. */
  stale: number;
  /** Rows not stored because they were already older than the view's TTL. */
  expired: number;
  /** The view's watermark after the run (`end`, or a later one it already had). */
  watermark: number;
  runId: string;
  /** Set by `materializeIncremental` when the run refilled a view whose online data was lost: why. */
  repaired?: string;
}

/**
 * Materializes one view's offline rows with event timestamps in [start, end) into the online
 * store: the latest row per entity, written in batches with the view's TTL. Runs under the
 * registry lock `materialize:<view>`, so two materializations of one view never interleave (also
 * across processes on a Postgres registry). The run is recorded; the view's watermark advances to
 * `end` (it never moves back) only after every write succeeded.
 *
 * Aggregated views store, next to each entity's aggregates as of `end − 1 ms`, the transformed
 * source events of its longest window before `end` (./aggregated-online-rows.ts), so pushes can
 * update the windows exactly. The aggregates come from the training-set SQL over the view's offline
 * events (../offline/window-join-sql.ts), the buffers from the source; their writes compare the stored "as of" time instead of the event
 * time (an older range never replaces a newer materialization or push). A failed run leaves the watermark as it was and the store
 * holding whatever the monotonic writes stored: rerunning the range repairs it.
 */
export async function materializeView(ctx: MaterializeContext, view: FeatureViewDef, range: MaterializeRange): Promise<MaterializeResult> {
  return ctx.registry.withLock(ctx.project, `${MATERIALIZE_KIND}:${view.name}`, async () => {
    const markerBefore = await ctx.online.readMarker(ctx.project, view.name);
    const { id: runId, lease } = await startViewRun(ctx.registry, ctx.project, { kind: MATERIALIZE_KIND, view: view.name, rangeStart: new Date(range.start), rangeEnd: new Date(range.end) }, ctx.leaseMs ?? DEFAULT_RUN_LEASE_MS);
    const result: MaterializeResult = { view: view.name, start: range.start, end: range.end, rows: 0, written: 0, stale: 0, expired: 0, watermark: range.end, runId };
    try {
      const features = Object.keys(view.schema);
      const keyTypes = joinKeyTypesOf(view);
      const joinKeys = joinKeysOf(view);
      const batchSize = Math.max(1, ctx.batchSize ?? 1000);
      const maxInFlight = Math.max(1, ctx.maxInFlight ?? 4);
      const writeOpts = { features, ttlMs: view.ttlMs };
      // A restart on a fresh snapshot (a concurrent backfill replaced files) rewrites rows already
      // written; the store's monotonic writes make that harmless, so only the counts restart.
      await ctx.offline.withSnapshot(view.name, async (snapshot) => {
        result.rows = 0;
        result.written = 0;
        result.stale = 0;
        result.expired = 0;
        let pending: OnlineRow[] = [];
        // Up to `maxInFlight` writes overlap (the store pipelines them); order between them does
        // not matter, since writes are monotonic per entity.
        const inFlight = new Set<Promise<void>>();
        let failure: { error: unknown } | undefined;
        const flush = async () => {
          if (pending.length > 0) {
            const rows = pending;
            pending = [];
            const p: Promise<void> = ctx.online
              .write(ctx.project, view.name, rows, writeOpts)
              .then(
                (r) => {
                  result.rows += rows.length;
                  result.written += r.written;
                  result.stale += r.stale;
                  result.expired += r.expired ?? 0;
                  ctx.onProgress?.({ view: view.name, rows: result.rows });
                },
                (error: unknown) => {
                  failure ??= { error };
                },
              )
              .finally(() => inFlight.delete(p));
            inFlight.add(p);
            if (inFlight.size >= maxInFlight) await Promise.race(inFlight);
          }
          if (failure) throw failure.error;
        };
        const aggs = aggregationsOf(view);
        if (aggs.length > 0) {
          // Aggregated views: the entities whose aggregates can change in [start, end) — an event
          // in [start − longest window, end), all history when a window is unbounded — among those
          // the offline store holds, with values and buffers computed from the source's events.
          const longest = longestWindow(aggs);
          const backfilled = new Map<string, { keyParts: unknown[]; eventTs: number }>();
          const eventsIn = { start: Number.isFinite(longest) ? range.start - longest : Number.NEGATIVE_INFINITY, end: range.end };
          const rowsByFile = latestRowsByFile({ snapshot, joinKeys, keyTypes, features: [], range: eventsIn, readFile: (file, columns) => ctx.offline.readFile(file, columns) });
          for await (const rows of rowsByFile) {
            for (const row of rows) {
              const entityKey = onlineEntityKey(row.keyParts, keyTypes, joinKeys);
              if (entityKey === null) continue;
              const prev = backfilled.get(entityKey);
              if (prev === undefined || prev.eventTs < row.eventTs) backfilled.set(entityKey, { keyParts: row.keyParts, eventTs: row.eventTs });
            }
          }
          if (backfilled.size === 0) return;
          if (!ctx.source) throw new LarderError("INTERNAL", `materializing aggregated view ${JSON.stringify(view.name)} needs its source (MaterializeContext.source)`);
          // Values as of end − 1 ms by the training-set SQL over the offline events (so online
          // vectors equal training-set rows bit for bit); buffers from the source, for pushes.
          const keyList = [...backfilled.keys()];
          const parts = keyList.map((k) => backfilled.get(k)!.keyParts);
          const featureTypes = features.map((f) => ({ name: f, type: view.schema[f]! }));
          const asOf = range.end - 1;
          const joined = await aggregatedViewJoin(
            ctx.offline.engineConfig,
            snapshot,
            view,
            featureTypes,
            joinKeys.map((_, k) => parts.map((p) => p[k])),
            new Float64Array(keyList.length).fill(asOf),
          );
          const fromSource = await readEntityEvents(ctx.source, view, range);
          const entities = new Map<string, AggregatedOnlineRow>();
          keyList.forEach((key, i) => {
            const events = fromSource.get(key);
            entities.set(key, {
              values: features.map((f) => columnGet(joined.columns.get(f)!, i)),
              eventTs: events?.lastChange ?? backfilled.get(key)!.eventTs,
              buffer: events?.buffer ?? { columns: bufferColumns(aggs), events: [] },
            });
          });
          const counts = await writeAggregatedRows(ctx.online, ctx.project, view, entities, asOf, { batchSize, maxInFlight }, (n) => {
            result.rows += n;
            ctx.onProgress?.({ view: view.name, rows: result.rows });
          });
          result.written = counts.written;
          result.stale = counts.stale;
          result.expired = counts.expired;
          return;
        }
        try {
          const rowsByFile = latestRowsByFile({
            snapshot,
            joinKeys,
            keyTypes,
            features,
            range,
            readFile: (file, columns) => ctx.offline.readFile(file, columns),
          });
          for await (const rows of rowsByFile) {
            for (const row of rows) {
              const entityKey = onlineEntityKey(row.keyParts, keyTypes, joinKeys);
              if (entityKey === null) continue; // a null key part (backfills drop such rows anyway)
              pending.push({ entityKey, eventTs: row.eventTs, createdTs: row.createdTs, values: row.values });
              if (pending.length >= batchSize) await flush();
            }
          }
          await flush();
        } finally {
          // Never leave writes running behind a finished (or failed) run.
          await Promise.allSettled(inFlight);
        }
        if (failure) throw failure.error;
      });
      // The watermark never moves back: after an older range the store still holds everything up
      // to the later watermark (writes are monotonic, so the older rows replaced nothing newer).
      const current = await ctx.registry.getWatermark(ctx.project, view.name, MATERIALIZE_KIND);
      if (current !== undefined && current.getTime() >= range.end) result.watermark = current.getTime();
      // The marker says the store holds the view up to the watermark. A store that lost it (and
      // was recorded to have had one) gets it back only from a run that refills the whole view,
      // so a narrower run cannot hide the loss from the next incremental one.
      const recorded = markerBefore === null ? await ctx.registry.getWatermark(ctx.project, view.name, ONLINE_MARKER_KIND) : undefined;
      if (markerBefore !== null || recorded === undefined || range.complete === true) {
        // Up to where the store now holds the view: a refill reaches only its own end.
        const held = markerBefore !== null ? Math.max(markerBefore.watermark, range.end) : recorded === undefined ? result.watermark : range.end;
        await ctx.online.writeMarker(ctx.project, view.name, { runId, watermark: held, writtenAt: Date.now() });
        await ctx.registry.setWatermark(ctx.project, view.name, ONLINE_MARKER_KIND, new Date(held));
      }
      if (current === undefined || current.getTime() < range.end) {
        await ctx.registry.setWatermark(ctx.project, view.name, MATERIALIZE_KIND, new Date(range.end));
      }
      lease.stop();
      await ctx.registry.finishRun(runId, { status: "succeeded", rows: result.rows });
      return result;
    } catch (err) {
      lease.stop();
      const e = toLarderError(err);
      await ctx.registry.finishRun(runId, { status: "failed", rows: result.rows, error: `[${e.code}] ${e.message}` }).catch(() => {});
      throw e;
    }
  });
}
