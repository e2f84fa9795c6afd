/**
 * Reads Parquet sources as row objects on the offline engine: DuckDB's read_parquet streams each
 * file in row order, and with a time range it skips the row groups whose event-time statistics
 * lie outside it (filter pushdown; groups holding null event times are still read, so the null is
 * reported whatever the range). This module maps DuckDB's values to the row rules of
 * ./read-source.ts, column-wise from the vectors' memory for the common types.
 */
import type { DuckDBConnection, DuckDBDataChunk, DuckDBType } from "@duckdb/node-api";
import { RecordBatchReader, TimeUnit, Type } from "apache-arrow";
import type { ParquetSourceDef } from "../../definitions/definition-types.js";
import { LarderError } from "../../errors.js";
import { sqlIdent, sqlString } from "../../offline/duckdb-engine.js";
import { DuckDBTypeIds, acquireConnection, type Bindings, bindings, errMessage, readParquetRelation, readValidity, varcharValues } from "../../offline/parquet-io.js";
import { isEpochMs, parseIsoMs } from "../../time.js";
import type { Row } from "../../types.js";
import { compileColumnsRowBuilder, planColumns, resolveBatchSize, resolveRange, type TimeRange } from "../column-plan.js";
import type { SourceReadOptions } from "../source-reader.js";
import type { SourceColumnKind, SourceColumnType } from "../source-column-type.js";
import { displayPath, resolveSourceFiles } from "../source-files.js";

const T = DuckDBTypeIds;

/** Fixed-width numbers: the typed array their vectors hold. */
const NUMBER_ARRAYS: Record<number, { new (buffer: ArrayBuffer, offset: number, length: number): ArrayLike<number>; BYTES_PER_ELEMENT: number }> = {
  [T.TINYINT]: Int8Array,
  [T.SMALLINT]: Int16Array,
  [T.INTEGER]: Int32Array,
  [T.UTINYINT]: Uint8Array,
  [T.USMALLINT]: Uint16Array,
  [T.UINTEGER]: Uint32Array,
  [T.FLOAT]: Float32Array,
  [T.DOUBLE]: Float64Array,
};

/** Timestamp types: units per millisecond of their int64 values. */
const TIMESTAMP_UNITS_PER_MS: Record<number, number> = { [T.TIMESTAMP_S]: 0.001, [T.TIMESTAMP_MS]: 1, [T.TIMESTAMP]: 1000, [T.TIMESTAMP_TZ]: 1000, [T.TIMESTAMP_NS]: 1_000_000 };

/** How the row-value checks and messages name a Parquet column's type (Arrow's names, as before). */
const DECLARED: Record<number, string> = {
  [T.BOOLEAN]: "Bool",
  [T.TINYINT]: "Int8",
  [T.SMALLINT]: "Int16",
  [T.INTEGER]: "Int32",
  [T.BIGINT]: "Int64",
  [T.UTINYINT]: "Uint8",
  [T.USMALLINT]: "Uint16",
  [T.UINTEGER]: "Uint32",
  [T.UBIGINT]: "Uint64",
  [T.FLOAT]: "Float32",
  [T.DOUBLE]: "Float64",
  [T.VARCHAR]: "Utf8",
};

function columnKind(id: number): SourceColumnKind {
  if (id === T.FLOAT || id === T.DOUBLE || id === T.DECIMAL) return "float";
  if (id === T.BOOLEAN) return "bool";
  if (id === T.VARCHAR || id === T.ENUM) return "string";
  if (id === T.DATE || TIMESTAMP_UNITS_PER_MS[id] !== undefined) return "timestamp";
  if (NUMBER_ARRAYS[id] !== undefined || id === T.BIGINT || id === T.UBIGINT || id === T.HUGEINT || id === T.UHUGEINT) return "int";
  return "any";
}

function corrupt(source: ParquetSourceDef, shown: string, reason: string, cause?: unknown): LarderError {
  return new LarderError("CORRUPT_PARQUET", `source ${JSON.stringify(source.name)}: ${shown} is not a valid Parquet file: ${reason}`, { source: source.name, file: shown }, { cause });
}

interface OpenedFile {
  readonly file: string;
  readonly shown: string;
  readonly names: string[];
  readonly types: DuckDBType[];
  /** Each column's DuckDB type id, or TIMESTAMP_S where only the embedded Arrow schema says so. */
  readonly typeIds: number[];
}

