import type { FeatureViewDef, ParquetSourceDef } from "../definitions/definition-types.js";
import type { RepoDefinitions } from "../definitions/repo-definitions.js";
import { LarderError, toLarderError } from "../errors.js";
import { backfillView, type BackfillResult } from "../pipeline/view-pipeline.js";
import { startViewRun } from "../pipeline/view-run.js";
import type { RegistryStore } from "../registry/registry-store.js";
import type { CompactResult } from "../sources/compact-push-files.js";
import { toEpochMs } from "../time.js";
import type { AppContext } from "./app-context.js";
import { assertApplied } from "./applied-check.js";

export interface BackfillOptions {
  start: Date | string | number;
  end: Date | string | number;
  /** Views to backfill; default all. */
  views?: string[];
  /**
   * Ignored (accepted so existing callers compile): pipelines run on the offline engine, whose
   * memory is bounded by `offline.memoryLimit`.
   * @deprecated
   */
  memoryRows?: number;
  /** `totalRows`: the source's row count (Parquet footers) or estimate (Postgres statistics), when known. */
  onProgress?: (p: { view: string; sourceRows: number; totalRows?: number }) => void;
  /**
   * Compact the files offline pushes added to the Parquet sources the views read, before reading
   * them (default true; see `compact`).
   */
  compact?: boolean;
}

/** Run kind a backfill records; a scheduled backfill starts where the last succeeded one ended. */
export const BACKFILL_KIND = "backfill";

/**
 * Runs each view's batch pipeline over [start, end) into the offline store. Each view's range is
 * replaced atomically; a failing view leaves its data as it was, and the run is recorded.
 */
export async function backfill(ctx: AppContext, options: BackfillOptions): Promise<BackfillResult[]> {
  const { start, end } = timeRange(options);
  const { definitions, dir } = ctx.repo;
  const views = viewsNamed(definitions, options.views);
  return ctx.withRegistry(async (registry) => {
    await assertApplied(
      ctx.project,
      definitions,
      registry,
      views.map((v) => v.name),
    );
    // Push files first, so the pipelines read one file instead of one per push.
    if (options.compact !== false) await compactSources(ctx, registry, pushedSourcesOf(definitions, views));
    const results: BackfillResult[] = [];
    for (const view of views) {
      const { id: runId, lease } = await startViewRun(registry, ctx.project, { kind: BACKFILL_KIND, view: view.name, rangeStart: new Date(start), rangeEnd: new Date(end) }, ctx.runLeaseMs, { root: ctx.offline.engineConfig.tempDirectory });
      try {
        const result = await backfillView(
          {
            repoDir: dir,
            offline: ctx.offline,
            postgresUrl: ctx.sourcePostgresUrl,
            runId,
            onProgress: (p) => options.onProgress?.({ view: view.name, sourceRows: p.sourceRows, ...(p.totalRows !== undefined ? { totalRows: p.totalRows } : {}) }),
          },
          view,
          { start, end },
        );
        lease.stop();
        await registry.finishRun(runId, { status: "succeeded", rows: result.rowsWritten });
        results.push(result);
      } catch (err) {
        lease.stop();
        const e = toLarderError(err);
        await registry.finishRun(runId, { status: "failed", error: `[${e.code}] ${e.message}` });
        throw e;
      }
    }
    return results;
  });
}

/**
 * Merges the files offline pushes added to Parquet directory or glob sources into one per source
 * (all push-fed Parquet sources, or those named), crash-safely; see src/sources/compact-push-files.ts.
 */
export async function compact(ctx: AppContext, options: { sources?: string[] } = {}): Promise<CompactResult[]> {
  const { definitions } = ctx.repo;
  const pushed: ParquetSourceDef[] = [];
  for (const ps of definitions.sources.values()) if (ps.type === "push" && ps.batchSource.type === "parquet" && !pushed.includes(ps.batchSource)) pushed.push(ps.batchSource);
  let sources = pushed;
  if (options.sources !== undefined && options.sources.length > 0) {
    sources = options.sources.map((name) => {
      const found = pushed.find((s) => s.name === name);
      if (found !== undefined) return found;
      const def = definitions.sources.get(name);
      if (def === undefined) throw new LarderError("SOURCE_NOT_FOUND", `unknown source ${JSON.stringify(name)} (known: ${[...definitions.sources.keys()].join(", ") || "none"})`, { source: name });
      throw new LarderError("INVALID_ARGUMENT", `source ${JSON.stringify(name)} takes no offline pushes to Parquet, so it has nothing to compact (compactable: ${pushed.map((p) => p.name).join(", ") || "none"})`, { source: name });
    });
  }
  return ctx.withRegistry((registry) => compactSources(ctx, registry, sources));
}

/** [start, end) of a backfill or materialization, as epoch ms; INVALID_ARGUMENT unless start < end. */
export function timeRange(options: { start: Date | string | number; end: Date | string | number }): { start: number; end: number } {
  const start = toEpochMs(options.start, "--start");
  const end = toEpochMs(options.end, "--end");
  if (!(start < end)) throw new LarderError("INVALID_ARGUMENT", `--start (${new Date(start).toISOString()}) must be before --end (${new Date(end).toISOString()})`);
  return { start, end };
}

/** The named feature views, or all; UNKNOWN_FEATURE_VIEW naming the known ones. */
export function viewsNamed(definitions: RepoDefinitions, names: readonly string[] | undefined): FeatureViewDef[] {
  const all = definitions.featureViews;
  if (!names || names.length === 0) return [...all.values()];
  return names.map((n) => {
    const v = all.get(n);
    if (!v) throw new LarderError("UNKNOWN_FEATURE_VIEW", `unknown feature view ${JSON.stringify(n)} (known: ${[...all.keys()].join(", ") || "none"})`, { view: n });
    return v;
  });
}

/** The Parquet batch sources of push sources that feed `views` (each once). */
function pushedSourcesOf(definitions: RepoDefinitions, views: readonly FeatureViewDef[]): ParquetSourceDef[] {
  const out: ParquetSourceDef[] = [];
  for (const v of views) {
    const src = v.source.type === "push" ? v.source.batchSource : v.source;
    const pushed = src.type === "parquet" && [...definitions.sources.values()].some((s) => s.type === "push" && s.batchSource.name === src.name);
    if (pushed && src.type === "parquet" && !out.includes(src)) out.push(src);
  }
  return out;
}

async function compactSources(ctx: AppContext, registry: RegistryStore, sources: readonly ParquetSourceDef[]): Promise<CompactResult[]> {
  if (sources.length === 0) return [];
  const { compactPushFiles } = await import("../sources/compact-push-files.js");
  const results: CompactResult[] = [];
  for (const source of sources) {
    // A single Parquet file takes no pushes: nothing to compact.
    if (!(await isPushTarget(source, ctx.repo.dir))) continue;
    results.push(await registry.withLock(ctx.project, `compact:${source.name}`, () => compactPushFiles(source, { repoDir: ctx.repo.dir, postgresUrl: ctx.sourcePostgresUrl })));
  }
  return results;
}

/** True when offline pushes to `source` add files (a directory or a glob; not a single file). */
async function isPushTarget(source: ParquetSourceDef, repoDir: string): Promise<boolean> {
  const { checkAppendable } = await import("../sources/append-rows.js");
  try {
    await checkAppendable(source, { repoDir, postgresUrl: undefined });
    return true;
  } catch {
    return false;
  }
}
