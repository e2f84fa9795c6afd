import type { Table } from "apache-arrow";
import { LarderError } from "../errors.js";
import { checkModelName } from "../models/model-name.js";
import { encodeRows, learnEncoding, withWeights, type FeatureValues } from "../models/training/design-matrix.js";
import { dot, fitLogistic, fitRidge, sigmoid, type FitResult } from "../models/training/fit-glm.js";
import { LINEAR_FORMAT, type LinearModelJson, type LinearObjective, type MissingPolicy } from "../models/training/linear-model-json.js";
import { classificationMetrics, regressionMetrics, type ClassificationMetrics, type RegressionMetrics } from "../models/training/metrics.js";
import { isNumericColumn, type Column } from "../data/columnar.js";
import { arrowTableToBatch } from "../offline/parquet-io.js";
import { ENTITY_TS } from "../offline/training-set.js";
import type { ModelVersionRecord } from "../registry/registry-store.js";
import { serviceFeatureNames } from "../serving/model-service-fit.js";
import { parseIsoMs } from "../time.js";
import type { AppContext } from "./app-context.js";
import { getTrainingSet } from "./get-training-set.js";
import { appliedService, registerModel } from "./model-registry.js";

export interface TrainOptions {
  /** The model's name in the registry. */
  name: string;
  /** The feature service: the model's inputs are its output features. */
  service: string;
  /** Entity rows (join keys, event_timestamp, the label, request fields). */
  entities: Table;
  /** The label column of the entity rows: bool or 0/1 for logistic, numeric for linear. */
  label: string;
  type: LinearObjective;
  /** L2 penalty λ (default 1): minimise Σ loss + λ/2 ‖w‖², intercept unpenalised. */
  l2?: number;
  /** Share of rows, the latest by event_timestamp, held out for evaluation (default 0.2; 0 = none). */
  holdout?: number;
  /** Missing-value policy written into the model (default "fill"). */
  missing?: MissingPolicy;
  /** Where the entity rows came from, for the lineage (a file path, say). */
  entitiesSource?: string;
  /** Register the trained model as a new version (default true). */
  register?: boolean;
}

export interface TrainResult {
  model: LinearModelJson;
  metrics: TrainMetrics;
  lineage: Record<string, unknown>;
  /** The registered version (absent with `register: false`). */
  registered?: ModelVersionRecord;
}

export interface TrainMetrics {
  train: ClassificationMetrics | RegressionMetrics;
  holdout: ClassificationMetrics | RegressionMetrics | null;
}

/**
 * Trains a linear or logistic model on a feature service's features, in TypeScript:
 *
 * 1. The training set comes from `getTrainingSet` — the same point-in-time join and on-demand
 *    transforms as everywhere — for the entity rows; rows whose label is null are left out.
 * 2. Time-based split: the holdout is the latest `holdout` share of rows by event_timestamp; rows
 *    sharing the boundary instant all go to the holdout, so no training row is as late as a holdout row.
 * 3. Standardization (mean, std) and missing-value fills (mean; most frequent category) are learned
 *    from the training rows only and stored in the model; strings are one-hot.
 * 4. L2-regularised logistic regression by Newton's method / ridge regression by its normal
 *    equations (src/models/training/fit-glm.ts), converged to 1e-9.
 * 5. AUC, log-loss and accuracy (logistic) or RMSE, MAE and R² (linear) on the training rows and
 *    the holdout; then the model is registered as a new version with its lineage: the service's
 *    version and hash, the entity time range, row counts, the split, and the fit.
 *
 * @example
 * const r = await trainModel(store, { name: "churn", service: "churn_v1", entities, label: "churned", type: "logistic" });
 * console.log(r.registered?.version, r.metrics.holdout);
 */
