/**
 * What a batch source says about one of its columns, for checking pushed values before they reach
 * a transform (push rows arrive in the batch source's shape, so they must fit its columns as a
 * backfill would read them): the Parquet schema of its first file, the Postgres table's column
 * types and NOT NULL constraints, or, for CSV (which has no types), the types its first rows read as.
 */
/**
 * `int`: whole numbers; `float`: finite numbers; `string`, `bool`; `timestamp`: ISO-8601 or epoch ms;
 * `any`: a type Larder does not check (JSON, lists, UUIDs…: the store checks it offline).
 */
export type SourceColumnKind = "int" | "float" | "string" | "bool" | "timestamp" | "any";

export interface SourceColumnType {
  kind: SourceColumnKind;
  /** false when the source forbids nulls (Parquet REQUIRED, Postgres NOT NULL). */
  nullable: boolean;
  /** The type as the source names it, for messages ("Int64", "int8", "CSV numbers"). */
  declared: string;
}

/** Postgres type OIDs Larder checks pushed values against; other types are `any`. */
const PG_KINDS = new Map<number, SourceColumnKind>([
  [20, "int"],
  [21, "int"],
  [23, "int"],
  [700, "float"],
  [701, "float"],
  [1700, "float"],
  [16, "bool"],
  [25, "string"],
  [1042, "string"],
  [1043, "string"],
  [19, "string"],
  [1082, "timestamp"],
  [1114, "timestamp"],
  [1184, "timestamp"],
]);

export function postgresColumnKind(typeId: number): SourceColumnKind {
  return PG_KINDS.get(typeId) ?? "any";
}

/**
 * What JSON-like values have in common, nulls skipped: all safe integers `int`, all numbers
 * `float`, all booleans `bool`, all strings `string`; `mixed`, or `empty` when all are null.
 */
export function scalarValuesKind(values: readonly unknown[]): "int" | "float" | "bool" | "string" | "mixed" | "empty" {
  let ints = true;
  let nums = true;
  let bools = true;
  let strings = true;
  let seen = false;
  for (const v of values) {
    if (v === null) continue;
    seen = true;
    if (typeof v !== "number") ints = nums = false;
    else if (!Number.isSafeInteger(v)) ints = false;
    if (typeof v !== "boolean") bools = false;
    if (typeof v !== "string") strings = false;
  }
  if (!seen) return "empty";
  return ints ? "int" : nums ? "float" : bools ? "bool" : strings ? "string" : "mixed";
}

/**
 * The kind of a CSV column from the values its first rows read as (see `typeCsvCell`); mixed, or
 * only empty cells, `any`.
 */
export function csvColumnKind(values: readonly (string | number | boolean | null)[]): SourceColumnKind {
  const kind = scalarValuesKind(values);
  return kind === "mixed" || kind === "empty" ? "any" : kind;
}
