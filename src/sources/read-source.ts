/**
 * The one entry point for reading batch sources: picks the source's implementation of the sources
 * port (./source-reader.ts). Every reader yields plain row objects keyed by the mapped column
 * names, in batches, with the event and created times as Dates.
 *
 * Values rows carry:
 * - event time (`timestampField`) and created time: a Date, whatever the storage (Parquet/pg
 *   timestamp of any unit, date → UTC midnight, ISO-8601 string with zone-less = UTC, epoch-ms
 *   number), floored to the millisecond. A null or unparseable event time is INVALID_TIMESTAMP
 *   naming the source, column, value and row; a null created time stays null.
 * - Parquet: int64/uint64 → number (VALUE_OUT_OF_RANGE naming the column when not a safe integer),
 *   other integers, floats and decimals → number, utf8/dictionary → string, bool → boolean, other
 *   timestamp/date columns → Date, lists/structs → plain arrays/objects, null → null.
 * - CSV (header line required): empty → null; a number → number (an integer beyond ±(2^53-1) is
 *   VALUE_OUT_OF_RANGE); true/false (also True/TRUE/False/FALSE) → boolean; else the string.
 * - Postgres: int8/numeric → number (range-checked), timestamptz/timestamp/date → Date (no zone
 *   = UTC), json/jsonb → parsed, other types as pg returns them.
 *
 * Errors name the source: SOURCE_NOT_FOUND (no file matches, missing table), CORRUPT_PARQUET,
 * SOURCE_READ_ERROR (missing time column, unreadable CSV, failed query), POSTGRES_UNAVAILABLE,
 * INVALID_CONFIG (no Postgres URL).
 *
 * @example
 * for await (const rows of readSource(profiles, { repoDir, range: { start, end } })) {
 *   for (const row of rows) use(row.customer_id, row.updated_at as Date);
 * }
 */
import type { BatchSourceDef } from "../definitions/definition-types.js";
import type { OfflineEngine } from "../offline/duckdb-engine.js";
import type { Row } from "../types.js";
import { csvReader } from "./csv/csv-reader.js";
import { parquetReader } from "./parquet/parquet-reader.js";
import { postgresReader } from "./postgres/postgres-reader.js";
import type { SourceColumnType } from "./source-column-type.js";
import type { SourceReader, SourceReadOptions, SourceScan } from "./source-reader.js";

export type { Row } from "../types.js";
export type { SourceReadOptions, SourceScan } from "./source-reader.js";

type ReaderFor<T extends BatchSourceDef["type"]> = SourceReader<Extract<BatchSourceDef, { type: T }>>;

/** The implementation of each kind of batch source. */
const READERS: { [T in BatchSourceDef["type"]]: ReaderFor<T> } = {
  parquet: parquetReader,
  csv: csvReader,
  postgres: postgresReader,
};

/** The port implementation for `source`'s kind. */
export function readerOf<S extends BatchSourceDef>(source: S): SourceReader<S> {
  return READERS[source.type] as unknown as SourceReader<S>;
}

/**
 * Reads a batch source as batches of rows. Rows outside `range` are never yielded; batches hold
 * at most `batchSize` rows and are never empty. Memory stays bounded: Parquet is read one row
 * group at a time, CSV is streamed, Postgres is read through a cursor (closed also when the
 * consumer stops early).
 */
export function readSource(source: BatchSourceDef, opts: SourceReadOptions): AsyncIterable<Row[]> {
  return readerOf(source).read(source, opts);
}

/**
 * The column names rows of `source` will have (after fieldMapping), from the Parquet schema, the
 * CSV header or the query's result metadata, without reading the data. Also checks that the time
 * columns exist (SOURCE_READ_ERROR otherwise).
 */
export function sourceColumns(source: BatchSourceDef, opts: SourceReadOptions): Promise<string[]> {
  return readerOf(source).columns(source, opts);
}

/**
 * The source's column types by source column name (before fieldMapping): the first Parquet file's
 * schema, the Postgres result metadata (and a table's NOT NULL constraints), or for CSV the types
 * its first rows read as. Errors as for `sourceColumns`.
 */
export function sourceColumnTypes(source: BatchSourceDef, opts: SourceReadOptions): Promise<Map<string, SourceColumnType>> {
  return readerOf(source).columnTypes(source, opts);
}

/**
 * About how many rows a read of `source` over `opts.range` yields, for progress displays: Parquet
 * from its footers (the row groups the range may touch), a Postgres table from the planner's
 * statistics; undefined when unknown (CSV, queries, never-analysed tables) or not worth failing
 * over (errors are the read's to report).
 */
export async function estimateSourceRows(source: BatchSourceDef, opts: SourceReadOptions): Promise<number | undefined> {
  try {
    return await readerOf(source).estimateRows(source, opts);
  } catch {
    return undefined;
  }
}

/** The source as a relation of the offline engine, or undefined when the engine cannot read it itself. */
export async function scanSource(engine: OfflineEngine, source: BatchSourceDef, opts: SourceReadOptions): Promise<SourceScan | undefined> {
  const reader = readerOf(source);
  return reader.scan ? reader.scan(engine, source, opts) : undefined;
}