/**
 * Columns stored as plain INT64 whose embedded Arrow schema (ARROW:schema, written by arrow-rs)
 * says timestamp[s]: Parquet has no seconds unit, so only that schema knows they are times.
 */
async function secondTimestamps(conn: DuckDBConnection, file: string): Promise<Set<string>> {
  const [row] = (await conn.runAndReadAll(`SELECT value FROM parquet_kv_metadata(${sqlString(file)}) WHERE key = 'ARROW:schema'::BLOB`)).getRows();
  const out = new Set<string>();
  const blob = row?.[0] as { bytes?: Uint8Array } | undefined;
  if (!blob?.bytes) return out;
  try {
    const reader = RecordBatchReader.from(Buffer.from(Buffer.from(blob.bytes).toString("latin1"), "base64"));
    reader.open();
    for (const f of reader.schema.fields) {
      if (f.type.typeId === Type.Timestamp && (f.type as { unit?: TimeUnit }).unit === TimeUnit.SECOND) out.add(f.name);
    }
  } catch {
    // an unreadable hint: the columns read as their Parquet types say
  }
  return out;
}

/** The file's columns (reads the footer only); a file DuckDB cannot read is CORRUPT_PARQUET. */
async function openParquet(conn: DuckDBConnection, source: ParquetSourceDef, file: string, repoDir: string): Promise<OpenedFile> {
  const shown = displayPath(file, repoDir);
  try {
    const result = await conn.runAndReadAll(`SELECT * FROM ${readParquetRelation(file)} LIMIT 0`);
    const names = result.columnNames();
    const types = result.columnTypes();
    const seconds = await secondTimestamps(conn, file);
    const typeIds = types.map((t, c) => (t.typeId === T.BIGINT && seconds.has(names[c] as string) ? T.TIMESTAMP_S : (t.typeId as number)));
    return { file, shown, names, types, typeIds };
  } catch (err) {
    throw corrupt(source, shown, errMessage(err), err);
  }
}

async function withConnection<T>(fn: (conn: DuckDBConnection) => Promise<T>): Promise<T> {
  const { conn, release } = await acquireConnection();
  try {
    return await fn(conn);
  } finally {
    release();
  }
}

/** Column names rows will have (after fieldMapping), from the first file's schema. */
export async function parquetSourceColumns(source: ParquetSourceDef, opts: SourceReadOptions): Promise<string[]> {
  const files = await resolveSourceFiles(source.name, source.path, opts.repoDir, ".parquet");
  const opened = await withConnection((conn) => openParquet(conn, source, files[0] as string, opts.repoDir));
  return [...planColumns(source, opened.names, files.length > 1 ? opened.shown : null).outputNames];
}

/** Column types by source column name (before fieldMapping), from the first file's schema. */
export async function parquetSourceColumnTypes(source: ParquetSourceDef, opts: SourceReadOptions): Promise<Map<string, SourceColumnType>> {
  const files = await resolveSourceFiles(source.name, source.path, opts.repoDir, ".parquet");
  return withConnection(async (conn) => {
    const opened = await openParquet(conn, source, files[0] as string, opts.repoDir);
    const required = new Set((await conn.runAndReadAll(`SELECT name FROM parquet_schema(${sqlString(opened.file)}) WHERE repetition_type = 'REQUIRED'`)).getRows().map((r) => String(r[0])));
    return new Map(
      opened.names.map((name, c) => {
        const type = opened.types[c] as DuckDBType;
        const id = opened.typeIds[c] as number;
        return [name, { kind: columnKind(id), nullable: !required.has(name), declared: id === T.TIMESTAMP_S ? "Timestamp<SECOND>" : (DECLARED[id] ?? String(type)) }];
      }),
    );
  });
}

/** An ISO-8601 literal of epoch ms, or undefined beyond what a Date holds (the side is then open). */
function isoOf(ms: number): string | undefined {
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : undefined;
}

/**
 * A WHERE clause DuckDB can push into the row groups' statistics, for an event column of a
 * timestamp type that holds no nulls (a null must be read to be reported, and an `IS NULL OR …`
 * filter prunes nothing); "" otherwise. Rows are always filtered here too.
 */
