/**
 * Parquet files on the offline engine (DuckDB): reading a file (or some of its columns) into a
 * ColumnarBatch or an Arrow table, writing a batch or an Arrow table atomically, and a file's row
 * groups from `parquet_metadata`.
 *
 * Types written for Larder value types: int32 → INT32, int64 → INT64, float32 → FLOAT, float64 →
 * DOUBLE, timestamp → TIMESTAMP(MICROS, isAdjustedToUTC=true) (DuckDB's TIMESTAMP WITH TIME
 * ZONE; values are whole milliseconds), string → UTF-8 BYTE_ARRAY, bool → BOOLEAN. Nulls are
 * preserved. Snappy by default, row groups of 1M rows, min/max statistics per row group.
 *
 * A write goes to `path.tmp-<random>`, is fsynced and renamed over `path`, so a reader never sees a
 * partial file under the final name; on error the temporary file is removed.
 *
 * Every call borrows a connection to one DuckDB instance shared by the process (or to the engine
 * passed in): opening an instance costs tens of milliseconds, a connection well under one, and
 * the push log and materialization read and write many small files. The shared instance closes
 * itself once idle for a second, so an idle server holds no DuckDB memory.
 */
import { randomBytes } from "node:crypto";
import { open, rename, stat, unlink } from "node:fs/promises";
import type { DuckDBConnection, DuckDBDataChunk, DuckDBType } from "@duckdb/node-api";
import * as arrow from "apache-arrow";
import { LarderError } from "../errors.js";
import { ColumnSink, columnToArrowData, float64ToInt32, float64ToInt64, int64ToFloat64 } from "./arrow-batch.js";
import { int64OutOfRange, normalizeValid, type Column, type ColumnarBatch } from "../data/columnar.js";
import { OfflineEngine, sqlIdent, sqlString, type OfflineEngineConfig } from "./duckdb-engine.js";

export { arrowTableToBatch, batchToArrowTable } from "./arrow-batch.js";

// ───────────────────────────── the engine ─────────────────────────────

const IDLE_CLOSE_MS = 1000;
let shared: { engine: Promise<OfflineEngine>; users: number; timer: NodeJS.Timeout | undefined } | undefined;

/**
 * A fresh connection of `engine`, or of the process's shared Parquet engine (opened with `config`
 * on first use); `release` closes it (and lets the shared engine close once idle).
 */
export async function acquireConnection(engine?: OfflineEngine, config?: OfflineEngineConfig): Promise<{ conn: DuckDBConnection; release: () => void }> {
  if (engine) {
    const conn = await engine.connect();
    return { conn, release: () => conn.closeSync() };
  }
  if (!shared) {
    // No external file cache: a source file rewritten in place within the same second could
    // otherwise be read from stale cached blocks by this long-lived instance.
    const engine = OfflineEngine.open(config ?? {}).then(async (e) => {
      await e.run("SET enable_external_file_cache = false");
      return e;
    });
    const opening = { engine, users: 0, timer: undefined };
    opening.engine.catch(() => (shared = shared === opening ? undefined : shared)); // the next call retries
    shared = opening;
  }
  const s = shared;
  s.users++;
  clearTimeout(s.timer);
  const done = (): void => {
    if (--s.users > 0) return;
    s.timer = setTimeout(() => {
      if (shared === s && s.users === 0) {
        shared = undefined;
        void s.engine.then(
          (e) => e.close(),
          () => undefined,
        );
      }
    }, IDLE_CLOSE_MS);
    s.timer.unref();
  };
  let conn: DuckDBConnection;
  try {
    conn = await (await s.engine).connect();
  } catch (err) {
    done();
    throw err;
  }
  let released = false;
  return {
    conn,
    release: () => {
      if (released) return;
      released = true;
      conn.closeSync();
      done();
    },
  };
}

async function withConnection<T>(engine: OfflineEngine | undefined, config: OfflineEngineConfig | undefined, fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const { conn, release } = await acquireConnection(engine, config);
  try {
    return await fn(conn);
  } finally {
    release();
  }
}

export type Bindings = typeof import("@duckdb/node-bindings");
let bindingsPromise: Promise<Bindings> | undefined;
/** DuckDB's C API (raw vector memory), loaded with the engine; a CommonJS module, hence `default`. */
export function bindings(): Promise<Bindings> {
  bindingsPromise ??= import("@duckdb/node-bindings").then((m) => (m as Bindings & { default?: Bindings }).default ?? m);
  return bindingsPromise;
}

let apiPromise: Promise<typeof import("@duckdb/node-api")> | undefined;
function api(): Promise<typeof import("@duckdb/node-api")> {
  apiPromise ??= import("@duckdb/node-api");
  return apiPromise;
}

/**
 * `read_parquet` of one file, with DuckDB's guesses off: a `key=value` directory in the path is
 * not a column (hive partitioning).
 */
export function readParquetRelation(path: string, options = ""): string {
  return `read_parquet(${sqlString(path)}, hive_partitioning = false${options ? `, ${options}` : ""})`;
}

