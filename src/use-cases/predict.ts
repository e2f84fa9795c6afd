import type { Table } from "apache-arrow";
import { LarderError } from "../errors.js";
import type { ModelRow, Prediction } from "../models/model.js";
import { columnFromValues, columnGet, type ColumnarBatch } from "../data/columnar.js";
import { arrowTableToBatch, batchToArrowTable } from "../offline/parquet-io.js";
import type { ServedModel } from "../serving/model-cache.js";
import { shiftErrorRow, yieldToEventLoop, type OnlineFeatureValue } from "../serving/online-features.js";
import { modelSelector, PREDICTION_COLUMN, VERSION_COLUMN, type BatchPredictOptions, type PredictOptions, type PredictResponse, type PredictResult } from "../serving/predict.js";
import type { AppContext } from "./app-context.js";
import { getOnlineFeatures } from "./get-online-features.js";
import { getTrainingSet } from "./get-training-set.js";

/**
 * Predictions: a model's production (or staging, or a given) version run on feature vectors. One
 * module for the in-process API (`FeatureStore.predict`), the HTTP route (`POST /v1/predict/:model`)
 * and batch scoring (`larder predict`), so every path runs the same model code on the same features:
 *
 * - online: the model's feature service is read through the one online read path
 *   (`getOnlineFeatures`, on-demand transforms included) and the model scores those values;
 * - batch: the service's features come from `getTrainingSet` at each entity row's
 *   `event_timestamp` (the point-in-time join), and the same model scores them.
 *
 * For the same entity and time the feature values are equal (see README, "Materialization and
 * online reads"), so the predictions are too.
 */

/**
 * Scores entity rows online: fetches the model's service features for `entities` (columnar join
 * keys; request fields in `options.request` or as entity columns), runs the model version, and
 * returns a prediction per row with the feature values used and, on request, contributions.
 * UNKNOWN_MODEL (404) for an unknown model, version or empty stage; entity errors as in
 * getOnlineFeatures (MISSING_JOIN_KEY, INVALID_ENTITIES); MISSING_FEATURE under the model's
 * "error" policy.
 *
 * @example
 * const res = await predictOnline(store, "churn", { customer_id: [1, 2] }, { request: { cart_value: [10, 25] } });
 * res.results[0].prediction; // 0.31
 */
export async function predictOnline(ctx: AppContext, modelName: string, entities: Record<string, readonly unknown[]>, options: PredictOptions = {}): Promise<PredictResponse> {
  const served = await ctx.models.get(modelName, modelSelector(options));
  const merged = withRequestFields(entities, options.request);
  const online = await getOnlineFeatures(ctx, merged, { service: served.service, ...(options.now !== undefined ? { now: options.now } : {}) });
  const index = new Map(online.metadata.feature_names.map((name, i) => [name, i]));
  const features = served.model.features;
  const n = online.results[0]?.values.length ?? rowCount(merged);
  const columns = features.map((f) => {
    const i = index.get(f);
    if (i === undefined) throw new LarderError("INVALID_MODEL", `model ${JSON.stringify(modelName)} reads feature ${JSON.stringify(f)}, which feature service ${JSON.stringify(served.service)} no longer has`, { feature: f });
    return online.results[i]!.values;
  });
  const contributions = options.contributions ?? false;
  // Scored in chunks with a yield between them, as the online read is (see getOnlineFeatures).
  const chunkRows = Math.max(1, ctx.repo.config.server.chunkRows);
  const results: PredictResult[] = new Array(n);
  for (let start = 0; start < n; start += chunkRows) {
    if (start > 0) await yieldToEventLoop();
    const end = Math.min(n, start + chunkRows);
    const rows: Record<string, OnlineFeatureValue>[] = new Array(end - start);
    for (let r = start; r < end; r++) {
      const row: Record<string, OnlineFeatureValue> = {};
      features.forEach((f, k) => (row[f] = columns[k]![r] ?? null));
      rows[r - start] = row;
    }
    let preds: Prediction[];
    try {
      preds = served.model.predict(rows, { contributions });
    } catch (err) {
      throw shiftErrorRow(err, start);
    }
    preds.forEach((p, i) => (results[start + i] = predictResult(p, rows[i]!, contributions)));
  }
  return {
    model: served.name,
    version: served.version,
    stage: served.stage,
    service: served.service,
    feature_names: [...features],
    results,
  };
}

function predictResult(p: Prediction, features: Record<string, OnlineFeatureValue>, contributions: boolean): PredictResult {
  const out: PredictResult = { prediction: p.prediction, margin: p.margin, features };
  if (contributions) {
    out.contributions = p.contributions ?? null;
    out.bias = p.bias ?? null;
  }
  if (p.missing && p.missing.length > 0) out.missing = p.missing;
  return out;
}

