/**
 * Arrow column chunks → JavaScript values, column-wise: each converter reads a chunk's typed arrays
 * directly (Arrow's per-cell `get` walks a visitor per value and is several times slower).
 */
import { type Data, DateUnit, makeVector, TimeUnit, Type } from "apache-arrow";
import { LarderError } from "../../errors.js";
import { isEpochMs, parseIsoMs } from "../../time.js";

/** Where a chunk's rows come from, for error messages. */
export interface ChunkContext {
  readonly source: string;
  /** Source column name. */
  readonly column: string;
  /** `data/a.parquet, row index 12` for the chunk's row `i`. */
  describeRow(i: number): string;
}

/**
 * Reads the values of rows `rows[from..to)` of one chunk into `out[0..to-from)` (a new array when
 * not given) and returns it. Passing the same `out` for every chunk saves that garbage.
 */
export type ColumnReader = (rows: Int32Array, from: number, to: number, out?: unknown[]) => unknown[];

const TWO_32 = 4294967296;
const MAX_SAFE_HI = 2097151; // hi word of 2^53 - 1
const MIN_SAFE_HI = -2097152;

/** An int64 column viewed as 32-bit halves, so values become numbers without BigInt arithmetic. */
function int64Halves(values: BigInt64Array | BigUint64Array): { lo: Uint32Array; hi: Int32Array | Uint32Array } {
  const lo = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
  const hi = values instanceof BigInt64Array ? new Int32Array(values.buffer, values.byteOffset, values.length * 2) : lo;
  return { lo, hi };
}

function isValid(data: Data, i: number): boolean {
  const bitmap = data.nullBitmap;
  if (data.nullCount === 0 || !bitmap || bitmap.length === 0) return true;
  const idx = data.offset + i;
  return ((bitmap[idx >> 3] as number) & (1 << (idx & 7))) !== 0;
}

/** The raw value of a chunk's row, for error messages only. */
function rawValue(data: Data, i: number): unknown {
  return makeVector(data).get(i);
}

function outOfRange(ctx: ChunkContext, value: string, i: number): LarderError {
  return new LarderError(
    "VALUE_OUT_OF_RANGE",
    `source ${JSON.stringify(ctx.source)}: column ${JSON.stringify(ctx.column)} value ${value} is beyond ±2^53 and cannot be a JavaScript number (${ctx.describeRow(i)})`,
    { source: ctx.source, column: ctx.column, value },
  );
}

/**
 * Converts an int64/uint64 chunk to numbers, throwing VALUE_OUT_OF_RANGE for a value that is not a
 * safe integer (|v| > 2^53 - 1, where distinct int64 values would become the same number).
 */
function int64Reader(data: Data, ctx: ChunkContext): ColumnReader {
  const values = data.values as BigInt64Array | BigUint64Array;
  const { lo, hi } = int64Halves(values);
  return (rows, from, to, out = new Array<unknown>(to - from)) => {
    for (let k = from; k < to; k++) {
      const i = rows[k] as number;
      const h = hi[2 * i + 1] as number;
      const l = lo[2 * i] as number;
      // For uint64 `hi` is unsigned, so only the first test can fire.
      if (h > MAX_SAFE_HI || h < MIN_SAFE_HI || (h === MIN_SAFE_HI && l === 0)) {
        if (!isValid(data, i)) {
          out[k - from] = null;
          continue;
        }
        throw outOfRange(ctx, String(values[i]), i);
      }
      out[k - from] = h * TWO_32 + l;
    }
    return out;
  };
}

function typedReader(values: ArrayLike<number>, stride = 1): ColumnReader {
  return (rows, from, to, out = new Array<unknown>(to - from)) => {
    for (let k = from; k < to; k++) out[k - from] = values[(rows[k] as number) * stride];
    return out;
  };
}

function boolReader(data: Data): ColumnReader {
  const bits = data.values as Uint8Array;
  const offset = data.offset;
  return (rows, from, to, out = new Array<unknown>(to - from)) => {
    for (let k = from; k < to; k++) {
      const idx = offset + (rows[k] as number);
      out[k - from] = ((bits[idx >> 3] as number) & (1 << (idx & 7))) !== 0;
    }
    return out;
  };
}

/** Decodes every string of a utf8/large-utf8 chunk (used for dictionaries and time parsing). */
function decodeStrings(data: Data): string[] {
  const n = data.length;
  const out = new Array<string>(n);
  const read = utf8Reader(data);
  const rows = identity(n);
  const decoded = read(rows, 0, n);
  for (let i = 0; i < n; i++) out[i] = (decoded[i] as string | undefined) ?? "";
  return out;
}

const STRING_CACHE_SLOTS = 4096;
const STRING_CACHE_MAX_BYTES = 48;
const STRING_CACHE_TRIAL = 8192;

