import type { FeatureRow, FeatureViewDef } from "../definitions/definition-types.js";
import { joinKeysOf, joinKeyTypesOf } from "../definitions/feature-view.js";
import type { RepoDefinitions } from "../definitions/repo-definitions.js";
import { emptyAggregateValue } from "../aggregate/window-aggregator.js";
import { LarderError, isLarderError } from "../errors.js";
import { onlineEntityKey } from "../data/entity-keys.js";
import { columnFromValues, columnGet, type Column } from "../data/columnar.js";
import { readViews, type OnlineStore, type OnlineValue } from "../online/online-store.js";
import { cellValue } from "../offline/training-set.js";
import { runOnDemandTransform } from "../transform/transform-executor.js";
import type { ValueType } from "../types.js";
import { epochMsOf, isEpochMs } from "../time.js";
import { isPastTtl } from "../ttl.js";
import { resolveFeatures, type FeatureSelection, type ResolvedFeatures } from "../definitions/feature-refs.js";

type ResolvedView = ResolvedFeatures["views"] extends Map<string, infer V> ? V : never;

/** Feast's per-value statuses. */
export type FieldStatus = "PRESENT" | "NULL_VALUE" | "NOT_FOUND" | "OUTSIDE_MAX_AGE";

/** A JSON value of a feature: numbers, strings, booleans, null; timestamps as ISO-8601 strings. */
export type OnlineFeatureValue = number | string | boolean | null;

/** Feast's `/get-online-features` response: one result per feature name, values across entity rows. */
export interface OnlineFeaturesResponse {
  metadata: {
    feature_names: string[];
    /**
     * When the values were written to the online store (the materialization or push that stored
     * them), per feature view read and entity row, ISO-8601; null where the view has no row.
     * An extension of Feast's shape (Feast clients ignore unknown metadata).
     */
    as_of: Record<string, (string | null)[]>;
  };
  results: { values: OnlineFeatureValue[]; statuses: FieldStatus[]; event_timestamps: string[] }[];
}

export interface OnlineFeaturesRequest {
  selection: FeatureSelection;
  /** Columnar entity rows, as in Feast: join keys and request-source fields, one array per name. */
  entities: Record<string, readonly unknown[]>;
  fullFeatureNames?: boolean;
  /** Read time for the TTL check, epoch ms (default now). */
  now?: number;
  /**
   * Rows read and computed at a time (default 1,000); between chunks the event loop runs other
   * work, so one large request does not stall a server's other requests for its whole duration.
   */
  chunkRows?: number;
}

/** The event timestamp Feast reports for join keys and values without a row. */
const NO_TIMESTAMP = new Date(0).toISOString();

/**
 * Reads a feature vector per entity row from the online store: the values last materialized (or
 * pushed) per entity and view, with a status per value. This is the one online read path; the
 * CLI (`larder online`), the in-process API and the HTTP server all call it.
 *
 * - PRESENT / NULL_VALUE: the view has a row for the entity (the value is set / null).
 * - NOT_FOUND: no row. For aggregated views count and sum are then 0 (an empty window), exactly
 *   the training-set value; other aggregates are null.
 * - OUTSIDE_MAX_AGE: the row's event timestamp is older than the view's TTL at read time; the value
 *   is null (count and sum 0), as the point-in-time join leaves it.
 * - On-demand views get the same input row a training set builds (every feature of their source
 *   views by name, and the request fields) and run through the same `runOnDemandTransform`.
 *
 * Join keys come first in the response, echoed with status PRESENT. A missing join key is
 * MISSING_JOIN_KEY, a missing request field or columns of unequal length INVALID_ENTITIES.
 *
 * @example
 * const res = await getOnlineFeatures(repo.definitions, store, "churn", {
 *   selection: { features: ["customer_profile:plan"] }, entities: { customer_id: [1, 2] } });
 */