function rowCount(entities: Record<string, readonly unknown[]>): number {
  for (const v of Object.values(entities)) if (Array.isArray(v)) return v.length;
  return 0;
}

/** Entity columns plus request fields; a request scalar is repeated for every row. */
function withRequestFields(entities: Record<string, readonly unknown[]>, request: Record<string, unknown> | undefined): Record<string, readonly unknown[]> {
  if (request === undefined) return entities;
  if (typeof request !== "object" || request === null || Array.isArray(request)) {
    throw new LarderError("INVALID_ENTITIES", 'request must be an object of fields, e.g. {"cart_value": [12.5]}', { field: "request" });
  }
  if (typeof entities !== "object" || entities === null || Array.isArray(entities)) {
    throw new LarderError("INVALID_ENTITIES", 'entities must be an object of columns, e.g. {"customer_id": [1, 2]}', { field: "entities" });
  }
  const n = rowCount(entities);
  const merged: Record<string, readonly unknown[]> = { ...entities };
  for (const [field, value] of Object.entries(request)) {
    if (Object.hasOwn(entities, field)) throw new LarderError("INVALID_ENTITIES", `${JSON.stringify(field)} is given both in entities and in request`, { field: `request.${field}` });
    // defineProperty, not assignment: a field named "__proto__" must be a column, not the prototype.
    Object.defineProperty(merged, field, { value: Array.isArray(value) ? value : new Array<unknown>(n).fill(value), enumerable: true, writable: true, configurable: true });
  }
  return merged;
}

/**
 * Scores entity rows in batch: the model service's features as of each row's `event_timestamp`
 * (getTrainingSet: point-in-time join and on-demand transforms; request fields are entity
 * columns), scored by the same model code as online. Returns the entity rows, unchanged and in
 * order, with `prediction` (float64; `prediction_<k>` per class for multi-class models),
 * `model_version`, and with `contributions` a `contribution__<feature>` column per input plus
 * `contribution__bias` (single-output models).
 */
export async function predictBatch(ctx: AppContext, modelName: string, entities: Table, options: BatchPredictOptions = {}): Promise<{ table: Table; model: ServedModel }> {
  const served = await ctx.models.get(modelName, modelSelector(options));
  const contributions = options.contributions ?? false;
  const features = served.model.features;
  const outputs = served.model.outputs;
  const predCols = outputs === 1 ? [PREDICTION_COLUMN] : Array.from({ length: outputs }, (_, k) => `${PREDICTION_COLUMN}_${k}`);
  const contribCols = contributions && outputs === 1 ? [...features.map((f) => `contribution__${f}`), "contribution__bias"] : [];
  const existing = new Set(entities.schema.fields.map((f) => f.name));
  for (const c of [...predCols, VERSION_COLUMN, ...contribCols]) {
    if (existing.has(c)) throw new LarderError("INVALID_ENTITIES", `the entity rows already have a column ${JSON.stringify(c)}, which batch scoring writes`, { column: c });
  }
  if (contributions && outputs !== 1) throw new LarderError("INVALID_ARGUMENT", `--contributions is for single-output models; model ${JSON.stringify(modelName)} has ${outputs} outputs`);

  const table = await getTrainingSet(ctx, entities, { service: served.service });
  const batch = arrowTableToBatch(table.select([...features]));
  const n = batch.numRows;
  const rows: ModelRow[] = new Array(n);
  for (let r = 0; r < n; r++) {
    const row: Record<string, unknown> = {};
    for (const f of features) row[f] = columnGet(batch.columns.get(f)!, r);
    rows[r] = row;
  }
  const preds = served.model.predict(rows, { contributions });
  const out: ColumnarBatch = { numRows: n, columns: new Map() };
  if (outputs === 1) {
    out.columns.set(
      PREDICTION_COLUMN,
      columnFromValues(
        "float64",
        preds.map((p) => p.prediction as number | null),
        PREDICTION_COLUMN,
      ),
    );
  } else {
    predCols.forEach((c, k) =>
      out.columns.set(
        c,
        columnFromValues(
          "float64",
          preds.map((p) => (p.prediction === null ? null : ((p.prediction as number[])[k] ?? null))),
          c,
        ),
      ),
    );
  }
  out.columns.set(VERSION_COLUMN, columnFromValues("int64", new Array<number>(n).fill(served.version), VERSION_COLUMN));
  if (contribCols.length > 0) {
    features.forEach((f) =>
      out.columns.set(
        `contribution__${f}`,
        columnFromValues(
          "float64",
          preds.map((p) => (p.contributions as Record<string, number> | null | undefined)?.[f] ?? null),
          f,
        ),
      ),
    );
    out.columns.set(
      "contribution__bias",
      columnFromValues(
        "float64",
        preds.map((p) => (p.bias as number | null | undefined) ?? null),
        "bias",
      ),
    );
  }
  return { table: entities.assign(batchToArrowTable(out)), model: served };
}
