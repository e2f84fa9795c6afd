/**
 * Rows of a source the offline engine reads itself (Parquet, CSV), streamed out of the engine in
 * chunks as the row objects the source's own reader yields (read-source.ts): the input of a row
 * transform. About seven times less CPU than decoding Parquet in JavaScript.
 *
 * Only values converted exactly as the readers convert them are streamed: numbers, strings,
 * booleans and instants (floored to the millisecond), CSV cells typed by the CSV reader's own
 * typeCsvCell. Anything else — a column of another type, an integer beyond ±2^53, a null or
 * unparseable event time — throws NeedsRowPath, and the caller reads the source with its reader,
 * which gives the same rows or the reader's exact error.
 */
import type { BatchSourceDef } from "../definitions/definition-types.js";
import { sqlIdent, sqlString, type OfflineEngine } from "../offline/duckdb-engine.js";
import { compileColumnsRowBuilder } from "../sources/column-plan.js";
import { csvTimeMs, typeCsvCell } from "../sources/csv/csv-source.js";
import type { SourceScan } from "../sources/source-reader.js";
import type { Row } from "../types.js";
import { NEEDS_ROW_PATH } from "./native-select.js";

export class NeedsRowPath extends Error {
  constructor() {
    super(NEEDS_ROW_PATH);
  }
}

const SAFE = "9007199254740991";
const SMALL_INTS = new Set(["TINYINT", "SMALLINT", "INTEGER", "UTINYINT", "USMALLINT", "UINTEGER"]);
const BIG_INTS = new Set(["BIGINT", "UBIGINT", "HUGEINT"]);
const TIMES = new Set(["TIMESTAMP", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP WITH TIME ZONE", "DATE"]);

const toRowPath = (): never => {
  throw new NeedsRowPath();
};

/** The select item of a typed column, and whether its values become Dates (epoch ms in SQL). */
function typedItem(x: string, type: string): { sql: string; date: boolean } | undefined {
  const fail = `error(${sqlString(NEEDS_ROW_PATH)})`;
  if (SMALL_INTS.has(type) || type === "DOUBLE" || type === "VARCHAR" || type === "BOOLEAN") return { sql: x, date: false };
  if (type === "FLOAT") return { sql: `CAST(${x} AS DOUBLE)`, date: false };
  if (BIG_INTS.has(type)) return { sql: `CASE WHEN abs(CAST(${x} AS HUGEINT)) > ${SAFE} THEN ${fail} ELSE CAST(${x} AS DOUBLE) END`, date: false };
  if (TIMES.has(type)) return { sql: `CAST(epoch_ms(date_trunc('millisecond', CAST(${x} AS TIMESTAMP))) AS DOUBLE)`, date: true };
  return undefined;
}

/**
 * Streams the rows of `scan` with event time in [range.start, range.end), in read order, as
 * batches of row objects keyed by the mapped column names. Undefined when a column's type cannot
 * be streamed exactly (the caller uses the source's reader).
 */
export function engineRows(engine: OfflineEngine, scan: SourceScan, source: BatchSourceDef, range: { start?: number; end: number }): AsyncIterable<Row[]> | undefined {
  const mapped = (field: string) => source.fieldMapping[field] ?? field;
  const tsName = mapped(source.timestampField);
  const createdName = source.createdTimestampField === null ? null : mapped(source.createdTimestampField);
  const names = scan.columns.map((c) => c.name);
  const build = compileColumnsRowBuilder(names);
  const start = range.start ?? Number.NEGATIVE_INFINITY;
  const end = range.end;
  const tsIndex = names.indexOf(tsName);
  const createdIndex = createdName === null ? -1 : names.indexOf(createdName);
  if (tsIndex < 0 || (createdName !== null && createdIndex < 0)) return undefined;
  if (scan.cells === "text") {
    const items = scan.columns.map((c) => sqlIdent(c.source));
    return textRows(engine, `SELECT ${items.join(", ")} FROM ${scan.relation}`, build, tsIndex, createdIndex, start, end);
  }
  const items: string[] = [];
  const dates: boolean[] = [];
  for (const c of scan.columns) {
    const item = typedItem(sqlIdent(c.source), c.type);
    if (!item) return undefined;
    const isTime = c.name === tsName || c.name === createdName;
    if (isTime && !item.date) return undefined;
    items.push(item.sql);
    dates.push(item.date);
  }
  const ts = items[tsIndex]!;
  const bounds = [Number.isFinite(start) ? `${ts} >= ${start}` : "true", `${ts} < ${end}`].join(" AND ");
  // A null event time fails the read (the reader reports it, wherever the row is).
  items[tsIndex] = `CASE WHEN ${ts} IS NULL THEN error(${sqlString(NEEDS_ROW_PATH)}) ELSE ${ts} END`;
  const sql = `SELECT ${items.join(", ")} FROM ${scan.relation} WHERE ${ts} IS NULL OR (${bounds})`;
  return typedRows(engine, sql, build, dates);
}

async function* typedRows(engine: OfflineEngine, sql: string, build: (c: readonly unknown[][], k: number) => Row, dates: boolean[]): AsyncGenerator<Row[]> {
  for await (const chunk of engine.chunks(sql)) {
    const cols = chunk.getColumns() as unknown[][];
    for (let j = 0; j < cols.length; j++) {
      if (!dates[j]) continue;
      const col = cols[j]!;
      for (let i = 0; i < col.length; i++) if (col[i] !== null) col[i] = new Date(col[i] as number);
    }
    const rows = new Array<Row>(chunk.rowCount);
    for (let i = 0; i < rows.length; i++) rows[i] = build(cols, i);
    yield rows;
  }
}

async function* textRows(engine: OfflineEngine, sql: string, build: (c: readonly unknown[][], k: number) => Row, tsIndex: number, createdIndex: number, start: number, end: number): AsyncGenerator<Row[]> {
  for await (const chunk of engine.chunks(sql)) {
    const cells = chunk.getColumns() as (string | null)[][];
    const n = chunk.rowCount;
    const keep: number[] = [];
    const ts = cells[tsIndex]!;
    const out: unknown[][] = cells.map(() => []);
    for (let i = 0; i < n; i++) {
      const cell = ts[i];
      const ms = cell === null || cell === undefined ? Number.NaN : csvTimeMs(cell);
      if (Number.isNaN(ms)) toRowPath();
      if (ms >= start && ms < end) keep.push(i);
      else continue;
      for (let j = 0; j < cells.length; j++) {
        const s = cells[j]![i];
        let v: unknown;
        if (j === tsIndex) v = new Date(ms);
        else if (s === null || s === undefined) v = null;
        else if (j === createdIndex) {
          const c = csvTimeMs(s);
          if (Number.isNaN(c)) toRowPath();
          v = new Date(c);
        } else v = typeCsvCell(s, toRowPath);
        out[j]!.push(v);
      }
    }
    if (keep.length === 0) continue;
    const rows = new Array<Row>(keep.length);
    for (let k = 0; k < keep.length; k++) rows[k] = build(out, k);
    yield rows;
  }
}
