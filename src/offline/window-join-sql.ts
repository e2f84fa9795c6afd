/**
 * Exact windowed aggregates at training-set time, in SQL over an aggregated view's stored events.
 *
 * An aggregated view keeps its transformed events offline (keys, event time, created time, the
 * columns its aggregations read; `aggregatedEventColumns`). A training set then needs, per entity
 * row (key, T), each `agg.<fn>(column, window)` over the key's events with timestamp in (T − w, T]
 * (DESIGN.md, "Windowed aggregations"). The query unions the entity rows into the events as marker
 * rows (one per distinct key and time; no values, no ordering key), partitions by key, orders by time, and evaluates every
 * aggregation over a RANGE frame `w − 1 PRECEDING AND CURRENT ROW` on epoch milliseconds, which is
 * exactly (T − w, T] (CURRENT ROW in RANGE mode takes every row at T, events at T included).
 * Aggregations sharing a window share a frame; all frames share one sort.
 *
 * Semantics kept from the JS engine (../aggregate/window-aggregator.ts), which push and
 * materialization still run:
 * - count counts events, null values included; sum, avg, min and max skip nulls; sum of a window
 *   without a non-null value is 0; avg, min, max of one are null;
 * - last is the value (null included) of the window's latest event in engine order: event time,
 *   then created time (none lowest), then arrival (the row's position in its file: an entity's
 *   events at one instant live in one file, the store's invariant, in arrival order);
 * - no window: all events up to T;
 * - an entity never seen (or with a null key part) has count and sum 0, the others null;
 * - NaN as a numeric result is null (as the JS path stores it); an integer-typed result that is
 *   not an integer raises `LARDER_TYPE_MISMATCH: …` from the query (see `TYPE_MISMATCH_MARK`).
 * Sums are compensated (fsum), like the JS engine's, but may still differ from it in the last bits
 * in ill-conditioned cases (it adds and subtracts as the window slides).
 */
import type { AggregationDef, FeatureViewDef } from "../definitions/definition-types.js";
import { joinKeysOf, joinKeyTypesOf } from "../definitions/feature-view.js";
import { batchSourceOf } from "../definitions/sources.js";
import { LarderError } from "../errors.js";
import type { ValueType } from "../types.js";
import { sqlFileList, sqlIdent, sqlString } from "./duckdb-engine.js";
import type { OfflineColumnSpec } from "./offline-store.js";

/** Prefix of the DuckDB error a non-integral aggregate declared as an integer type raises. */
export const TYPE_MISMATCH_MARK = "LARDER_TYPE_MISMATCH: ";

export interface AggregatedViewJoinArgs {
  /** The aggregated view. */
  view: FeatureViewDef;
  /** Its offline event files (any order). */
  files: readonly string[];
  /** The aggregate features wanted (names of `view.aggregations`), in output column order. */
  features: readonly string[];
  /**
   * The table of entity rows: `__row BIGINT`, `__ts BIGINT` (epoch ms) and the view's join keys
   * typed as `duckdbType(joinKeyType)`. Default `entity_rows`.
   */
  entityTable?: string;
  /** The columns the files hold (the snapshot's); default `aggregatedEventColumns(view)`. */
  columns?: readonly OfflineColumnSpec[];
}

/** DuckDB's type for a value type (timestamps as TIMESTAMP, microsecond precision holding ms). */
export function duckdbType(type: ValueType): string {
  switch (type) {
    case "int32":
      return "INTEGER";
    case "int64":
      return "BIGINT";
    case "float32":
      return "FLOAT";
    case "float64":
      return "DOUBLE";
    case "string":
      return "VARCHAR";
    case "bool":
      return "BOOLEAN";
    case "timestamp":
      return "TIMESTAMP";
  }
}

/**
 * The offline columns of an aggregated view: its events. Join keys, `event_timestamp`,
 * `created_timestamp` when the source has one, then each column an aggregation reads: float64
 * when a sum, avg, min or max reads it (they need numbers), else (read by `last` only) the type
 * its first `last` is declared as.
 */
