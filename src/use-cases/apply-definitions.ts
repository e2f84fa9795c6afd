import { definitionsFingerprint, writeAppliedMarker } from "../config/definitions-watcher.js";
import { definitionRecords } from "../definitions/definition-records.js";
import { validateViewColumns, type ColumnCheck } from "../pipeline/validate-view-columns.js";
import type { PlanDiff } from "../registry/registry-store.js";
import type { AppContext } from "./app-context.js";

/** What plan and apply answer: the diff with the registry, and each view's columns checked against its source. */
export interface PlanResult {
  diff: PlanDiff;
  checks: ColumnCheck[];
}

/** Validates the definitions (columns against their sources) and diffs them with the registry. */
export async function planDefinitions(ctx: AppContext): Promise<PlanResult> {
  const { definitions } = ctx.repo;
  const checks = await checkColumns(ctx);
  const diff = await ctx.withRegistry((r) => r.plan(ctx.project, definitionRecords(definitions)));
  return { diff, checks };
}

/** Validates and stores the definitions; objects deleted from the repository are removed. */
export async function applyDefinitions(ctx: AppContext): Promise<PlanResult> {
  const { definitions, dir } = ctx.repo;
  const checks = await checkColumns(ctx);
  const records = definitionRecords(definitions);
  const diff = await ctx.withRegistry((r) => r.apply(ctx.project, records));
  // Tells servers on the embedded registry (which they do not poll) that the definitions changed.
  writeAppliedMarker(dir, definitionsFingerprint(records));
  return { diff, checks };
}

async function checkColumns(ctx: AppContext): Promise<ColumnCheck[]> {
  const checks: ColumnCheck[] = [];
  for (const view of ctx.repo.definitions.featureViews.values()) {
    checks.push(await validateViewColumns(view, { repoDir: ctx.repo.dir, postgresUrl: ctx.sourcePostgresUrl }));
  }
  return checks;
}
