import type { RegistryStore } from "../registry/registry-store.js";
import { RunLease } from "../registry/run-lease.js";

/** A started run of a view: its registry id and the lease that keeps it "running". */
export interface ViewRun {
  id: string;
  lease: RunLease;
}

/**
 * Starts a leased run of a view. First it reaps the view's runs whose lease expired (their process
 * died: kill -9, a lost machine) — they are stored "abandoned". (Orphan files in the view's
 * offline data are removed by the offline store when the next writer takes the view's lock; the
 * engine's spill files live only as long as its process.) Stop `lease` before finishing the run.
 */
export async function startViewRun(
  registry: RegistryStore,
  project: string,
  run: { kind: string; view: string; rangeStart?: Date; rangeEnd?: Date },
  leaseMs: number,
): Promise<ViewRun> {
  await registry.reapAbandonedRuns(project, run.view);
  const id = await registry.startRun(project, { ...run, leaseMs });
  return { id, lease: RunLease.keep((ms) => registry.renewRun(id, ms), leaseMs) };
}
