import type { FeatureViewDef } from "../definitions/definition-types.js";
import type { RepoDefinitions } from "../definitions/repo-definitions.js";
import { LarderError, toLarderError } from "../errors.js";
import { materializeView, type MaterializeContext, type MaterializeResult } from "../materialize/materialize-view.js";
import { firstMaterializeStart, ONLINE_REPAIR_KIND, planIncremental } from "../materialize/online-data-loss.js";
import { toEpochMs } from "../time.js";
import type { AppContext } from "./app-context.js";
import { assertApplied } from "./applied-check.js";
import { timeRange, viewsNamed } from "./backfill.js";

export interface MaterializeOptions {
  start: Date | string | number;
  end: Date | string | number;
  /** Views to materialize; default every view with `online` (views with `online: false` are skipped). */
  views?: string[];
  onProgress?: (p: { view: string; rows: number }) => void;
}

export interface MaterializeIncrementalOptions {
  /** Default now. */
  end?: Date | string | number;
  views?: string[];
  onProgress?: (p: { view: string; rows: number }) => void;
  /**
   * Called when a view's online data was lost (its marker is missing from the online store, or
   * behind its watermark), before the view is refilled from `start`.
   */
  onDataLoss?: (e: OnlineDataLoss) => void;
}

/** A view whose online data `materializeIncremental` found lost, and the range it refills. */
export interface OnlineDataLoss {
  view: string;
  reason: string;
  start: number;
  end: number;
}

/** A view `materializeIncremental` did not run, and why. */
export interface MaterializeSkip {
  view: string;
  skipped: string;
}

/**
 * Materializes each view's latest offline row per entity with an event timestamp in [start, end)
 * into the online store, and advances the view's watermark to `end` once its run succeeded. Reruns
 * are idempotent and an older range never overwrites newer values (writes are monotonic).
 * Views with `online: false` are skipped.
 */
export async function materialize(ctx: AppContext, options: MaterializeOptions): Promise<MaterializeResult[]> {
  const { start, end } = timeRange(options);
  const { definitions } = ctx.repo;
  const views = onlineViews(definitions, options.views);
  return withStores(ctx, definitions, views, options, async (mctx) => {
    const results: MaterializeResult[] = [];
    for (const view of views) {
      // A range from where a first run starts refills the whole view (see MaterializeRange.complete).
      const first = await firstMaterializeStart(ctx.offline, view, end);
      results.push(await materializeView(mctx, view, { start, end, complete: first !== undefined && start <= first }));
    }
    return results;
  });
}

/**
 * Materializes each view from its watermark to `end` (default now). A view never materialized
 * starts at `end − ttl`, or without a TTL at the start of its offline data; a view with neither a
 * watermark nor offline data, or whose watermark is already at `end`, is skipped.
 *
 * Online data loss: a view whose marker is missing from the online store (Redis restarted empty)
 * is refilled as a first run would fill it, one whose marker is behind its watermark from the
 * marker's watermark; `onDataLoss` is told first, and the repair is recorded as a run of kind
 * `online_repair` (see src/materialize/online-data-loss.ts).
 */
export async function materializeIncremental(ctx: AppContext, options: MaterializeIncrementalOptions = {}): Promise<(MaterializeResult | MaterializeSkip)[]> {
  const end = options.end === undefined ? Date.now() : toEpochMs(options.end, "--end");
  const { definitions } = ctx.repo;
  const views = onlineViews(definitions, options.views);
  return withStores(ctx, definitions, views, options, async (mctx) => {
    const { registry } = mctx;
    const results: (MaterializeResult | MaterializeSkip)[] = [];
    for (const view of views) {
      const plan = await planIncremental(mctx, view, end);
      if ("skip" in plan) {
        results.push({ view: view.name, skipped: plan.skip });
        continue;
      }
      if (plan.loss === undefined) {
        results.push(await materializeView(mctx, view, { start: plan.start, end, complete: plan.complete }));
        continue;
      }
      // Recorded as a run of its own, so the loss is counted (larder_online_data_loss_total)
      // and shown by `larder runs` whichever process noticed it.
      const repairId = await registry.startRun(ctx.project, { kind: ONLINE_REPAIR_KIND, view: view.name, rangeStart: new Date(plan.start), rangeEnd: new Date(end) });
      options.onDataLoss?.({ view: view.name, reason: plan.loss, start: plan.start, end });
      try {
        const result = await materializeView(mctx, view, { start: plan.start, end, complete: plan.complete });
        await registry.finishRun(repairId, { status: "succeeded", rows: result.rows });
        results.push({ ...result, repaired: plan.loss });
      } catch (err) {
        const e = toLarderError(err);
        await registry.finishRun(repairId, { status: "failed", error: `[${e.code}] ${e.message}` }).catch(() => {});
        throw e;
      }
    }
    return results;
  });
}

/** Runs `fn` with the registry (views checked as applied) and the online store open. */
async function withStores<T>(ctx: AppContext, definitions: RepoDefinitions, views: readonly FeatureViewDef[], options: { onProgress?: (p: { view: string; rows: number }) => void }, fn: (mctx: MaterializeContext) => Promise<T>): Promise<T> {
  return ctx.withRegistry(async (registry) => {
    await assertApplied(
      ctx.project,
      definitions,
      registry,
      views.map((v) => v.name),
    );
    return ctx.withOnlineStore((online) =>
      fn({
        project: ctx.project,
        registry,
        leaseMs: ctx.runLeaseMs,
        offline: ctx.offline,
        online,
        source: { repoDir: ctx.repo.dir, postgresUrl: ctx.sourcePostgresUrl },
        ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      }),
    );
  });
}

/** The named views, or all; views with `online: false` are left out (naming one is an error). */
function onlineViews(definitions: RepoDefinitions, names: string[] | undefined): FeatureViewDef[] {
  const views = viewsNamed(definitions, names);
  if (names && names.length > 0) {
    const offlineOnly = views.find((v) => !v.online);
    if (offlineOnly) throw new LarderError("INVALID_ARGUMENT", `feature view ${JSON.stringify(offlineOnly.name)} has online: false; it is not materialized`, { view: offlineOnly.name });
  }
  return views.filter((v) => v.online);
}
