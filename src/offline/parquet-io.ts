/**
 * Parquet ⇄ Arrow ⇄ ColumnarBatch, with parquet-wasm 0.8 (Rust arrow/parquet compiled to WASM) and
 * apache-arrow.
 *
 * Physical types written for Larder value types: int32 → Int32, int64 → Int64, float32 → Float32,
 * float64 → Float64, timestamp → Timestamp(ms, "UTC") (Parquet INT64 TIMESTAMP(MILLIS,
 * isAdjustedToUTC=true): DuckDB reads TIMESTAMP WITH TIME ZONE), string → Utf8, bool → Bool.
 * Nulls are preserved.
 *
 * Writing. Snappy by default: it decoded ~5× faster than zstd in parquet-wasm here (zstd files are
 * ~25% smaller; pass `compression: "zstd"` to trade). Row groups of 1M rows, chunk-level statistics
 * (min/max per row group and column), dictionary encoding for string columns only (on numeric
 * columns it cost ~50% more write time for ~5% smaller files, and reads were no faster). A write
 * goes to `path.tmp-<random>`, is fsynced and renamed over `path`, so a reader never sees a partial
 * file under the final name; on error the temporary file is removed.
 *
 * Reading. Only parquet-wasm's synchronous API is used: a Rust panic inside its asynchronous API (a
 * corrupt page, for one) escapes as an uncaught exception that kills the process, while the
 * synchronous API throws it where it can be caught and reported as CORRUPT_PARQUET. The file is
 * read into memory, its footer parsed by ../parquet/parquet-footer.ts (row groups, for sizing),
 * then decoded one row group at a time, so WASM memory holds the file plus one decoded row group
 * (files up to ~2 GB). The synchronous reader cannot project columns: unrequested columns are
 * decoded and dropped.
 * `readParquetBatch` moves each decoded row group out of WASM memory through the Arrow C Data
 * Interface straight into preallocated output columns (no IPC round trip), with an IPC fallback for
 * types that path does not cover (dictionaries, decimals, Float16, …).
 */
import { randomBytes } from "node:crypto";
import { open, readFile, rename, unlink } from "node:fs/promises";
import * as arrow from "apache-arrow";
import * as pw from "parquet-wasm";
import { LarderError } from "../errors.js";
import { parquetFooterRange, parseParquetFooterSummary } from "../parquet/parquet-footer.js";
import type { ValueType } from "../types.js";
import { int64OutOfRange, normalizeValid, type Column, type ColumnarBatch, type NumericColumn } from "./columnar.js";

// ───────────────────────────── int64 ⇄ float64 without BigInt per cell ─────────────────────────────

const TWO32 = 4294967296;
/** Largest `hi` word of a safe integer (2^53 − 1 has hi = 2^21 − 1). */
const SAFE_HI = 2097151;

/**
 * Writes `src` as little-endian int64 into a new BigInt64Array. Every non-null value must be a safe
 * integer (else VALUE_OUT_OF_RANGE, or TYPE_MISMATCH for a fraction/NaN, naming the column).
 */
function float64ToInt64(src: Float64Array, valid: Uint8Array | null, name: string, type: "int64" | "timestamp"): BigInt64Array {
  const out = new BigInt64Array(src.length);
  const w = new Int32Array(out.buffer, out.byteOffset, src.length * 2);
  for (let i = 0; i < src.length; i++) {
    const v = src[i] as number;
    if (!Number.isSafeInteger(v) && (valid === null || valid[i] !== 0)) throw badInteger(name, type, v, i);
    const hi = Math.floor(v / TWO32);
    w[2 * i] = (v - hi * TWO32) | 0;
    w[2 * i + 1] = hi | 0;
  }
  return out;
}

function badInteger(name: string, type: ValueType, v: number, row: number): LarderError {
  if (Number.isInteger(v) && type !== "int32") return int64OutOfRange(name, v, row);
  return new LarderError("TYPE_MISMATCH", `column ${JSON.stringify(name)} row ${row}: ${v} is not a valid ${type} value`, { column: name, row, value: String(v), expected: type });
}

function float64ToInt32(src: Float64Array, valid: Uint8Array | null, name: string): Int32Array {
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i] as number;
    if ((v | 0) !== v && (valid === null || valid[i] !== 0)) throw badInteger(name, "int32", v, i);
    out[i] = v;
  }
  return out;
}

/**
 * Converts int64 values (signed or unsigned, as a 64-bit typed array) into `out[pos…]`, dividing by
 * `div` (1, 1000 or 1e6; exact floor division) or multiplying by `mul`. Throws VALUE_OUT_OF_RANGE
 * when a non-null result is not a safe integer. `valid` marks which rows to check (null: all).
 */
function int64ToFloat64(
  src: BigInt64Array | BigUint64Array,
  length: number,
  out: Float64Array,
  pos: number,
  valid: Uint8Array | null,
  validPos: number,
  name: string,
  opts: { unsigned?: boolean; div?: number; mul?: number } = {},
): void {
  const w = new Int32Array(src.buffer, src.byteOffset, length * 2);
  const unsigned = opts.unsigned === true;
  const div = opts.div ?? 1;
  const mul = opts.mul ?? 1;
  if (div === 1 && mul === 1) {
    for (let i = 0; i < length; i++) {
      const lo = (w[2 * i] as number) >>> 0;
      const hiS = w[2 * i + 1] as number;
      const hi = unsigned ? hiS >>> 0 : hiS;
      if ((hi > SAFE_HI || hi < -SAFE_HI - 1 || (hi === -SAFE_HI - 1 && lo === 0)) && (valid === null || valid[validPos + i] !== 0)) {
        throw int64OutOfRange(name, unsigned ? (src as BigUint64Array)[i] : (src as BigInt64Array)[i]);
      }
      out[pos + i] = hi * TWO32 + lo;
    }
    return;
  }
  if (div !== 1) {
    // v = hi·2^32 + lo; floor(v / d) = hi·q + floor((hi·r + lo) / d) with 2^32 = q·d + r, all exact.
    const q = Math.floor(TWO32 / div);
    const r = TWO32 - q * div;
    for (let i = 0; i < length; i++) {
      const lo = (w[2 * i] as number) >>> 0;
      const hiS = w[2 * i + 1] as number;
      const hi = unsigned ? hiS >>> 0 : hiS;
      const v = hi * q + Math.floor((hi * r + lo) / div);
      out[pos + i] = v === 0 ? 0 : v;
    }
    return;
  }
  for (let i = 0; i < length; i++) {
    const lo = (w[2 * i] as number) >>> 0;
    const hiS = w[2 * i + 1] as number;
    const hi = unsigned ? hiS >>> 0 : hiS;
    const v = (hi * TWO32 + lo) * mul;
    if (!Number.isSafeInteger(v) && (valid === null || valid[validPos + i] !== 0)) {
      throw int64OutOfRange(name, unsigned ? (src as BigUint64Array)[i] : (src as BigInt64Array)[i]);
    }
    out[pos + i] = v;
  }
}