async function rangeFilter(conn: DuckDBConnection, opened: OpenedFile, column: string, range: TimeRange): Promise<string> {
  if (!range.bounded) return "";
  const id = opened.types[opened.names.indexOf(column)]?.typeId as number;
  if (id !== T.TIMESTAMP && id !== T.TIMESTAMP_TZ) return "";
  const [nulls] = (await conn.runAndReadAll(`SELECT count(*) FILTER (WHERE stats_null_count IS NULL OR stats_null_count > 0) FROM parquet_metadata(${sqlString(opened.file)}) WHERE path_in_schema = ${sqlString(column)}`)).getRows();
  if (Number(nulls?.[0] ?? 1) !== 0) return "";
  const lit = (ms: number): string | undefined => {
    const iso = isoOf(ms);
    if (iso === undefined) return undefined;
    return id === T.TIMESTAMP_TZ ? `TIMESTAMPTZ ${sqlString(iso.replace("Z", "+00:00"))}` : `TIMESTAMP ${sqlString(iso.slice(0, -1))}`;
  };
  const ev = sqlIdent(column);
  const conds = [lit(range.start) && `${ev} >= ${lit(range.start)}`, lit(range.end) && `${ev} < ${lit(range.end)}`].filter(Boolean);
  return conds.length === 0 ? "" : ` WHERE ${conds.join(" AND ")}`;
}

/**
 * How many rows a read of the source will scan: the rows whose event time lies in the range for
 * timestamp-typed event columns (DuckDB answers from the statistics where it can), every row
 * otherwise.
 */
export async function parquetSourceRowCount(source: ParquetSourceDef, opts: SourceReadOptions): Promise<number> {
  const range = resolveRange(opts);
  const files = await resolveSourceFiles(source.name, source.path, opts.repoDir, ".parquet");
  return withConnection(async (conn) => {
    let rows = 0;
    for (const file of files) {
      const opened = await openParquet(conn, source, file, opts.repoDir);
      const filter = await rangeFilter(conn, opened, source.timestampField, range);
      const [count] = (await conn.runAndReadAll(`SELECT count(*) FROM ${readParquetRelation(file)}${filter}`)).getRows();
      rows += Number(count?.[0] ?? 0);
    }
    return rows;
  });
}

// ───────────────────────────── values ─────────────────────────────

type Vector = ReturnType<Bindings["data_chunk_get_vector"]>;

interface ChunkContext {
  readonly source: ParquetSourceDef;
  readonly opened: OpenedFile;
  readonly column: string;
  /** The file's row number of each chunk row. */
  readonly rowNumbers: Float64Array;
}

function describeRow(ctx: ChunkContext, i: number): string {
  return `${ctx.opened.shown}, row index ${ctx.rowNumbers[i] as number}`;
}

function outOfRange(ctx: ChunkContext, value: string, i: number): LarderError {
  const { source, column } = ctx;
  return new LarderError("VALUE_OUT_OF_RANGE", `source ${JSON.stringify(source.name)}: column ${JSON.stringify(column)} value ${value} is beyond ±2^53 and cannot be a JavaScript number (${describeRow(ctx, i)})`, {
    source: source.name,
    column,
    value,
  });
}

/** Raw int64 values of a vector. */
function int64s(b: Bindings, vec: Vector, n: number, unsigned: boolean): BigInt64Array | BigUint64Array {
  const data = b.vector_get_data(vec, n * 8).slice();
  return unsigned ? new BigUint64Array(data.buffer, 0, n) : new BigInt64Array(data.buffer, 0, n);
}

/** floor(v / per) of int64 values, exactly (values beyond ±2^53 µs lie far outside Date's range). */
function floorDiv(values: BigInt64Array, per: number, out: Float64Array): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as bigint;
    out[i] = per < 1 ? Number(v) / per : Number(v / BigInt(per) - (v % BigInt(per) < 0n ? 1n : 0n));
  }
}

function invalidTimestamp(ctx: ChunkContext, value: unknown, i: number): LarderError {
  const shown = value === null ? "null" : JSON.stringify(String(value));
  return new LarderError(
    "INVALID_TIMESTAMP",
    `source ${JSON.stringify(ctx.source.name)}: column ${JSON.stringify(ctx.column)} has ${value === null ? "a null event timestamp" : `invalid timestamp ${shown}`} (${describeRow(ctx, i)}); expected a timestamp, a date, an ISO-8601 string or epoch milliseconds`,
    { source: ctx.source.name, column: ctx.column, value: value === null ? null : String(value) },
  );
}

