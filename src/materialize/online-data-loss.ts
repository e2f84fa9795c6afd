import type { FeatureViewDef } from "../definitions/definition-types.js";
import type { OfflineStore } from "../offline/offline-store.js";
import type { OnlineStore } from "../online/online-store.js";
import type { RegistryStore } from "../registry/registry-store.js";
import { oldestAliveAt } from "../ttl.js";
import { MATERIALIZE_KIND, ONLINE_MARKER_KIND } from "./materialize-view.js";

/** Run kind recording a detected online data loss and its repair (counted by `/metrics`). */
export const ONLINE_REPAIR_KIND = "online_repair";

/**
 * Where a view's first materialization starts for a run up to `end`: `end − ttl`, or without a
 * TTL the start of its offline data (undefined when it has none). A refill after data loss starts
 * here too, since older rows could not be served (TTL) or are all in the offline data.
 */
export async function firstMaterializeStart(offline: OfflineStore, view: FeatureViewDef, end: number): Promise<number | undefined> {
  if (view.ttlMs !== null) return oldestAliveAt(end, view.ttlMs);
  return (await offline.snapshot(view.name))?.segments[0]?.start;
}

/** What an incremental materialization of one view should do. */
export type IncrementalPlan =
  | { skip: string }
  | {
      start: number;
      /** The run refills the view from where a first run starts (its marker may then be written whatever the store held). */
      complete: boolean;
      /** Set when the online store lost (some of) the view's data: why, for the log and the repair run. */
      loss?: string;
    };

/**
 * Plans `materialize-incremental` for a view up to `end`. The watermark alone says what was
 * materialized, not what the online store still holds: the view's marker (written to the online
 * store with each run) says that. No marker although one was recorded: the store lost the view's
 * data (Redis restarted empty…), so the view is refilled from where a first run starts. A marker
 * older than the watermark (a store restored from an old snapshot): refilled from the marker's
 * watermark.
 */
export async function planIncremental(ctx: { project: string; registry: RegistryStore; offline: OfflineStore; online: OnlineStore }, view: FeatureViewDef, end: number): Promise<IncrementalPlan> {
  const watermark = (await ctx.registry.getWatermark(ctx.project, view.name, MATERIALIZE_KIND))?.getTime();
  let start = watermark;
  let complete = false;
  let loss: string | undefined;
  if (watermark !== undefined) {
    const recorded = await ctx.registry.getWatermark(ctx.project, view.name, ONLINE_MARKER_KIND);
    const marker = await ctx.online.readMarker(ctx.project, view.name);
    if (marker === null && recorded !== undefined) {
      loss = `the online store has no materialization marker for view ${JSON.stringify(view.name)} although the registry's watermark is ${new Date(watermark).toISOString()} (the store lost its data, e.g. Redis restarted empty)`;
      start = undefined;
    } else if (marker !== null && marker.watermark < watermark) {
      loss = `the online store holds view ${JSON.stringify(view.name)} only up to ${new Date(marker.watermark).toISOString()} (run ${marker.runId}), behind the registry's watermark ${new Date(watermark).toISOString()} (restored from an older snapshot?)`;
      start = marker.watermark;
    }
  }
  if (start === undefined) {
    start = await firstMaterializeStart(ctx.offline, view, end);
    complete = true;
    if (start === undefined) return { skip: loss ? `${loss}; no offline data to refill it from (run \`larder backfill\` first)` : "no offline data and no watermark (run `larder backfill` first)" };
  }
  if (start >= end) return { skip: `up to date (watermark ${new Date(start).toISOString()})` };
  return { start, complete, ...(loss !== undefined ? { loss } : {}) };
}