// ───────────────────────────── ColumnarBatch → Arrow ─────────────────────────────

function packValidity(valid: Uint8Array | null, n: number): { bitmap: Uint8Array | undefined; nullCount: number } {
  if (valid === null) return { bitmap: undefined, nullCount: 0 };
  const bitmap = new Uint8Array(((n + 63) & ~63) >> 3);
  let nullCount = 0;
  for (let i = 0; i < n; i++) {
    if (valid[i] !== 0) bitmap[i >> 3]! |= 1 << (i & 7);
    else nullCount++;
  }
  return nullCount === 0 ? { bitmap: undefined, nullCount: 0 } : { bitmap, nullCount };
}

function numericToData(col: NumericColumn, name: string): arrow.Data {
  const n = col.values.length;
  const { bitmap, nullCount } = packValidity(col.valid, n);
  const base = { length: n, nullCount, nullBitmap: bitmap };
  switch (col.type) {
    case "int32":
      return arrow.makeData({ type: new arrow.Int32(), ...base, data: float64ToInt32(col.values, col.valid, name) });
    case "int64":
      return arrow.makeData({ type: new arrow.Int64(), ...base, data: float64ToInt64(col.values, col.valid, name, "int64") });
    case "float32":
      return arrow.makeData({ type: new arrow.Float32(), ...base, data: new Float32Array(col.values) });
    case "float64":
      return arrow.makeData({ type: new arrow.Float64(), ...base, data: col.values });
    case "timestamp":
      return arrow.makeData({ type: new arrow.TimestampMillisecond("UTC"), ...base, data: float64ToInt64(col.values, col.valid, name, "timestamp") });
  }
}

/** Strings are encoded a window at a time (a V8 string cannot exceed ~2^29 characters). */
const STRING_WINDOW_CHARS = 1 << 24;

function stringsToData(values: readonly (string | null)[]): arrow.Data {
  const n = values.length;
  const offsets = new Int32Array(n + 1);
  const chunks: Buffer[] = [];
  let bitmap: Uint8Array | undefined;
  let nullCount = 0;
  let total = 0;
  let i = 0;
  while (i < n) {
    // Gather a window of strings, join and encode it once; if it is pure ASCII, byte offsets are
    // the string lengths, otherwise measure each string's UTF-8 length.
    const start = i;
    let chars = 0;
    const parts: string[] = [];
    while (i < n && (chars < STRING_WINDOW_CHARS || i === start)) {
      const v = values[i];
      if (v === null || v === undefined) {
        if (bitmap === undefined) bitmap = new Uint8Array(((n + 63) & ~63) >> 3).fill(0xff);
        bitmap[i >> 3]! &= ~(1 << (i & 7));
        nullCount++;
        parts.push("");
      } else {
        parts.push(v);
        chars += v.length;
      }
      i++;
    }
    const joined = parts.join("");
    const buf = Buffer.from(joined, "utf8");
    const ascii = buf.length === joined.length;
    for (let k = 0; k < parts.length; k++) {
      const s = parts[k] as string;
      total += ascii ? s.length : Buffer.byteLength(s, "utf8");
      if (total > 0x7fffffff) {
        throw new LarderError("INTERNAL", "a string column holds more than 2 GiB of text in one batch; write it in smaller chunks");
      }
      offsets[start + k + 1] = total;
    }
    chunks.push(buf);
  }
  const data = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return arrow.makeData({ type: new arrow.Utf8(), length: n, nullCount, nullBitmap: nullCount ? bitmap : undefined, valueOffsets: offsets, data: bytes });
}

function boolsToData(values: readonly (boolean | null)[]): arrow.Data {
  const n = values.length;
  const bits = new Uint8Array(((n + 63) & ~63) >> 3);
  let bitmap: Uint8Array | undefined;
  let nullCount = 0;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === true) bits[i >> 3]! |= 1 << (i & 7);
    else if (v === null || v === undefined) {
      if (bitmap === undefined) bitmap = new Uint8Array(bits.length).fill(0xff);
      bitmap[i >> 3]! &= ~(1 << (i & 7));
      nullCount++;
    }
  }
  return arrow.makeData({ type: new arrow.Bool(), length: n, nullCount, nullBitmap: bitmap, data: bits });
}

/** The Arrow type Larder writes for a value type. */
export function arrowTypeFor(type: ValueType): arrow.DataType {
  switch (type) {
    case "int32":
      return new arrow.Int32();
    case "int64":
      return new arrow.Int64();
    case "float32":
      return new arrow.Float32();
    case "float64":
      return new arrow.Float64();
    case "timestamp":
      return new arrow.TimestampMillisecond("UTC");
    case "string":
      return new arrow.Utf8();
    case "bool":
      return new arrow.Bool();
  }
}

/** One column as Arrow data (int64/timestamp/int32 values are checked: see float64ToInt64). */
export function columnToArrowData(col: Column, name = "?"): arrow.Data {
  if (col.type === "string") return stringsToData(col.values);
  if (col.type === "bool") return boolsToData(col.values);
  return numericToData(col, name);
}

/**
 * A ColumnarBatch as an Arrow table (one record batch; float64 values shared, not copied). All
 * fields are nullable.
 */
