import type { FeatureStore } from "../feature-store.js";

/** A running schedule loop; `stop` waits for a run in progress to finish. */
export interface Scheduler {
  stop(): Promise<void>;
}

export interface SchedulerOptions {
  /** One line per event (a run started, finished or failed; a slot taken by another server). */
  log: (line: string) => void;
}

/**
 * Runs the `schedule` of every scheduled view (backfill, then incremental materialization) for
 * the lifetime of `larder serve`. Not built yet: returns a scheduler that does nothing.
 */
export function startScheduler(store: FeatureStore, options: SchedulerOptions): Scheduler {
  void store;
  void options;
  return { stop: async () => {} };
}
