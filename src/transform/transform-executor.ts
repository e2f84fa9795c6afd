import type { FeatureRow, FeatureViewDef, OnDemandFeatureViewDef } from "../definitions/definition-types.js";
import { LarderError, isLarderError } from "../errors.js";
import type { ValueType } from "../types.js";
import { epochMsOf } from "../time.js";

/**
 * The one executor of user transforms. Backfills and pushes call `runRowTransform`; training sets,
 * online reads and predictions call `runOnDemandTransform`. Batch paths loop over these same
 * functions, so a transform's output cannot differ between training and serving.
 */
export function runRowTransform(view: FeatureViewDef, row: FeatureRow): FeatureRow {
  const fn = view.transform;
  if (!fn) return row;
  let out: unknown;
  try {
    out = fn(row);
  } catch (err) {
    throw transformError("featureView", view.name, err, row);
  }
  if (typeof out !== "object" || out === null || Array.isArray(out)) {
    throw new LarderError("TRANSFORM_ERROR", `featureView ${JSON.stringify(view.name)} transform: expected an object row, got ${describe(out)}`, { view: view.name });
  }
  return out as FeatureRow;
}

/**
 * `runRowTransform` on a real source row (the first of a backfill, or of apply's check) with the
 * row's reads watched: a property read of a column the row does not have — a typo such as
 * `row.distance_mm` for `row.distance_m`, which would otherwise backfill nulls without a word — is
 * UNKNOWN_COLUMN naming the view, the transform and the column. Only `get` of an absent key counts:
 * `"x" in row`, spreading `{ ...row }`, `Object.keys(row)` and Object.prototype members behave as on
 * the plain row, so optional columns can still be tested with `in`.
 */
export function probeRowTransform(view: FeatureViewDef, row: FeatureRow, sourceName: string): FeatureRow {
  const fn = view.transform;
  if (!fn) return row;
  const unknown: string[] = [];
  const watched = new Proxy(row, {
    get(target, key, receiver) {
      if (typeof key === "string" && !Object.hasOwn(target, key) && !(key in Object.prototype) && !NOT_COLUMNS.has(key) && !unknown.includes(key)) unknown.push(key);
      return Reflect.get(target, key, receiver);
    },
  });
  let out: FeatureRow | undefined;
  let failure: unknown;
  try {
    out = runRowTransform(view, watched);
  } catch (err) {
    failure = err;
  }
  // The unknown read explains a later throw (`row.typo.toFixed()`), so it is reported first.
  if (unknown.length > 0) {
    const column = unknown[0]!;
    const transform = fn.name && fn.name !== "transform" ? `transform ${fn.name}` : "transform";
    throw new LarderError(
      "UNKNOWN_COLUMN",
      `featureView ${JSON.stringify(view.name)} ${transform} reads row.${column}, but source ${JSON.stringify(sourceName)} has no column ${JSON.stringify(column)} (it has: ${Object.keys(row).join(", ")}); test optional columns with \`"${column}" in row\``,
      { view: view.name, transform: fn.name || "transform", column, source: sourceName, unknown },
    );
  }
  if (failure !== undefined) throw failure;
  // Unwrap: the output must not keep the watching proxy (a transform may return the row itself).
  return out === watched ? row : (out as FeatureRow);
}

/** Keys runtimes probe on any object (promise checks, JSON, inspection): never user columns. */
const NOT_COLUMNS = new Set(["then", "toJSON", "asymmetricMatch", "nodeType", "$$typeof"]);

/** Runs an on-demand view's transform on one joined row; returns exactly the schema's features. */
export function runOnDemandTransform(view: OnDemandFeatureViewDef, input: FeatureRow): FeatureRow {
  let out: unknown;
  try {
    out = view.transform(input);
  } catch (err) {
    throw transformError("onDemandFeatureView", view.name, err, input);
  }
  if (typeof out !== "object" || out === null || Array.isArray(out)) {
    throw new LarderError("TRANSFORM_ERROR", `onDemandFeatureView ${JSON.stringify(view.name)} transform: expected an object, got ${describe(out)}`, { view: view.name });
  }
  const result: FeatureRow = {};
  for (const [feature, type] of Object.entries(view.schema)) {
    const v = (out as FeatureRow)[feature];
    if (v === undefined) {
      throw new LarderError("TRANSFORM_ERROR", `onDemandFeatureView ${JSON.stringify(view.name)} transform: returned no ${JSON.stringify(feature)} (return null for a missing value)`, { view: view.name, feature });
    }
    result[feature] = checkValue(v, type, `onDemandFeatureView ${JSON.stringify(view.name)} feature ${JSON.stringify(feature)}`);
  }
  return result;
}

/** Checks and normalises one transform output value against its declared type (NaN → null). */
export function checkValue(v: unknown, type: ValueType, what: string): unknown {
  if (v === null || v === undefined) return null;
  switch (type) {
    case "string":
      if (typeof v === "string") return v;
      break;
    case "bool":
      if (typeof v === "boolean") return v;
      break;
    case "timestamp":
      // A Date must hold a valid instant: an Invalid Date, or one beyond ±8.64e15 ms, cannot be stored or served.
      if ((v instanceof Date || typeof v === "number") && !Number.isNaN(epochMsOf(v))) return v instanceof Date ? v : new Date(v);
      break;
    default:
      if (typeof v === "number") return Number.isNaN(v) ? null : v;
      if (typeof v === "bigint") return Number(v);
  }
  throw new LarderError("TYPE_MISMATCH", `${what}: expected ${type}, got ${describe(v)}`, { expected: type });
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Date) return "a Date";
  const s = typeof v === "string" ? JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v) : String(v);
  return `${typeof v} ${s}`;
}

function transformError(kind: string, name: string, err: unknown, row: FeatureRow): LarderError {
  if (isLarderError(err)) return err;
  const message = err instanceof Error ? err.message : String(err);
  let sample = "";
  try {
    sample = JSON.stringify(row).slice(0, 200);
  } catch {
    sample = "(unprintable row)";
  }
  return new LarderError("TRANSFORM_ERROR", `${kind} ${JSON.stringify(name)} transform threw: ${message} (row: ${sample})`, { view: name }, { cause: err });
}