export function batchToArrowTable(batch: ColumnarBatch): arrow.Table {
  const fields: arrow.Field[] = [];
  const children: arrow.Data[] = [];
  for (const [name, col] of batch.columns) {
    if (col.values.length !== batch.numRows) {
      throw new LarderError("INTERNAL", `column ${JSON.stringify(name)} has ${col.values.length} rows, batch has ${batch.numRows}`);
    }
    const data = columnToArrowData(col, name);
    fields.push(new arrow.Field(name, data.type, true));
    children.push(data);
  }
  const schema = new arrow.Schema(fields);
  const struct = arrow.makeData({ type: new arrow.Struct(fields), length: batch.numRows, nullCount: 0, children });
  return new arrow.Table(schema, [new arrow.RecordBatch(schema, struct)]);
}

// ───────────────────────────── Arrow → ColumnarBatch ─────────────────────────────

/** The Larder value type an Arrow type converts to, or undefined when it has none. */
export function valueTypeForArrow(type: arrow.DataType): ValueType | undefined {
  const T = arrow.Type;
  switch (type.typeId) {
    case T.Int: {
      const t = type as arrow.Int;
      if (t.bitWidth < 32 || (t.bitWidth === 32 && t.isSigned)) return "int32";
      return "int64";
    }
    case T.Float: {
      const t = type as arrow.Float;
      return t.precision === arrow.Precision.DOUBLE ? "float64" : "float32";
    }
    case T.Decimal:
      return "float64";
    case T.Date:
    case T.Timestamp:
      return "timestamp";
    case T.Utf8:
    case T.LargeUtf8:
    case T.Utf8View:
    case T.Null:
      return "string";
    case T.Bool:
      return "bool";
    case T.Dictionary:
      return valueTypeForArrow((type as arrow.Dictionary).dictionary);
    default:
      return undefined;
  }
}

function unsupportedType(name: string, type: arrow.DataType): LarderError {
  return new LarderError(
    "TYPE_MISMATCH",
    `column ${JSON.stringify(name)} has Arrow type ${String(type)}, which has no Larder value type (int32, int64, float32, float64, string, bool, timestamp)`,
    { column: name, arrowType: String(type) },
  );
}

/** Accumulates Arrow chunks of one column into a preallocated Column. */
class ColumnSink {
  readonly column: Column;
  private pos = 0;
  private validAll: Uint8Array | null = null;

  constructor(
    readonly name: string,
    readonly arrowType: arrow.DataType,
    readonly total: number,
  ) {
    const vt = valueTypeForArrow(arrowType);
    if (vt === undefined) throw unsupportedType(name, arrowType);
    if (vt === "string") this.column = { type: vt, values: new Array<string | null>(total) };
    else if (vt === "bool") this.column = { type: vt, values: new Array<boolean | null>(total) };
    else this.column = { type: vt, values: new Float64Array(total), valid: null };
  }

  finish(): Column {
    if (this.pos !== this.total) throw new LarderError("INTERNAL", `column ${JSON.stringify(this.name)}: read ${this.pos} rows, expected ${this.total}`);
    if (this.column.type !== "string" && this.column.type !== "bool") this.column.valid = normalizeValid(this.validAll);
    return this.column;
  }

  append(data: arrow.Data): void {
    const n = data.length;
    if (this.pos + n > this.total) throw new LarderError("INTERNAL", `column ${JSON.stringify(this.name)}: more rows than the file's metadata says`);
    const col = this.column;
    if (col.type === "string" || col.type === "bool") {
      convertToArray(data, col.values as (string | boolean | null)[], this.pos, this.name);
    } else {
      // dictionary entries may be null even where the indices are not
      const hasNulls = data.nullCount > 0 || data.typeId === arrow.Type.Dictionary;
      if (hasNulls) {
        if (this.validAll === null) this.validAll = new Uint8Array(this.total).fill(1);
        unpackValidity(data, this.validAll, this.pos);
      }
      convertNumeric(data, col.values, this.pos, hasNulls ? this.validAll : null, this.name);
    }
    this.pos += n;
  }
}

/** valid[pos + i] = 0 for each null row of `data`. */
function unpackValidity(data: arrow.Data, valid: Uint8Array, pos: number): void {
  const bm = data.nullBitmap;
  const n = data.length;
  if (data.typeId === arrow.Type.Null) {
    valid.fill(0, pos, pos + n);
    return;
  }
  if (!bm || bm.length === 0) return;
  const off = data.offset;
  for (let i = 0; i < n; i++) {
    const b = off + i;
    if (((bm[b >> 3] as number) & (1 << (b & 7))) === 0) valid[pos + i] = 0;
  }
}