/**
 * Decodes utf8 strings. Feature data is full of short repeated strings (plans, countries, codes)
 * that Parquet stores dictionary-encoded but arrow-rs hands over as plain utf8; a small cache keyed
 * by the bytes returns the already decoded string, saving the decode and the garbage. It switches
 * itself off when fewer than half the lookups of its first few thousand values hit.
 */
function utf8Reader(data: Data): ColumnReader {
  const bytes = data.values as Uint8Array;
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const offsets = data.valueOffsets as Int32Array | BigInt64Array;
  if (offsets instanceof BigInt64Array) {
    return (rows, from, to, out = new Array<unknown>(to - from)) => {
      for (let k = from; k < to; k++) {
        const i = rows[k] as number;
        out[k - from] = buf.toString("utf8", Number(offsets[i]), Number(offsets[i + 1]));
      }
      return out;
    };
  }
  const cacheStart = new Int32Array(STRING_CACHE_SLOTS).fill(-1);
  const cacheEnd = new Int32Array(STRING_CACHE_SLOTS);
  const cacheValue = new Array<string>(STRING_CACHE_SLOTS).fill("");
  let useCache = true;
  let lookups = 0;
  let hits = 0;
  return (rows, from, to, out = new Array<unknown>(to - from)) => {
    for (let k = from; k < to; k++) {
      const i = rows[k] as number;
      const s = offsets[i] as number;
      const e = offsets[i + 1] as number;
      const len = e - s;
      if (!useCache || len > STRING_CACHE_MAX_BYTES) {
        out[k - from] = buf.toString("utf8", s, e);
        continue;
      }
      let h = len;
      for (let j = s; j < e; j++) h = Math.imul(h ^ (bytes[j] as number), 16777619);
      const slot = (h ^ (h >>> 15)) & (STRING_CACHE_SLOTS - 1);
      const cs = cacheStart[slot] as number;
      let hit = cs >= 0 && (cacheEnd[slot] as number) - cs === len;
      for (let j = 0; hit && j < len; j++) hit = bytes[cs + j] === bytes[s + j];
      if (hit) {
        out[k - from] = cacheValue[slot];
        hits++;
      } else {
        const str = buf.toString("utf8", s, e);
        cacheStart[slot] = s;
        cacheEnd[slot] = e;
        cacheValue[slot] = str;
        out[k - from] = str;
      }
      if (++lookups === STRING_CACHE_TRIAL && hits < STRING_CACHE_TRIAL / 2) useCache = false;
    }
    return out;
  };
}

function decimalReader(data: Data, scale: number, bitWidth: number): ColumnReader {
  const words = data.values as Uint32Array;
  const stride = bitWidth / 32;
  const divisor = 10 ** scale;
  const signBit = 1n << BigInt(bitWidth - 1);
  const modulus = 1n << BigInt(bitWidth);
  return (rows, from, to, out = new Array<unknown>(to - from)) => {
    for (let k = from; k < to; k++) {
      const base = (rows[k] as number) * stride;
      let v = 0n;
      for (let w = stride - 1; w >= 0; w--) v = (v << 32n) | BigInt(words[base + w] as number);
      if (v & signBit) v -= modulus;
      out[k - from] = Number(v) / divisor;
    }
    return out;
  };
}

function dictionaryReader(data: Data, ctx: ChunkContext): ColumnReader {
  const dict = data.dictionary;
  if (!dict) return fallbackReader(data, ctx);
  // Convert the dictionary once, then look indices up.
  const dictValues: unknown[] = [];
  for (const chunk of dict.data) {
    const n = chunk.length;
    const read = columnReader(chunk, ctx);
    const vals = read(identity(n), 0, n);
    for (let i = 0; i < n; i++) dictValues.push(isValid(chunk, i) ? vals[i] : null);
  }
  const indices = data.values as ArrayLike<number | bigint>;
  return (rows, from, to, out = new Array<unknown>(to - from)) => {
    for (let k = from; k < to; k++) out[k - from] = dictValues[Number(indices[rows[k] as number])];
    return out;
  };
}

/**
 * Per-cell conversion through Arrow's own getters, for the rare types without a fast path (lists,
 * structs, maps, times, intervals, binary…). Nested values become plain arrays and objects, with
 * the same int64 rule as top-level columns.
 */
function fallbackReader(data: Data, ctx: ChunkContext): ColumnReader {
  const vector = makeVector(data);
  return (rows, from, to, out = new Array<unknown>(to - from)) => {
    for (let k = from; k < to; k++) {
      const i = rows[k] as number;
      out[k - from] = plainValue(vector.get(i), ctx, i);
    }
    return out;
  };
}

