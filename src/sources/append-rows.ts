/**
 * Offline push (Feast's `to: "offline"`): pushed rows are appended to the push source's batch
 * source, so the next `larder backfill` over their range reads them like any other row.
 *
 * - Postgres table → one INSERT per chunk of rows, all in one transaction (all rows or none).
 * - Parquet directory, or a glob whose last segment holds one `*` (`data/txns/*.parquet`) → a new
 *   Parquet file in that directory, written atomically (a temporary name readers skip, fsync,
 *   rename): `push-<time>-<random>.parquet`, or the glob's `*` replaced by that stem. Its columns
 *   take the types of the directory's first file (its first row group is read), or, in an empty
 *   directory, types inferred from the values (timestamps as timestamp[ms, UTC]).
 * - A single Parquet file, CSV files and Postgres queries cannot take appends safely:
 *   PUSH_OFFLINE_UNSUPPORTED naming the source.
 *
 * Rows come in the batch source's column names (before fieldMapping); the event and created time
 * columns are given as epoch ms.
 */
import { randomBytes } from "node:crypto";
import { rename, stat, unlink } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import * as arrow from "apache-arrow";
import pg from "pg";
import type { BatchSourceDef, ParquetSourceDef, PostgresSourceDef } from "../definitions/definition-types.js";
import { LarderError, isLarderError } from "../errors.js";
import { readParquetFile, writeParquetFile } from "../offline/parquet-io.js";
import { epochMsOf } from "../time.js";
import { isPostgresDataError, postgresDataError } from "./postgres/postgres-data-error.js";
import { quoteIdent, quoteQualifiedName } from "./postgres/postgres-source.js";
import { isGlob, resolveSourceFiles } from "./source-files.js";

export interface AppendRows {
  /** Source column names, in df order. */
  columns: string[];
  /** One array per column, equal lengths. Time columns hold epoch ms (or null for created). */
  values: unknown[][];
  /** The source's event and created time columns (values are epoch ms). */
  timeColumns: ReadonlySet<string>;
  rows: number;
}

export interface AppendContext {
  repoDir: string;
  postgresUrl: string | undefined;
}

/** Throws PUSH_OFFLINE_UNSUPPORTED unless `source` can take appended rows (checked before any write). */
export async function checkAppendable(source: BatchSourceDef, ctx: AppendContext): Promise<void> {
  if (source.type === "postgres") {
    if (source.table === null) throw unsupported(source, "it is a query, not a table");
    return;
  }
  if (source.type === "csv") throw unsupported(source, "it is a CSV source (only Postgres tables and Parquet directories or globs take offline pushes)");
  await parquetTarget(source, ctx);
}

/**
 * For appends that must happen exactly once across retries (idempotent pushes): a commit token is
 * handed to `beforeCommit` while the rows are written but not yet visible, so the caller can record
 * it durably first; after a crash `appendCommitted(token)` says whether they became visible.
 */
export interface AppendHooks {
  /**
   * Called once the rows are written and before they commit. Postgres: inside the transaction
   * (token `txid:<id>`); Parquet: before the final rename (token `file:<name>`). Throwing aborts
   * the append (nothing is committed).
   */
  beforeCommit?: (token: string) => Promise<void>;
}

/** Appends the rows to the batch source (see the module comment). */
export async function appendRows(source: BatchSourceDef, rows: AppendRows, ctx: AppendContext, hooks: AppendHooks = {}): Promise<{ target: string }> {
  if (source.type === "postgres") return appendPostgres(source, rows, ctx, hooks);
  if (source.type === "csv") throw unsupported(source, "it is a CSV source");
  return appendParquet(source, rows, ctx, hooks);
}

/**
 * Whether the append that handed out `token` (see AppendHooks) committed: true or false, or null
 * while that is not known yet (its Postgres transaction is still open).
 */
export async function appendCommitted(source: BatchSourceDef, token: string, ctx: AppendContext): Promise<boolean | null> {
  if (source.type === "postgres" && token.startsWith("txid:")) {
    const client = await connectAppend(source, ctx);
    try {
      // txid_status: "committed", "aborted", "in progress", or null when too old to know (then the
      // transaction ended long ago; a retry within the idempotency retention does not get here).
      const res = await client.query<{ status: string | null }>("SELECT txid_status($1::bigint) AS status", [token.slice(5)]);
      const status = res.rows[0]?.status ?? null;
      return status === "committed" ? true : status === "in progress" ? null : false;
    } catch (err) {
      throw pgError(source, err);
    } finally {
      await client.end().catch(() => {});
    }
  }
  if (source.type === "parquet" && token.startsWith("file:")) {
    const { dir } = await parquetTarget(source, ctx);
    return (await stat(join(dir, token.slice(5))).catch(() => null)) !== null;
  }
  return false;
}