function isNullAt(data: arrow.Data, i: number): boolean {
  if (data.typeId === arrow.Type.Null) return true;
  const bm = data.nullBitmap;
  if (!bm || bm.length === 0 || data.nullCount === 0) return false;
  const b = data.offset + i;
  return ((bm[b >> 3] as number) & (1 << (b & 7))) === 0;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? Number.NaN : s * Number.POSITIVE_INFINITY;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

const DAY_MS = 86_400_000;

function convertNumeric(data: arrow.Data, out: Float64Array, pos: number, valid: Uint8Array | null, name: string): void {
  const T = arrow.Type;
  const type = data.type as arrow.DataType;
  const n = data.length;
  switch (type.typeId) {
    case T.Int: {
      const t = type as arrow.Int;
      if (t.bitWidth === 64) {
        int64ToFloat64(data.values as BigInt64Array, n, out, pos, valid, pos, name, { unsigned: !t.isSigned });
      } else {
        out.set((data.values as Int32Array).subarray(0, n), pos);
      }
      return;
    }
    case T.Float: {
      const t = type as arrow.Float;
      if (t.precision === arrow.Precision.HALF) {
        const v = data.values as Uint16Array;
        for (let i = 0; i < n; i++) out[pos + i] = halfToFloat(v[i] as number);
      } else {
        out.set((data.values as Float64Array).subarray(0, n), pos);
      }
      return;
    }
    case T.Date: {
      const t = type as arrow.Date_;
      if (t.unit === arrow.DateUnit.DAY) {
        const v = data.values as Int32Array;
        for (let i = 0; i < n; i++) out[pos + i] = (v[i] as number) * DAY_MS;
      } else {
        int64ToFloat64(data.values as BigInt64Array, n, out, pos, valid, pos, name);
      }
      return;
    }
    case T.Timestamp: {
      const t = type as arrow.Timestamp;
      const src = data.values as BigInt64Array;
      switch (t.unit) {
        case arrow.TimeUnit.SECOND:
          int64ToFloat64(src, n, out, pos, valid, pos, name, { mul: 1000 });
          break;
        case arrow.TimeUnit.MILLISECOND:
          int64ToFloat64(src, n, out, pos, valid, pos, name);
          break;
        case arrow.TimeUnit.MICROSECOND:
          int64ToFloat64(src, n, out, pos, valid, pos, name, { div: 1000 });
          break;
        case arrow.TimeUnit.NANOSECOND:
          int64ToFloat64(src, n, out, pos, valid, pos, name, { div: 1_000_000 });
          break;
      }
      return;
    }
    case T.Decimal: {
      const t = type as arrow.Decimal;
      const words = data.values as Uint32Array;
      const stride = t.bitWidth / 32;
      const scale = 10 ** t.scale;
      for (let i = 0; i < n; i++) {
        if (valid !== null && valid[pos + i] === 0) continue;
        let big = 0n;
        for (let k = stride - 1; k >= 0; k--) big = (big << 32n) | BigInt(words[i * stride + k] as number);
        if ((words[i * stride + stride - 1] as number) & 0x80000000) big -= 1n << BigInt(32 * stride);
        out[pos + i] = Number(big) / scale;
      }
      return;
    }
    case T.Dictionary: {
      const dict = (data as arrow.Data<arrow.Dictionary>).dictionary;
      if (!dict) throw new LarderError("CORRUPT_PARQUET", `column ${JSON.stringify(name)}: dictionary-encoded chunk without a dictionary`);
      const dictSink = new ColumnSink(name, dict.type as arrow.DataType, dict.length);
      for (const d of dict.data) dictSink.append(d as arrow.Data);
      const dictCol = dictSink.finish() as NumericColumn;
      const idx = data.values as Int32Array;
      for (let i = 0; i < n; i++) {
        if (valid !== null && valid[pos + i] === 0) continue;
        const j = Number(idx[i]);
        if (dictCol.valid !== null && dictCol.valid[j] === 0) {
          if (valid !== null) valid[pos + i] = 0;
          continue;
        }
        out[pos + i] = dictCol.values[j] as number;
      }
      return;
    }
    default:
      throw unsupportedType(name, type);
  }
}

/** Decodes UTF-8 bytes [a, b) of `bytes`. */
function utf8(bytes: Uint8Array, a: number, b: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + a, b - a).toString("utf8");
}

const STRING_WINDOW_BYTES = 1 << 26;

function convertToArray(data: arrow.Data, out: (string | boolean | null)[], pos: number, name: string): void {
  const T = arrow.Type;
  const type = data.type as arrow.DataType;
  const n = data.length;
  const hasNulls = data.nullCount > 0;
  switch (type.typeId) {
    case T.Bool: {
      const bits = data.values as Uint8Array;
      const off = data.offset;
      for (let i = 0; i < n; i++) {
        if (hasNulls && isNullAt(data, i)) out[pos + i] = null;
        else {
          const b = off + i;
          out[pos + i] = ((bits[b >> 3] as number) & (1 << (b & 7))) !== 0;
        }
      }
      return;
    }
    case T.Null:
      for (let i = 0; i < n; i++) out[pos + i] = null;
      return;
    case T.Utf8:
    case T.LargeUtf8: {
      const bytes = data.values as Uint8Array;
      const offs = data.valueOffsets as Int32Array | BigInt64Array;
      const large = offs instanceof BigInt64Array;
      const at = (i: number): number => (large ? Number((offs as BigInt64Array)[i]) : ((offs as Int32Array)[i] as number));
      // Decode a window of rows at once; if no multi-byte sequence occurs (decoded length = byte
      // length), byte offsets are character offsets and each string is a cheap slice.
      let i = 0;
      while (i < n) {
        const start = i;
        const base = at(start);
        let end = start + 1;
        while (end < n && at(end + 1) - base <= STRING_WINDOW_BYTES) end++;
        const limit = at(end);
        const text = utf8(bytes, base, limit);
        if (text.length === limit - base) {
          for (let k = start; k < end; k++) out[pos + k] = hasNulls && isNullAt(data, k) ? null : text.slice(at(k) - base, at(k + 1) - base);
        } else {
          for (let k = start; k < end; k++) out[pos + k] = hasNulls && isNullAt(data, k) ? null : utf8(bytes, at(k), at(k + 1));
        }
        i = end;
      }
      return;
    }
    case T.Dictionary: {
      const dict = (data as arrow.Data<arrow.Dictionary>).dictionary;
      if (!dict) throw new LarderError("CORRUPT_PARQUET", `column ${JSON.stringify(name)}: dictionary-encoded chunk without a dictionary`);
      const dictVals: (string | boolean | null)[] = new Array(dict.length);
      let p = 0;
      for (const d of dict.data) {
        convertToArray(d as arrow.Data, dictVals, p, name);
        p += d.length;
      }
      const idx = data.values as Int32Array;
      for (let i = 0; i < n; i++) out[pos + i] = hasNulls && isNullAt(data, i) ? null : (dictVals[Number(idx[i])] ?? null);
      return;
    }
    default: {
      // Utf8View and anything else with a string value type: per cell (not a hot path).
      if (valueTypeForArrow(type) !== "string") throw unsupportedType(name, type);
      const vec = arrow.makeVector(data);
      for (let i = 0; i < n; i++) {
        const v = vec.get(i) as unknown;
        out[pos + i] = v === null || v === undefined ? null : String(v);
      }
    }
  }
}

/**
 * An Arrow table as a ColumnarBatch, column-wise from the underlying buffers. Accepts every Arrow
 * type with a Larder value type: Int8/16/32 and Uint8/16 → int32; Int64, Uint32, Uint64 → int64
 * (beyond ±(2^53 − 1) → VALUE_OUT_OF_RANGE naming the column); Float16/32 → float32; Float64 and
 * Decimal → float64; Date and Timestamp of any unit and zone → timestamp (UTC epoch ms; finer units
 * are floored to the millisecond); Utf8, LargeUtf8, Utf8View, Dictionary<…>, Null → string (or
 * the dictionary's value type); Bool → bool. Other types are a TYPE_MISMATCH naming the column.
 */