// ───────────────────────────── errors ─────────────────────────────

/** An error's message; DuckDB's first line only (the rest quotes the SQL). */
export function errMessage(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0] as string;
}

/** True when `err` says a file does not exist (a LarderError from this module, or a raw ENOENT). */
export function isFileNotFound(err: unknown): boolean {
  if (err instanceof LarderError) return err.details["notFound"] === true;
  return typeof err === "object" && err !== null && (err as { code?: unknown }).code === "ENOENT";
}

function notFound(path: string, err: unknown): LarderError {
  return new LarderError("OFFLINE_STORE_ERROR", `Parquet file not found: ${path}`, { path, notFound: true }, { cause: err });
}

/** A DuckDB error while reading `path`: the file is damaged, unless DuckDB ran out of memory. */
function readError(path: string, err: unknown): LarderError {
  if (err instanceof LarderError) return err;
  const message = errMessage(err);
  if (/^(Out of Memory|Interrupt) Error/.test(message)) {
    return new LarderError("OFFLINE_STORE_ERROR", `cannot read ${path}: ${message}`, { path }, { cause: err });
  }
  return new LarderError("CORRUPT_PARQUET", `${path} is not a readable Parquet file: ${message}`, { path }, { cause: err });
}

/** Fails with notFound when `path` does not exist (DuckDB's own message is about glob patterns). */
async function checkExists(path: string): Promise<void> {
  try {
    await stat(path);
  } catch (err) {
    if (isFileNotFound(err)) throw notFound(path, err);
    throw new LarderError("OFFLINE_STORE_ERROR", `cannot read ${path}: ${errMessage(err)}`, { path }, { cause: err });
  }
}

// ───────────────────────────── reading ─────────────────────────────

export interface ReadParquetOptions {
  /** Only these columns, in this order. Unknown names → OFFLINE_STORE_ERROR. */
  columns?: string[];
  /** At most this many rows (the first ones, in file order). */
  limit?: number;
  /** Read on this engine instead of the shared one. */
  engine?: OfflineEngine;
  /** Configures the shared engine if this call opens it. */
  engineConfig?: OfflineEngineConfig;
}

const DAY_MS = 86_400_000;

/** How a DuckDB column is read: into a Larder value type, or (Arrow output) int64 kept exact. */
interface ColumnReader {
  append(b: Bindings, chunk: DuckDBDataChunk, c: number, n: number): void;
  /** The column as Arrow data (exact int64 for BIGINT/UBIGINT). */
  toArrow(): arrow.Data;
  /** The column as a Larder Column (int64 beyond ±2^53 → VALUE_OUT_OF_RANGE). */
  toColumn(): Column;
}

/** Validity bits of a result vector as one byte per row (1 = valid), or null when all are valid. */
export function readValidity(b: Bindings, vec: ReturnType<Bindings["data_chunk_get_vector"]>, n: number): Uint8Array | null {
  const bits = b.vector_get_validity(vec, Math.ceil(n / 64) * 8) as Uint8Array | null;
  if (!bits) return null;
  let all = true;
  const valid = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = ((bits[i >> 3] as number) >> (i & 7)) & 1;
    valid[i] = v;
    if (v === 0) all = false;
  }
  return all ? null : valid;
}

/** Numeric columns: chunks of raw values, converted when the column is complete. */
class NumericReader implements ColumnReader {
  private readonly parts: { data: Uint8Array; valid: Uint8Array | null; n: number }[] = [];
  private rows = 0;

  constructor(
    private readonly name: string,
    private readonly typeId: number,
    private readonly width: number,
    private readonly utc: boolean,
  ) {}

  append(b: Bindings, chunk: DuckDBDataChunk, c: number, n: number): void {
    const vec = b.data_chunk_get_vector(chunk.chunk, c);
    this.parts.push({ data: b.vector_get_data(vec, n * this.width).slice(), valid: readValidity(b, vec, n), n });
    this.rows += n;
  }

  private valid(): Uint8Array | null {
    if (this.parts.every((p) => p.valid === null)) return null;
    const valid = new Uint8Array(this.rows).fill(1);
    let pos = 0;
    for (const p of this.parts) {
      if (p.valid) valid.set(p.valid, pos);
      pos += p.n;
    }
    return valid;
  }

  /** The raw values of every chunk, concatenated (typed by `Ctor`). */
  private raw<A extends Float64Array | Float32Array | Int32Array | Int16Array | Int8Array | Uint32Array | Uint16Array | Uint8Array | BigInt64Array | BigUint64Array>(Ctor: {
    new (buffer: ArrayBuffer, byteOffset: number, length: number): A;
    new (length: number): A;
  }): A {
    const out = new Ctor(this.rows);
    const bytes = new Uint8Array(out.buffer);
    let pos = 0;
    for (const p of this.parts) {
      bytes.set(p.data, pos);
      pos += p.data.length;
    }
    return out;
  }