export async function getOnlineFeatures(repo: RepoDefinitions, store: OnlineStore, project: string, request: OnlineFeaturesRequest): Promise<OnlineFeaturesResponse> {
  const chunkRows = Math.max(1, request.chunkRows ?? DEFAULT_CHUNK_ROWS);
  const first = typeof request.entities === "object" && request.entities !== null ? Object.values(request.entities)[0] : undefined;
  if (!Array.isArray(first) || first.length <= chunkRows) return readOnlineFeatures(repo, store, project, request);
  // Checks on the whole request, in readOnlineFeatures' order, before it is cut into chunks.
  resolveCached(repo, request.selection, request.fullFeatureNames ?? false);
  const n = entityRowCount(request.entities);
  // One read time for every chunk, so the TTL check is the same for all rows.
  const whole = { ...request, now: request.now ?? Date.now() };
  const parts: OnlineFeaturesResponse[] = [];
  for (let start = 0; start < n; start += chunkRows) {
    // Let other requests run between chunks: a 100k-row request is many short turns, not one long one.
    if (start > 0) await yieldToEventLoop();
    const part = sliceColumns(request.entities, start, Math.min(n, start + chunkRows));
    let res: OnlineFeaturesResponse;
    try {
      res = await readOnlineFeatures(repo, store, project, { ...whole, entities: part });
    } catch (err) {
      throw shiftErrorRow(err, start);
    }
    parts.push(res);
  }
  return concatRows(parts);
}

/** Default of `OnlineFeaturesRequest.chunkRows` (and of `server.chunkRows`). */
export const DEFAULT_CHUNK_ROWS = 1000;

/** Resolves after pending I/O callbacks and other requests' work have had a turn. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Rows [start, end) of every column. */
function sliceColumns(entities: Record<string, readonly unknown[]>, start: number, end: number): Record<string, readonly unknown[]> {
  const out: Record<string, readonly unknown[]> = {};
  for (const [name, values] of Object.entries(entities)) out[name] = values.slice(start, end);
  return out;
}

/** The chunks' responses as one (same selection, so the same results and views, in order). */
function concatRows(parts: readonly OnlineFeaturesResponse[]): OnlineFeaturesResponse {
  const first = parts[0]!;
  // Fresh arrays: a chunk's results may share one (an on-demand view's event timestamps).
  // A copy loop, not flatMap or concat: on the chunks' arrays both took 0.2-1 s of one uninterrupted
  // turn for 100 chunks of 1,000 rows × 6 columns.
  const join = <T>(arrays: T[][]): T[] => {
    let n = 0;
    for (const a of arrays) n += a.length;
    const out = new Array<T>(n);
    let k = 0;
    for (const a of arrays) for (let i = 0; i < a.length; i++) out[k++] = a[i]!;
    return out;
  };
  const results = first.results.map((_, k) => ({
    values: join(parts.map((p) => p.results[k]!.values)),
    statuses: join(parts.map((p) => p.results[k]!.statuses)),
    event_timestamps: join(parts.map((p) => p.results[k]!.event_timestamps)),
  }));
  const asOf: Record<string, (string | null)[]> = {};
  for (const view of Object.keys(first.metadata.as_of)) asOf[view] = join(parts.map((p) => p.metadata.as_of[view]!));
  return { metadata: { feature_names: first.metadata.feature_names, as_of: asOf }, results };
}

/**
 * An error about row `row` of a chunk, renumbered to the request's row (`start` + row), so a
 * chunked request reports the same row as an unchunked one.
 */
export function shiftErrorRow(err: unknown, start: number): unknown {
  if (start === 0 || !isLarderError(err) || typeof err.details.row !== "number") return err;
  const row = err.details.row + start;
  const message = err.message.replace(new RegExp(`\\brow ${err.details.row}\\b`), `row ${row}`);
  return new LarderError(err.code, message, { ...err.details, row }, { cause: err.cause });
}

/**
 * The number of entity rows: the length of the columns, checked to be arrays of one length
 * (INVALID_ENTITIES naming the column otherwise).
 */
