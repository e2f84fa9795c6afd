import type { FeatureRow, FeatureViewDef } from "../definitions/definition-types.js";
import { definitionError } from "../definitions/definition-error.js";
import { joinKeysOf } from "../definitions/feature-view.js";
import { batchSourceOf } from "../definitions/sources.js";
import { isLarderError } from "../errors.js";
import { checkDeclaredSchema } from "../sources/declared-schema.js";
import { readSource } from "../sources/read-source.js";
import { probeRowTransform } from "../transform/transform-executor.js";

export interface ColumnCheck {
  view: string;
  /** false when the source could not be read, so columns were not checked (reason in `skipped`). */
  checked: boolean;
  skipped?: string;
}

/**
 * Checks at plan/apply time that the columns a view needs exist: read the source's first rows, run
 * the view's transform on one of them (its reads watched: a column it reads that the source lacks is
 * UNKNOWN_COLUMN), and look for the join keys and the schema's features (or
 * the aggregations' input columns). A source that cannot be read yet is reported, not fatal: its
 * data may arrive later, and backfill checks again.
 */
export async function validateViewColumns(view: FeatureViewDef, opts: { repoDir: string; postgresUrl: string | undefined }): Promise<ColumnCheck> {
  const source = batchSourceOf(view.source);
  let first: FeatureRow | undefined;
  try {
    for await (const batch of readSource(source, { repoDir: opts.repoDir, batchSize: 16, ...(opts.postgresUrl ? { postgresUrl: opts.postgresUrl } : {}) })) {
      first = batch[0] as FeatureRow | undefined;
      if (first) break;
    }
  } catch (err) {
    if (isLarderError(err) && err.code !== "INVALID_DEFINITION") return { view: view.name, checked: false, skipped: `${err.code}: ${err.message}` };
    throw err;
  }
  if (!first) return { view: view.name, checked: false, skipped: `source ${JSON.stringify(source.name)} has no rows yet` };
  checkDeclaredSchema(source, first);
  const row = probeRowTransform(view, first, source.name);
  const has = Object.keys(row).join(", ");
  for (const key of joinKeysOf(view)) {
    if (!(key in row)) throw definitionError("featureView", view.name, "entities", `join key ${JSON.stringify(key)} is not a column of the source (source has: ${has})`);
  }
  if (view.aggregations) {
    for (const [name, a] of Object.entries(view.aggregations)) {
      if (a.column !== null && !(a.column in row)) throw definitionError("featureView", view.name, `aggregations.${name}`, `unknown column ${JSON.stringify(a.column)} (source has: ${has})`);
    }
  } else {
    for (const f of Object.keys(view.schema)) {
      if (!(f in row)) throw definitionError("featureView", view.name, `schema.${f}`, `unknown column ${JSON.stringify(f)} (source has: ${has})`);
    }
  }
  return { view: view.name, checked: true };
}