function unsupported(source: BatchSourceDef, why: string): LarderError {
  return new LarderError("PUSH_OFFLINE_UNSUPPORTED", `source ${JSON.stringify(source.name)} cannot take offline pushes: ${why}`, { source: source.name });
}

// ───────────────────────────── Postgres ─────────────────────────────

/** Parameters per INSERT statement (Postgres allows 65,535). */
const MAX_PARAMS = 30_000;

/** A connected client for the source's database. */
async function connectAppend(source: PostgresSourceDef, ctx: AppendContext): Promise<pg.Client> {
  const url = source.connection ?? ctx.postgresUrl;
  if (!url)
    throw new LarderError("INVALID_CONFIG", `source ${JSON.stringify(source.name)}: no Postgres connection (set \`connection\` on the source, \`sources.postgres\` in larder.config.ts, or LARDER_SOURCE_POSTGRES_URL)`, {
      source: source.name,
    });
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  client.on("error", () => {});
  try {
    await client.connect();
  } catch (err) {
    throw pgError(source, err);
  }
  return client;
}

async function appendPostgres(source: PostgresSourceDef, rows: AppendRows, ctx: AppendContext, hooks: AppendHooks): Promise<{ target: string }> {
  if (source.table === null) throw unsupported(source, "it is a query, not a table");
  const table = quoteQualifiedName(source.table);
  const cols = rows.columns.map(quoteIdent).join(", ");
  const perStatement = Math.max(1, Math.floor(MAX_PARAMS / Math.max(1, rows.columns.length)));
  checkNoNul(source, rows);
  const insert = (start: number, end: number): Promise<unknown> => {
    const params: unknown[] = [];
    const tuples: string[] = [];
    for (let r = start; r < end; r++) {
      const slots: string[] = [];
      rows.columns.forEach((c, k) => {
        const v = rows.values[k]![r];
        params.push(rows.timeColumns.has(c) && typeof v === "number" ? new Date(v) : pgValue(v));
        slots.push(`$${params.length}`);
      });
      tuples.push(`(${slots.join(", ")})`);
    }
    return client.query(`INSERT INTO ${table} (${cols}) VALUES ${tuples.join(", ")}`, params);
  };
  const client = await connectAppend(source, ctx);
  try {
    await client.query("BEGIN");
    for (let start = 0; start < rows.rows; start += perStatement) await insert(start, Math.min(rows.rows, start + perStatement));
    if (hooks.beforeCommit) {
      // The transaction id lets a retry ask this database whether the append committed
      // (txid_status), whatever happened to the caller between COMMIT and its own record of it.
      const res = await client.query<{ txid: string }>("SELECT txid_current()::text AS txid");
      await hooks.beforeCommit(`txid:${res.rows[0]!.txid}`);
    }
    await client.query("COMMIT");
    return { target: source.table };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    const row = isPostgresDataError(err) ? await firstBadRow(client, rows.rows, insert) : null;
    throw pgError(source, err, row);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Rows the search for the refused row tries one by one (each under a savepoint); beyond, no row is named. */
const DIAGNOSE_ROWS = 5000;

/**
 * After a data error of a multi-row INSERT (Postgres names no row): the 1-based row that fails on
 * its own, found by inserting rows one at a time under savepoints in a transaction that is rolled
 * back; null when none fails alone (a duplicate inside the push) or there are too many rows.
 */
async function firstBadRow(client: pg.Client, n: number, insert: (start: number, end: number) => Promise<unknown>): Promise<number | null> {
  if (n > DIAGNOSE_ROWS) return null;
  try {
    await client.query("BEGIN");
    for (let r = 0; r < n; r++) {
      await client.query("SAVEPOINT larder_row");
      try {
        await insert(r, r + 1);
      } catch (err) {
        if (isPostgresDataError(err)) return r + 1;
        return null;
      }
      await client.query("RELEASE SAVEPOINT larder_row");
    }
    return null;
  } catch {
    return null;
  } finally {
    await client.query("ROLLBACK").catch(() => {});
  }
}

/** Postgres text cannot hold NUL (U+0000): refused before connecting, naming column and row. */
function checkNoNul(source: PostgresSourceDef, rows: AppendRows): void {
  rows.columns.forEach((c, k) => {
    const values = rows.values[k]!;
    for (let r = 0; r < rows.rows; r++) {
      const v = values[r];
      if (typeof v === "string" && v.includes("\u0000")) {
        throw new LarderError("INVALID_DATA", `offline push to source ${JSON.stringify(source.name)}: column ${JSON.stringify(c)} row ${r + 1} holds a NUL character (U+0000), which Postgres text cannot store`, {
          source: source.name,
          column: c,
          row: r + 1,
        });
      }
    }
  });
}

function pgValue(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === "object" && v !== null && !(v instanceof Date) && !Buffer.isBuffer(v)) return JSON.stringify(v);
  return v;
}

function pgError(source: PostgresSourceDef, err: unknown, row: number | null = null): LarderError {
  if (isLarderError(err)) return err;
  const e = err as { code?: string; message?: string; column?: string };
  const message = e?.message ?? String(err);
  const where = `source ${JSON.stringify(source.name)} (table ${JSON.stringify(source.table)})`;
  switch (e?.code) {
    case "42P01":
    case "3F000":
      return new LarderError("SOURCE_NOT_FOUND", `${where}: ${message}`, { source: source.name }, { cause: err });
    case "42703":
      return new LarderError("INVALID_ENTITIES", `offline push to ${where}: ${message}`, { source: source.name }, { cause: err });
  }
  const data = postgresDataError(err, `offline push to ${where}`, { source: source.name, ...(row !== null ? { row } : {}) });
  if (data !== null) return data;
  if (/ECONNREFUSED|ENOTFOUND|ETIMEDOUT|EHOSTUNREACH|timeout/i.test(`${e?.code ?? ""} ${message}`)) {
    return new LarderError("POSTGRES_UNAVAILABLE", `${where}: Postgres is unavailable: ${message}`, { source: source.name }, { cause: err });
  }
  return new LarderError("OFFLINE_STORE_ERROR", `offline push to ${where} failed: ${message}`, { source: source.name }, { cause: err });
}

// ───────────────────────────── Parquet ─────────────────────────────

/** The directory a push writes into and the new file's name pattern (`*` → a fresh stem). */
export async function parquetTarget(source: ParquetSourceDef, ctx: AppendContext): Promise<{ dir: string; pattern: string }> {
  const path = source.path;
  if (isGlob(path)) {
    const slash = path.lastIndexOf("/");
    const dirPart = slash === -1 ? "." : path.slice(0, slash);
    const last = path.slice(slash + 1);
    const stars = last.split("*").length - 1;
    if (isGlob(dirPart) || stars !== 1 || /[?[{]/.test(last)) {
      throw unsupported(source, `its glob ${JSON.stringify(path)} must have one "*" in its last segment only (e.g. "data/txns/*.parquet")`);
    }
    return { dir: resolve(ctx.repoDir, dirPart), pattern: last };
  }
  const abs = resolve(ctx.repoDir, path);
  const s = await stat(abs).catch(() => null);
  if (s === null) throw new LarderError("SOURCE_NOT_FOUND", `source ${JSON.stringify(source.name)}: no such file or directory: ${abs}`, { source: source.name, path: abs });
  if (!s.isDirectory()) throw unsupported(source, `it is a single Parquet file (${path}); use a directory or a glob such as "${dirname(path)}/*.parquet"`);
  return { dir: abs, pattern: "*.parquet" };
}

async function appendParquet(source: ParquetSourceDef, rows: AppendRows, ctx: AppendContext, hooks: AppendHooks): Promise<{ target: string }> {
  const { dir, pattern } = await parquetTarget(source, ctx);
  const schema = await existingSchema(source, ctx);
  const vectors: Record<string, arrow.Vector> = {};
  const given = new Map(rows.columns.map((c, k) => [c, rows.values[k]!]));
  if (schema) {
    for (const c of rows.columns) {
      if (!schema.fields.some((f) => f.name === c)) {
        throw new LarderError("INVALID_ENTITIES", `offline push to source ${JSON.stringify(source.name)}: its files have no column ${JSON.stringify(c)} (they have: ${schema.fields.map((f) => f.name).join(", ")})`, {
          source: source.name,
          column: c,
        });
      }
    }
    for (const f of schema.fields) {
      const values = given.get(f.name) ?? new Array<unknown>(rows.rows).fill(null);
      vectors[f.name] = vectorOf(source, f.name, writableType(f.type as arrow.DataType), values);
    }
  } else {
    for (const c of rows.columns) vectors[c] = vectorOf(source, c, inferType(given.get(c)!, rows.timeColumns.has(c)), given.get(c)!);
  }
  const table = new arrow.Table(vectors);
  const stem = `push-${new Date().toISOString().replace(/[-:.]/g, "")}-${randomBytes(4).toString("hex")}`;
  const name = pattern.replace("*", stem);
  const file = join(dir, name);
  if (hooks.beforeCommit === undefined) {
    await writeParquetFile(file, table);
    return { target: file };
  }
  // Written under a name readers skip, then renamed once the caller recorded the token.
  const pending = join(dir, `.pending-${name}`);
  await writeParquetFile(pending, table);
  try {
    await hooks.beforeCommit(`file:${name}`);
    await rename(pending, file);
  } catch (err) {
    await unlink(pending).catch(() => {});
    throw err;
  }
  return { target: file };
}

/** The column types of the source's first file (null: no file yet), as pushes and compaction write them. */
export async function existingSchema(source: ParquetSourceDef, ctx: AppendContext): Promise<arrow.Schema | null> {
  // A compaction may remove the first file between the listing and the read: list again then.
  for (let attempt = 0; ; attempt++) {
    let files: string[];
    try {
      files = await resolveSourceFiles(source.name, source.path, ctx.repoDir, ".parquet");
    } catch (err) {
      if (isLarderError(err) && err.code === "SOURCE_NOT_FOUND") return null;
      throw err;
    }
    const first = files[0];
    if (first === undefined) return null;
    try {
      return (await readParquetFile(first, { limit: 0 })).schema;
    } catch (err) {
      if (attempt < 3 && (await stat(first).catch(() => null)) === null) continue;
      throw err;
    }
  }
}

function inferType(values: readonly unknown[], isTime: boolean): arrow.DataType {
  if (isTime) return new arrow.TimestampMillisecond("UTC");
  const present = values.filter((v) => v !== null && v !== undefined);
  if (present.length > 0 && present.every((v) => typeof v === "boolean")) return new arrow.Bool();
  if (present.length > 0 && present.every((v) => typeof v === "number" && Number.isSafeInteger(v))) return new arrow.Int64();
  if (present.length > 0 && present.every((v) => typeof v === "number")) return new arrow.Float64();
  if (present.length > 0 && present.every((v) => v instanceof Date)) return new arrow.TimestampMillisecond("UTC");
  return new arrow.Utf8();
}

/**
 * The type a pushed column is written as, for a column the existing files hold as `type`: the same,
 * except dictionaries (their value type) and timestamps and dates (timestamp[ms] in the same zone);
 * source readers convert each file's types on their own, so files may differ in these.
 */
export function writableType(type: arrow.DataType): arrow.DataType {
  if (type.typeId === arrow.Type.Dictionary) return writableType((type as arrow.Dictionary).dictionary);
  if (type.typeId === arrow.Type.Timestamp) return new arrow.TimestampMillisecond((type as arrow.Timestamp).timezone);
  if (type.typeId === arrow.Type.Date) return new arrow.TimestampMillisecond("UTC");
  return type;
}

/** An Arrow vector of `type` from pushed values; a value that does not fit is TYPE_MISMATCH naming column and row. */
export function vectorOf(source: ParquetSourceDef, column: string, type: arrow.DataType, values: readonly unknown[]): arrow.Vector {
  const bad = (i: number, v: unknown): LarderError =>
    new LarderError("TYPE_MISMATCH", `offline push to source ${JSON.stringify(source.name)}: column ${JSON.stringify(column)} row ${i + 1} has ${typeof v} ${JSON.stringify(String(v)).slice(0, 60)}, but its files hold ${String(type)}`, {
      source: source.name,
      column,
      row: i + 1,
    });
  const out = values.map((v, i): unknown => {
    if (v === null || v === undefined) return null;
    switch (type.typeId) {
      case arrow.Type.Int:
        if ((type as arrow.Int).bitWidth === 64) {
          if (typeof v === "number" && Number.isSafeInteger(v)) return BigInt(v);
          if (typeof v === "bigint") return v;
          if (typeof v === "string" && /^-?\d+$/.test(v.trim())) return BigInt(v.trim());
          throw bad(i, v);
        }
        if (typeof v === "number" && Number.isInteger(v)) return v;
        throw bad(i, v);
      case arrow.Type.Float:
        if (typeof v === "number") return v;
        throw bad(i, v);
      case arrow.Type.Bool:
        if (typeof v === "boolean") return v;
        throw bad(i, v);
      case arrow.Type.Utf8:
      case arrow.Type.LargeUtf8:
        if (typeof v === "string") return v;
        if (typeof v === "number" || typeof v === "boolean") return String(v);
        throw bad(i, v);
      case arrow.Type.Timestamp:
        if (typeof v === "number" || typeof v === "string" || v instanceof Date) {
          const t = epochMsOf(v);
          if (!Number.isNaN(t)) return Math.floor(t);
        }
        throw bad(i, v);
      default:
        throw bad(i, v);
    }
  });
  return arrow.vectorFromArray(out, type);
}
