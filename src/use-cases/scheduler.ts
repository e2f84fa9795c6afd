import cron, { type ScheduledTask } from "node-cron";
import type { FeatureViewDef } from "../definitions/definition-types.js";
import { LarderError, toLarderError } from "../errors.js";
import { SCHEDULE_TIMEZONE } from "../definitions/cron-schedule.js";
import type { AppContext } from "./app-context.js";
import { runScheduledView, type ScheduledRunResult } from "./scheduled-run.js";

/** A running schedule loop; `stop` waits for a run in progress to finish. */
export interface Scheduler {
  stop(): Promise<void>;
  /** The scheduled views and their schedules, by view name. */
  readonly views: readonly { view: string; schedule: string }[];
  /**
   * Runs the tick `at` of a scheduled view now, exactly as its timer would (claim, backfill,
   * materialize, record): for tests with an injected clock, and for triggering a tick by hand.
   * Resolves when the run is done; never rejects for a failed run (see the result's status).
   * Throws UNKNOWN_FEATURE_VIEW for a view without a schedule, INVALID_ARGUMENT after `stop`.
   */
  runTick(view: string, at: Date): Promise<ScheduledRunResult>;
  /**
   * Re-reads the schedules from the store's definitions (after they were reloaded, see
   * DefinitionsWatcher): timers of new or changed schedules start, those of removed ones stop.
   * A run in progress finishes as it began.
   */
  reload(): Promise<void>;
}

export interface SchedulerOptions {
  /** One line per event (a run started, finished or failed; a slot taken by another server). */
  log: (line: string) => void;
  /**
   * Start node-cron timers for the schedules (default true). With false nothing runs by itself;
   * ticks run only through `runTick` (tests drive time that way, deterministically).
   */
  timers?: boolean;
  /**
   * How long a tick waits to open the registry before it is skipped (default 30 s). The embedded
   * registry admits one process at a time, so a CLI command holding it delays the tick; a tick
   * still blocked after this is skipped with a log line, and the next tick covers its range.
   */
  registryWaitMs?: number;
}

const DEFAULT_REGISTRY_WAIT_MS = 30_000;

/**
 * Runs the `schedule` of every scheduled view (backfill, then incremental materialization) for
 * the lifetime of `larder serve`. Schedules are cron expressions in UTC; each tick of each view is
 * claimed in the registry before it runs, so servers sharing a (Postgres) registry run it once.
 * The registry is opened per step of a run, never held between ticks (the embedded one serves one
 * process at a time, so with it this scheduler runs ticks one after another). A view whose
 * previous tick is still running (or waiting) in this process skips the new tick (the next one
 * covers it). See `runScheduledView` for what one tick does.
 * @example
 * const scheduler = startScheduler(store, { log: (line) => console.log(line) });
 * process.once("SIGTERM", () => void scheduler.stop());
 */
