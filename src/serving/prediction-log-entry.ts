import { joinKeysOf, joinKeyTypesOf } from "../definitions/feature-view.js";
import type { RepoDefinitions } from "../definitions/repo-definitions.js";
import { columnFromValues } from "../data/columnar.js";
import type { ValueType } from "../types.js";
import { resolveFeatures } from "../definitions/feature-refs.js";
import type { PredictResponse } from "./predict.js";
import type { PredictionLogEntry } from "./prediction-log.js";

/**
 * The prediction-log row of one served `predict` response: what `PredictionLogger` writes for the
 * HTTP route `POST /v1/predict/:model`.
 *
 * Columns, typed by the feature service's schema (so a log file reads like any entity file):
 * - the service's join keys (typed by their entities) and request-source fields (typed by their
 *   request sources), as the request gave them (a request scalar repeated for every row);
 * - the model's input features, with the exact values the model was given (typed by their views);
 * - `prediction` (float64), or `prediction_0` … `prediction_<k-1>` for a k-class model (the class
 *   count is read from the response: a multi-class response whose every prediction is null, under
 *   the "null" missing policy, is logged with one null `prediction` column, in a file of its own);
 * the logger adds `event_timestamp` (serve time), `model`, `model_version` and `request_id`.
 * A name that two of these share is logged once (keys first, then request fields, features,
 * predictions).
 */
export function predictionLogEntry(
  definitions: RepoDefinitions,
  response: PredictResponse,
  request: { entities: Record<string, readonly unknown[]>; request?: Record<string, unknown> | undefined },
  meta: { at: number; requestId: string },
): PredictionLogEntry {
  const layout = logLayout(definitions, response);
  const n = response.results.length;
  const columns: Record<string, readonly unknown[]> = {};
  for (const name of layout.keys) columns[name] = given(request, name, n);
  for (const name of layout.requestFields) columns[name] = given(request, name, n);
  // Keys and request fields come from the caller: check them now, so a value the type cannot hold
  // fails this entry (the caller counts it) instead of the logger's whole batch at flush time.
  for (const [name, type] of layout.schema) {
    const values = columns[name];
    if (values !== undefined) columnFromValues(type, values, name);
  }
  for (const f of layout.features) columns[f] = response.results.map((r) => r.features[f] ?? null);
  if (layout.predictions.length === 1) {
    columns[layout.predictions[0]!] = response.results.map((r) => (typeof r.prediction === "number" ? r.prediction : null));
  } else {
    layout.predictions.forEach((name, k) => {
      columns[name] = response.results.map((r) => (Array.isArray(r.prediction) ? (r.prediction[k] ?? null) : null));
    });
  }
  return { model: response.model, version: response.version, at: meta.at, requestId: meta.requestId, schema: layout.schema, columns };
}

interface LogLayout {
  keys: string[];
  requestFields: string[];
  features: string[];
  predictions: string[];
  schema: (readonly [string, ValueType])[];
}

/** Layouts per repository and (model, version, service, outputs): computed once, not per request. */
const layouts = new WeakMap<RepoDefinitions, Map<string, LogLayout>>();

function logLayout(definitions: RepoDefinitions, response: PredictResponse): LogLayout {
  const outputs = response.results.find((r) => Array.isArray(r.prediction))?.prediction;
  const classes = Array.isArray(outputs) ? outputs.length : 1;
  const key = `${response.model}\u0000${response.version}\u0000${response.service}\u0000${classes}`;
  let byModel = layouts.get(definitions);
  if (!byModel) layouts.set(definitions, (byModel = new Map()));
  let layout = byModel.get(key);
  if (layout) return layout;

  const resolved = resolveFeatures(definitions, { service: response.service }, false);
  const schema: (readonly [string, ValueType])[] = [];
  const taken = new Set(["event_timestamp", "model", "model_version", "request_id"]);
  const add = (name: string, type: ValueType): boolean => {
    if (taken.has(name)) return false;
    taken.add(name);
    schema.push([name, type]);
    return true;
  };
  const keys: string[] = [];
  for (const { def } of resolved.views.values()) {
    const types = joinKeyTypesOf(def);
    joinKeysOf(def).forEach((k, i) => {
      if (add(k, types[i]!)) keys.push(k);
    });
  }
  const requestFields: string[] = [];
  for (const [field, { type }] of resolved.requestFields) if (add(field, type)) requestFields.push(field);
  const typeOf = new Map(resolved.outputs.map((o) => [o.outputName, o.type]));
  const features = response.feature_names.filter((f) => add(f, typeOf.get(f) ?? "float64"));
  const predictions = (classes === 1 ? ["prediction"] : Array.from({ length: classes }, (_, k) => `prediction_${k}`)).filter((p) => add(p, "float64"));
  layout = { keys, requestFields, features, predictions, schema };
  if (byModel.size >= 256) byModel.delete(byModel.keys().next().value!);
  byModel.set(key, layout);
  return layout;
}

/** A column of the request: an entity column, or a request field (a scalar is repeated per row). */
function given(request: { entities: Record<string, readonly unknown[]>; request?: Record<string, unknown> | undefined }, name: string, n: number): readonly unknown[] {
  const col = request.entities[name];
  if (col !== undefined) return col;
  const value = request.request?.[name];
  if (Array.isArray(value)) return value;
  return new Array<unknown>(n).fill(value ?? null);
}