function plainValue(v: unknown, ctx: ChunkContext, i: number): unknown {
  if (typeof v === "bigint") {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw outOfRange(ctx, String(v), i);
    return Number(v);
  }
  if (v === null || typeof v !== "object" || v instanceof Date || (ArrayBuffer.isView(v) && !isBigIntArray(v))) return v;
  if (Array.isArray(v) || isBigIntArray(v) || (Symbol.iterator in v && typeof (v as { toArray?: unknown }).toArray === "function")) {
    return Array.from(v as Iterable<unknown>, (x) => plainValue(x, ctx, i));
  }
  // Struct rows and map rows: their own enumerable keys, converted.
  const json = typeof (v as { toJSON?: unknown }).toJSON === "function" ? (v as { toJSON(): unknown }).toJSON() : v;
  if (json instanceof Map) return Object.fromEntries([...json].map(([k, x]) => [String(k), plainValue(x, ctx, i)]));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(json as object)) out[k] = plainValue(x, ctx, i);
  return out;
}

function isBigIntArray(v: unknown): v is BigInt64Array | BigUint64Array {
  return v instanceof BigInt64Array || v instanceof BigUint64Array;
}

/** A reader returning Dates (null for NaN) for a time column whose epoch ms are computed. */
export function dateReader(ms: Float64Array): ColumnReader {
  return (rows, from, to, out = new Array<unknown>(to - from)) => {
    for (let k = from; k < to; k++) {
      const t = ms[rows[k] as number] as number;
      out[k - from] = t === t ? new Date(t) : null;
    }
    return out;
  };
}

/** Applies the validity bitmap: null rows become null. */
function withNulls(data: Data, read: ColumnReader): ColumnReader {
  if (data.nullCount === 0 || data.typeId === Type.Null) return read;
  return (rows, from, to, target) => {
    const out = read(rows, from, to, target);
    for (let k = from; k < to; k++) if (!isValid(data, rows[k] as number)) out[k - from] = null;
    return out;
  };
}

/**
 * A reader for one chunk of a non-time column: int64 → number (range-checked), other numbers →
 * number, strings and dictionaries → string, bool → boolean, timestamps and dates → Date.
 */
export function columnReader(data: Data, ctx: ChunkContext): ColumnReader {
  const type = data.type;
  switch (data.typeId) {
    case Type.Null:
      return (_rows, from, to, out = new Array<unknown>(to - from)) => out.fill(null, 0, to - from);
    case Type.Int:
      if ((type as unknown as { bitWidth: number }).bitWidth === 64) return withNulls(data, int64Reader(data, ctx));
      return withNulls(data, typedReader(data.values as ArrayLike<number>));
    case Type.Float:
      if (data.values instanceof Uint16Array) return withNulls(data, fallbackReader(data, ctx)); // float16
      return withNulls(data, typedReader(data.values as ArrayLike<number>));
    case Type.Bool:
      return withNulls(data, boolReader(data));
    case Type.Utf8:
    case Type.LargeUtf8:
      return withNulls(data, utf8Reader(data));
    case Type.Decimal: {
      const { scale, bitWidth } = type as unknown as { scale: number; bitWidth: number };
      return withNulls(data, decimalReader(data, scale, bitWidth));
    }
    case Type.Dictionary:
      return withNulls(data, dictionaryReader(data, ctx));
    case Type.Timestamp:
    case Type.Date:
      return dateReader(timeMs(data, ctx, true));
    default:
      return withNulls(data, fallbackReader(data, ctx));
  }
}

// ---- time columns --------------------------------------------------------------------------------

function floorDivInt64(values: BigInt64Array, unitsPerMs: number, out: Float64Array): void {
  // v = hi·2^32 + lo, and 2^32 = q·d + r, so floor(v / d) = hi·q + floor((hi·r + lo) / d), where
  // hi·r + lo stays far below 2^53: exact without BigInt.
  const { lo, hi } = int64Halves(values);
  const q = Math.floor(TWO_32 / unitsPerMs);
  const r = TWO_32 % unitsPerMs;
  for (let i = 0; i < values.length; i++) {
    const h = hi[2 * i + 1] as number;
    out[i] = h * q + Math.floor((h * r + (lo[2 * i] as number)) / unitsPerMs);
  }
}

function unitsPerMs(unit: TimeUnit): number {
  switch (unit) {
    case TimeUnit.SECOND:
      return 1 / 1000;
    case TimeUnit.MILLISECOND:
      return 1;
    case TimeUnit.MICROSECOND:
      return 1000;
    default:
      return 1_000_000;
  }
}