/**
 * Epoch ms of every row of a time-like column (timestamp of any unit, date, ISO string, epoch-ms
 * number), floored to whole ms; NaN for null. Throws INVALID_TIMESTAMP for a value that is not a
 * time, and for null unless `allowNull`.
 */
function timeMs(b: Bindings, chunk: DuckDBDataChunk, c: number, n: number, ctx: ChunkContext, allowNull: boolean): Float64Array {
  const vec = b.data_chunk_get_vector(chunk.chunk, c);
  const valid = readValidity(b, vec, n);
  const type = ctx.opened.types[c] as DuckDBType;
  const id = ctx.opened.typeIds[c] as number;
  const out = new Float64Array(n);
  let raw: ArrayLike<unknown> | null = null;
  const per = TIMESTAMP_UNITS_PER_MS[id];
  if (per !== undefined) floorDiv(int64s(b, vec, n, false) as BigInt64Array, per, out);
  else if (id === T.DATE) {
    const days = new Int32Array(b.vector_get_data(vec, n * 4).slice().buffer, 0, n);
    for (let i = 0; i < n; i++) out[i] = (days[i] as number) * 86_400_000;
  } else if (id === T.BIGINT || id === T.UBIGINT) {
    raw = int64s(b, vec, n, id === T.UBIGINT);
    for (let i = 0; i < n; i++) out[i] = Number((raw as BigInt64Array)[i]);
  } else if (NUMBER_ARRAYS[id] !== undefined) {
    const Ctor = NUMBER_ARRAYS[id];
    raw = new Ctor(b.vector_get_data(vec, n * Ctor.BYTES_PER_ELEMENT).slice().buffer, 0, n);
    for (let i = 0; i < n; i++) out[i] = Math.floor((raw as ArrayLike<number>)[i] as number);
  } else if (id === T.VARCHAR) {
    raw = varcharValues(b, vec, n, valid);
    for (let i = 0; i < n; i++) out[i] = raw[i] === null ? Number.NaN : parseIsoMs(raw[i] as string);
  } else {
    throw new LarderError("INVALID_TIMESTAMP", `source ${JSON.stringify(ctx.source.name)}: column ${JSON.stringify(ctx.column)} has type ${String(type)}, which is not a timestamp (${describeRow(ctx, 0)})`, {
      source: ctx.source.name,
      column: ctx.column,
    });
  }
  for (let i = 0; i < n; i++) {
    if (valid !== null && valid[i] === 0) {
      if (!allowNull) throw invalidTimestamp(ctx, null, i);
      out[i] = Number.NaN;
    } else if (!isEpochMs(out[i] as number)) {
      throw invalidTimestamp(ctx, raw ? raw[i] : out[i], i);
    }
  }
  return out;
}

function dates(ms: Float64Array): (Date | null)[] {
  return Array.from(ms, (t) => (t === t ? new Date(t) : null));
}

/** Nested values (lists, structs, maps) as plain arrays and objects, with the int64 rule. */
function plainValue(v: unknown, ctx: ChunkContext, i: number): unknown {
  if (typeof v === "bigint") {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw outOfRange(ctx, String(v), i);
    return Number(v);
  }
  if (v === null || typeof v !== "object" || v instanceof Date || ArrayBuffer.isView(v)) return v;
  if (Array.isArray(v)) return v.map((x) => plainValue(x, ctx, i));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = plainValue(x, ctx, i);
  return out;
}

/**
 * The values of one column of a chunk: int64 → number (range-checked), other numbers → number,
 * strings and enums → string, bool → boolean, timestamps and dates → Date, lists and structs →
 * plain arrays and objects.
 */