export function arrowTableToBatch(table: arrow.Table): ColumnarBatch {
  const columns = new Map<string, Column>();
  const fields = table.schema.fields;
  for (let c = 0; c < fields.length; c++) {
    const field = fields[c] as arrow.Field;
    if (columns.has(field.name)) {
      throw new LarderError("INVALID_ARGUMENT", `the table has two columns named ${JSON.stringify(field.name)}`, { column: field.name });
    }
    const sink = new ColumnSink(field.name, field.type as arrow.DataType, table.numRows);
    const vec = table.getChildAt(c);
    if (vec) for (const d of vec.data) sink.append(d as arrow.Data);
    columns.set(field.name, sink.finish());
  }
  return { numRows: table.numRows, columns };
}

// ───────────────────────────── Parquet files ─────────────────────────────

export type ParquetCompression = "snappy" | "zstd" | "lz4" | "none";

export interface WriteParquetOptions {
  /** Default "snappy" (fastest to read among snappy/zstd here; see the module comment). */
  compression?: ParquetCompression;
  /** Rows per row group; default 1,000,000. */
  rowGroupSize?: number;
  /** fsync the file before the rename (default true: a renamed file is a complete file). */
  fsync?: boolean;
  /** Extra key/value metadata stored in the file footer. */
  metadata?: Record<string, string>;
}

export const DEFAULT_ROW_GROUP_SIZE = 1_000_000;

const COMPRESSION: Record<ParquetCompression, pw.Compression> = {
  snappy: pw.Compression.SNAPPY,
  zstd: pw.Compression.ZSTD,
  lz4: pw.Compression.LZ4_RAW,
  none: pw.Compression.UNCOMPRESSED,
};

function writerProperties(schema: arrow.Schema, opts: WriteParquetOptions): pw.WriterProperties {
  let b = new pw.WriterPropertiesBuilder()
    .setCompression(COMPRESSION[opts.compression ?? "snappy"])
    .setMaxRowGroupSize(opts.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE)
    .setStatisticsEnabled(pw.EnabledStatistics.Chunk)
    .setDictionaryEnabled(false)
    .setCreatedBy("larder (parquet-wasm)");
  // Dictionary pages only for strings: on numbers they cost ~0.7 s per 10M×5 write for ~5% size.
  for (const f of schema.fields) {
    const t = f.type as arrow.DataType;
    if (t.typeId === arrow.Type.Utf8 || t.typeId === arrow.Type.LargeUtf8 || t.typeId === arrow.Type.Dictionary) {
      b = b.setColumnDictionaryEnabled(f.name, true);
    }
  }
  if (opts.metadata) b = b.setKeyValueMetadata(new Map(Object.entries(opts.metadata)));
  return b.build();
}

function toWasmTable(table: arrow.Table): pw.Table {
  return pw.Table.fromIPCStream(arrow.tableToIPC(table, "stream"));
}

function tmpPathFor(path: string): string {
  return `${path}.tmp-${randomBytes(6).toString("hex")}`;
}

/**
 * Writes a table or batch to `path` atomically: to `path.tmp-<random>`, fsync, rename. On any
 * error the temporary file is removed and nothing appears under `path` (an existing file there is
 * untouched). Errors are OFFLINE_STORE_ERROR naming the file. Returns the row count and byte size.
 */
export async function writeParquetFile(
  path: string,
  data: arrow.Table | ColumnarBatch,
  opts: WriteParquetOptions = {},
): Promise<{ rows: number; bytes: number }> {
  const table = data instanceof arrow.Table ? data : batchToArrowTable(data);
  if (table.schema.fields.length === 0) {
    throw new LarderError("OFFLINE_STORE_ERROR", `cannot write ${path}: a Parquet file needs at least one column`, { path });
  }
  const tmp = tmpPathFor(path);
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    fh = await open(tmp, "wx");
    const step = opts.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE;
    let bytes = 0;
    // parquet-wasm's synchronous writer turns a Rust panic (e.g. an Arrow type Parquet cannot hold)
    // into a catchable error; its streaming writer runs as a detached WASM task where a panic is an
    // uncaught exception. So: one row group or less → synchronous; more → a synchronous probe of
    // the first rows (catches type problems), then the streaming writer, which keeps WASM memory
    // at about one row group instead of the whole table.
    if (table.numRows <= step) {
      const buf = pw.writeParquet(toWasmTable(table), writerProperties(table.schema, opts)); // consumes the WASM table
      await fh.write(buf);
      bytes = buf.length;
    } else {
      pw.writeParquet(toWasmTable(table.slice(0, 1000)), writerProperties(table.schema, opts));
      let next = 0;
      const source = new ReadableStream<pw.RecordBatch>({
        pull(controller) {
          if (next >= table.numRows) {
            controller.close();
            return;
          }
          const end = Math.min(table.numRows, next + step);
          const wt = toWasmTable(table.slice(next, end));
          next = end;
          for (const rb of wt.recordBatches()) controller.enqueue(rb);
          wt.free();
        },
      });
      const out = await pw.transformParquetStream(source, writerProperties(table.schema, opts));
      for await (const chunk of out as unknown as AsyncIterable<Uint8Array>) {
        await fh.write(chunk);
        bytes += chunk.length;
      }
    }
    if (opts.fsync !== false) await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
    return { rows: table.numRows, bytes };
  } catch (err) {
    if (fh) await fh.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    if (err instanceof LarderError) throw err;
    throw new LarderError("OFFLINE_STORE_ERROR", `cannot write Parquet file ${path}: ${errMessage(err)}`, { path }, { cause: err });
  }
}

/** Writes any Arrow table (passthrough columns of any Arrow type included). See writeParquetFile. */
export async function writeArrowTableToParquet(path: string, table: arrow.Table, opts: WriteParquetOptions = {}): Promise<{ rows: number; bytes: number }> {
  return writeParquetFile(path, table, opts);
}

function errMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

export interface ReadParquetOptions {
  /**
   * Only these columns, in this order. Unknown names → OFFLINE_STORE_ERROR. (parquet-wasm's
   * synchronous reader cannot project, so the others are decoded and dropped: this saves the copy
   * and conversion, not the decoding.)
   */
  columns?: string[];
  /** Only these row groups (indexes into the file's row groups). */
  rowGroups?: number[];
}