function entityRowCount(entities: Record<string, readonly unknown[]>): number {
  if (typeof entities !== "object" || entities === null || Array.isArray(entities)) {
    throw new LarderError("INVALID_ENTITIES", 'entities must be an object of columns, e.g. {"customer_id": [1, 2]}', { field: "entities" });
  }
  let n = -1;
  let first = "";
  for (const [name, values] of Object.entries(entities)) {
    if (!Array.isArray(values)) throw new LarderError("INVALID_ENTITIES", `entities.${name} must be an array of values`, { field: name });
    if (n === -1) {
      n = values.length;
      first = name;
    } else if (values.length !== n) {
      throw new LarderError("INVALID_ENTITIES", `entity columns have unequal lengths: ${JSON.stringify(first)} has ${n} values, ${JSON.stringify(name)} has ${values.length}`, { field: name });
    }
  }
  return Math.max(n, 0);
}

/** `getOnlineFeatures` for rows read in one go. */
async function readOnlineFeatures(repo: RepoDefinitions, store: OnlineStore, project: string, request: OnlineFeaturesRequest): Promise<OnlineFeaturesResponse> {
  const resolved = resolveCached(repo, request.selection, request.fullFeatureNames ?? false);
  const now = request.now ?? Date.now();
  const entities = request.entities;
  const n = entityRowCount(entities);
  const given = Object.keys(entities);
  for (const key of resolved.joinKeys) {
    if (!Object.hasOwn(entities, key)) throw new LarderError("MISSING_JOIN_KEY", `entities lack the join key ${JSON.stringify(key)} (given: ${given.join(", ") || "none"})`, { field: key });
  }
  const requestCols = new Map<string, Column>();
  for (const [field, { type, source }] of resolved.requestFields) {
    const values = Object.hasOwn(entities, field) ? entities[field] : undefined;
    if (values === undefined) {
      throw new LarderError("INVALID_ENTITIES", `entities lack ${JSON.stringify(field)}, a field of request source ${JSON.stringify(source)} that on-demand features need (given: ${given.join(", ") || "none"})`, { field });
    }
    checkFiniteRequestValues(type, values, field);
    requestCols.set(field, columnFromValues(type, values, `request field ${JSON.stringify(field)}`));
  }

  // Each plain view: its distinct entity keys, all views read in one call (one round trip where
  // the store can), then a value and status per row.
  const plans: ViewPlan[] = [];
  for (const view of resolved.views.values()) plans.push(planView(view, entities, n));
  const reads = plans.filter((p) => p.distinct.size > 0);
  const stored =
    reads.length === 0
      ? []
      : await readViews(
          store,
          project,
          reads.map((p) => ({ view: p.def.name, entityKeys: [...p.distinct.keys()], features: p.features })),
        );
  const viewData = new Map<string, ViewValues>();
  for (const p of plans) {
    const i = reads.indexOf(p);
    viewData.set(p.def.name, viewValues(p, i === -1 ? [] : stored[i]!, n, now));
  }

  const results: OnlineFeaturesResponse["results"] = [];
  for (const key of resolved.joinKeys) {
    const values = entities[key]!;
    results.push({
      values: values.map((v) => jsonValue(v)),
      statuses: new Array<FieldStatus>(n).fill("PRESENT"),
      event_timestamps: new Array<string>(n).fill(NO_TIMESTAMP),
    });
  }

  const odfvOutputs = new Map<string, { cols: Map<string, Column>; ts: string[] }>();
  for (const odfv of resolved.onDemand) {
    const outputs = Object.keys(odfv.schema);
    const values = outputs.map(() => new Array<unknown>(n));
    const latest = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
    for (let i = 0; i < n; i++) {
      // The same input row the training set builds: source-view features by name, then request fields.
      const row: FeatureRow = {};
      for (const s of odfv.sources) {
        if (s.kind === "feature_view") {
          const data = viewData.get(s.name)!;
          for (const f of Object.keys(s.schema)) row[f] = transformValue(data.values.get(f)![i]!, s.schema[f]!);
          if (data.found[i] && data.eventTs[i]! > latest[i]!) latest[i] = data.eventTs[i]!;
        } else {
          for (const f of Object.keys(s.schema)) row[f] = cellValue(requestCols.get(f)!, i);
        }
      }
      const out = runOnDemandTransform(odfv, row);
      for (let k = 0; k < outputs.length; k++) values[k]![i] = out[outputs[k]!];
    }
    const cols = new Map<string, Column>();
    outputs.forEach((f, k) => cols.set(f, columnFromValues(odfv.schema[f]!, values[k]!, `onDemandFeatureView "${odfv.name}" feature "${f}"`)));
    odfvOutputs.set(odfv.name, { cols, ts: Array.from(latest, (t) => (Number.isFinite(t) ? new Date(t).toISOString() : NO_TIMESTAMP)) });
  }

  for (const out of resolved.outputs) {
    if (out.onDemand) {
      const { cols, ts } = odfvOutputs.get(out.view)!;
      const col = cols.get(out.feature)!;
      const values: OnlineFeatureValue[] = [];
      const statuses: FieldStatus[] = [];
      for (let i = 0; i < n; i++) {
        const v = columnGet(col, i);
        values.push(v === null ? null : outputValue(v, out.type));
        statuses.push(v === null ? "NULL_VALUE" : "PRESENT");
      }
      results.push({ values, statuses, event_timestamps: ts });
    } else {
      const data = viewData.get(out.view)!;
      // Formatted once per view (a Date and an ISO string per row): per feature it cost ~5 ms of a
      // 100-entity × 50-feature read. Each result gets its own copy of the array.
      if (data.eventTsIso === undefined) {
        data.eventTsIso = new Array<string>(n);
        for (let i = 0; i < n; i++) {
          const t = data.eventTs[i]!;
          data.eventTsIso[i] = Number.isNaN(t) ? NO_TIMESTAMP : iso(t);
        }
      }
      const stored = data.values.get(out.feature)!;
      results.push({
        // Only timestamps change on the way out (to ISO strings); other values are copied as they are.
        values: out.type === "timestamp" ? stored.map((v) => (v === null ? null : outputValue(v, out.type))) : stored.slice(),
        statuses: data.statuses.get(out.feature)!,
        event_timestamps: data.eventTsIso.slice(),
      });
    }
  }
  const asOf: Record<string, (string | null)[]> = {};
  for (const name of resolved.views.keys()) {
    const writtenAt = viewData.get(name)!.writtenAt;
    const times = new Array<string | null>(n);
    for (let i = 0; i < n; i++) times[i] = Number.isNaN(writtenAt[i]!) ? null : iso(writtenAt[i]!);
    asOf[name] = times;
  }
  let names = featureNames.get(resolved);
  if (names === undefined) featureNames.set(resolved, (names = [...resolved.joinKeys, ...resolved.outputs.map((o) => o.outputName)]));
  return { metadata: { feature_names: names.slice(), as_of: asOf }, results };
}

