import type { FeatureViewDef } from "../definitions/definition-types.js";
import { toLarderError } from "../errors.js";
import { previousTick } from "../definitions/cron-schedule.js";
import { RunLease } from "../registry/run-lease.js";
import type { AppContext } from "./app-context.js";
import { backfill, BACKFILL_KIND } from "./backfill.js";
import { materializeIncremental } from "./materialize.js";

/** Run kind of a scheduled run in the registry (its backfill and materialization are runs of their own). */
export const SCHEDULE_KIND = "schedule";

const DAY_MS = 86_400_000;

/** What one scheduled tick of one view did. */
export interface ScheduledRunResult {
  view: string;
  /** The tick: the time the schedule was due (whole seconds, UTC); the run covers up to it. */
  tick: Date;
  /**
   * succeeded / failed: this process ran the tick (recorded as a run of kind "schedule");
   * claimed-elsewhere: another scheduler (another server on the same registry) claimed it first;
   * skipped: not run, see `reason` (the registry could not be reached, or the previous run of the
   * view in this process was still running). A skipped or failed tick is covered by the next one.
   */
  status: "succeeded" | "failed" | "claimed-elsewhere" | "skipped";
  runId?: string;
  /** Start of the backfilled range [start, tick); equal to `tick` when there was nothing to backfill. */
  start?: Date;
  /** Offline rows the backfill wrote. */
  backfillRows?: number;
  /** Rows sent to the online store (absent for views with `online: false`). */
  materializedRows?: number;
  /** `[CODE] message` of a failed run. */
  error?: string;
  reason?: string;
}

export interface ScheduledRunOptions {
  log: (line: string) => void;
  /** How long the claim waits for the registry (the embedded one may be held by a CLI command). */
  registryWaitMs: number;
}

/**
 * Where the first scheduled backfill of a view that was never backfilled starts, for a tick at
 * `tick` (epoch ms). It must leave the online store complete as of the tick:
 * - an aggregated view: one schedule period (tick − previous tick). The pipeline reads its source
 *   as far before the start as the longest window needs and emits every entity's aggregates as of
 *   the start, so the aggregates are exact from the first tick on;
 * - a plain view with a TTL: the TTL (at least one period): older rows could not be served anyway;
 * - a plain view without a TTL: all history (from 1970), since its latest value per entity never expires.
 */
export function firstBackfillStart(view: FeatureViewDef, tick: number): number {
  const prev = view.schedule === null ? undefined : previousTick(view.schedule, new Date(tick));
  const period = prev === undefined ? DAY_MS : tick - prev.getTime();
  if (view.aggregations !== null) return tick - period;
  if (view.ttlMs !== null) return tick - Math.max(view.ttlMs, period);
  return 0;
}

/**
 * Runs the scheduled tick `tick` of `view`, at most once across every scheduler sharing the
 * registry:
 * 1. opens the registry just long enough to read where the view's last succeeded backfill ended
 *    and to claim the tick (`claimRun`: one atomic insert; the loser logs and skips);
 * 2. backfills [that end — or `firstBackfillStart` for a view never backfilled —, tick) into the
 *    offline store, then materializes the view incrementally up to the tick (from its watermark);
 * 3. records the run as succeeded (rows: offline rows written) or failed with its error.
 * A failed or crashed run (a crashed one shows "abandoned" once its lease expires) blocks only its own tick: the next
 * tick starts again from the last succeeded backfill's end, so it covers what was missed, and the
 * materialization watermark only moves after a success. Never throws.
 */
export async function runScheduledView(ctx: AppContext, view: FeatureViewDef, tick: Date, options: ScheduledRunOptions): Promise<ScheduledRunResult> {
  const { log } = options;
  const project = ctx.project;
  const tickMs = tick.getTime();
  const label = `schedule ${view.name} at ${tick.toISOString()}`;
  const base = { view: view.name, tick };

  let claim: { runId: string | undefined; start: number };
  try {
    claim = await ctx.withRegistry(
      async (registry) => {
        const lastEnd = await registry.lastRunEnd(project, view.name, BACKFILL_KIND);
        const start = Math.min(lastEnd?.getTime() ?? firstBackfillStart(view, tickMs), tickMs);
        const runId = await registry.claimRun(project, { kind: SCHEDULE_KIND, view: view.name, slot: tick, rangeStart: new Date(start), rangeEnd: tick, leaseMs: ctx.runLeaseMs });
        return { runId, start };
      },
      { lockTimeoutMs: options.registryWaitMs },
    );
  } catch (err) {
    const e = toLarderError(err);
    const reason = `registry unavailable: [${e.code}] ${e.message}`;
    log(`${label}: skipped, ${reason}; the next tick covers this one`);
    return { ...base, status: "skipped", reason };
  }
  if (claim.runId === undefined) {
    log(`${label}: claimed by another scheduler on this registry; skipped here`);
    return { ...base, status: "claimed-elsewhere" };
  }
  const runId = claim.runId;
  const start = new Date(claim.start);
  const began = Date.now();
  log(`${label}: started (backfill [${start.toISOString()}, ${tick.toISOString()})${view.online ? ", then materialize" : ""})`);

  // The registry is opened per beat: the embedded one admits one holder at a time, and this run's
  // own backfill holds it meanwhile (a beat then waits at most a quarter lease and is skipped).
  const leaseMs = ctx.runLeaseMs;
  const lease = RunLease.keep((ms) => ctx.withRegistry((r) => r.renewRun(runId, ms), { lockTimeoutMs: Math.floor(ms / 4) }), leaseMs);
  let backfillRows = 0;
  let materializedRows: number | undefined;
  let failure: string | undefined;
  try {
    if (claim.start < tickMs) {
      const [result] = await backfill(ctx, { start: claim.start, end: tickMs, views: [view.name] });
      backfillRows = result?.rowsWritten ?? 0;
    }
    if (view.online) {
      const [result] = await materializeIncremental(ctx, {
        end: tickMs,
        views: [view.name],
        onDataLoss: (loss) => log(`${label}: online data loss: ${loss.reason}; refilling [${new Date(loss.start).toISOString()}, ${new Date(loss.end).toISOString()})`),
      });
      materializedRows = result !== undefined && "rows" in result ? result.rows : 0;
    }
  } catch (err) {
    const e = toLarderError(err);
    failure = `[${e.code}] ${e.message}`;
  }
  lease.stop();

  try {
    await ctx.withRegistry((registry) => registry.finishRun(runId, failure === undefined ? { status: "succeeded", rows: backfillRows } : { status: "failed", rows: backfillRows, error: failure }));
  } catch (err) {
    const e = toLarderError(err);
    log(`${label}: could not record the run's outcome (it stays "running" in \`larder runs\`): [${e.code}] ${e.message}`);
  }

  const seconds = ((Date.now() - began) / 1000).toFixed(1);
  if (failure !== undefined) {
    log(`${label}: failed after ${seconds} s: ${failure}; the next tick retries from ${start.toISOString()}`);
    return { ...base, status: "failed", runId, start, backfillRows, ...(materializedRows !== undefined ? { materializedRows } : {}), error: failure };
  }
  const materialized = materializedRows === undefined ? "" : `, ${materializedRows.toLocaleString("en-US")} rows materialized`;
  log(`${label}: succeeded in ${seconds} s: ${backfillRows.toLocaleString("en-US")} offline rows${materialized}`);
  return { ...base, status: "succeeded", runId, start, backfillRows, ...(materializedRows !== undefined ? { materializedRows } : {}) };
}