export function startScheduler(ctx: AppContext, options: SchedulerOptions): Scheduler {
  const log = options.log;
  const registryWaitMs = options.registryWaitMs ?? DEFAULT_REGISTRY_WAIT_MS;
  const scheduledViews = (): (FeatureViewDef & { schedule: string })[] =>
    [...ctx.repo.definitions.featureViews.values()].filter((v): v is FeatureViewDef & { schedule: string } => v.schedule !== null).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let scheduled = scheduledViews();
  const running = new Map<string, Promise<ScheduledRunResult>>();
  let stopped = false;
  // The embedded registry admits one open at a time, in this process too, and a backfill keeps it
  // open throughout: ticks of several views due at once would wait on each other's file lock and
  // time out. So with it, ticks run one after another; with Postgres, views run in parallel.
  const oneAtATime = ctx.repo.config.registry === "embedded";
  let queue: Promise<unknown> = Promise.resolve();

  const tick = (view: FeatureViewDef, at: Date): Promise<ScheduledRunResult> => {
    const slot = new Date(Math.floor(at.getTime() / 1000) * 1000);
    const previous = running.get(view.name);
    if (previous !== undefined) {
      const reason = "the previous run of this view is still running in this process";
      log(`schedule ${view.name} at ${slot.toISOString()}: skipped, ${reason}; the next tick covers this one`);
      return Promise.resolve({ view: view.name, tick: slot, status: "skipped", reason });
    }
    const start = () => runScheduledView(ctx, view, slot, { log, registryWaitMs });
    const run = (oneAtATime ? queue.then(start) : start())
      .catch((err: unknown): ScheduledRunResult => {
        // runScheduledView reports failures in its result; this is the last guard for the timer's
        // callback, whose rejection would otherwise be unhandled and end the server.
        const e = toLarderError(err);
        log(`schedule ${view.name} at ${slot.toISOString()}: failed: [${e.code}] ${e.message}`);
        return { view: view.name, tick: slot, status: "failed", error: `[${e.code}] ${e.message}` };
      })
      .finally(() => running.delete(view.name));
    running.set(view.name, run);
    if (oneAtATime) queue = run;
    return run;
  };

  const cronLogger = {
    info: () => {},
    debug: () => {},
    warn: (message: string) => log(`scheduler: ${message}`),
    error: (message: string | Error) => log(`scheduler: ${message instanceof Error ? message.message : message}`),
  };
  /** A timer per scheduled view, with the schedule it was made for. */
  const tasks = new Map<string, { schedule: string; task: ScheduledTask }>();
  const describe = (view: FeatureViewDef & { schedule: string }): void => {
    const next = tasks.get(view.name)?.task.getNextRun();
    log(`scheduler: ${view.name} runs on "${view.schedule}" (UTC)${next ? `, next at ${next.toISOString()}` : ""}`);
  };
  /** Timers for the current definitions' schedules: new ones started, changed ones replaced, removed ones stopped. */
  const syncTimers = async (): Promise<(FeatureViewDef & { schedule: string })[]> => {
    const started: (FeatureViewDef & { schedule: string })[] = [];
    if (options.timers === false) return started;
    const wanted = new Map(scheduled.map((v) => [v.name, v]));
    for (const [name, { schedule, task }] of [...tasks]) {
      if (wanted.get(name)?.schedule === schedule) continue;
      tasks.delete(name);
      await task.destroy();
    }
    for (const view of scheduled) {
      if (tasks.has(view.name)) continue;
      // The tick runs the view's definition current at that time (definitions may be reloaded).
      const task = cron.schedule(view.schedule.trim(), (run) => void tick(ctx.repo.definitions.featureViews.get(view.name) ?? view, run.date), {
        timezone: SCHEDULE_TIMEZONE,
        name: `larder:${ctx.project}:${view.name}`,
        logger: cronLogger,
      });
      task.on("execution:missed", (ctx) => log(`schedule ${view.name} at ${ctx.date.toISOString()}: missed (the process was busy); the next tick covers it`));
      tasks.set(view.name, { schedule: view.schedule, task });
      started.push(view);
    }
    return started;
  };
  let syncing: Promise<unknown> = syncTimers();
  if (scheduled.length === 0) log("scheduler: no feature view has a schedule");
  for (const view of scheduled) describe(view);

  return {
    get views() {
      return scheduled.map((v) => ({ view: v.name, schedule: v.schedule }));
    },
    runTick: async (name, at) => {
      if (stopped) throw new LarderError("INVALID_ARGUMENT", "the scheduler is stopped");
      const view = scheduled.find((v) => v.name === name);
      if (view === undefined) {
        throw new LarderError("UNKNOWN_FEATURE_VIEW", `no scheduled feature view ${JSON.stringify(name)} (scheduled: ${scheduled.map((v) => v.name).join(", ") || "none"})`, { view: name });
      }
      return tick(view, at);
    },
    reload: async () => {
      if (stopped) return;
      const before = new Map(scheduled.map((v) => [v.name, v.schedule]));
      scheduled = scheduledViews();
      syncing = syncing.then(syncTimers);
      const started = (await syncing) as (FeatureViewDef & { schedule: string })[];
      for (const view of started) describe(view);
      for (const [name, schedule] of before) if (!scheduled.some((v) => v.name === name)) log(`scheduler: ${name} no longer runs on "${schedule}"`);
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await syncing;
      for (const { task } of tasks.values()) await task.destroy();
      await Promise.allSettled(running.values());
    },
  };
}