  /**
   * The column with 0 in `values` at every null row, as every other columnar batch holds it:
   * DuckDB leaves whatever its memory held under a null (1.4e-322, 140597805464, …), which would
   * make equal batches compare unequal and a null key look like some entity.
   */
  toColumn(): Column {
    const col = this.rawColumn();
    if (col.valid !== null && col.values instanceof Float64Array) {
      for (let i = 0; i < col.valid.length; i++) if (col.valid[i] === 0) col.values[i] = 0;
    }
    return col;
  }

  private rawColumn(): Column & { valid: Uint8Array | null } {
    const T = DuckDBTypeIds;
    const valid = this.valid();
    const values = new Float64Array(this.rows);
    const name = this.name;
    switch (this.typeId) {
      case T.TINYINT:
        values.set(this.raw(Int8Array));
        return { type: "int32", values, valid };
      case T.SMALLINT:
        values.set(this.raw(Int16Array));
        return { type: "int32", values, valid };
      case T.INTEGER:
        values.set(this.raw(Int32Array));
        return { type: "int32", values, valid };
      case T.UTINYINT:
        values.set(this.raw(Uint8Array));
        return { type: "int32", values, valid };
      case T.USMALLINT:
        values.set(this.raw(Uint16Array));
        return { type: "int32", values, valid };
      case T.UINTEGER:
        values.set(this.raw(Uint32Array));
        return { type: "int64", values, valid };
      case T.BIGINT:
      case T.UBIGINT:
        int64ToFloat64(this.raw(BigInt64Array), this.rows, values, 0, valid, 0, name, { unsigned: this.typeId === T.UBIGINT });
        return { type: "int64", values, valid };
      case T.FLOAT:
        values.set(this.raw(Float32Array));
        return { type: "float32", values, valid };
      case T.DOUBLE:
        values.set(this.raw(Float64Array));
        return { type: "float64", values, valid };
      case T.DATE: {
        const days = this.raw(Int32Array);
        for (let i = 0; i < this.rows; i++) values[i] = (days[i] as number) * DAY_MS;
        return { type: "timestamp", values, valid };
      }
      case T.TIMESTAMP_S:
        int64ToFloat64(this.raw(BigInt64Array), this.rows, values, 0, valid, 0, name, { mul: 1000 });
        return { type: "timestamp", values, valid };
      case T.TIMESTAMP_MS:
        int64ToFloat64(this.raw(BigInt64Array), this.rows, values, 0, valid, 0, name);
        return { type: "timestamp", values, valid };
      case T.TIMESTAMP_NS:
        int64ToFloat64(this.raw(BigInt64Array), this.rows, values, 0, valid, 0, name, { div: 1_000_000 });
        return { type: "timestamp", values, valid };
      default: // TIMESTAMP, TIMESTAMP_TZ: microseconds, floored to the millisecond
        int64ToFloat64(this.raw(BigInt64Array), this.rows, values, 0, valid, 0, name, { div: 1000 });
        return { type: "timestamp", values, valid };
    }
  }

  toArrow(): arrow.Data {
    const T = DuckDBTypeIds;
    if (this.typeId === T.BIGINT || this.typeId === T.UBIGINT) {
      const valid = this.valid();
      const type = this.typeId === T.BIGINT ? new arrow.Int64() : new arrow.Uint64();
      const data = this.typeId === T.BIGINT ? this.raw(BigInt64Array) : this.raw(BigUint64Array);
      const { bitmap, nullCount } = packBits(valid, this.rows);
      return arrow.makeData({ type, length: this.rows, nullCount, nullBitmap: bitmap, data: data as BigInt64Array });
    }
    const data = columnToArrowData(this.toColumn(), this.name);
    if (this.utc || data.typeId !== arrow.Type.Timestamp) return data;
    // a timestamp without a zone stays one
    return arrow.makeData({ type: new arrow.TimestampMillisecond(), length: data.length, nullCount: data.nullCount, nullBitmap: data.nullBitmap, data: data.values as BigInt64Array });
  }
}

function packBits(valid: Uint8Array | null, n: number): { bitmap: Uint8Array | undefined; nullCount: number } {
  if (valid === null) return { bitmap: undefined, nullCount: 0 };
  const bitmap = new Uint8Array(((n + 63) & ~63) >> 3);
  let nullCount = 0;
  for (let i = 0; i < n; i++) {
    if (valid[i] !== 0) bitmap[i >> 3]! |= 1 << (i & 7);
    else nullCount++;
  }
  return { bitmap, nullCount };
}