function invalidTimestamp(ctx: ChunkContext, data: Data, i: number): LarderError {
  const valid = isValid(data, i);
  const value = valid ? rawValue(data, i) : null;
  const shown = value === null ? "null" : JSON.stringify(typeof value === "bigint" ? String(value) : String(value));
  return new LarderError(
    "INVALID_TIMESTAMP",
    `source ${JSON.stringify(ctx.source)}: column ${JSON.stringify(ctx.column)} has ${valid ? `invalid timestamp ${shown}` : "a null event timestamp"} (${ctx.describeRow(i)}); expected a timestamp, a date, an ISO-8601 string or epoch milliseconds`,
    { source: ctx.source, column: ctx.column, value: value === null ? null : String(value) },
  );
}

/**
 * Epoch ms of every row of a time-like chunk (timestamp of any unit, date, ISO string, epoch-ms
 * number), floored to whole ms; NaN for null. Throws INVALID_TIMESTAMP for a value that is not a
 * time, and for null unless `allowNull`.
 */
export function timeMs(data: Data, ctx: ChunkContext, allowNull: boolean): Float64Array {
  const n = data.length;
  const out = new Float64Array(n);
  const type = data.type as unknown as { unit?: number; bitWidth?: number };
  switch (data.typeId) {
    case Type.Timestamp: {
      const per = unitsPerMs(type.unit as TimeUnit);
      if (per < 1) {
        const { lo, hi } = int64Halves(data.values as BigInt64Array);
        for (let i = 0; i < n; i++) out[i] = ((hi[2 * i + 1] as number) * TWO_32 + (lo[2 * i] as number)) * 1000;
      } else floorDivInt64(data.values as BigInt64Array, per, out);
      break;
    }
    case Type.Date:
      if (type.unit === DateUnit.DAY) {
        const days = data.values as Int32Array;
        for (let i = 0; i < n; i++) out[i] = (days[i] as number) * 86_400_000;
      } else floorDivInt64(data.values as BigInt64Array, 1, out);
      break;
    case Type.Int:
      if (type.bitWidth === 64) {
        // Values beyond ±2^53 lose precision here but are far outside Date's range, so the range
        // check below rejects them as timestamps.
        const { lo, hi } = int64Halves(data.values as BigInt64Array | BigUint64Array);
        for (let i = 0; i < n; i++) out[i] = (hi[2 * i + 1] as number) * TWO_32 + (lo[2 * i] as number);
      } else {
        const vals = data.values as ArrayLike<number>;
        for (let i = 0; i < n; i++) out[i] = vals[i] as number;
      }
      break;
    case Type.Float: {
      const vals = data.values as ArrayLike<number>;
      if (data.values instanceof Uint16Array) {
        const v = makeVector(data);
        for (let i = 0; i < n; i++) out[i] = Math.floor(Number(v.get(i)));
      } else for (let i = 0; i < n; i++) out[i] = Math.floor(vals[i] as number);
      break;
    }
    case Type.Utf8:
    case Type.LargeUtf8: {
      const strs = decodeStrings(data);
      for (let i = 0; i < n; i++) out[i] = parseIsoMs(strs[i] as string);
      break;
    }
    case Type.Dictionary: {
      const dict = data.dictionary;
      const dictMs: number[] = [];
      if (dict) {
        for (const chunk of dict.data) {
          const ms = timeMs(chunk, ctx, true);
          for (let i = 0; i < ms.length; i++) dictMs.push(ms[i] as number);
        }
      }
      const indices = data.values as ArrayLike<number | bigint>;
      for (let i = 0; i < n; i++) out[i] = dictMs[Number(indices[i])] ?? Number.NaN;
      break;
    }
    default:
      throw new LarderError(
        "INVALID_TIMESTAMP",
        `source ${JSON.stringify(ctx.source)}: column ${JSON.stringify(ctx.column)} has type ${String(data.type)}, which is not a timestamp (${ctx.describeRow(0)})`,
        { source: ctx.source, column: ctx.column },
      );
  }
  // Nulls become NaN; a NaN that is not a null is a value that could not be parsed.
  const checkNulls = data.nullCount > 0;
  for (let i = 0; i < n; i++) {
    if (checkNulls && !isValid(data, i)) {
      if (!allowNull) throw invalidTimestamp(ctx, data, i);
      out[i] = Number.NaN;
    } else if (!isEpochMs(out[i] as number)) {
      throw invalidTimestamp(ctx, data, i);
    }
  }
  return out;
}

const identityCache: { rows: Int32Array } = { rows: new Int32Array(0) };
/** 0, 1, …, n-1 (shared; callers must not modify it). */
export function identity(n: number): Int32Array {
  if (identityCache.rows.length < n) {
    const rows = new Int32Array(Math.max(n, identityCache.rows.length * 2));
    for (let i = 0; i < rows.length; i++) rows[i] = i;
    identityCache.rows = rows;
  }
  return identityCache.rows.subarray(0, n);
}
