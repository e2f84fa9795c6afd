/**
 * A view's offline rows as one query of the offline engine over a source it reads itself (Parquet,
 * CSV): the columns converted to the offline types, the range filtered, null keys dropped, sorted
 * by (keys, event time, created time, read order). No row passes through JavaScript.
 *
 * The conversions give exactly what the row path gives (reader → checks → offline column) for the
 * values they accept; a value they are not sure of (a string in a number column, a float that
 * would print differently in JS, an unparseable time…) is flagged, and the query then fails on
 * purpose (`NEEDS_ROW_PATH`) so that the pipeline reruns the view through the row path, which
 * either gives the same rows or the exact error today's readers give.
 */
import type { FeatureViewDef } from "../definitions/definition-types.js";
import { batchSourceOf } from "../definitions/sources.js";
import { sqlIdent, sqlString } from "../offline/duckdb-engine.js";
import type { OfflineColumnSpec } from "../offline/offline-store.js";
import type { ScanColumn, SourceScan } from "../sources/source-reader.js";
import type { ValueType } from "../types.js";

/** The message of the deliberate failure that sends a view to the row path. */
export const NEEDS_ROW_PATH = "larder: needs the row path";

export interface NativeSelect {
  /** One row: `rows` (in range), `null_keys` (in range, a key part null), `bad_ts` (anywhere). */
  readonly countSql: string;
  /** The offline rows, sorted; fails with NEEDS_ROW_PATH on a value the row path must judge. */
  readonly selectSql: string;
}

const SAFE = "9007199254740991";
const INT64_TYPES = new Set(["BIGINT", "UBIGINT", "HUGEINT", "UHUGEINT"]);
const INT_TYPES = new Set(["TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT", "UINTEGER", ...INT64_TYPES]);
const TIME_TYPES = new Set(["TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE", "DATE"]);
// The CSV reader's number and integer cells (csv-source.ts), and the ISO-8601 strings both
// parseIsoMs and the engine read alike (zone Z or ±hh:mm, at most microseconds).
const NUMBER_RE = sqlString("[+-]?(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:[eE][+-]?\\d+)?");
const INTEGER_RE = sqlString("[+-]?\\d+");
const ISO_RE = sqlString("\\d{4}-\\d{2}-\\d{2}(?:[T ]\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d{1,6})?)?)?(?:Z|[+-]\\d{2}:\\d{2})?");

type Target = ValueType | "key" | "time";
/** A converted value and when the row path must judge it instead (both SQL expressions). */
interface Conversion {
  value: string;
  bad: string;
}

function typeClass(type: string): "int" | "int64" | "float" | "string" | "bool" | "time" | "other" {
  if (INT64_TYPES.has(type)) return "int64";
  if (INT_TYPES.has(type)) return "int";
  if (type === "DOUBLE" || type === "FLOAT" || type.startsWith("DECIMAL")) return "float";
  if (type === "VARCHAR") return "string";
  if (type === "BOOLEAN") return "bool";
  if (TIME_TYPES.has(type)) return "time";
  return "other";
}

/** A double as JS's String() prints it, when the engine prints it alike (integers below 1e21); else flagged. */
function integralText(d: string): Conversion {
  return { value: `CAST(CAST(${d} AS HUGEINT) AS VARCHAR)`, bad: `NOT (isfinite(${d}) AND ${d} = trunc(${d}) AND abs(${d}) < 1e21)` };
}

function intFrom(d: string, type: ValueType | "key"): Conversion {
  const limit = type === "int32" ? `${d} < -2147483648 OR ${d} > 2147483647` : `abs(${d}) > ${SAFE}`;
  return { value: `CAST(${d} AS BIGINT)`, bad: `NOT isfinite(${d}) OR ${d} <> trunc(${d}) OR ${limit}` };
}

