import type { Table } from "apache-arrow";
import { readEntityRows } from "../offline/entity-rows.js";
import { writeArrowTableToParquet } from "../offline/parquet-io.js";
import { buildTrainingSet, writeTrainingSetFile } from "../offline/training-set.js";
import { selectionOf } from "../definitions/feature-refs.js";
import type { AppContext } from "./app-context.js";
import { assertApplied } from "./applied-check.js";

export interface TrainingSetOptions {
  /** `["view:feature", …]`, or use `service`. */
  features?: readonly string[];
  service?: string;
  fullFeatureNames?: boolean;
}

/**
 * A point-in-time-correct training set for the entity rows (join keys and `event_timestamp`;
 * other columns pass through unchanged, in order).
 */
export async function getTrainingSet(ctx: AppContext, entities: Table, options: TrainingSetOptions): Promise<Table> {
  const selection = selectionOf(options);
  const { definitions } = ctx.repo;
  const views = selection.service !== undefined ? serviceViews(ctx, selection.service) : selection.features.map((r) => r.split(":")[0] ?? "");
  // The registry check overlaps the join (opening the embedded registry costs most of a second);
  // its error, if any, wins, and nothing has been written either way.
  const check = ctx.withRegistry((r) => assertApplied(ctx.project, definitions, r, views));
  check.catch(() => {});
  let table: Table;
  try {
    table = await buildTrainingSet(definitions, ctx.offline, entities, { selection, fullFeatureNames: options.fullFeatureNames ?? false });
  } catch (err) {
    await check;
    throw err;
  }
  await check;
  return table;
}

/**
 * `getTrainingSet` from an entity file to a Parquet file. When no on-demand feature is requested
 * and the entities are Parquet, DuckDB reads, joins and writes without the rows passing through
 * JS; otherwise the file is read, `getTrainingSet` runs and the table is written. Either way the
 * output appears whole (written aside, renamed) and only if everything succeeded.
 */
export async function writeTrainingSet(ctx: AppContext, entitiesPath: string, outPath: string, options: TrainingSetOptions): Promise<{ rows: number }> {
  const selection = selectionOf(options);
  const { definitions } = ctx.repo;
  const views = selection.service !== undefined ? serviceViews(ctx, selection.service) : selection.features.map((r) => r.split(":")[0] ?? "");
  const check = ctx.withRegistry((r) => assertApplied(ctx.project, definitions, r, views));
  check.catch(() => {});
  let written: { rows: number } | undefined;
  try {
    written = await writeTrainingSetFile(definitions, ctx.offline, entitiesPath, outPath, { selection, fullFeatureNames: options.fullFeatureNames ?? false, beforeCommit: () => check });
  } catch (err) {
    await check;
    throw err;
  }
  if (written !== undefined) return written;
  const table = await getTrainingSet(ctx, await readEntityRows(entitiesPath), options);
  await writeArrowTableToParquet(outPath, table);
  return { rows: table.numRows };
}

function serviceViews(ctx: AppContext, service: string): string[] {
  const svc = ctx.repo.definitions.featureServices.get(service);
  return svc ? svc.features.map((p) => p.view.name) : [];
}