export async function trainModel(ctx: AppContext, opts: TrainOptions): Promise<TrainResult> {
  checkModelName(opts.name);
  const l2 = opts.l2 ?? 1;
  if (!(Number.isFinite(l2) && l2 >= 0)) throw new LarderError("INVALID_ARGUMENT", `--l2 must be a number ≥ 0, got ${String(opts.l2)}`, { field: "l2" });
  const holdout = opts.holdout ?? 0.2;
  if (!(Number.isFinite(holdout) && holdout >= 0 && holdout < 1)) throw new LarderError("INVALID_ARGUMENT", `--holdout must be a share in [0, 1), got ${String(opts.holdout)}`, { field: "holdout" });
  if (opts.type !== "logistic" && opts.type !== "linear") throw new LarderError("INVALID_ARGUMENT", `--type must be logistic or linear to train, got ${JSON.stringify(opts.type)}`, { field: "type" });
  const missing = opts.missing ?? "fill";
  if (!["fill", "error", "null"].includes(missing)) throw new LarderError("INVALID_ARGUMENT", `--missing must be fill, error or null, got ${JSON.stringify(missing)}`, { field: "missing" });
  const names = opts.entities.schema.fields.map((f) => f.name);
  if (!names.includes(opts.label)) throw new LarderError("INVALID_ENTITIES", `entity rows have no label column ${JSON.stringify(opts.label)} (has: ${names.join(", ")})`, { column: opts.label });
  const featureNames = serviceFeatureNames(ctx.repo.definitions, opts.service);
  const clash = featureNames.find((f) => f === opts.label);
  if (clash) throw new LarderError("INVALID_ARGUMENT", `the label ${JSON.stringify(opts.label)} is also a feature of service ${JSON.stringify(opts.service)}`, { field: "label" });

  const svc = await ctx.withRegistry((r) => appliedService(ctx, r, opts.service));
  const table = await getTrainingSet(ctx, opts.entities, { service: opts.service });
  const batch = arrowTableToBatch(table);
  const n = batch.numRows;

  const y = labelValues(batch.columns.get(opts.label)!, opts.label, opts.type);
  const ts = timestamps(batch.columns.get(ENTITY_TS)!);
  const features: FeatureValues[] = featureNames.map((f) => featureValues(f, batch.columns.get(f)!));

  // Labeled rows in time order (ties by row index), then the split.
  const labeled: number[] = [];
  for (let i = 0; i < n; i++) if (!Number.isNaN(y[i]!)) labeled.push(i);
  if (labeled.length === 0) throw new LarderError("INVALID_ENTITIES", `no entity row has a ${JSON.stringify(opts.label)} label`, { column: opts.label });
  labeled.sort((a, b) => ts[a]! - ts[b]! || a - b);
  let cut = labeled.length;
  const wanted = Math.round(labeled.length * holdout);
  if (wanted > 0) {
    const boundary = ts[labeled[labeled.length - wanted]!]!;
    cut = labeled.findIndex((i) => ts[i]! >= boundary);
  }
  const trainRows = labeled.slice(0, cut);
  const holdRows = labeled.slice(cut);
  if (trainRows.length === 0) {
    throw new LarderError("INVALID_ENTITIES", `no training rows are left before the holdout: every labeled row is at or after ${new Date(ts[holdRows[0]!]!).toISOString()}; use a smaller --holdout or more entity times`);
  }
  if (opts.type === "logistic") {
    const classes = new Set(trainRows.map((i) => y[i]));
    if (classes.size < 2) throw new LarderError("INVALID_ENTITIES", `the training rows have only ${y[trainRows[0]!] === 1 ? "positive" : "negative"} labels; logistic regression needs both`, { column: opts.label });
  }

  const enc = learnEncoding(features, trainRows);
  const d = enc.width + 1;
  const xTrain = encodeRows(enc, features, trainRows);
  const yTrain = Float64Array.from(trainRows, (i) => y[i]!);
  const fit: FitResult = opts.type === "logistic" ? fitLogistic(xTrain, yTrain, d, { l2 }) : fitRidge(xTrain, yTrain, d, { l2 });
  if (!fit.converged) {
    throw new LarderError("INVALID_ARGUMENT", `the fit did not converge in ${fit.iterations} Newton steps (the classes may be separable); give a larger --l2`, { field: "l2" });
  }
  const { inputs, intercept } = withWeights(enc, fit.beta);
  const model: LinearModelJson = { format: LINEAR_FORMAT, objective: opts.type, inputs, intercept, missing };

  const evaluate = (rows: number[]): ClassificationMetrics | RegressionMetrics => {
    const x = encodeRows(enc, features, rows);
    const pred = Float64Array.from(rows, (_i, r) => {
      const z = dot(x, r * d, fit.beta, d);
      return opts.type === "logistic" ? sigmoid(z) : z;
    });
    const yy = Float64Array.from(rows, (i) => y[i]!);
    return opts.type === "logistic" ? classificationMetrics(pred, yy) : regressionMetrics(pred, yy);
  };
  const metrics: TrainMetrics = { train: evaluate(trainRows), holdout: holdRows.length > 0 ? evaluate(holdRows) : null };

  const iso = (t: number) => new Date(t).toISOString();
  const lineage: Record<string, unknown> = {
    service: opts.service,
    serviceVersion: svc.version,
    serviceHash: svc.hash,
    entities: {
      ...(opts.entitiesSource !== undefined ? { source: opts.entitiesSource } : {}),
      rows: n,
      labeledRows: labeled.length,
      start: iso(ts[labeled[0]!]!),
      end: iso(ts[labeled[labeled.length - 1]!]!),
    },
    label: opts.label,
    split: {
      holdout,
      trainRows: trainRows.length,
      holdoutRows: holdRows.length,
      trainEnd: iso(ts[trainRows[trainRows.length - 1]!]!),
      ...(holdRows.length > 0 ? { holdoutStart: iso(ts[holdRows[0]!]!) } : {}),
    },
    training: { type: opts.type, l2, optimizer: opts.type === "logistic" ? "newton" : "cholesky", iterations: fit.iterations, gradientNorm: fit.gradientNorm, missing },
    trainedAt: new Date().toISOString(),
  };
  const result: TrainResult = { model, metrics, lineage };
  if (opts.register !== false) {
    result.registered = await registerModel(ctx, { name: opts.name, service: opts.service, model, type: opts.type, lineage, metrics });
  }
  return result;
}