function typedConversion(x: string, type: string, target: Target, keyType: ValueType | undefined): Conversion | undefined {
  const cls = typeClass(type);
  const safe64 = cls === "int64" ? `abs(CAST(${x} AS HUGEINT)) > ${SAFE}` : "false";
  if (target === "time" || target === "timestamp") {
    if (cls !== "time") return undefined;
    // Finer than ms: floored to the ms (date_trunc floors, also before 1970).
    const bad = type === "TIMESTAMP_NS" ? `epoch_ns(${x}) < 0 AND epoch_ns(${x}) % 1000 <> 0` : "false";
    return { value: `date_trunc('millisecond', CAST(${x} AS TIMESTAMP))`, bad };
  }
  if (target === "key") {
    if (keyType === "string") {
      if (cls === "string") return { value: x, bad: "false" };
      if (cls === "int" || cls === "int64") return { value: `CAST(${x} AS VARCHAR)`, bad: safe64 };
      if (cls === "float") return integralText(`CAST(${x} AS DOUBLE)`);
      if (cls === "bool") return { value: `CASE WHEN ${x} THEN 'true' ELSE 'false' END`, bad: "false" };
      return undefined;
    }
    if (cls === "int" || cls === "int64") return { value: `CAST(${x} AS BIGINT)`, bad: safe64 };
    if (cls === "float") return intFrom(`CAST(${x} AS DOUBLE)`, "key");
    return undefined;
  }
  switch (target) {
    case "float64":
    case "float32":
      if (cls === "int" || cls === "int64") return { value: `CAST(${x} AS DOUBLE)`, bad: safe64 };
      if (cls === "float") return { value: `CAST(${x} AS DOUBLE)`, bad: `NOT isfinite(CAST(${x} AS DOUBLE))` };
      return undefined;
    case "int64":
    case "int32":
      if (cls === "int" || cls === "int64") return intFrom(`CAST(${x} AS DOUBLE)`, target);
      if (cls === "float") return intFrom(`CAST(${x} AS DOUBLE)`, target);
      return undefined;
    case "string":
      if (cls === "string") return { value: x, bad: "false" };
      if (cls === "int" || cls === "int64") return { value: `CAST(${x} AS VARCHAR)`, bad: safe64 };
      if (cls === "float") return integralText(`CAST(${x} AS DOUBLE)`);
      return undefined;
    case "bool":
      return cls === "bool" ? { value: x, bad: "false" } : undefined;
  }
}

/** Conversions of CSV cells (text; NULL when empty), typed as the CSV reader types cells. */
function textConversion(x: string, target: Target, keyType: ValueType | undefined): Conversion {
  const isNum = `regexp_full_match(${x}, ${NUMBER_RE})`;
  const d = `TRY_CAST(${x} AS DOUBLE)`;
  // An integer cell beyond ±(2^53-1) is VALUE_OUT_OF_RANGE in the reader.
  const unsafe = `(regexp_full_match(${x}, ${INTEGER_RE}) AND abs(${d}) > ${SAFE})`;
  const isBool = `${x} IN ('true', 'True', 'TRUE', 'false', 'False', 'FALSE')`;
  const orNull = (c: Conversion): Conversion => ({ value: c.value, bad: `${x} IS NOT NULL AND (${c.bad})` });
  if (target === "time" || target === "timestamp") {
    const iso = `date_trunc('millisecond', CAST(TRY_CAST(${x} AS TIMESTAMPTZ) AS TIMESTAMP))`;
    const epoch = `make_timestamp(CAST(floor(${d}) AS BIGINT) * 1000)`;
    return orNull({
      value: `CASE WHEN ${isNum} THEN ${epoch} ELSE ${iso} END`,
      bad: `CASE WHEN ${isNum} THEN NOT (abs(${d}) <= 8.64e15) ELSE NOT regexp_full_match(${x}, ${ISO_RE}) OR ${iso} IS NULL END`,
    });
  }
  const asString = (): Conversion => {
    const canonical = integralText(d);
    return orNull({ value: `CASE WHEN ${isNum} THEN ${canonical.value} ELSE ${x} END`, bad: `${isBool} OR (${isNum} AND (${unsafe} OR ${canonical.bad}))` });
  };
  if (target === "key") {
    if (keyType === "string") return asString();
    const c = intFrom(d, "key");
    return orNull({ value: c.value, bad: `NOT ${isNum} OR ${c.bad}` });
  }
  switch (target) {
    case "float64":
    case "float32":
      return orNull({ value: d, bad: `NOT ${isNum} OR ${unsafe} OR NOT isfinite(${d})` });
    case "int64":
    case "int32": {
      const c = intFrom(d, target);
      return orNull({ value: c.value, bad: `NOT ${isNum} OR ${c.bad}` });
    }
    case "string":
      return asString();
    case "bool":
      return orNull({ value: `${x} IN ('true', 'True', 'TRUE')`, bad: `NOT ${isBool}` });
  }
}

