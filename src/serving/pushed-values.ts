/**
 * Checks of pushed values against the push source's batch source, before any transform runs: a
 * push row must be a row the batch source could hold, as a backfill would read it. Nothing is
 * coerced silently: "abc", "NaN", "Infinity", "[1]", "", true or "12" in a numeric column, a number
 * in a string column, a null in a NOT NULL column are each TYPE_MISMATCH naming column, row and
 * the expected type. Accepted values reach the transform as a backfill would give them: numbers,
 * strings, booleans, null, and Dates for timestamp columns. Join-key columns of an integer type
 * also take integer strings ("5" and 5 are one entity, as everywhere else), read as numbers.
 */
import type { BatchSourceDef } from "../definitions/definition-types.js";
import { LarderError, isLarderError } from "../errors.js";
import { sourceColumnTypes } from "../sources/read-source.js";
import type { SourceColumnType } from "../sources/source-column-type.js";
import { epochMsOf, TIMESTAMP_EXPECTED } from "../time.js";

export interface SourceTypesContext {
  repoDir: string;
  postgresUrl: string | undefined;
}

/** How long a source's column types are reused: reading them costs a file open or a Postgres round trip per push otherwise. */
const TYPES_TTL_MS = 30_000;
/** A source that could not be described (no file yet, Postgres down) is asked again sooner. */
const UNKNOWN_TTL_MS = 5_000;

const cache = new WeakMap<BatchSourceDef, { until: number; types: Promise<Map<string, SourceColumnType> | null> }>();

/**
 * The batch source's column types, cached per source definition; null when the source cannot be
 * described now (an empty Parquet directory, Postgres unreachable): pushes are then checked by
 * the transform's outputs only, and an offline append still checks against what it writes to.
 */
export function pushColumnTypes(source: BatchSourceDef, ctx: SourceTypesContext): Promise<Map<string, SourceColumnType> | null> {
  const now = Date.now();
  const hit = cache.get(source);
  if (hit !== undefined && hit.until > now) return hit.types;
  const entry = { until: now + TYPES_TTL_MS, types: Promise.resolve<Map<string, SourceColumnType> | null>(null) };
  entry.types = sourceColumnTypes(source, { repoDir: ctx.repoDir, ...(ctx.postgresUrl ? { postgresUrl: ctx.postgresUrl } : {}) }).catch((err: unknown) => {
    if (!isLarderError(err)) throw err;
    entry.until = Date.now() + UNKNOWN_TTL_MS;
    return null;
  });
  cache.set(source, entry);
  return entry.types;
}

export interface PushedCell {
  /** "push source \"x\"", for messages. */
  what: string;
  column: string;
  /** 1-based. */
  row: number;
  /** The column maps to a join key of a fed view. */
  joinKey: boolean;
}

/** `value` as the transform gets it, or TYPE_MISMATCH / INVALID_TIMESTAMP / VALUE_OUT_OF_RANGE (see the module comment). */
export function pushedValue(value: unknown, type: SourceColumnType | undefined, cell: PushedCell): unknown {
  if (value === null || value === undefined) {
    if (type !== undefined && !type.nullable) throw mismatch(value, type, cell, "a value (the column is NOT NULL)");
    return null;
  }
  // NaN and ±Infinity have no JSON form and no place in any column, whatever its type.
  if (typeof value === "number" && !Number.isFinite(value)) throw mismatch(value, type, cell, "a finite number");
  if (type === undefined) return value;
  switch (type.kind) {
    case "int": {
      let n: number | null = null;
      if (typeof value === "number" && Number.isInteger(value)) n = value;
      else if (typeof value === "bigint") n = Number(value);
      else if (cell.joinKey && typeof value === "string" && /^\s*-?\d+\s*$/.test(value)) n = Number(value);
      if (n === null) break;
      if (!Number.isSafeInteger(n)) {
        throw new LarderError("VALUE_OUT_OF_RANGE", `${cell.what} column ${JSON.stringify(cell.column)} row ${cell.row}: ${String(value)} is beyond ±2^53 and cannot be a JavaScript number`, { column: cell.column, row: cell.row });
      }
      return n;
    }
    case "float":
      if (typeof value === "number") return value;
      break;
    case "string":
      if (typeof value === "string") return value;
      break;
    case "bool":
      if (typeof value === "boolean") return value;
      break;
    case "timestamp": {
      const t = typeof value === "string" || typeof value === "number" || value instanceof Date ? epochMsOf(value) : Number.NaN;
      if (Number.isNaN(t)) {
        throw new LarderError("INVALID_TIMESTAMP", `${cell.what} column ${JSON.stringify(cell.column)} row ${cell.row}: cannot parse timestamp ${shown(value)} (${TIMESTAMP_EXPECTED})`, {
          column: cell.column,
          row: cell.row,
          expected: type.declared,
        });
      }
      return new Date(Math.floor(t));
    }
    case "any":
      return value;
  }
  throw mismatch(value, type, cell, EXPECTED[type.kind]);
}

const EXPECTED = {
  int: "a whole number",
  float: "a finite number",
  string: "a string",
  bool: "true or false",
  timestamp: "a timestamp",
  any: "a value",
} as const;

function mismatch(value: unknown, type: SourceColumnType | undefined, cell: PushedCell, expected: string): LarderError {
  const declared = type === undefined ? "" : ` (source column type ${type.declared})`;
  return new LarderError("TYPE_MISMATCH", `${cell.what} column ${JSON.stringify(cell.column)} row ${cell.row}: got ${shown(value)}, expected ${expected}${declared}`, {
    column: cell.column,
    row: cell.row,
    expected: type?.declared ?? expected,
  });
}

/** A value for a message: its JSON (strings quoted, so "12" and 12 differ), cut to 60 characters. */
function shown(value: unknown): string {
  const s = value === undefined ? "undefined" : typeof value === "number" && !Number.isFinite(value) ? String(value) : typeof value === "bigint" ? `${value}n` : (JSON.stringify(value) ?? String(value));
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
