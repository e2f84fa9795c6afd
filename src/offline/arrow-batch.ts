/**
 * ColumnarBatch ⇄ Arrow tables, column-wise from the underlying buffers (no per-cell BigInt or
 * boxing): what the training set, the HTTP entity tables, model training and the Parquet writer
 * (./parquet-io.ts, for Arrow tables of any origin) convert through.
 *
 * Arrow types written for Larder value types: int32 → Int32, int64 → Int64, float32 → Float32,
 * float64 → Float64, timestamp → Timestamp(ms, "UTC"), string → Utf8, bool → Bool; every field
 * nullable. Reading accepts every Arrow type with a Larder value type (see `arrowTableToBatch`).
 */
import * as arrow from "apache-arrow";
import { LarderError } from "../errors.js";
import type { ValueType } from "../types.js";
import { int64OutOfRange, normalizeValid, type Column, type ColumnarBatch, type NumericColumn } from "../data/columnar.js";

// ───────────────────────────── int64 ⇄ float64 without BigInt per cell ─────────────────────────────

const TWO32 = 4294967296;
/** Largest `hi` word of a safe integer (2^53 − 1 has hi = 2^21 − 1). */
const SAFE_HI = 2097151;

/**
 * Writes `src` as little-endian int64 into a new BigInt64Array. Every non-null value must be a safe
 * integer (else VALUE_OUT_OF_RANGE, or TYPE_MISMATCH for a fraction/NaN, naming the column).
 */
export function float64ToInt64(src: Float64Array, valid: Uint8Array | null, name: string, type: "int64" | "timestamp"): BigInt64Array {
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

export function float64ToInt32(src: Float64Array, valid: Uint8Array | null, name: string): Int32Array {
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
export function int64ToFloat64(
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
  return new LarderError("TYPE_MISMATCH", `column ${JSON.stringify(name)} has Arrow type ${String(type)}, which has no Larder value type (int32, int64, float32, float64, string, bool, timestamp)`, { column: name, arrowType: String(type) });
}

/** Accumulates Arrow chunks of one column into a preallocated Column. */
export class ColumnSink {
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