/** True when `err` says a file does not exist (a LarderError from this module, or a raw ENOENT). */
export function isFileNotFound(err: unknown): boolean {
  if (err instanceof LarderError) return err.details["notFound"] === true;
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "ENOENT";
}

function corrupt(path: string, err: unknown): LarderError {
  return new LarderError("CORRUPT_PARQUET", `${path} is not a readable Parquet file: ${errMessage(err)}`, { path }, { cause: err });
}

interface RowGroupInfo {
  rows: number;
  /** Uncompressed size, from the footer. */
  bytes: number;
}

interface OpenedParquet {
  path: string;
  /** The whole file: parquet-wasm's synchronous reader takes bytes. */
  bytes: Uint8Array;
  rowGroups: RowGroupInfo[];
  fields: arrow.Field[];
  numRows: number;
}

function notFound(path: string, err: unknown): LarderError {
  return new LarderError("OFFLINE_STORE_ERROR", `Parquet file not found: ${path}`, { path, notFound: true }, { cause: err });
}

async function readWhole(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (err) {
    if (isFileNotFound(err)) throw notFound(path, err);
    throw new LarderError("OFFLINE_STORE_ERROR", `cannot read ${path}: ${errMessage(err)}`, { path }, { cause: err });
  }
}

async function openParquet(path: string): Promise<OpenedParquet> {
  const bytes = await readWhole(path);
  if (bytes.length < 12) throw corrupt(path, new Error(`only ${bytes.length} bytes`));
  let rowGroups: RowGroupInfo[];
  let numRows: number;
  try {
    if (!(bytes[0] === 0x50 && bytes[1] === 0x41 && bytes[2] === 0x52 && bytes[3] === 0x31)) throw new Error("missing the PAR1 magic bytes at the start");
    const { start, length } = parquetFooterRange(bytes.subarray(bytes.length - 8), bytes.length);
    const footer = parseParquetFooterSummary(bytes.subarray(start, start + length));
    rowGroups = footer.rowGroups;
    numRows = footer.numRows;
  } catch (err) {
    throw corrupt(path, err);
  }
  let fields: arrow.Field[];
  try {
    fields = arrow.tableFromIPC(pw.readSchema(bytes).intoIPCStream()).schema.fields;
  } catch (err) {
    throw corrupt(path, err);
  }
  return { path, bytes, rowGroups, numRows, fields };
}

const STEP_ROWS = 1_000_000;
const STEP_BYTES = 256 << 20;

/**
 * Groups the selected row groups into read steps of at most ~1M rows / 256 MB (at least one row
 * group each). Each step is one synchronous read, which copies the whole file into WASM, so many
 * small row groups must not become many reads; and one step is decoded as one record batch, which
 * beyond a few million rows made parquet-wasm's memory grow several times faster than the data
 * and was slower (measured).
 */
function planSteps(selected: number[], rowGroups: RowGroupInfo[]): number[][] {
  const steps: number[][] = [];
  let cur: number[] = [];
  let rows = 0;
  let bytes = 0;
  for (const g of selected) {
    const info = rowGroups[g] ?? { rows: 0, bytes: 0 };
    if (cur.length > 0 && (rows + info.rows > STEP_ROWS || bytes + info.bytes > STEP_BYTES || g !== (cur[cur.length - 1] as number) + 1)) {
      steps.push(cur);
      cur = [];
      rows = 0;
      bytes = 0;
    }
    cur.push(g);
    rows += info.rows;
    bytes += info.bytes;
  }
  if (cur.length > 0) steps.push(cur);
  return steps;
}

function selectRowGroups(path: string, opened: OpenedParquet, rowGroups: number[] | undefined): number[] {
  if (rowGroups === undefined) return opened.rowGroups.map((_, i) => i);
  for (const g of rowGroups) {
    if (!Number.isInteger(g) || g < 0 || g >= opened.rowGroups.length) {
      throw new LarderError("OFFLINE_STORE_ERROR", `${path} has ${opened.rowGroups.length} row groups; there is no row group ${g}`, { path });
    }
  }
  return rowGroups;
}

function checkColumns(path: string, opened: OpenedParquet, columns: string[] | undefined): void {
  if (!columns) return;
  const have = new Set(opened.fields.map((f) => f.name));
  for (const c of columns) {
    if (!have.has(c)) throw new LarderError("OFFLINE_STORE_ERROR", `${path} has no column ${JSON.stringify(c)} (it has ${[...have].join(", ")})`, { path, column: c });
  }
}

/**
 * Reads row groups [groups] (as one record batch) into a WASM table, all columns: parquet-wasm
 * 0.8's synchronous reader ignores its `columns` option.
 */
function readStepWasm(path: string, opened: OpenedParquet, groups: number[]): pw.Table {
  const rows = groups.reduce((s, g) => s + (opened.rowGroups[g]?.rows ?? 0), 0);
  try {
    return pw.readParquet(opened.bytes, { rowGroups: groups, batchSize: Math.max(1, rows) });
  } catch (err) {
    throw corrupt(path, err);
  }
}

function ipcToTable(path: string, wt: pw.Table): arrow.Table {
  try {
    return arrow.tableFromIPC(wt.intoIPCStream());
  } catch (err) {
    throw corrupt(path, err);
  }
}

/**
 * Reads a Parquet file (or some of its columns / row groups) into an Arrow table. A missing file is
 * OFFLINE_STORE_ERROR with `details.notFound` (see `isFileNotFound`); a corrupt file or one that is
 * not Parquet is CORRUPT_PARQUET naming the file.
 */
export async function readParquetFile(path: string, opts: ReadParquetOptions = {}): Promise<arrow.Table> {
  const opened = await openParquet(path);
  checkColumns(path, opened, opts.columns);
  const selected = selectRowGroups(path, opened, opts.rowGroups);
  const batches: arrow.RecordBatch[] = [];
  let schema: arrow.Schema | undefined;
  for (const groups of planSteps(selected, opened.rowGroups)) {
    const t = ipcToTable(path, readStepWasm(path, opened, groups));
    schema ??= t.schema;
    batches.push(...t.batches);
  }
  if (schema === undefined) {
    // no row groups: an empty table with the file's schema
    const empty = new arrow.Schema(opened.fields);
    return opts.columns ? new arrow.Table(empty).select(opts.columns) : new arrow.Table(empty);
  }
  const table = new arrow.Table(schema, batches);
  return opts.columns ? table.select(opts.columns) : table;
}