/** The strings of a VARCHAR vector (16-byte duckdb_string_t each), null where `valid` says so. */
export function varcharValues(b: Bindings, vec: ReturnType<Bindings["data_chunk_get_vector"]>, n: number, valid: Uint8Array | null): (string | null)[] {
  const out = new Array<string | null>(n);
  const data = b.vector_get_data(vec, n * 16);
  const buf = Buffer.from(data.buffer, data.byteOffset, n * 16);
  // Inline strings (up to 12 bytes) are gathered and decoded at once; when that text is ASCII,
  // byte offsets are character offsets and each string is a slice of it.
  const packed = Buffer.allocUnsafe(n * 12);
  const ends = new Int32Array(n + 1);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    const len = buf.readUInt32LE(i * 16);
    if ((valid === null || valid[i] !== 0) && len <= 12) {
      buf.copy(packed, pos, i * 16 + 4, i * 16 + 4 + len);
      pos += len;
    }
    ends[i + 1] = pos;
  }
  const text = packed.toString("utf8", 0, pos);
  const ascii = text.length === pos;
  for (let i = 0; i < n; i++) {
    if (valid !== null && valid[i] === 0) {
      out[i] = null;
      continue;
    }
    const off = i * 16;
    const len = buf.readUInt32LE(off);
    if (len > 12) out[i] = Buffer.from(b.get_data_from_pointer(data.buffer as ArrayBuffer, data.byteOffset + off + 8, len)).toString("utf8");
    else if (ascii) out[i] = text.slice(ends[i] as number, ends[i + 1] as number);
    else out[i] = packed.toString("utf8", ends[i] as number, ends[i + 1] as number);
  }
  return out;
}

/** VARCHAR and BOOLEAN columns, decoded from the vectors' memory (strings: 16-byte duckdb_string_t). */
class StringOrBoolReader implements ColumnReader {
  private readonly values: (string | boolean | null)[] = [];

  constructor(
    private readonly name: string,
    private readonly type: "string" | "bool",
  ) {}

  append(b: Bindings, chunk: DuckDBDataChunk, c: number, n: number): void {
    const vec = b.data_chunk_get_vector(chunk.chunk, c);
    const valid = readValidity(b, vec, n);
    const out = this.values;
    if (this.type === "bool") {
      const data = b.vector_get_data(vec, n);
      for (let i = 0; i < n; i++) out.push(valid !== null && valid[i] === 0 ? null : data[i] !== 0);
      return;
    }
    for (const v of varcharValues(b, vec, n, valid)) out.push(v);
  }

  toColumn(): Column {
    return this.type === "string" ? { type: "string", values: this.values as (string | null)[] } : { type: "bool", values: this.values as (boolean | null)[] };
  }

  toArrow(): arrow.Data {
    return columnToArrowData(this.toColumn(), this.name);
  }
}

/** What DuckDB converts to a JS value: decimals, huge ints, enums, UUIDs, nulls. */
class ValueReader implements ColumnReader {
  private readonly values: (string | number | null)[] = [];

  constructor(
    private readonly name: string,
    private readonly type: "string" | "float64" | "int64",
  ) {}

  append(_b: Bindings, chunk: DuckDBDataChunk, c: number, n: number): void {
    const vec = chunk.getColumnVector(c);
    for (let i = 0; i < n; i++) {
      const v: unknown = vec.getItem(i);
      if (v === null || v === undefined) this.values.push(null);
      else if (this.type === "string") this.values.push(typeof v === "string" ? v : String(v));
      else if (typeof v === "bigint") {
        if (this.type === "int64" && !Number.isSafeInteger(Number(v))) throw int64OutOfRange(this.name, v, this.values.length);
        this.values.push(Number(v));
      } else if (typeof v === "object" && "toDouble" in v && typeof v.toDouble === "function") this.values.push((v.toDouble as () => number)());
      else this.values.push(Number(v));
    }
  }

  toColumn(): Column {
    if (this.type === "string") return { type: "string", values: this.values as (string | null)[] };
    const values = new Float64Array(this.values.length);
    const valid = new Uint8Array(this.values.length);
    this.values.forEach((v, i) => {
      if (v !== null) {
        values[i] = v as number;
        valid[i] = 1;
      }
    });
    return { type: this.type, values, valid: normalizeValid(valid) };
  }

  toArrow(): arrow.Data {
    return columnToArrowData(this.toColumn(), this.name);
  }
}

/** DuckDB's type ids (a copy of its enum, so this module loads without loading DuckDB). */
/** DuckDB type ids (a copy of its enum, so modules using them load without loading DuckDB). */
export const DuckDBTypeIds = {
  BOOLEAN: 1,
  TINYINT: 2,
  SMALLINT: 3,
  INTEGER: 4,
  BIGINT: 5,
  UTINYINT: 6,
  USMALLINT: 7,
  UINTEGER: 8,
  UBIGINT: 9,
  FLOAT: 10,
  DOUBLE: 11,
  TIMESTAMP: 12,
  DATE: 13,
  HUGEINT: 16,
  VARCHAR: 17,
  DECIMAL: 19,
  TIMESTAMP_S: 20,
  TIMESTAMP_MS: 21,
  TIMESTAMP_NS: 22,
  ENUM: 23,
  UUID: 27,
  TIMESTAMP_TZ: 31,
  UHUGEINT: 32,
  SQLNULL: 36,
} as const;