function columnValues(b: Bindings, api: typeof import("@duckdb/node-api"), chunk: DuckDBDataChunk, c: number, n: number, ctx: ChunkContext): unknown[] {
  const id = ctx.opened.typeIds[c] as number;
  if (id === T.DATE || TIMESTAMP_UNITS_PER_MS[id] !== undefined) return dates(timeMs(b, chunk, c, n, ctx, true));
  const vec = b.data_chunk_get_vector(chunk.chunk, c);
  const valid = readValidity(b, vec, n);
  if (id === T.VARCHAR) return varcharValues(b, vec, n, valid);
  const out = new Array<unknown>(n);
  if (id === T.BOOLEAN) {
    const data = b.vector_get_data(vec, n);
    for (let i = 0; i < n; i++) out[i] = valid !== null && valid[i] === 0 ? null : data[i] !== 0;
    return out;
  }
  if (id === T.BIGINT || id === T.UBIGINT) {
    const values = int64s(b, vec, n, id === T.UBIGINT);
    for (let i = 0; i < n; i++) {
      if (valid !== null && valid[i] === 0) out[i] = null;
      else {
        const v = Number(values[i]);
        if (!Number.isSafeInteger(v)) throw outOfRange(ctx, String(values[i]), i);
        out[i] = v;
      }
    }
    return out;
  }
  const Ctor = NUMBER_ARRAYS[id];
  if (Ctor !== undefined) {
    const values = new Ctor(b.vector_get_data(vec, n * Ctor.BYTES_PER_ELEMENT).slice().buffer, 0, n);
    for (let i = 0; i < n; i++) out[i] = valid !== null && valid[i] === 0 ? null : values[i];
    return out;
  }
  // Decimals, huge ints, enums, UUIDs, nested and other types: DuckDB's own JS conversion.
  const values = chunk.convertColumnValues(c, api.JSDuckDBValueConverter);
  for (let i = 0; i < n; i++) out[i] = plainValue(values[i] ?? null, ctx, i);
  return out;
}

// ───────────────────────────── reading ─────────────────────────────

/**
 * Yields rows of a Parquet source in batches of at most `batchSize`, in file order (files sorted by
 * path, rows in file order).
 */
export async function* readParquetSource(source: ParquetSourceDef, opts: SourceReadOptions): AsyncGenerator<Row[]> {
  const range = resolveRange(opts);
  const batchSize = resolveBatchSize(opts);
  const files = await resolveSourceFiles(source.name, source.path, opts.repoDir, ".parquet");
  const [b, api] = await Promise.all([bindings(), import("@duckdb/node-api")]);
  const { conn, release } = await acquireConnection();
  try {
    let batch: Row[] = [];
    for (const file of files) {
      const opened = await openParquet(conn, source, file, opts.repoDir);
      const plan = planColumns(source, opened.names, files.length > 1 ? opened.shown : null);
      const build = compileColumnsRowBuilder(plan.outputNames);
      const filter = await rangeFilter(conn, opened, source.timestampField, range);
      const select = `SELECT * FROM ${readParquetRelation(file, "file_row_number = true")}${filter}`;
      const result = await conn.stream(select).catch((err: unknown) => {
        throw corrupt(source, opened.shown, errMessage(err), err);
      });
      const width = opened.names.length;
      for (;;) {
        let chunk: DuckDBDataChunk | null;
        try {
          chunk = await result.fetchChunk();
        } catch (err) {
          throw corrupt(source, opened.shown, errMessage(err), err);
        }
        if (chunk === null || chunk.rowCount === 0) break;
        const n = chunk.rowCount;
        const rowNumbers = Float64Array.from(int64s(b, b.data_chunk_get_vector(chunk.chunk, width), n, false) as BigInt64Array, Number);
        const ctx = (c: number): ChunkContext => ({ source, opened, column: opened.names[c] as string, rowNumbers });
        const eventMs = timeMs(b, chunk, plan.eventIndex, n, ctx(plan.eventIndex), false);
        const kept: number[] = [];
        for (let i = 0; i < n; i++) {
          const t = eventMs[i] as number;
          if (t >= range.start && t < range.end) kept.push(i);
        }
        if (kept.length === 0) continue;
        const cols = opened.names.map((_, c) => {
          if (c === plan.eventIndex) return dates(eventMs);
          if (c === plan.createdIndex) return dates(timeMs(b, chunk as DuckDBDataChunk, c, n, ctx(c), true));
          return columnValues(b, api, chunk as DuckDBDataChunk, c, n, ctx(c));
        });
        for (const i of kept) {
          batch.push(build(cols, i));
          if (batch.length === batchSize) {
            yield batch;
            batch = [];
          }
        }
      }
    }
    if (batch.length > 0) yield batch;
  } finally {
    release();
  }
}