// ── Reading through the Arrow C Data Interface (no IPC round trip) ──
//
// parquet-wasm can export a decoded table as C Data Interface structs in WASM memory. For the
// flat types Larder stores, reading the buffers straight out of WASM memory into the output
// columns skips serialising to IPC inside WASM and copying that out (a third of the read time,
// measured). Struct layouts (wasm32: pointers are 4 bytes, int64 fields 8-aligned):
//   ArrowSchema { format@0, name@4, metadata@8, flags@16 (i64), n_children@24 (i64), children@32, dictionary@36, release@40, private_data@44 }
//   ArrowArray  { length@0, null_count@8, offset@16, n_buffers@24, n_children@32 (i64s), buffers@40, children@44, dictionary@48, release@52, private_data@56 }

/** Arrow types the C Data Interface path decodes (flat, not dictionary-encoded). */
function ffiSupported(type: arrow.DataType): boolean {
  const T = arrow.Type;
  switch (type.typeId) {
    case T.Int:
    case T.Timestamp:
    case T.Date:
    case T.Utf8:
    case T.LargeUtf8:
    case T.Bool:
      return true;
    case T.Float:
      return (type as arrow.Float).precision !== arrow.Precision.HALF;
    default:
      return false;
  }
}

function byteWidth(type: arrow.DataType): number {
  const T = arrow.Type;
  switch (type.typeId) {
    case T.Int:
      return (type as arrow.Int).bitWidth / 8;
    case T.Float:
      return (type as arrow.Float).precision === arrow.Precision.DOUBLE ? 8 : 4;
    case T.Date:
      return (type as arrow.Date_).unit === arrow.DateUnit.DAY ? 4 : 8;
    case T.Timestamp:
      return 8;
    default:
      return 0;
  }
}

type TypedCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): ArrayBufferView; BYTES_PER_ELEMENT: number };

/** A typed view of WASM memory, or an aligned copy when the pointer is misaligned. */
function wasmView<C extends TypedCtor>(Ctor: C, mem: ArrayBuffer, ptr: number, length: number): InstanceType<C> {
  const w = Ctor.BYTES_PER_ELEMENT;
  if (ptr % w === 0) return new Ctor(mem, ptr, length) as InstanceType<C>;
  return new Ctor(mem.slice(ptr, ptr + length * w), 0, length) as InstanceType<C>;
}

function dataCtorFor(type: arrow.DataType): TypedCtor {
  const T = arrow.Type;
  if (type.typeId === T.Float) return (type as arrow.Float).precision === arrow.Precision.DOUBLE ? Float64Array : Float32Array;
  if (type.typeId === T.Int) {
    const t = type as arrow.Int;
    switch (t.bitWidth) {
      case 8:
        return t.isSigned ? Int8Array : Uint8Array;
      case 16:
        return t.isSigned ? Int16Array : Uint16Array;
      case 32:
        return t.isSigned ? Int32Array : Uint32Array;
      default:
        return t.isSigned ? BigInt64Array : BigUint64Array;
    }
  }
  return byteWidth(type) === 4 ? Int32Array : BigInt64Array;
}

function readCString(u8: Uint8Array, ptr: number): string {
  if (ptr === 0) return "";
  let end = ptr;
  while (u8[end] !== 0) end++;
  return Buffer.from(u8.buffer, u8.byteOffset + ptr, end - ptr).toString("utf8");
}

/** The C Data Interface format string (timestamps: up to the unit) an Arrow type exports as. */
function ffiFormat(type: arrow.DataType): string {
  const T = arrow.Type;
  switch (type.typeId) {
    case T.Int: {
      const t = type as arrow.Int;
      const c = ({ 8: "c", 16: "s", 32: "i", 64: "l" } as Record<number, string>)[t.bitWidth] ?? "?";
      return t.isSigned ? c : c.toUpperCase();
    }
    case T.Float:
      return (type as arrow.Float).precision === arrow.Precision.DOUBLE ? "g" : "f";
    case T.Utf8:
      return "u";
    case T.LargeUtf8:
      return "U";
    case T.Bool:
      return "b";
    case T.Date:
      return (type as arrow.Date_).unit === arrow.DateUnit.DAY ? "tdD" : "tdm";
    case T.Timestamp:
      return `ts${"smun"[(type as arrow.Timestamp).unit] ?? "?"}`;
    default:
      return "?";
  }
}

/**
 * Decodes a WASM table (consumed) through the C Data Interface and appends each column to its
 * sink. `types` gives each column's Arrow type (from the file's schema), by name. Returns false,
 * having appended nothing, when the exported layout is not the expected flat one (the caller then
 * re-reads through IPC).
 */