/**
 * The native query of a view over `scan`, or undefined when a column's type has no native
 * conversion (the view then takes the row path). `columns` is `offlineColumnsOf(view)`.
 */
export function nativeSelect(view: FeatureViewDef, columns: readonly OfflineColumnSpec[], scan: SourceScan, range: { start: number; end: number }): NativeSelect | undefined {
  const source = batchSourceOf(view.source);
  const mapped = (field: string) => source.fieldMapping[field] ?? field;
  const byName = new Map<string, ScanColumn>(scan.columns.map((c) => [c.name, c]));
  const sourceNameOf = (c: OfflineColumnSpec): string => (c.role === "event_ts" ? mapped(source.timestampField) : c.role === "created_ts" ? mapped(source.createdTimestampField!) : c.name);
  const inner: string[] = [];
  const outer: string[] = [];
  const nullKeys: string[] = [];
  let tsBad = "";
  for (let i = 0; i < columns.length; i++) {
    const spec = columns[i]!;
    const col = byName.get(sourceNameOf(spec));
    if (!col) return undefined;
    const x = sqlIdent(col.source);
    const target: Target = spec.role === "key" ? "key" : spec.role === "feature" ? spec.type : "time";
    const keyType = spec.role === "key" ? spec.type : undefined;
    const conv = scan.cells === "text" ? textConversion(x, target, keyType) : typedConversion(x, col.type, target, keyType);
    if (!conv) return undefined;
    const v = sqlIdent(`__v${i}`);
    const b = sqlIdent(`__b${i}`);
    inner.push(`${conv.value} AS ${v}`, `coalesce(${conv.bad}, false) AS ${b}`);
    if (spec.role === "key") {
      inner.push(`${x} IS NULL AS ${sqlIdent(`__n${i}`)}`);
      nullKeys.push(sqlIdent(`__n${i}`));
    }
    if (spec.role === "event_ts") {
      inner.push(`${conv.value} AS "__ts"`, `${x} IS NULL AS "__ts_null"`);
      tsBad = `"__ts_null" OR "__ts" IS NULL OR ${b}`;
      outer.push(`CASE WHEN ${b} THEN error(${sqlString(NEEDS_ROW_PATH)}) ELSE ${v} END AS ${sqlIdent(spec.name)}`);
    } else {
      outer.push(`CASE WHEN ${b} THEN error(${sqlString(NEEDS_ROW_PATH)}) ELSE ${v} END AS ${sqlIdent(spec.name)}`);
    }
  }
  scan.readOrder.forEach((expr, i) => inner.push(`${expr} AS ${sqlIdent(`__o${i}`)}`));
  const conv = `(SELECT ${inner.join(", ")} FROM ${scan.relation})`;
  const inRange = `"__ts" >= make_timestamp(${range.start}::BIGINT * 1000) AND "__ts" < make_timestamp(${range.end}::BIGINT * 1000)`;
  const anyNullKey = nullKeys.length > 0 ? nullKeys.join(" OR ") : "false";
  const countSql = `SELECT count(*) FILTER (WHERE ${inRange}) AS rows, count(*) FILTER (WHERE ${inRange} AND (${anyNullKey})) AS null_keys, count(*) FILTER (WHERE ${tsBad}) AS bad_ts FROM ${conv}`;
  const created = columns.find((c) => c.role === "created_ts");
  const order = [
    ...columns.filter((c) => c.role === "key").map((c) => sqlIdent(c.name)),
    sqlIdent(columns.find((c) => c.role === "event_ts")!.name),
    ...(created ? [`${sqlIdent(created.name)} NULLS FIRST`] : []),
    ...scan.readOrder.map((_, i) => sqlIdent(`__o${i}`)),
  ];
  const keep = scan.readOrder.map((_, i) => sqlIdent(`__o${i}`));
  const selectSql = `SELECT ${[...outer, ...keep].join(", ")} FROM ${conv} WHERE ${inRange} AND NOT (${anyNullKey}) ORDER BY ${order.join(", ")}`;
  return { countSql, selectSql };
}
