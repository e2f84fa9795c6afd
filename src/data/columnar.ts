/**
 * Larder's in-memory columnar batch: what pipelines, the point-in-time join and training sets pass
 * around. Deliberately small and plain (typed arrays and arrays), so hot loops stay monomorphic.
 *
 * - Numeric columns (int32, int64, float32, float64, timestamp) hold a `Float64Array`; an int64 is
 *   a JavaScript number and must be a safe integer (|v| ≤ 2^53 − 1, else VALUE_OUT_OF_RANGE); a
 *   timestamp is UTC epoch milliseconds (an integer); a float32 is stored already rounded with
 *   `Math.fround`, so it round-trips through Parquet exactly.
 * - Nulls of numeric columns are a byte mask: `valid[i] === 0` means row i is null (its value slot
 *   holds 0). `valid === null` means "no nulls" — keep it null when there are none, hot paths rely
 *   on it. NaN in a float column is a value, not a null.
 * - String and bool columns are plain arrays with `null` for nulls.
 * - A batch's column order is the Map's insertion order.
 *
 * Functions here never mutate their inputs and always return fresh arrays (no shared views).
 */
import { LarderError } from "../errors.js";
import type { ValueType } from "../types.js";
import { epochMsOf, TIMESTAMP_EXPECTED } from "../time.js";

export type NumericType = "int32" | "int64" | "float32" | "float64" | "timestamp";
export interface NumericColumn {
  type: NumericType;
  values: Float64Array;
  valid: Uint8Array | null;
}
export interface StringColumn {
  type: "string";
  values: (string | null)[];
}
export interface BoolColumn {
  type: "bool";
  values: (boolean | null)[];
}
export type Column = NumericColumn | StringColumn | BoolColumn;
export interface ColumnarBatch {
  numRows: number;
  columns: Map<string, Column>;
}
export type CellValue = number | string | boolean | null;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

export function isNumericType(type: ValueType): type is NumericType {
  return type !== "string" && type !== "bool";
}

export function isNumericColumn(col: Column): col is NumericColumn {
  return col.type !== "string" && col.type !== "bool";
}

/** A column of `n` nulls. */
export function emptyColumn(type: ValueType, n: number): Column {
  if (type === "string") return { type, values: new Array<string | null>(n).fill(null) };
  if (type === "bool") return { type, values: new Array<boolean | null>(n).fill(null) };
  return { type, values: new Float64Array(n), valid: n === 0 ? null : new Uint8Array(n) };
}

export function columnLength(col: Column): number {
  return col.values.length;
}

/** The value at row i: a number (timestamps as epoch ms), string, boolean, or null. */
export function columnGet(col: Column, i: number): CellValue {
  if (col.type === "string" || col.type === "bool") return col.values[i] ?? null;
  if (col.valid !== null && col.valid[i] === 0) return null;
  const v = col.values[i];
  return v === undefined ? null : v;
}

export function columnIsNull(col: Column, i: number): boolean {
  if (col.type === "string" || col.type === "bool") return col.values[i] == null;
  return col.valid !== null && col.valid[i] === 0;
}

/** Number of null rows. */
export function columnNullCount(col: Column): number {
  let n = 0;
  if (col.type === "string" || col.type === "bool") {
    for (const v of col.values) if (v === null) n++;
    return n;
  }
  if (col.valid === null) return 0;
  for (let i = 0; i < col.valid.length; i++) if (col.valid[i] === 0) n++;
  return n;
}

/** Returns `valid` if it has a null, else null (the "no nulls" form). */
export function normalizeValid(valid: Uint8Array | null): Uint8Array | null {
  if (valid === null) return null;
  return valid.indexOf(0) === -1 ? null : valid;
}

function describeValue(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Date) return `Date(${Number.isNaN(value.getTime()) ? "invalid" : value.toISOString()})`;
  if (typeof value === "string") return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  try {
    const s = JSON.stringify(value);
    if (s !== undefined) return s.length > 80 ? `${s.slice(0, 80)}…` : s;
  } catch {
    // fall through
  }
  return String(value);
}

/**
 * How messages name a column: `column "amount"`; a caller may pass a description instead of a bare
 * name (`featureView "spend" feature "amount"`), which is used as it is.
 */
export function describeColumn(name: string): string {
  return /^[\w.$-]+$/.test(name) ? `column ${JSON.stringify(name)}` : name;
}

