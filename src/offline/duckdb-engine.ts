/**
 * The offline engine: an in-process DuckDB database under backfills, training sets and the other
 * offline computations (DESIGN.md, "Dependencies and why"). Multi-threaded, out-of-core, native
 * Parquet/CSV, ASOF joins and RANGE window frames.
 *
 * One engine is opened per offline operation and closed when it ends: opening an in-memory DuckDB
 * costs a few milliseconds, and nothing then outlives the operation (no temporary tables, no
 * memory held by an idle server). The module `@duckdb/node-api` is loaded on first use, so CLI
 * commands that never touch the offline store do not pay for loading it.
 *
 * Memory is bounded: DuckDB spills sorts, joins and windows past `memoryLimit` to `tempDirectory`.
 * Defaults (config `offline.memoryLimit`, `offline.threads`, `offline.tempDirectory`): half of the
 * machine's memory, every core, and a directory under the OS temporary directory.
 */
import { tmpdir, totalmem, availableParallelism } from "node:os";
import { join } from "node:path";
import type { DuckDBConnection, DuckDBDataChunk, DuckDBInstance } from "@duckdb/node-api";
import { LarderError } from "../errors.js";
import type { ValueType } from "../types.js";

export interface OfflineEngineConfig {
  /** DuckDB's memory_limit, e.g. "1GB" or "512MB" (default: half of the machine's memory). */
  memoryLimit?: string | undefined;
  /** Worker threads (default: every core). */
  threads?: number | undefined;
  /** Where DuckDB spills what does not fit in memory (default: `<os tmpdir>/larder-duckdb`). */
  tempDirectory?: string | undefined;
}

/** A memory limit DuckDB understands: a number and a unit (KB, MB, GB, TB, KiB, MiB, GiB, TiB). */
export const MEMORY_LIMIT_PATTERN = /^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i;

export function defaultMemoryLimit(): string {
  return `${Math.max(256, Math.floor(totalmem() / 2 / 1024 / 1024))}MB`;
}

export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

let modulePromise: Promise<typeof import("@duckdb/node-api")> | undefined;
function duckdb(): Promise<typeof import("@duckdb/node-api")> {
  modulePromise ??= import("@duckdb/node-api");
  return modulePromise;
}

/** The engine's column type for each value type (timestamps are UTC instants, TIMESTAMPTZ). */
export const DUCKDB_TYPES: Record<ValueType, string> = {
  int32: "INTEGER",
  int64: "BIGINT",
  float32: "FLOAT",
  float64: "DOUBLE",
  string: "VARCHAR",
  bool: "BOOLEAN",
  timestamp: "TIMESTAMPTZ",
};

/** A string literal for SQL. */
export function sqlString(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** A quoted identifier for SQL. */
export function sqlIdent(s: string): string {
  return `"${s.replaceAll('"', '""')}"`;
}

/** A list of files for read_parquet([...]). */
export function sqlFileList(files: readonly string[]): string {
  return `[${files.map(sqlString).join(", ")}]`;
}

export class OfflineEngine {
  private constructor(
    private readonly instance: DuckDBInstance,
    /** The connection; use it directly for appenders and streaming results. */
    readonly connection: DuckDBConnection,
  ) {}

  static async open(config: OfflineEngineConfig = {}): Promise<OfflineEngine> {
    const memoryLimit = config.memoryLimit ?? defaultMemoryLimit();
    if (!MEMORY_LIMIT_PATTERN.test(memoryLimit)) {
      throw new LarderError("INVALID_CONFIG", `offline.memoryLimit ${JSON.stringify(memoryLimit)}: expected a size such as "1GB" or "512MB"`, { path: "offline.memoryLimit" });
    }
    const threads = config.threads ?? defaultThreads();
    const { DuckDBInstance } = await duckdb();
    const instance = await DuckDBInstance.create(":memory:", {
      memory_limit: memoryLimit,
      threads: String(threads),
      temp_directory: config.tempDirectory ?? join(tmpdir(), "larder-duckdb"),
      // Parquet files are written in the order the query gives; the offline store relies on it.
      preserve_insertion_order: "true",
    });
    const connection = await instance.connect();
    // Zone-less timestamps are UTC everywhere in Larder, whatever the machine's zone.
    await connection.run("SET TimeZone = 'UTC'");
    return new OfflineEngine(instance, connection);
  }

  /**
   * Another connection to the same database, for work that must run while `connection` streams a
   * result: an appender flushing on the streaming connection ends that stream early (DuckDB
   * allows one active query per connection), silently. Close it when done.
   */
  async connect(): Promise<DuckDBConnection> {
    const connection = await this.instance.connect();
    await connection.run("SET TimeZone = 'UTC'");
    return connection;
  }

  /** Runs statements that return nothing of interest. */
  async run(sql: string): Promise<void> {
    await this.connection.run(sql);
  }

  /** A small result as row objects; BIGINT values that are safe integers come back as numbers. */
  async rows(sql: string): Promise<Record<string, unknown>[]> {
    const reader = await this.connection.runAndReadAll(sql);
    return reader.getRowObjects().map((row) => {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(row)) out[k] = typeof v === "bigint" && Number.isSafeInteger(Number(v)) ? Number(v) : v;
      return out;
    });
  }

  /** A large result, chunk by chunk (about 2,048 rows each), without materializing it. */
  async *chunks(sql: string): AsyncGenerator<DuckDBDataChunk> {
    const result = await this.connection.stream(sql);
    for (;;) {
      const chunk = await result.fetchChunk();
      if (chunk === null || chunk.rowCount === 0) return;
      yield chunk;
    }
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}

/** Runs `fn` with a fresh engine and closes it afterwards, also on failure. */
export async function withOfflineEngine<T>(config: OfflineEngineConfig, fn: (engine: OfflineEngine) => Promise<T>): Promise<T> {
  const engine = await OfflineEngine.open(config);
  try {
    return await fn(engine);
  } finally {
    engine.close();
  }
}
