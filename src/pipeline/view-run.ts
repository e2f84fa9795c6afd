import type { RegistryStore } from "../registry/registry-store.js";
import { RunLease } from "../registry/run-lease.js";
import { readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SPILL_PREFIX = "larder-spill-";

/**
 * Where the offline engine of a run spills (its temp_directory): `<root>/larder-spill-<runId>`, root
 * being offline.tempDirectory or the OS temporary directory. Per run, so that what a killed run
 * left behind can be found and removed (`removeSpillDirs`).
 */
export function spillDirOf(root: string | undefined, runId: string): string {
  return join(root ?? tmpdir(), `${SPILL_PREFIX}${runId}`);
}

/** Removes the spill directories of runs that died (kill -9), once the registry declared them abandoned. */
export async function removeSpillDirs(root: string | undefined, runIds: readonly string[]): Promise<void> {
  if (runIds.length === 0) return;
  const names = new Set(runIds.map((id) => `${SPILL_PREFIX}${id}`));
  const dir = root ?? tmpdir();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (names.has(name)) await rm(join(dir, name), { recursive: true, force: true });
  }
}

/** A started run of a view: its registry id and the lease that keeps it "running". */
export interface ViewRun {
  id: string;
  lease: RunLease;
}

/**
 * Starts a leased run of a view. First it reaps the view's runs whose lease expired (their process
 * died: kill -9, a lost machine) — they are stored "abandoned" — and removes their spill
 * directories, so a dead run's temporary files are gone as soon as the view runs again. (Orphan
 * files in the view's offline data are removed by the offline store when the next writer takes the
 * view's lock.) Stop `lease` before finishing the run.
 */
export async function startViewRun(
  registry: RegistryStore,
  project: string,
  run: { kind: string; view: string; rangeStart?: Date; rangeEnd?: Date },
  leaseMs: number,
  /** For runs that spill: the root of their spill directories (see spillDirOf). */
  spill?: { root: string | undefined },
): Promise<ViewRun> {
  const reaped = await registry.reapAbandonedRuns(project, run.view);
  if (spill)
    await removeSpillDirs(
      spill.root,
      reaped.map((r) => r.id),
    );
  const id = await registry.startRun(project, { ...run, leaseMs });
  return { id, lease: RunLease.keep((ms) => registry.renewRun(id, ms), leaseMs) };
}