function labelValues(col: Column, name: string, type: LinearObjective): Float64Array {
  const n = col.values.length;
  const y = new Float64Array(n).fill(Number.NaN);
  if (col.type === "bool") {
    for (let i = 0; i < n; i++) if (col.values[i] !== null) y[i] = col.values[i] ? 1 : 0;
  } else if (isNumericColumn(col) && col.type !== "timestamp") {
    for (let i = 0; i < n; i++) {
      if (col.valid && col.valid[i] === 0) continue;
      const v = col.values[i]!;
      if (!Number.isFinite(v)) continue;
      if (type === "logistic" && v !== 0 && v !== 1) throw new LarderError("INVALID_ENTITIES", `label ${JSON.stringify(name)} of row ${i} is ${v}; a logistic label must be true/false or 0/1`, { column: name, row: i });
      y[i] = v;
    }
  } else {
    throw new LarderError("INVALID_ENTITIES", `label column ${JSON.stringify(name)} is ${col.type}; expected ${type === "logistic" ? "bool or 0/1" : "a number"}`, { column: name });
  }
  return y;
}

function featureValues(feature: string, col: Column): FeatureValues {
  if (col.type === "string") return { feature, kind: "categorical", values: col.values };
  if (col.type === "bool") return { feature, kind: "numeric", values: col.values.map((v) => (v === null ? null : v ? 1 : 0)) };
  if (col.type === "timestamp") {
    throw new LarderError("INVALID_ARGUMENT", `feature ${JSON.stringify(feature)} is a timestamp; linear models take numbers, booleans and strings (derive a number from it in an on-demand view)`, { feature });
  }
  const values: (number | null)[] = new Array<number | null>(col.values.length);
  for (let i = 0; i < values.length; i++) {
    const v = col.values[i]!;
    values[i] = (col.valid && col.valid[i] === 0) || Number.isNaN(v) ? null : v;
  }
  return { feature, kind: "numeric", values };
}

function timestamps(col: Column): Float64Array {
  const n = col.values.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (col.type === "string") out[i] = parseIsoMs(col.values[i] ?? "");
    else if (col.type !== "bool") out[i] = col.values[i]!;
  }
  return out;
}