function appendViaFfi(path: string, wt: pw.Table, types: Map<string, arrow.DataType>, sinks: Map<string, ColumnSink>): boolean {
  const stream = wt.intoFFI();
  try {
    const mem = pw.wasmMemory().buffer as ArrayBuffer;
    const dv = new DataView(mem);
    const u8 = new Uint8Array(mem);
    const u32 = (p: number) => dv.getUint32(p, true);
    const i64 = (p: number) => Number(dv.getBigInt64(p, true));
    const schemaPtr = stream.schemaAddr();
    const nFields = i64(schemaPtr + 24);
    const fieldSchemas = u32(schemaPtr + 32);
    const names: string[] = [];
    for (let c = 0; c < nFields; c++) {
      const fs = u32(fieldSchemas + 4 * c);
      const name = readCString(u8, u32(fs + 4));
      const type = types.get(name);
      const format = readCString(u8, u32(fs));
      names.push(name);
      if (!sinks.has(name)) continue; // not requested (the synchronous reader cannot project)
      if (!type || u32(fs + 36) !== 0 || !(format === ffiFormat(type) || format.startsWith(`${ffiFormat(type)}:`))) return false;
    }
    const n = stream.numArrays();
    for (let k = 0; k < n; k++) {
      const batchPtr = stream.arrayAddr(k);
      const nChildren = i64(batchPtr + 32);
      if (nChildren !== names.length) throw new Error(`record batch has ${nChildren} columns, schema ${names.length}`);
      const children = u32(batchPtr + 44);
      for (let c = 0; c < nChildren; c++) {
        const name = names[c] as string;
        const type = types.get(name);
        const sink = sinks.get(name);
        if (!sink) continue;
        if (!type) throw new Error(`unexpected column ${JSON.stringify(name)}`);
        const a = u32(children + 4 * c);
        const length = i64(a);
        const nullCount = i64(a + 8);
        const offset = i64(a + 16);
        const nBuffers = i64(a + 24);
        const buffers = u32(a + 40);
        if (u32(a + 48) !== 0) throw new Error(`column ${JSON.stringify(name)} is dictionary-encoded`);
        const buf = (i: number) => (i < nBuffers ? u32(buffers + 4 * i) : 0);
        const validityPtr = buf(0);
        const bitmapBytes = (offset + length + 7) >> 3;
        const nullBitmap = nullCount !== 0 && validityPtr !== 0 ? u8.slice(validityPtr, validityPtr + bitmapBytes) : undefined;
        const common = { offset, length, nullCount: nullBitmap ? nullCount : 0, nullBitmap };
        let data: arrow.Data;
        const T = arrow.Type;
        if (type.typeId === T.Bool) {
          data = arrow.makeData({ type: type as arrow.Bool, ...common, data: u8.subarray(buf(1), buf(1) + bitmapBytes) });
        } else if (type.typeId === T.Utf8) {
          const offs = wasmView(Int32Array, mem, buf(1) + offset * 4, length + 1);
          const end = length === 0 ? 0 : (offs[length] as number);
          data = arrow.makeData({ type: type as arrow.Utf8, ...common, valueOffsets: offs, data: u8.subarray(buf(2), buf(2) + end) });
        } else if (type.typeId === T.LargeUtf8) {
          const offs = wasmView(BigInt64Array, mem, buf(1) + offset * 8, length + 1);
          const end = length === 0 ? 0 : Number(offs[length]);
          data = arrow.makeData({ type: type as arrow.LargeUtf8, ...common, valueOffsets: offs, data: u8.subarray(buf(2), buf(2) + end) });
        } else {
          const w = byteWidth(type);
          const values = wasmView(dataCtorFor(type), mem, buf(1) + offset * w, length);
          data = arrow.makeData({ type: type as arrow.Int, ...common, data: values as Int32Array });
        }
        sink.append(data);
      }
    }
    return true;
  } catch (err) {
    if (err instanceof LarderError) throw err;
    throw corrupt(path, err);
  } finally {
    stream.free();
  }
}

/** How `readParquetBatch` moves data out of WASM: "auto" uses the C Data Interface when every column allows it. */
export type ParquetDecoder = "auto" | "ipc";

/**
 * Reads a Parquet file straight into a ColumnarBatch (see `arrowTableToBatch` for the type
 * mapping), converting each row group as it is read into preallocated columns.
 */
export async function readParquetBatch(path: string, opts: ReadParquetOptions & { decoder?: ParquetDecoder } = {}): Promise<ColumnarBatch> {
  const opened = await openParquet(path);
  checkColumns(path, opened, opts.columns);
  const selected = selectRowGroups(path, opened, opts.rowGroups);
  const total = selected.reduce((s, g) => s + (opened.rowGroups[g]?.rows ?? 0), 0);
  const names = opts.columns ?? opened.fields.map((f) => f.name);
  const types = new Map<string, arrow.DataType>();
  for (const f of opened.fields) {
    if (types.has(f.name)) throw new LarderError("INVALID_ARGUMENT", `${path} has two columns named ${JSON.stringify(f.name)}`, { path, column: f.name });
    types.set(f.name, f.type as arrow.DataType);
  }
  const sinks = new Map<string, ColumnSink>();
  for (const name of names) sinks.set(name, new ColumnSink(name, types.get(name) as arrow.DataType, total));
  let ffi = opts.decoder !== "ipc" && names.every((n) => ffiSupported(types.get(n) as arrow.DataType));
  for (const groups of planSteps(selected, opened.rowGroups)) {
    if (ffi && appendViaFfi(path, readStepWasm(path, opened, groups), types, sinks)) continue;
    ffi = false;
    const t = ipcToTable(path, readStepWasm(path, opened, groups));
    const fields = t.schema.fields;
    for (let c = 0; c < fields.length; c++) {
      const sink = sinks.get((fields[c] as arrow.Field).name);
      if (!sink) continue; // not requested
      const vec = t.getChildAt(c);
      if (vec) for (const d of vec.data) sink.append(d as arrow.Data);
    }
  }
  const columns = new Map<string, Column>();
  for (const [name, sink] of sinks) columns.set(name, sink.finish());
  return { numRows: total, columns };
}

export interface ParquetFileInfo {
  numRows: number;
  rowGroups: { rows: number; bytes: number }[];
  /** Top-level column names. */
  columns: string[];
}

/** Row count, row groups and column names, reading only the file's footer. */
export async function parquetFileInfo(path: string): Promise<ParquetFileInfo> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, "r");
  } catch (err) {
    if (isFileNotFound(err)) throw notFound(path, err);
    throw new LarderError("OFFLINE_STORE_ERROR", `cannot open ${path}: ${errMessage(err)}`, { path }, { cause: err });
  }
  try {
    const size = (await fh.stat()).size;
    if (size < 12) throw new Error(`only ${size} bytes`);
    const tail = new Uint8Array(8);
    await fh.read(tail, 0, 8, size - 8);
    const { start, length } = parquetFooterRange(tail, size);
    const footer = new Uint8Array(length);
    await fh.read(footer, 0, length, start);
    const parsed = parseParquetFooterSummary(footer);
    return { numRows: parsed.numRows, rowGroups: parsed.rowGroups, columns: parsed.columns };
  } catch (err) {
    throw corrupt(path, err);
  } finally {
    await fh.close();
  }
}

/** Number of row groups (reads only the footer). */
export async function parquetRowGroupCount(path: string): Promise<number> {
  return (await parquetFileInfo(path)).rowGroups.length;
}