/**
 * Resolved selections per repository, by selection: a server sees the same few selections on
 * every request, and resolving 50 references (parsing, lookups, duplicate checks) cost more than
 * reading them for one entity. Bounded; errors are not cached (they are thrown again). The
 * resolved object is only read, never changed, so requests share it.
 */
/**
 * Rows written by one materialization batch share their write time, and often their event time:
 * format each instant once (toISOString was ~1 µs a call here), across requests, since a server
 * answers with the same write times until the next materialization. Bounded: cleared when full.
 */
const isoMemo = new Map<number, string>();
const ISO_MEMO_SIZE = 4096;

function iso(t: number): string {
  let s = isoMemo.get(t);
  if (s === undefined) {
    if (isoMemo.size >= ISO_MEMO_SIZE) isoMemo.clear();
    isoMemo.set(t, (s = new Date(t).toISOString()));
  }
  return s;
}

/** The response's feature names per cached selection (each response gets a copy). */
const featureNames = new WeakMap<ResolvedFeatures, string[]>();

const resolvedCache = new WeakMap<RepoDefinitions, Map<string, ResolvedFeatures>>();
const RESOLVED_CACHE_SIZE = 256;

function resolveCached(repo: RepoDefinitions, selection: FeatureSelection, fullFeatureNames: boolean): ResolvedFeatures {
  const features = selection.features;
  const byService = typeof selection.service === "string";
  if (!byService && !(Array.isArray(features) && features.every((f) => typeof f === "string"))) {
    return resolveFeatures(repo, selection, fullFeatureNames); // malformed: let it throw its error
  }
  const key = `${fullFeatureNames ? 1 : 0}${byService ? `s${selection.service}` : `f${features!.join("\u0000")}`}`;
  let cache = resolvedCache.get(repo);
  if (cache === undefined) resolvedCache.set(repo, (cache = new Map()));
  let resolved = cache.get(key);
  if (resolved === undefined) {
    resolved = resolveFeatures(repo, selection, fullFeatureNames);
    if (cache.size >= RESOLVED_CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(key, resolved);
  }
  return resolved;
}

interface ViewValues {
  /** Per feature, per entity row: the stored value (timestamps as epoch ms) or null. */
  values: Map<string, (number | string | boolean | null)[]>;
  statuses: Map<string, FieldStatus[]>;
  /** 1 where the row is usable (present and inside the TTL). */
  found: Uint8Array;
  /** The stored row's event timestamp (also when OUTSIDE_MAX_AGE: it says how old the value is), NaN if none. */
  eventTs: Float64Array;
  /** `eventTs` as the response's ISO strings, made on first use. */
  eventTsIso?: string[];
  /** When the stored row was written (materialization or push), epoch ms; NaN if none. */
  writtenAt: Float64Array;
}

/** One view's part of a request: its features and the entity keys of the request's rows. */
interface ViewPlan {
  def: FeatureViewDef;
  features: string[];
  /** Per entity row, its online entity key (null: a join key value is null). */
  rowKeys: (string | null)[];
  /** Distinct keys, in first-seen order, to their index in the read. */
  distinct: Map<string, number>;
}

/**
 * Per resolved view (resolved selections are cached and never changed): its join keys, their
 * types and its feature list, computed once instead of on every request.
 */
const viewShapes = new WeakMap<ResolvedView, { keys: string[]; types: ValueType[]; features: string[] }>();

function planView(view: ResolvedView, entities: Record<string, readonly unknown[]>, n: number): ViewPlan {
  const def = view.def;
  let shape = viewShapes.get(view);
  if (shape === undefined) viewShapes.set(view, (shape = { keys: joinKeysOf(def), types: joinKeyTypesOf(def), features: [...view.features] }));
  const { keys, types, features } = shape;
  const rowKeys = new Array<string | null>(n);
  const distinct = new Map<string, number>();
  const parts = new Array<unknown>(keys.length);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < keys.length; k++) parts[k] = entities[keys[k]!]![i];
    const key = onlineEntityKey(parts, types, keys);
    rowKeys[i] = key;
    if (key !== null && !distinct.has(key)) distinct.set(key, distinct.size);
  }
  return { def, features, rowKeys, distinct };
}

