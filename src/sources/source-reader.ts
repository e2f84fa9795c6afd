/**
 * The sources port: what Larder needs from a kind of batch source. One implementation per kind,
 * each in its own folder (parquet/, csv/, postgres/); `read-source.ts` picks one by the source's
 * type. Every implementation runs the conformance suite in test/conformance/source-reader.ts.
 */
import type { BatchSourceDef } from "../definitions/definition-types.js";
import type { OfflineEngine } from "../offline/duckdb-engine.js";
import type { Row } from "../types.js";
import type { SourceColumnType } from "./source-column-type.js";

export interface SourceReadOptions {
  /** Relative source paths resolve from here. */
  repoDir: string;
  /** Epoch ms; rows with start <= event time < end are kept. A missing side is open. */
  range?: { start?: number; end?: number };
  /** Rows per yielded batch (at most), default 65536. */
  batchSize?: number;
  /**
   * Connection URL for Postgres sources whose definition has no `connection` of its own (the
   * caller resolves the config default and LARDER_SOURCE_POSTGRES_URL). Neither → INVALID_CONFIG.
   */
  postgresUrl?: string;
}

/** One column of a scan: its name in the source, its name in rows (after fieldMapping), its engine type. */
export interface ScanColumn {
  readonly source: string;
  readonly name: string;
  /** The engine's type name, as DESCRIBE gives it ("BIGINT", "TIMESTAMP WITH TIME ZONE", "VARCHAR"…). */
  readonly type: string;
}

/**
 * A source the offline engine reads itself: a FROM item of the engine whose rows are the source's
 * rows (unfiltered) with its columns under their source names.
 */
export interface SourceScan {
  readonly relation: string;
  readonly columns: readonly ScanColumn[];
  /**
   * "typed": values have the engine types of `columns` (Parquet). "text": every value is the
   * text of a cell (CSV), to be typed as the CSV reader types cells.
   */
  readonly cells: "typed" | "text";
  /** Expressions over `relation` giving each row's position in read order (file, then row). */
  readonly readOrder: readonly string[];
}

export interface SourceReader<S extends BatchSourceDef> {
  /**
   * Rows in batches (never empty, at most `batchSize`), only those in `range`, keyed by the
   * mapped column names; see read-source.ts for the values rows carry and the errors.
   */
  read(source: S, opts: SourceReadOptions): AsyncIterable<Row[]>;
  /** Column names rows will have (after fieldMapping), without reading the data. */
  columns(source: S, opts: SourceReadOptions): Promise<string[]>;
  /** Column types by source column name (before fieldMapping). */
  columnTypes(source: S, opts: SourceReadOptions): Promise<Map<string, SourceColumnType>>;
  /** About how many rows a read over `opts.range` yields, for progress displays; undefined when unknown. */
  estimateRows(source: S, opts: SourceReadOptions): Promise<number | undefined>;
  /**
   * The source as a relation of the offline engine, for sources it reads natively (files).
   * Undefined when it cannot (Postgres: rows come from `read` and are appended). Checks what
   * `columns` checks, with the same errors; errors in the data surface when the engine reads it.
   */
  scan?(engine: OfflineEngine, source: S, opts: SourceReadOptions): Promise<SourceScan | undefined>;
}