const NUMERIC_WIDTH: Record<number, number> = {
  [DuckDBTypeIds.TINYINT]: 1,
  [DuckDBTypeIds.SMALLINT]: 2,
  [DuckDBTypeIds.INTEGER]: 4,
  [DuckDBTypeIds.BIGINT]: 8,
  [DuckDBTypeIds.UTINYINT]: 1,
  [DuckDBTypeIds.USMALLINT]: 2,
  [DuckDBTypeIds.UINTEGER]: 4,
  [DuckDBTypeIds.UBIGINT]: 8,
  [DuckDBTypeIds.FLOAT]: 4,
  [DuckDBTypeIds.DOUBLE]: 8,
  [DuckDBTypeIds.DATE]: 4,
  [DuckDBTypeIds.TIMESTAMP]: 8,
  [DuckDBTypeIds.TIMESTAMP_S]: 8,
  [DuckDBTypeIds.TIMESTAMP_MS]: 8,
  [DuckDBTypeIds.TIMESTAMP_NS]: 8,
  [DuckDBTypeIds.TIMESTAMP_TZ]: 8,
};

function readerFor(name: string, type: DuckDBType): ColumnReader {
  const T = DuckDBTypeIds;
  const id = type.typeId as number;
  const width = NUMERIC_WIDTH[id];
  if (width !== undefined) return new NumericReader(name, id, width, id === T.TIMESTAMP_TZ || id === T.DATE);
  switch (id) {
    case T.BOOLEAN:
      return new StringOrBoolReader(name, "bool");
    case T.VARCHAR:
      return new StringOrBoolReader(name, "string");
    case T.ENUM:
    case T.UUID:
    case T.SQLNULL:
      return new ValueReader(name, "string");
    case T.DECIMAL:
      return new ValueReader(name, "float64");
    case T.HUGEINT:
    case T.UHUGEINT:
      return new ValueReader(name, "int64");
    default:
      throw new LarderError("TYPE_MISMATCH", `column ${JSON.stringify(name)} has Parquet type ${String(type)}, which has no Larder value type (int32, int64, float32, float64, string, bool, timestamp)`, {
        column: name,
        parquetType: String(type),
      });
  }
}