function typeMismatch(name: string, row: number, value: unknown, type: ValueType, why?: string): LarderError {
  const got = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
  return new LarderError("TYPE_MISMATCH", `${describeColumn(name)} row ${row}: expected ${type}, got ${describeValue(value)} (${got})${why ? `: ${why}` : ""}`, { column: name, row, value: describeValue(value), expected: type });
}

/** The VALUE_OUT_OF_RANGE error for an int64 beyond ±(2^53 − 1). */
export function int64OutOfRange(name: string, value: unknown, row?: number): LarderError {
  const where = row === undefined ? "" : ` row ${row}`;
  return new LarderError("VALUE_OUT_OF_RANGE", `${describeColumn(name)}${where}: int64 value ${String(value)} is beyond ±2^53 and cannot be a JavaScript number`, {
    column: name,
    ...(row === undefined ? {} : { row }),
    value: String(value),
  });
}

const INT_STRING_RE = /^[+-]?\d+$/;

function coerceInt(v: unknown, type: "int32" | "int64", name: string, row: number): number {
  let n: number;
  if (typeof v === "number") {
    n = v;
  } else if (typeof v === "bigint") {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) {
      if (type === "int64") throw int64OutOfRange(name, v, row);
      throw typeMismatch(name, row, v, type, "out of the int32 range");
    }
    n = Number(v);
  } else if (typeof v === "string") {
    const s = v.trim();
    if (INT_STRING_RE.test(s)) {
      n = Number(s);
      if (!Number.isSafeInteger(n)) {
        if (type === "int64") throw int64OutOfRange(name, s, row);
        throw typeMismatch(name, row, v, type, "out of the int32 range");
      }
    } else {
      n = s === "" ? Number.NaN : Number(s);
      if (!Number.isFinite(n)) throw typeMismatch(name, row, v, type);
    }
  } else {
    throw typeMismatch(name, row, v, type);
  }
  if (!Number.isInteger(n)) throw typeMismatch(name, row, v, type, "not an integer");
  if (type === "int32") {
    if (n < INT32_MIN || n > INT32_MAX) throw typeMismatch(name, row, v, type, "out of the int32 range");
  } else if (!Number.isSafeInteger(n)) {
    throw int64OutOfRange(name, v, row);
  }
  return n === 0 ? 0 : n; // no -0
}

function coerceFloat(v: unknown, type: "float32" | "float64", name: string, row: number): number {
  let n: number;
  if (typeof v === "number") n = v;
  else if (typeof v === "bigint") n = Number(v);
  else if (typeof v === "string") {
    const s = v.trim();
    n = Number(s);
    if (Number.isNaN(n) && s !== "NaN") throw typeMismatch(name, row, v, type);
  } else throw typeMismatch(name, row, v, type);
  return type === "float32" ? Math.fround(n) : n;
}

function coerceTimestamp(v: unknown, name: string, row: number): number {
  if (typeof v !== "number" && typeof v !== "string" && typeof v !== "bigint" && !(v instanceof Date)) throw typeMismatch(name, row, v, "timestamp");
  const t = epochMsOf(v);
  if (Number.isNaN(t)) {
    throw new LarderError("INVALID_TIMESTAMP", `${describeColumn(name)} row ${row}: cannot parse timestamp ${describeValue(v)} (${TIMESTAMP_EXPECTED})`, {
      column: name,
      row,
      value: describeValue(v),
      expected: "timestamp",
    });
  }
  const ms = Math.floor(t); // sub-millisecond precision is dropped, as Parquet TIMESTAMP(MILLIS) does
  return ms === 0 ? 0 : ms;
}

function coerceBool(v: unknown, name: string, row: number): boolean {
  if (typeof v === "boolean") return v;
  if (v === 1 || v === 0) return v === 1;
  if (typeof v === "string") {
    const s = v.trim().toLowerCase();
    if (s === "true" || s === "1") return true;
    if (s === "false" || s === "0") return false;
  }
  throw typeMismatch(name, row, v, "bool");
}

function isBlank(v: unknown): boolean {
  return typeof v === "string" && v.trim() === "";
}