function viewValues(plan: ViewPlan, stored: readonly (OnlineValue | null)[], n: number, now: number): ViewValues {
  const { def, features, rowKeys, distinct } = plan;
  const ttl = def.ttlMs;
  const result: ViewValues = { values: new Map(), statuses: new Map(), found: new Uint8Array(n), eventTs: new Float64Array(n).fill(Number.NaN), writtenAt: new Float64Array(n).fill(Number.NaN) };
  // Row status: found, missing, or too old.
  const rowState = new Array<FieldStatus | null>(n);
  const rowValue = new Array<readonly unknown[] | null>(n);
  for (let i = 0; i < n; i++) {
    const key = rowKeys[i];
    const d = key === null || key === undefined ? undefined : distinct.get(key);
    const v = d === undefined ? null : (stored[d] ?? null);
    if (v === null) {
      rowState[i] = "NOT_FOUND";
      rowValue[i] = null;
    } else if (!isEpochMs(v.eventTs)) {
      // Stored with an event time no Date can hold (written before pushes were range-checked, or
      // by hand): unusable, so it reads as missing instead of failing the request; a valid write
      // replaces it (the stores' monotonic compare ignores such times).
      warnUnreadable(def.name, key!, `event timestamp ${v.eventTs}`);
      rowState[i] = "NOT_FOUND";
      rowValue[i] = null;
    } else if (isPastTtl(v.eventTs, ttl, now)) {
      rowState[i] = "OUTSIDE_MAX_AGE";
      rowValue[i] = null;
      result.eventTs[i] = v.eventTs;
      result.writtenAt[i] = isEpochMs(v.writtenAt) ? v.writtenAt : Number.NaN;
    } else {
      rowState[i] = null;
      rowValue[i] = v.values;
      result.found[i] = 1;
      result.eventTs[i] = v.eventTs;
      result.writtenAt[i] = isEpochMs(v.writtenAt) ? v.writtenAt : Number.NaN;
    }
  }
  features.forEach((f, fi) => {
    const agg = def.aggregations?.[f];
    const empty = agg ? emptyAggregateValue(agg) : null;
    const type = def.schema[f]!;
    const values = new Array<number | string | boolean | null>(n);
    const statuses = new Array<FieldStatus>(n);
    for (let i = 0; i < n; i++) {
      const row = rowValue[i];
      if (row === null || row === undefined) {
        values[i] = empty;
        statuses[i] = rowState[i]!;
        continue;
      }
      let v = storedValue(row[fi], type);
      if (type === "timestamp" && typeof v === "number" && !isEpochMs(v)) {
        warnUnreadable(def.name, rowKeys[i]!, `feature ${JSON.stringify(f)} = ${v}`);
        v = null;
      }
      values[i] = v;
      statuses[i] = v === null ? "NULL_VALUE" : "PRESENT";
    }
    result.values.set(f, values);
    result.statuses.set(f, statuses);
  });
  return result;
}