/** Reads `path` (some columns, some rows) into one reader per column, in order. */
async function readColumns(path: string, opts: ReadParquetOptions): Promise<{ names: string[]; readers: ColumnReader[]; rows: number }> {
  await checkExists(path);
  const b = await bindings();
  const select = opts.columns ? opts.columns.map(sqlIdent).join(", ") : "*";
  const limit = opts.limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(opts.limit))}` : "";
  return withConnection(opts.engine, opts.engineConfig, async (conn) => {
    try {
      const result = await conn.stream(`SELECT ${select} FROM ${readParquetRelation(path)}${limit}`);
      const names = result.columnNames();
      const types = result.columnTypes();
      checkUniqueNames(path, names);
      const readers = names.map((n, c) => readerFor(n, types[c] as DuckDBType));
      let rows = 0;
      for (;;) {
        const chunk = await result.fetchChunk();
        if (chunk === null || chunk.rowCount === 0) break;
        const n = chunk.rowCount;
        for (let c = 0; c < readers.length; c++) (readers[c] as ColumnReader).append(b, chunk, c, n);
        rows += n;
      }
      return { names, readers, rows };
    } catch (err) {
      if (opts.columns && /^Binder Error/.test(errMessage(err))) await checkColumns(conn, path, opts.columns);
      throw readError(path, err);
    }
  });
}

function checkUniqueNames(path: string, names: string[]): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new LarderError("INVALID_ARGUMENT", `${path} has two columns named ${JSON.stringify(n)}`, { path, column: n });
    seen.add(n);
  }
}

/** Names an unknown requested column (after DuckDB refused the query). */
async function checkColumns(conn: DuckDBConnection, path: string, columns: string[]): Promise<void> {
  let have: string[];
  try {
    have = (await conn.runAndReadAll(`SELECT * FROM ${readParquetRelation(path)} LIMIT 0`)).columnNames();
  } catch {
    return;
  }
  for (const c of columns) {
    if (!have.includes(c)) throw new LarderError("OFFLINE_STORE_ERROR", `${path} has no column ${JSON.stringify(c)} (it has ${have.join(", ")})`, { path, column: c });
  }
}

/**
 * Reads a Parquet file (or some of its columns) into a ColumnarBatch: small and unsigned ints →
 * int32 (uint32 → int64), int64 → int64 (beyond ±(2^53 − 1) → VALUE_OUT_OF_RANGE naming the
 * column), float → float32, double and decimal → float64, timestamps of any unit and dates →
 * timestamp (UTC epoch ms, floored), strings/enums → string, booleans → bool; other types are
 * TYPE_MISMATCH naming the column. A missing file is OFFLINE_STORE_ERROR with `details.notFound`
 * (see `isFileNotFound`); a damaged file or one that is not Parquet is CORRUPT_PARQUET naming it.
 */
export async function readParquetBatch(path: string, opts: ReadParquetOptions = {}): Promise<ColumnarBatch> {
  const { names, readers, rows } = await readColumns(path, opts);
  const columns = new Map<string, Column>();
  names.forEach((n, c) => columns.set(n, (readers[c] as ColumnReader).toColumn()));
  return { numRows: rows, columns };
}

/**
 * Reads a Parquet file into an Arrow table: types as for `readParquetBatch`, except that int64
 * (and uint64) columns keep their exact values (Int64/Uint64) and a timestamp without a zone
 * stays one (Timestamp(ms) rather than Timestamp(ms, "UTC")). Errors as for `readParquetBatch`.
 */
export async function readParquetFile(path: string, opts: ReadParquetOptions = {}): Promise<arrow.Table> {
  const { names, readers, rows } = await readColumns(path, opts);
  const fields: arrow.Field[] = [];
  const children: arrow.Data[] = [];
  names.forEach((n, c) => {
    const data = (readers[c] as ColumnReader).toArrow();
    fields.push(new arrow.Field(n, data.type, true));
    children.push(data);
  });
  const schema = new arrow.Schema(fields);
  const struct = arrow.makeData({ type: new arrow.Struct(fields), length: rows, nullCount: 0, children });
  return new arrow.Table(schema, [new arrow.RecordBatch(schema, struct)]);
}

export interface ParquetFileInfo {
  numRows: number;
  rowGroups: { rows: number; bytes: number }[];
  /** Top-level column names. */
  columns: string[];
}

/** Row count, row groups (rows, uncompressed bytes) and column names, from the file's footer. */
export async function parquetFileInfo(path: string, opts: { engine?: OfflineEngine; engineConfig?: OfflineEngineConfig } = {}): Promise<ParquetFileInfo> {
  await checkExists(path);
  return withConnection(opts.engine, opts.engineConfig, async (conn) => {
    try {
      const file = sqlString(path);
      const groups = (await conn.runAndReadAll(`SELECT row_group_id, any_value(row_group_num_rows) AS rows, sum(total_uncompressed_size) AS bytes FROM parquet_metadata(${file}) GROUP BY row_group_id ORDER BY row_group_id`)).getRows();
      const columns = (await conn.runAndReadAll(`SELECT * FROM ${readParquetRelation(path)} LIMIT 0`)).columnNames();
      const rowGroups = groups.map((g) => ({ rows: Number(g[1]), bytes: Number(g[2]) }));
      return { numRows: rowGroups.reduce((s, g) => s + g.rows, 0), rowGroups, columns };
    } catch (err) {
      throw readError(path, err);
    }
  });
}

/** Number of row groups (reads only the footer). */
export async function parquetRowGroupCount(path: string): Promise<number> {
  return (await parquetFileInfo(path)).rowGroups.length;
}

// ───────────────────────────── writing ─────────────────────────────

export type ParquetCompression = "snappy" | "zstd" | "lz4" | "none";

export interface WriteParquetOptions {
  /** Default "snappy". */
  compression?: ParquetCompression;
  /** Rows per row group; default 1,000,000 (DuckDB rounds small sizes up to its 2,048-row vectors). */
  rowGroupSize?: number;
  /** fsync the file before the rename (default true: a renamed file is a complete file). */
  fsync?: boolean;
  /** Extra key/value metadata stored in the file footer. */
  metadata?: Record<string, string>;
  /** Write on this engine instead of the shared one. */
  engine?: OfflineEngine;
  /** Configures the shared engine if this call opens it. */
  engineConfig?: OfflineEngineConfig;
}

export const DEFAULT_ROW_GROUP_SIZE = 1_000_000;

const COMPRESSION: Record<ParquetCompression, string> = { snappy: "snappy", zstd: "zstd", lz4: "lz4_raw", none: "uncompressed" };

/** One column to write: its DuckDB type and how to fill rows [start, start + n) of a chunk's vector. */
interface WriteColumn {
  name: string;
  sqlType: string;
  duckType: (t: typeof import("@duckdb/node-api")) => DuckDBType;
  fill(b: Bindings, vec: ReturnType<Bindings["data_chunk_get_vector"]>, start: number, n: number): void;
}

const MS_EXACT_AS_US = 9_007_199_254_740; // |ms| up to here: ms × 1000 is exact in a double

/** Epoch ms (checked integers) as microseconds, exactly. */
function msToMicros(values: Float64Array, valid: Uint8Array | null, name: string): BigInt64Array {
  const ms = float64ToInt64(values, valid, name, "timestamp"); // checks every value
  let exact = true;
  const scaled = new Float64Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (Math.abs(v) > MS_EXACT_AS_US) exact = false;
    scaled[i] = v * 1000;
  }
  if (exact) return float64ToInt64(scaled, valid, name, "timestamp");
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = (ms[i] as bigint) * 1000n;
  return out;
}

/**
 * Fills a VARCHAR vector: strings of up to 12 UTF-8 bytes are written straight into the vector's
 * 16-byte entries (length, then the bytes inline) with one copy per chunk; longer ones go
 * through DuckDB, which keeps them in the vector's string heap.
 */
function fillStrings(b: Bindings, vec: ReturnType<Bindings["data_chunk_get_vector"]>, values: readonly (string | null)[], start: number, n: number): void {
  const entries = Buffer.alloc(n * 16);
  let nulls: Uint8Array | null = null;
  const long: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = values[start + i];
    if (v === null || v === undefined) {
      (nulls ??= new Uint8Array(n).fill(1))[i] = 0;
      continue;
    }
    if (v.length > 12 || Buffer.byteLength(v, "utf8") > 12) {
      long.push(i);
      continue;
    }
    entries.writeUInt32LE(entries.write(v, i * 16 + 4, 12, "utf8"), i * 16);
  }
  b.copy_data_to_vector(vec, 0, entries.buffer as ArrayBuffer, entries.byteOffset, entries.byteLength);
  for (const i of long) b.vector_assign_string_element(vec, i, values[start + i] as string);
  fillValidity(b, vec, nulls, 0, n);
}

function fillValidity(b: Bindings, vec: ReturnType<Bindings["data_chunk_get_vector"]>, valid: Uint8Array | null, start: number, n: number): void {
  if (valid === null) return;
  let any = false;
  for (let i = 0; i < n; i++) if (valid[start + i] === 0) any = true;
  if (!any) return;
  const bits = new Uint8Array(Math.ceil(n / 64) * 8);
  for (let i = 0; i < n; i++) if (valid[start + i] !== 0) bits[i >> 3]! |= 1 << (i & 7);
  b.vector_ensure_validity_writable(vec);
  b.copy_data_to_vector_validity(vec, 0, bits.buffer, 0, bits.byteLength);
}

function fixedColumn(name: string, sqlType: string, duckType: WriteColumn["duckType"], data: ArrayBufferView & { BYTES_PER_ELEMENT: number }, valid: Uint8Array | null): WriteColumn {
  const w = data.BYTES_PER_ELEMENT;
  return {
    name,
    sqlType,
    duckType,
    fill(b, vec, start, n) {
      b.copy_data_to_vector(vec, 0, data.buffer as ArrayBuffer, data.byteOffset + start * w, n * w);
      fillValidity(b, vec, valid, start, n);
    },
  };
}

/** A column of a ColumnarBatch to write (int32/int64/timestamp values are checked, naming it). */
function batchWriteColumn(name: string, col: Column, naiveTimestamp = false): WriteColumn {
  switch (col.type) {
    case "string": {
      const values = col.values;
      return {
        name,
        sqlType: "VARCHAR",
        duckType: (t) => t.VARCHAR,
        fill: (b, vec, start, n) => fillStrings(b, vec, values, start, n),
      };
    }
    case "bool": {
      const bytes = new Uint8Array(col.values.length);
      let valid: Uint8Array | null = null;
      col.values.forEach((v, i) => {
        if (v === true) bytes[i] = 1;
        else if (v === null || v === undefined) (valid ??= new Uint8Array(col.values.length).fill(1))[i] = 0;
      });
      return fixedColumn(name, "BOOLEAN", (t) => t.BOOLEAN, bytes, valid);
    }
    case "int32":
      return fixedColumn(name, "INTEGER", (t) => t.INTEGER, float64ToInt32(col.values, col.valid, name), col.valid);
    case "int64":
      return fixedColumn(name, "BIGINT", (t) => t.BIGINT, float64ToInt64(col.values, col.valid, name, "int64"), col.valid);
    case "float32":
      return fixedColumn(name, "FLOAT", (t) => t.FLOAT, new Float32Array(col.values), col.valid);
    case "float64":
      return fixedColumn(name, "DOUBLE", (t) => t.DOUBLE, col.values, col.valid);
    case "timestamp":
      return naiveTimestamp
        ? fixedColumn(name, "TIMESTAMP", (t) => t.TIMESTAMP, msToMicros(col.values, col.valid, name), col.valid)
        : fixedColumn(name, "TIMESTAMPTZ", (t) => t.TIMESTAMPTZ, msToMicros(col.values, col.valid, name), col.valid);
  }
}

/**
 * A column of an Arrow table to write: Int64/Uint64 exactly as they are, timestamps keeping
 * whether they have a zone, every other type through its Larder value type (see
 * `arrowTableToBatch`); a type with none is OFFLINE_STORE_ERROR naming the file and column.
 */
function arrowWriteColumn(path: string, name: string, vector: arrow.Vector, rows: number): WriteColumn {
  const type = vector.type as arrow.DataType;
  if (type.typeId === arrow.Type.Int && (type as arrow.Int).bitWidth === 64 && vector.data.every((d) => d.offset === 0)) {
    const signed = (type as arrow.Int).isSigned;
    const data = signed ? new BigInt64Array(rows) : new BigUint64Array(rows);
    const valid = new Uint8Array(rows).fill(1);
    let pos = 0;
    for (const d of vector.data) {
      if (data instanceof BigInt64Array) data.set((d.values as BigInt64Array).subarray(0, d.length), pos);
      else data.set((d.values as BigUint64Array).subarray(0, d.length), pos);
      for (let i = 0; i < d.length; i++) if (!d.getValid(i)) valid[pos + i] = 0;
      pos += d.length;
    }
    return signed ? fixedColumn(name, "BIGINT", (t) => t.BIGINT, data, normalizeValid(valid)) : fixedColumn(name, "UBIGINT", (t) => t.UBIGINT, data, normalizeValid(valid));
  }
  let col: Column;
  try {
    const sink = new ColumnSink(name, type, rows);
    for (const d of vector.data) sink.append(d as arrow.Data);
    col = sink.finish();
  } catch (err) {
    if (err instanceof LarderError && err.code === "TYPE_MISMATCH") {
      throw new LarderError("OFFLINE_STORE_ERROR", `cannot write Parquet file ${path}: ${err.message}`, { path, column: name }, { cause: err });
    }
    throw err;
  }
  const naive = type.typeId === arrow.Type.Timestamp && !(type as arrow.Timestamp).timezone;
  return batchWriteColumn(name, col, naive);
}

function tmpPathFor(path: string): string {
  return `${path}.tmp-${randomBytes(6).toString("hex")}`;
}

/**
 * Writes a table or batch to `path` atomically: to `path.tmp-<random>`, fsync, rename. On any
 * error the temporary file is removed and nothing appears under `path` (an existing file there is
 * untouched). Errors are OFFLINE_STORE_ERROR naming the file (value errors keep their codes and
 * name the column). Returns the row count and byte size.
 */
export async function writeParquetFile(path: string, data: arrow.Table | ColumnarBatch, opts: WriteParquetOptions = {}): Promise<{ rows: number; bytes: number }> {
  const rows = data instanceof arrow.Table ? data.numRows : data.numRows;
  const columns: WriteColumn[] = [];
  if (data instanceof arrow.Table) {
    data.schema.fields.forEach((f, c) => columns.push(arrowWriteColumn(path, f.name, data.getChildAt(c) as arrow.Vector, rows)));
  } else {
    for (const [name, col] of data.columns) {
      if (col.values.length !== rows) throw new LarderError("INTERNAL", `column ${JSON.stringify(name)} has ${col.values.length} rows, batch has ${rows}`);
      columns.push(batchWriteColumn(name, col));
    }
  }
  if (columns.length === 0) {
    throw new LarderError("OFFLINE_STORE_ERROR", `cannot write ${path}: a Parquet file needs at least one column`, { path });
  }
  checkUniqueNames(
    path,
    columns.map((c) => c.name),
  );
  const tmp = tmpPathFor(path);
  const [b, duck] = await Promise.all([bindings(), api()]);
  try {
    await withConnection(opts.engine, opts.engineConfig, async (conn) => {
      const table = sqlIdent(`larder_write_${randomBytes(6).toString("hex")}`);
      await conn.run(`CREATE TABLE ${table} (${columns.map((c) => `${sqlIdent(c.name)} ${c.sqlType}`).join(", ")})`);
      try {
        const appender = await conn.createAppender(table.slice(1, -1));
        try {
          const types = columns.map((c) => c.duckType(duck));
          const step = b.vector_size();
          for (let start = 0; start < rows; start += step) {
            const n = Math.min(step, rows - start);
            const chunk = duck.DuckDBDataChunk.create(types, n);
            columns.forEach((c, i) => c.fill(b, b.data_chunk_get_vector(chunk.chunk, i), start, n));
            appender.appendDataChunk(chunk);
          }
          appender.flushSync();
        } finally {
          appender.closeSync();
        }
        const meta = Object.entries(opts.metadata ?? {});
        const options = [
          "FORMAT parquet",
          `COMPRESSION ${COMPRESSION[opts.compression ?? "snappy"]}`,
          `ROW_GROUP_SIZE ${Math.max(1, Math.floor(opts.rowGroupSize ?? DEFAULT_ROW_GROUP_SIZE))}`,
          ...(meta.length > 0 ? [`KV_METADATA {${meta.map(([k, v]) => `${sqlString(k)}: ${sqlString(v)}`).join(", ")}}`] : []),
        ];
        await conn.run(`COPY ${table} TO ${sqlString(tmp)} (${options.join(", ")})`);
      } finally {
        await conn.run(`DROP TABLE IF EXISTS ${table}`);
      }
    });
    if (opts.fsync !== false) {
      const fh = await open(tmp, "r+");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    const bytes = (await stat(tmp)).size;
    await rename(tmp, path);
    return { rows, bytes };
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    if (err instanceof LarderError) throw err;
    throw new LarderError("OFFLINE_STORE_ERROR", `cannot write Parquet file ${path}: ${errMessage(err)}`, { path }, { cause: err });
  }
}

/** Writes any Arrow table (passthrough columns included). See writeParquetFile. */
export async function writeArrowTableToParquet(path: string, table: arrow.Table, opts: WriteParquetOptions = {}): Promise<{ rows: number; bytes: number }> {
  return writeParquetFile(path, table, opts);
}
