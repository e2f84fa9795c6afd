import type { Table } from "apache-arrow";
import { buildTrainingSet } from "../offline/training-set.js";
import { selectionOf } from "../serving/feature-refs.js";
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

function serviceViews(ctx: AppContext, service: string): string[] {
  const svc = ctx.repo.definitions.featureServices.get(service);
  return svc ? svc.features.map((p) => p.view.name) : [];
}