/**
 * Builds a column of `type` from arbitrary JavaScript values, coercing what has an unambiguous
 * meaning:
 * - `null`/`undefined` are null; for every type but string, an empty or blank string is null too
 *   (an empty CSV cell).
 * - int32/int64: integral numbers, bigints and numeric strings ("42", "4.2e1"); a fraction is a
 *   TYPE_MISMATCH; an int64 beyond ±(2^53 − 1) is VALUE_OUT_OF_RANGE; beyond int32 is TYPE_MISMATCH.
 * - float32/float64: numbers, bigints, numeric strings ("NaN", "Infinity" included).
 * - timestamp: Date, ISO-8601 string (zone-less is UTC), epoch-ms number or bigint; an unparseable
 *   string is INVALID_TIMESTAMP; sub-millisecond fractions are floored.
 * - string: strings, and numbers/bigints (as `String(v)`, so a key 5 and "5" are the same key).
 * - bool: booleans, 0/1, and "true"/"false"/"1"/"0" (case-insensitive).
 * Anything else is a TYPE_MISMATCH naming the column, row index, value and expected type.
 */
export function columnFromValues(type: ValueType, values: readonly unknown[], name: string): Column {
  const n = values.length;
  if (type === "string") {
    const out = new Array<string | null>(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      if (v === null || v === undefined) out[i] = null;
      else if (typeof v === "string") out[i] = v;
      else if (typeof v === "number" || typeof v === "bigint") out[i] = String(v);
      else throw typeMismatch(name, i, v, type);
    }
    return { type, values: out };
  }
  if (type === "bool") {
    const out = new Array<boolean | null>(n);
    for (let i = 0; i < n; i++) {
      const v = values[i];
      out[i] = v === null || v === undefined || isBlank(v) ? null : coerceBool(v, name, i);
    }
    return { type, values: out };
  }
  const out = new Float64Array(n);
  let valid: Uint8Array | null = null;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined || isBlank(v)) {
      if (valid === null) valid = new Uint8Array(n).fill(1);
      valid[i] = 0;
      continue;
    }
    switch (type) {
      case "int32":
      case "int64":
        out[i] = coerceInt(v, type, name, i);
        break;
      case "float32":
      case "float64":
        out[i] = coerceFloat(v, type, name, i);
        break;
      case "timestamp":
        out[i] = coerceTimestamp(v, name, i);
        break;
    }
  }
  return { type, values: out, valid };
}

/** Builds a batch, checking that every column has the same length. */
export function makeBatch(columns: Map<string, Column> | Record<string, Column>): ColumnarBatch {
  const map = columns instanceof Map ? columns : new Map(Object.entries(columns));
  let numRows = -1;
  for (const [name, col] of map) {
    const len = columnLength(col);
    if (numRows === -1) numRows = len;
    else if (len !== numRows) {
      throw new LarderError("INTERNAL", `column ${JSON.stringify(name)} has ${len} rows, expected ${numRows}`, { column: name });
    }
  }
  return { numRows: Math.max(numRows, 0), columns: map };
}

/** A batch with the given column types and no rows. */
export function emptyBatch(types: Iterable<[string, ValueType]> = []): ColumnarBatch {
  const columns = new Map<string, Column>();
  for (const [name, type] of types) columns.set(name, emptyColumn(type, 0));
  return { numRows: 0, columns };
}

/** Gathers rows of one column; a negative index yields a null row (handy for outer joins). */
export function takeColumn(col: Column, indices: Int32Array | readonly number[]): Column {
  const n = indices.length;
  if (col.type === "string") {
    const src = col.values;
    const out = new Array<string | null>(n);
    for (let i = 0; i < n; i++) {
      const j = indices[i] as number;
      out[i] = j < 0 ? null : (src[j] ?? null);
    }
    return { type: "string", values: out };
  }
  if (col.type === "bool") {
    const src = col.values;
    const out = new Array<boolean | null>(n);
    for (let i = 0; i < n; i++) {
      const j = indices[i] as number;
      out[i] = j < 0 ? null : (src[j] ?? null);
    }
    return { type: "bool", values: out };
  }
  const src = col.values;
  const srcValid = col.valid;
  const out = new Float64Array(n);
  let valid: Uint8Array | null = null;
  for (let i = 0; i < n; i++) {
    const j = indices[i] as number;
    if (j < 0 || (srcValid !== null && srcValid[j] === 0)) {
      if (valid === null) valid = new Uint8Array(n).fill(1);
      valid[i] = 0;
    } else {
      out[i] = src[j] as number;
    }
  }
  return { type: col.type, values: out, valid };
}

/** Gathers rows: row i of the result is row `indices[i]` of `batch` (negative → all-null row). */
export function takeRows(batch: ColumnarBatch, indices: Int32Array | readonly number[]): ColumnarBatch {
  const columns = new Map<string, Column>();
  for (const [name, col] of batch.columns) columns.set(name, takeColumn(col, indices));
  return { numRows: indices.length, columns };
}