/** A value as stored (JSON-like) in the feature's type; timestamps as epoch ms. */
function storedValue(v: unknown, type: ValueType): number | string | boolean | null {
  if (v === null || v === undefined) return null;
  if (type === "timestamp") {
    if (v instanceof Date) return v.getTime();
    if (typeof v === "string") return epochMsOf(v);
  }
  if (typeof v === "bigint") return Number(v);
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") return v;
  return null;
}

/**
 * Request-field values of a numeric type must be finite: "Infinity", "NaN" (or such numbers from
 * the in-process API) would reach on-demand transforms and be served as null marked PRESENT.
 * TYPE_MISMATCH (400) on every read path: /get-online-features, /v1/predict and `larder online`.
 */
function checkFiniteRequestValues(type: ValueType, values: readonly unknown[], field: string): void {
  if (type === "string" || type === "bool" || type === "timestamp") return;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // Other strings ("abc") are left to the column conversion, which names them as well.
    const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v.trim()) : 0;
    const nonFinite = n === Number.POSITIVE_INFINITY || n === Number.NEGATIVE_INFINITY || (Number.isNaN(n) && (typeof v === "number" || /^\s*[+-]?nan\s*$/i.test(v as string)));
    if (nonFinite) {
      throw new LarderError("TYPE_MISMATCH", `request field ${JSON.stringify(field)} row ${i + 1}: ${JSON.stringify(String(v)).slice(0, 60)} is not a finite number (expected ${type})`, { column: field, row: i + 1, expected: type });
    }
  }
}

/** Entities already reported by `warnUnreadable` (bounded: one line per entity, not per read). */
const reportedUnreadable = new Set<string>();

/** One log line per unreadable stored row, so a corrupt entity is visible without flooding the log. */
function warnUnreadable(view: string, entityKey: string, what: string): void {
  const id = `${view}\u0000${entityKey}`;
  if (reportedUnreadable.has(id)) return;
  if (reportedUnreadable.size >= 1000) reportedUnreadable.clear();
  reportedUnreadable.add(id);
  console.warn(
    `warning: online row of feature view ${JSON.stringify(view)}, entity ${JSON.stringify(entityKey)}: stored ${what} is not a valid instant; served as ${what.startsWith("feature") ? "null" : "NOT_FOUND"} until a valid write replaces it`,
  );
}

/** A value as transforms see it (cellValue's conventions): timestamps as Dates. */
function transformValue(v: number | string | boolean | null, type: ValueType): unknown {
  if (v === null) return null;
  return type === "timestamp" && typeof v === "number" ? new Date(v) : v;
}

function outputValue(v: number | string | boolean, type: ValueType): OnlineFeatureValue {
  return type === "timestamp" && typeof v === "number" ? new Date(v).toISOString() : v;
}

function jsonValue(v: unknown): OnlineFeatureValue {
  if (v === null || v === undefined) return null;
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Date) return v.toISOString();
  if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") return v;
  return String(v);
}