export function aggregatedEventColumns(view: FeatureViewDef): OfflineColumnSpec[] {
  const keys = joinKeysOf(view);
  const keyTypes = joinKeyTypesOf(view);
  const cols: OfflineColumnSpec[] = keys.map((name, i) => ({ name, type: keyTypes[i]!, role: "key" as const }));
  cols.push({ name: "event_timestamp", type: "timestamp", role: "event_ts" });
  if (batchSourceOf(view.source).createdTimestampField) cols.push({ name: "created_timestamp", type: "timestamp", role: "created_ts" });
  const types = new Map<string, ValueType>();
  for (const [name, def] of Object.entries(view.aggregations ?? {})) {
    if (def.column === null) continue;
    if (def.fn !== "last") types.set(def.column, "float64");
    else if (!types.has(def.column)) types.set(def.column, view.schema[name]!);
  }
  for (const [name, type] of types) cols.push({ name, type, role: "feature" });
  return cols;
}

/**
 * A SELECT yielding `__row` and one column per requested feature (typed as the view's schema
 * declares it), one row per entity row, in no particular order. See the module comment.
 */
export function aggregatedViewJoinSql(args: AggregatedViewJoinArgs): string {
  const { view } = args;
  const aggs = view.aggregations;
  if (!aggs) throw new LarderError("INTERNAL", `feature view ${JSON.stringify(view.name)} has no aggregations`);
  const columns = args.columns ?? aggregatedEventColumns(view);
  const keys = joinKeysOf(view);
  const keyTypes = joinKeyTypesOf(view);
  const entityTable = args.entityTable ?? "entity_rows";
  const tsCol = columns.find((c) => c.role === "event_ts")?.name;
  if (tsCol === undefined) throw new LarderError("INTERNAL", `feature view ${JSON.stringify(view.name)}: its offline columns have no event timestamp`);
  const createdCol = columns.find((c) => c.role === "created_ts")?.name;
  const requested = args.features.map((name) => {
    const def = aggs[name];
    if (def === undefined) throw new LarderError("UNKNOWN_FEATURE", `feature view ${JSON.stringify(view.name)} has no aggregation ${JSON.stringify(name)}`, { view: view.name, feature: name });
    return { name, def, type: view.schema[name]! };
  });
  const valueColumns = [...new Set(requested.map((r) => r.def.column).filter((c): c is string => c !== null))];
  const storedType = new Map(columns.map((c) => [c.name, c.type]));
  for (const c of valueColumns) {
    if (!storedType.has(c)) throw new LarderError("INTERNAL", `feature view ${JSON.stringify(view.name)}: its offline events have no column ${JSON.stringify(c)}`);
  }

  const keyList = keys.map(sqlIdent).join(", ");
  const vcol = (c: string) => sqlIdent(`v_${c}`);
  // One marker per distinct (key, time) of the entity rows, with no values and no ordering key, so
  // no aggregate sees it. Distinct, so that a key's rows (and the sums' evaluation order) depend
  // only on its events and the instants asked: equal entity rows give equal values in any query.
  const markers = [...keys.map((k) => sqlIdent(k)), `__ts`, `TRUE AS __m`, `NULL::BOOLEAN AS __ev`, `NULL::STRUCT(t BIGINT, c BIGINT, r BIGINT) AS __ord`, ...valueColumns.map((c) => `NULL::${duckdbType(storedType.get(c)!)} AS ${vcol(c)}`)];
  const created = createdCol === undefined ? "-9223372036854775808" : `coalesce(epoch_ms(${sqlIdent(createdCol)}), -9223372036854775808)`;
  const events = [
    ...keys.map((k, i) => `CAST(${sqlIdent(k)} AS ${duckdbType(keyTypes[i]!)}) AS ${sqlIdent(k)}`),
    `epoch_ms(${sqlIdent(tsCol)}) AS __ts`,
    `NULL::BOOLEAN AS __m`,
    `TRUE AS __ev`,
    // Engine order of events at one instant: created time (none lowest), then arrival.
    `{'t': epoch_ms(${sqlIdent(tsCol)}), 'c': ${created}, 'r': file_row_number} AS __ord`,
    ...valueColumns.map((c) => `${sqlIdent(c)} AS ${vcol(c)}`),
  ];
  // Without files every entity row sees an empty window (count and sum 0, the others null).
  const eventsSql =
    args.files.length === 0
      ? ""
      : `
    UNION ALL
    SELECT ${events.join(", ")} FROM read_parquet(${sqlFileList(args.files)}, file_row_number = true)`;

  // One frame per distinct window.
  const windows = [...new Set(requested.map((r) => r.def.windowMs))];
  const frameName = (w: number | null) => `w${windows.indexOf(w)}`;
  const frames = windows.map((w) => {
    const from = w === null ? "UNBOUNDED PRECEDING" : `${w - 1} PRECEDING`;
    return `${frameName(w)} AS (PARTITION BY ${keyList} ORDER BY __ts RANGE BETWEEN ${from} AND CURRENT ROW)`;
  });
  // Raw window values first, then each converted to its declared type (reading a value once).
  const raw = requested.map((r, k) => `${windowExpr(r.def, vcol, frameName(r.def.windowMs))} AS __a${k}`);
  const outputs = requested.map((r, k) => `${castTo(`__a${k}`, rawType(r.def, storedType), r.type, view, r.name)} AS ${sqlIdent(r.name)}`);

  const keyMatch = keys.map((k) => `e.${sqlIdent(k)} IS NOT DISTINCT FROM m.${sqlIdent(k)}`).join(" AND ");
  return `SELECT e.__row, ${outputs.join(",\n  ")}
FROM ${sqlIdent(entityTable)} e
JOIN (
  SELECT * FROM (
    SELECT ${keyList}, __ts, __m, ${raw.join(",\n      ")}
    FROM (
      SELECT ${markers.join(", ")} FROM (SELECT DISTINCT ${keyList}, __ts FROM ${sqlIdent(entityTable)})${eventsSql}
    )
    WINDOW ${frames.join(",\n      ")}
  )
  WHERE __m
) m ON ${keyMatch} AND e.__ts = m.__ts`;
}