/** Rows [start, end) of one column, copied. */
export function sliceColumn(col: Column, start: number, end: number): Column {
  if (col.type === "string") return { type: "string", values: col.values.slice(start, end) };
  if (col.type === "bool") return { type: "bool", values: col.values.slice(start, end) };
  return { type: col.type, values: col.values.slice(start, end), valid: col.valid === null ? null : normalizeValid(col.valid.slice(start, end)) };
}

/** Rows [start, end) of a batch (clamped like Array.prototype.slice), copied. */
export function sliceBatch(batch: ColumnarBatch, start: number, end: number = batch.numRows): ColumnarBatch {
  const s = Math.max(0, Math.min(batch.numRows, start < 0 ? batch.numRows + start : start));
  const e = Math.max(s, Math.min(batch.numRows, end < 0 ? batch.numRows + end : end));
  const columns = new Map<string, Column>();
  for (const [name, col] of batch.columns) columns.set(name, sliceColumn(col, s, e));
  return { numRows: e - s, columns };
}

/** Rows where `keep[i]` is non-zero, in order. */
export function filterRows(batch: ColumnarBatch, keep: Uint8Array | readonly boolean[]): ColumnarBatch {
  let count = 0;
  for (let i = 0; i < batch.numRows; i++) if (keep[i]) count++;
  if (count === batch.numRows) return takeRows(batch, identity(count));
  const idx = new Int32Array(count);
  let k = 0;
  for (let i = 0; i < batch.numRows; i++) if (keep[i]) idx[k++] = i;
  return takeRows(batch, idx);
}

function identity(n: number): Int32Array {
  const idx = new Int32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  return idx;
}

/** The named columns, in the given order (shares the column objects). Unknown names throw. */
export function selectColumns(batch: ColumnarBatch, names: readonly string[]): ColumnarBatch {
  const columns = new Map<string, Column>();
  for (const name of names) {
    const col = batch.columns.get(name);
    if (!col) throw new LarderError("INTERNAL", `batch has no column ${JSON.stringify(name)}`, { column: name });
    columns.set(name, col);
  }
  return { numRows: batch.numRows, columns };
}

/**
 * Concatenates batches with the same columns (names and types; column order of the first batch).
 * A column missing from one batch is an INVALID_ARGUMENT; a type difference a TYPE_MISMATCH.
 */
export function concatBatches(batches: readonly ColumnarBatch[]): ColumnarBatch {
  const first = batches[0];
  if (first === undefined) return { numRows: 0, columns: new Map() };
  let numRows = 0;
  for (const b of batches) {
    numRows += b.numRows;
    if (b.columns.size !== first.columns.size) {
      throw new LarderError("INVALID_ARGUMENT", `cannot concatenate batches with different columns: [${[...first.columns.keys()].join(", ")}] and [${[...b.columns.keys()].join(", ")}]`);
    }
  }
  const columns = new Map<string, Column>();
  for (const [name, col0] of first.columns) {
    const parts: Column[] = [];
    for (const b of batches) {
      const c = b.columns.get(name);
      if (!c) throw new LarderError("INVALID_ARGUMENT", `cannot concatenate batches: one has no column ${JSON.stringify(name)}`, { column: name });
      if (c.type !== col0.type) {
        throw new LarderError("TYPE_MISMATCH", `cannot concatenate column ${JSON.stringify(name)}: ${col0.type} and ${c.type}`, { column: name });
      }
      parts.push(c);
    }
    columns.set(name, concatColumns(parts, numRows));
  }
  return { numRows, columns };
}

function concatColumns(parts: Column[], total: number): Column {
  const head = parts[0] as Column;
  if (head.type === "string" || head.type === "bool") {
    const out: (string | boolean | null)[] = new Array(total);
    let off = 0;
    for (const p of parts) {
      const vals = p.values as (string | boolean | null)[];
      for (let i = 0; i < vals.length; i++) out[off + i] = vals[i] ?? null;
      off += vals.length;
    }
    return { type: head.type, values: out } as Column;
  }
  const values = new Float64Array(total);
  let valid: Uint8Array | null = null;
  let off = 0;
  for (const p of parts as NumericColumn[]) {
    values.set(p.values, off);
    if (p.valid !== null) {
      if (valid === null) valid = new Uint8Array(total).fill(1);
      valid.set(p.valid, off);
    } else if (valid !== null) {
      valid.fill(1, off, off + p.values.length);
    }
    off += p.values.length;
  }
  return { type: head.type, values, valid: normalizeValid(valid) };
}