function windowExpr(def: AggregationDef, vcol: (c: string) => string, frame: string): string {
  const x = def.column === null ? "" : vcol(def.column);
  switch (def.fn) {
    case "count":
      return `count(__ev) OVER ${frame}`;
    // Compensated sums (as the JS engine's): the sum of a window's values then rarely depends on
    // the order they are added in, so online values (JS) and training sets (SQL) agree bit for bit
    // in practice, and avg is that sum over the count of values, as in the JS engine.
    case "sum":
      return `coalesce(fsum(${x}) OVER ${frame}, 0)`;
    case "avg":
      return `fsum(${x}) OVER ${frame} / nullif(count(${x}) OVER ${frame}, 0)`;
    case "min":
    case "max":
      return `${def.fn}(${x}) OVER ${frame}`;
    case "last":
      return `arg_max_null(${x}, __ord) OVER ${frame}`;
  }
}

/** The type of an aggregation's raw value in SQL. */
function rawType(def: AggregationDef, storedType: ReadonlyMap<string, ValueType>): ValueType {
  return def.fn === "count" ? "int64" : def.fn === "last" ? storedType.get(def.column!)! : "float64";
}

/** Column `a` (of type `from`) as the declared type `to`: NaN is null; integers must be integral. */
function castTo(a: string, from: ValueType, to: ValueType, view: FeatureViewDef, name: string): string {
  const isFloat = from === "float64" || from === "float32";
  const v = isFloat ? `CASE WHEN isnan(${a}) THEN NULL ELSE ${a} END` : a;
  if (from === to) return v;
  if (isFloat && (to === "int64" || to === "int32")) {
    const msg = `${TYPE_MISMATCH_MARK}featureView ${JSON.stringify(view.name)} aggregations.${name}: declared ${to} but the aggregate is `;
    return `CASE WHEN ${a} IS NULL OR isnan(${a}) THEN NULL WHEN ${a} = trunc(${a}) THEN CAST(${a} AS ${duckdbType(to)}) ELSE error(${sqlString(msg)} || CAST(${a} AS VARCHAR)) END`;
  }
  return `CAST(${v} AS ${duckdbType(to)})`;
}
