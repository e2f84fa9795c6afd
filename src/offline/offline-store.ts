/**
 * The offline store: one Parquet dataset per feature view, with atomic, idempotent range writes.
 *
 * Layout under the root (`offline.path` in larder.config.ts):
 *
 *   <root>/<view>/manifest.json        the committed state (the only thing readers trust)
 *   <root>/<view>/data/<uuid>.parquet  data files; only those the manifest lists are part of the view
 *   <root>/<view>/.lock                held by the one writer of the view (pid, host, token)
 *
 * The manifest lists the view's columns (name, value type, role) and its segments: disjoint
 * event-time ranges [start, end) (epoch ms), each with the files holding the rows whose event
 * timestamp falls in it, and per file its row count and min/max event timestamp. A segment with no
 * files records that the range was written and had no rows.
 *
 * Writes. `beginWrite(view, {start, end}, columns)` takes the view's lock; each `writeChunk` becomes
 * one Parquet file, and so does each `writeQuery` (a query's rows written by the offline engine,
 * DuckDB's COPY, never passing through JavaScript: how backfills write); `commit()` atomically replaces every row with event_ts in [start, end): old
 * segments overlapping the range are trimmed (files entirely inside are dropped, files straddling
 * a bound are rewritten with only their rows outside the range, in their original order), the new
 * manifest is written to a temporary file, fsynced and renamed over manifest.json, and only then
 * are the superseded files deleted. Re-running a range with the same data gives the same rows.
 * `abort()` removes what the write wrote and leaves the manifest untouched.
 *
 * Schema changes: if the column specs (names, types, roles; order aside) differ from the committed
 * ones, the commit replaces ALL segments with the new one — old data under a different schema is
 * invalid, so a backfill after a schema change must cover every range it needs again.
 *
 * Crashes. A writer that dies before commit leaves the manifest as it was; its files under data/
 * are orphans that readers never see, deleted by the next writer of the view as soon as it holds the
 * lock (only a lock holder writes under data/, so every unlisted file there is then dead). Its lock
 * is broken by the next writer when the recorded pid is dead (on the same host; a lock from another
 * host is never broken automatically — delete `.lock` by hand; nor is one whose pid was reused by
 * a live process). A write left neither committed nor aborted holds the lock until its process
 * exits: always `abort()` on failure.
 *
 * Readers take no lock: `snapshot(view)` reads the manifest once and lists only committed files.
 * A file of an old snapshot can be deleted by a later commit while a reader still holds that
 * snapshot; `readFile` then throws OFFLINE_STORE_ERROR with `details.notFound === true`
 * (see `isSnapshotGone`). Mixing files of two snapshots would be inconsistent, so a reader must then
 * restart from a fresh snapshot: `withSnapshot(view, fn)` does exactly that (once).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { link, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, unlink, writeFile } from "node:fs/promises";
import { LarderError } from "../errors.js";
import { VALUE_TYPES, type ValueType } from "../types.js";
import { concatBatches, emptyBatch, filterRows, selectColumns, type ColumnarBatch, type NumericColumn } from "../data/columnar.js";
import { DUCKDB_TYPES, sqlIdent, sqlString, type OfflineEngine, type OfflineEngineConfig } from "./duckdb-engine.js";
import { isFileNotFound, readParquetBatch, writeParquetFile, type WriteParquetOptions } from "./parquet-io.js";

export type OfflineColumnRole = "key" | "event_ts" | "created_ts" | "feature";
export interface OfflineColumnSpec {
  name: string;
  type: ValueType;
  role: OfflineColumnRole;
}
export interface OfflineFile {
  /** Absolute path. */
  file: string;
  rows: number;
  /** Smallest and largest event timestamp in the file (epoch ms). */
  minTs: number;
  maxTs: number;
}
export interface OfflineSegment {
  start: number;
  end: number;
  files: OfflineFile[];
}
export interface ViewSnapshot {
  view: string;
  columns: OfflineColumnSpec[];
  /** Sorted by start; ranges are disjoint. */
  segments: OfflineSegment[];
  /** Increases by one with every commit of the view (always set by `snapshot`). */
  version?: number;
}
export interface OfflineWrite {
  /**
   * Writes one chunk as one Parquet file (empty chunks are ignored). The chunk must have exactly
   * the spec columns with their types, be sorted by (keys, event_ts, created_ts), and have every
   * event_ts non-null and inside [start, end); otherwise OFFLINE_STORE_ERROR and nothing is written.
   */
  writeChunk(batch: ColumnarBatch): Promise<void>;
  /**
   * Writes the rows of a query as one Parquet file, written by the offline engine (DuckDB's
   * `COPY … TO`): the rows never pass through JavaScript. `select` must yield every spec column
   * (others are dropped; values are cast to the spec types) in the order the file must have:
   * sorted by (keys, event_ts, created_ts). Every event_ts must be non-null and inside
   * [start, end), else OFFLINE_STORE_ERROR and nothing is written. An empty result writes nothing.
   * @example await write.writeQuery(engine, `SELECT * FROM staged ORDER BY customer_id, event_timestamp`);
   */
  writeQuery(engine: OfflineEngine, select: string): Promise<{ rows: number }>;
  /** Atomically makes the written chunks the view's rows for [start, end); releases the lock. */
  commit(): Promise<{ rows: number; files: number }>;
  /** Removes what this write wrote; the manifest is untouched; releases the lock. */
  abort(): Promise<void>;
}
export interface OfflineStoreOptions {
  /** How long beginWrite waits for another writer of the same view (default 30 min). */
  lockTimeoutMs?: number;
  /** Parquet writer options for data files. */
  parquet?: WriteParquetOptions;
  /**
   * Files under data/ not in the manifest and older than this are deleted by commits (default 1 h);
   * the next writer of the view deletes them regardless of age when it takes the lock.
   */
  orphanAgeMs?: number;
  /** The offline engine's memory, threads and spill directory (config `offline.*`). */
  engine?: OfflineEngineConfig;
}

interface ManifestFile {
  file: string; // name under data/
  rows: number;
  minTs: number;
  maxTs: number;
}
interface ManifestSegment {
  start: number;
  end: number;
  files: ManifestFile[];
}
interface Manifest {
  format: 1;
  view: string;
  version: number;
  updatedAt: string;
  columns: OfflineColumnSpec[];
  segments: ManifestSegment[];
}

const MANIFEST = "manifest.json";
const LOCK = ".lock";
const DATA = "data";
const HOUR_MS = 3_600_000;
const ROLES: readonly OfflineColumnRole[] = ["key", "event_ts", "created_ts", "feature"];
const VIEW_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.\-]*$/;

function storeError(message: string, details: Record<string, unknown> = {}, cause?: unknown): LarderError {
  return new LarderError("OFFLINE_STORE_ERROR", message, details, cause === undefined ? undefined : { cause });
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** True when `err` is the "file of an old snapshot is gone" error: re-snapshot and restart. */
export function isSnapshotGone(err: unknown): boolean {
  return err instanceof LarderError && err.code === "OFFLINE_STORE_ERROR" && err.details["notFound"] === true;
}

function checkViewName(view: string): void {
  if (typeof view !== "string" || !VIEW_NAME_RE.test(view) || view === "." || view === "..") {
    throw storeError(`invalid feature view name for the offline store: ${JSON.stringify(view)} (letters, digits, _ . - only)`, { view });
  }
}

function checkRange(view: string, range: { start: number; end: number }): void {
  const { start, end } = range ?? ({} as { start: number; end: number });
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || !(start < end)) {
    throw storeError(`view ${JSON.stringify(view)}: write range must be integer epoch ms with start < end, got [${String(start)}, ${String(end)})`, { view });
  }
}

function checkColumns(view: string, columns: OfflineColumnSpec[]): void {
  if (!Array.isArray(columns) || columns.length === 0) throw storeError(`view ${JSON.stringify(view)}: no column specs`, { view });
  const seen = new Set<string>();
  let eventTs = 0;
  let createdTs = 0;
  for (const c of columns) {
    if (!c || typeof c.name !== "string" || c.name === "") throw storeError(`view ${JSON.stringify(view)}: a column spec has no name`, { view });
    if (seen.has(c.name)) throw storeError(`view ${JSON.stringify(view)}: column ${JSON.stringify(c.name)} is listed twice`, { view, column: c.name });
    seen.add(c.name);
    if (!(VALUE_TYPES as readonly string[]).includes(c.type)) throw storeError(`view ${JSON.stringify(view)}: column ${JSON.stringify(c.name)} has unknown type ${JSON.stringify(c.type)}`, { view, column: c.name });
    if (!ROLES.includes(c.role)) throw storeError(`view ${JSON.stringify(view)}: column ${JSON.stringify(c.name)} has unknown role ${JSON.stringify(c.role)}`, { view, column: c.name });
    if (c.role === "event_ts" || c.role === "created_ts") {
      if (c.type !== "timestamp") throw storeError(`view ${JSON.stringify(view)}: ${c.role} column ${JSON.stringify(c.name)} must have type timestamp, not ${c.type}`, { view, column: c.name });
      if (c.role === "event_ts") eventTs++;
      else createdTs++;
    }
  }
  if (eventTs !== 1) throw storeError(`view ${JSON.stringify(view)}: exactly one column must have role event_ts (found ${eventTs})`, { view });
  if (createdTs > 1) throw storeError(`view ${JSON.stringify(view)}: at most one column may have role created_ts (found ${createdTs})`, { view });
}

function sameSchema(a: OfflineColumnSpec[], b: OfflineColumnSpec[]): boolean {
  if (a.length !== b.length) return false;
  const key = (c: OfflineColumnSpec) => `${c.name}\u0000${c.type}\u0000${c.role}`;
  const sa = a.map(key).sort();
  const sb = b.map(key).sort();
  return sa.every((v, i) => v === sb[i]);
}

function isPidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === "EPERM";
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface LockInfo {
  pid: number;
  host: string;
  token: string;
  since: string;
}

/** A view's writer lock: `<root>/<view>/.lock`, created with O_EXCL. */
class ViewLock {
  private constructor(
    readonly path: string,
    readonly token: string,
  ) {}

  static async acquire(path: string, view: string, timeoutMs: number): Promise<ViewLock> {
    const token = randomBytes(12).toString("hex");
    const info: LockInfo = { pid: process.pid, host: hostname(), token, since: new Date().toISOString() };
    const deadline = Date.now() + timeoutMs;
    let delay = 20;
    for (;;) {
      try {
        const fh = await open(path, "wx");
        try {
          await fh.writeFile(JSON.stringify(info));
          await fh.sync();
        } finally {
          await fh.close();
        }
        return new ViewLock(path, token);
      } catch (err) {
        if ((err as { code?: string }).code !== "EEXIST") throw storeError(`cannot create lock ${path}: ${errMessage(err)}`, { view }, err);
      }
      const holder = await ViewLock.read(path);
      if (holder === "gone") continue;
      if (holder === "unreadable" || !ViewLock.holderAlive(holder)) {
        const staleToken = holder === "unreadable" ? undefined : holder.token;
        if (holder !== "unreadable" || (await ViewLock.olderThan(path, 30_000))) {
          await ViewLock.breakStale(path, staleToken);
          continue;
        }
      }
      if (Date.now() >= deadline) {
        const who = typeof holder === "object" ? `pid ${holder.pid} on ${holder.host} since ${holder.since}` : "an unknown writer";
        throw storeError(`view ${JSON.stringify(view)}: timed out after ${timeoutMs} ms waiting for the writer lock held by ${who} (${path})`, { view, lock: path });
      }
      await sleep(delay);
      delay = Math.min(500, delay * 2);
    }
  }

  private static holderAlive(info: LockInfo): boolean {
    if (info.host !== hostname()) return true; // cannot tell: never break another host's lock
    return isPidAlive(info.pid);
  }

  private static async olderThan(path: string, ms: number): Promise<boolean> {
    try {
      return Date.now() - (await stat(path)).mtimeMs > ms;
    } catch {
      return false;
    }
  }

  static async read(path: string): Promise<LockInfo | "gone" | "unreadable"> {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      if (isFileNotFound(err)) return "gone";
      throw err;
    }
    try {
      const v = JSON.parse(text) as Partial<LockInfo>;
      if (typeof v.pid === "number" && typeof v.token === "string" && typeof v.host === "string") {
        return { pid: v.pid, host: v.host, token: v.token, since: String(v.since) };
      }
    } catch {
      // a writer died between creating and filling the file
    }
    return "unreadable";
  }

  /**
   * Removes a stale lock without removing a fresh one another waiter just created: rename it away
   * (atomic), check it is the stale one, and put it back with link() (fails if taken) if not.
   */
  private static async breakStale(path: string, staleToken: string | undefined): Promise<void> {
    const aside = `${path}.breaking-${randomBytes(6).toString("hex")}`;
    try {
      await rename(path, aside);
    } catch {
      return; // someone else broke or released it
    }
    const moved = await ViewLock.read(aside).catch(() => "unreadable" as const);
    const isStale = typeof moved === "object" ? moved.token === staleToken || !ViewLock.holderAlive(moved) : staleToken === undefined;
    if (!isStale) await link(aside, path).catch(() => undefined);
    await unlink(aside).catch(() => undefined);
  }

  async stillHeld(): Promise<boolean> {
    const info = await ViewLock.read(this.path).catch(() => "unreadable" as const);
    return typeof info === "object" && info.token === this.token;
  }

  async release(): Promise<void> {
    if (await this.stillHeld()) await unlink(this.path).catch(() => undefined);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, "r");
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // not supported on every platform; the rename itself is still atomic
  }
}

function eventTsStats(view: string, batch: ColumnarBatch, tsName: string, range: { start: number; end: number }): { minTs: number; maxTs: number } {
  const col = batch.columns.get(tsName) as NumericColumn;
  const values = col.values;
  const valid = col.valid;
  let minTs = Number.POSITIVE_INFINITY;
  let maxTs = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < batch.numRows; i++) {
    const v = values[i] as number;
    if ((valid !== null && valid[i] === 0) || !(v >= range.start && v < range.end)) {
      const shown = valid !== null && valid[i] === 0 ? "null" : `${v} (${Number.isFinite(v) ? new Date(v).toISOString() : "invalid"})`;
      throw storeError(`view ${JSON.stringify(view)}: chunk row ${i} has event timestamp ${tsName} = ${shown}, outside the write range [${new Date(range.start).toISOString()}, ${new Date(range.end).toISOString()}); nothing was written`, {
        view,
        row: i,
        column: tsName,
      });
    }
    if (v < minTs) minTs = v;
    if (v > maxTs) maxTs = v;
  }
  return { minTs, maxTs };
}

class Write implements OfflineWrite {
  private readonly written: ManifestFile[] = [];
  private state: "open" | "committing" | "done" = "open";
  private queue: Promise<unknown> = Promise.resolve();
  private readonly tsName: string;

  constructor(
    private readonly store: OfflineStore,
    private readonly view: string,
    private readonly range: { start: number; end: number },
    private readonly columns: OfflineColumnSpec[],
    private readonly lock: ViewLock,
  ) {
    this.tsName = (columns.find((c) => c.role === "event_ts") as OfflineColumnSpec).name;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private checkOpen(what: string): void {
    if (this.state !== "open") throw storeError(`view ${JSON.stringify(this.view)}: ${what} after the write was committed or aborted`, { view: this.view });
  }

  writeChunk(batch: ColumnarBatch): Promise<void> {
    return this.serial(async () => {
      this.checkOpen("writeChunk");
      const view = this.view;
      const have = [...batch.columns.keys()];
      const missing = this.columns.filter((c) => !batch.columns.has(c.name)).map((c) => c.name);
      const extra = have.filter((n) => !this.columns.some((c) => c.name === n));
      if (missing.length > 0 || extra.length > 0) {
        const parts = [missing.length ? `missing ${missing.join(", ")}` : "", extra.length ? `unexpected ${extra.join(", ")}` : ""].filter(Boolean);
        throw storeError(`view ${JSON.stringify(view)}: chunk columns do not match the view's columns (${parts.join("; ")}); nothing was written`, { view, missing, extra });
      }
      for (const spec of this.columns) {
        const col = batch.columns.get(spec.name)!;
        if (col.type !== spec.type) {
          throw storeError(`view ${JSON.stringify(view)}: chunk column ${JSON.stringify(spec.name)} has type ${col.type}, the view declares ${spec.type}; nothing was written`, { view, column: spec.name });
        }
        if (col.values.length !== batch.numRows) throw storeError(`view ${JSON.stringify(view)}: chunk column ${JSON.stringify(spec.name)} has ${col.values.length} rows, the chunk ${batch.numRows}`, { view, column: spec.name });
      }
      if (batch.numRows === 0) return;
      const { minTs, maxTs } = eventTsStats(view, batch, this.tsName, this.range);
      const ordered = selectColumns(
        batch,
        this.columns.map((c) => c.name),
      );
      const name = `${randomUUID()}.parquet`;
      await this.store.writeDataFile(view, name, ordered, this.columns);
      this.written.push({ file: name, rows: batch.numRows, minTs, maxTs });
    });
  }

  writeQuery(engine: OfflineEngine, select: string): Promise<{ rows: number }> {
    return this.serial(async () => {
      this.checkOpen("writeQuery");
      const name = `${randomUUID()}.parquet`;
      const path = this.store.dataFilePath(this.view, name);
      const projection = this.columns.map((c) => `CAST(${sqlIdent(c.name)} AS ${DUCKDB_TYPES[c.type]}) AS ${sqlIdent(c.name)}`).join(", ");
      const metadata = `{'larder.view': ${sqlString(this.view)}, 'larder.columns': ${sqlString(JSON.stringify(this.columns))}}`;
      try {
        // The projection keeps the query's order (the engine runs with preserve_insertion_order).
        await engine.run(`COPY (SELECT ${projection} FROM (${select})) TO ${sqlString(path)} (FORMAT parquet, COMPRESSION snappy, KV_METADATA ${metadata})`);
        const ts = sqlIdent(this.tsName);
        const [stats] = await engine.rows(
          `SELECT count(*) AS n, epoch_ms(min(${ts})) AS min_ts, epoch_ms(max(${ts})) AS max_ts, ` +
            `count(*) FILTER (WHERE ${ts} IS NULL OR epoch_ms(${ts}) < ${this.range.start} OR epoch_ms(${ts}) >= ${this.range.end}) AS outside ` +
            `FROM read_parquet(${sqlString(path)})`,
        );
        const rows = Number(stats?.["n"] ?? 0);
        if (Number(stats?.["outside"] ?? 0) > 0) {
          throw storeError(
            `view ${JSON.stringify(this.view)}: ${String(stats?.["outside"])} rows of the query have a null event timestamp ${this.tsName} or one outside the write range [${new Date(this.range.start).toISOString()}, ${new Date(this.range.end).toISOString()}); nothing was written`,
            { view: this.view, column: this.tsName },
          );
        }
        if (rows === 0) {
          await this.store.removeDataFiles(this.view, [name]);
          return { rows: 0 };
        }
        this.written.push({ file: name, rows, minTs: Number(stats?.["min_ts"]), maxTs: Number(stats?.["max_ts"]) });
        return { rows };
      } catch (err) {
        await this.store.removeDataFiles(this.view, [name]);
        if (err instanceof LarderError) throw err;
        throw storeError(`view ${JSON.stringify(this.view)}: the engine could not write ${name}: ${errMessage(err)}`, { view: this.view }, err);
      }
    });
  }

  commit(): Promise<{ rows: number; files: number }> {
    return this.serial(async () => {
      this.checkOpen("commit");
      this.state = "committing";
      try {
        const result = await this.store.commitWrite(this.view, this.range, this.columns, this.written, this.lock);
        this.state = "done";
        await this.lock.release();
        return result;
      } catch (err) {
        // The manifest was not replaced (the swap is the last step that can fail before cleanup):
        // drop what this write wrote and release the lock.
        this.state = "done";
        await this.store.removeDataFiles(
          this.view,
          this.written.map((f) => f.file),
        );
        await this.lock.release();
        throw err;
      }
    });
  }

  abort(): Promise<void> {
    return this.serial(async () => {
      if (this.state === "done") return;
      this.state = "done";
      await this.store.removeDataFiles(
        this.view,
        this.written.map((f) => f.file),
      );
      await this.lock.release();
      await this.store.removeIfNeverCommitted(this.view);
    });
  }
}

export class OfflineStore {
  private readonly lockTimeoutMs: number;
  private readonly orphanAgeMs: number;

  readonly root: string;

  /** `root` is `offline.path` from the config; it is resolved to an absolute path. */
  constructor(
    root: string,
    private readonly options: OfflineStoreOptions = {},
  ) {
    this.root = resolve(root);
    this.lockTimeoutMs = options.lockTimeoutMs ?? 30 * 60_000;
    this.orphanAgeMs = options.orphanAgeMs ?? HOUR_MS;
  }

  /** How the offline engine (DuckDB) over this store is configured: open it with OfflineEngine.open. */
  get engineConfig(): OfflineEngineConfig {
    return this.options.engine ?? {};
  }

  /**
   * After an aborted first write: removes the view's directories if they hold nothing (no
   * manifest, no files), so a failed first backfill leaves the store exactly as it was.
   */
  async removeIfNeverCommitted(view: string): Promise<void> {
    const dataDir = this.dataDir(view);
    const viewDir = this.viewDir(view);
    try {
      if ((await readdir(dataDir)).length === 0) await rmdir(dataDir);
      if ((await readdir(viewDir)).length === 0) await rmdir(viewDir);
    } catch {
      // Another writer got in meanwhile, or the directories are already gone: leave them.
    }
  }

  private viewDir(view: string): string {
    return join(this.root, view);
  }

  private dataDir(view: string): string {
    return join(this.root, view, DATA);
  }

  /** Starts a range write; waits for (or breaks, if its process is dead) another writer's lock. */
  async beginWrite(view: string, range: { start: number; end: number }, columns: OfflineColumnSpec[]): Promise<OfflineWrite> {
    checkViewName(view);
    checkRange(view, range);
    checkColumns(view, columns);
    try {
      await mkdir(this.dataDir(view), { recursive: true });
    } catch (err) {
      throw storeError(`cannot create ${this.dataDir(view)}: ${errMessage(err)}`, { view }, err);
    }
    const lock = await ViewLock.acquire(join(this.viewDir(view), LOCK), view, this.lockTimeoutMs);
    try {
      // Holding the lock, no other writer of this view is alive: what the manifest does not list
      // under data/ belongs to a dead one (kill -9 mid-backfill). Remove it now, not an hour later.
      await this.removeOrphans(view, (await this.readManifest(view)) ?? null, 0);
    } catch {
      // best effort: a later commit retries with the age rule
    }
    const specs = columns.map((c) => ({ name: c.name, type: c.type, role: c.role }));
    return new Write(this, view, { start: range.start, end: range.end }, specs, lock);
  }

  /** The committed state of a view (one manifest read), or undefined if it was never written. */
  async snapshot(view: string): Promise<ViewSnapshot | undefined> {
    checkViewName(view);
    const m = await this.readManifest(view);
    if (!m) return undefined;
    const dir = this.dataDir(view);
    return {
      view,
      version: m.version,
      columns: m.columns.map((c) => ({ ...c })),
      segments: m.segments.map((s) => ({ start: s.start, end: s.end, files: s.files.map((f) => ({ ...f, file: join(dir, f.file) })) })),
    };
  }

  /**
   * Reads one file of a snapshot (optionally some columns). If a later commit has deleted it, throws
   * OFFLINE_STORE_ERROR with `details.notFound` (`isSnapshotGone`): take a new snapshot and restart.
   */
  async readFile(f: OfflineFile, columns?: string[]): Promise<ColumnarBatch> {
    try {
      return await readParquetBatch(f.file, { ...(columns ? { columns } : {}), engineConfig: this.engineConfig });
    } catch (err) {
      if (isFileNotFound(err)) {
        throw storeError(`offline file ${f.file} is gone (a newer commit replaced it): read the view again from a fresh snapshot`, { file: f.file, notFound: true }, err);
      }
      throw err;
    }
  }

  /**
   * Runs `fn` on a snapshot of the view; if a file of that snapshot disappears meanwhile (a
   * concurrent commit), runs it once more on a fresh snapshot. `fn` must not keep partial results
   * across calls.
   */
  async withSnapshot<T>(view: string, fn: (snapshot: ViewSnapshot | undefined) => Promise<T>): Promise<T> {
    try {
      return await fn(await this.snapshot(view));
    } catch (err) {
      if (!isSnapshotGone(err)) throw err;
      return fn(await this.snapshot(view));
    }
  }

  /** All rows of a view (files in segment order), with the snapshot retry. */
  async readView(view: string, columns?: string[]): Promise<ColumnarBatch | undefined> {
    return this.withSnapshot(view, async (snap) => {
      if (!snap) return undefined;
      const names = columns ?? snap.columns.map((c) => c.name);
      const parts: ColumnarBatch[] = [];
      for (const seg of snap.segments) for (const f of seg.files) parts.push(await this.readFile(f, names));
      if (parts.length === 0) {
        const types = new Map(snap.columns.map((c) => [c.name, c.type] as const));
        return emptyBatch(names.map((n) => [n, types.get(n) ?? "string"] as [string, ValueType]));
      }
      return concatBatches(parts);
    });
  }

  /** Names of the views with a committed manifest. */
  async views(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (err) {
      if (isFileNotFound(err)) return [];
      throw storeError(`cannot list ${this.root}: ${errMessage(err)}`, {}, err);
    }
    const out: string[] = [];
    for (const n of names.sort()) {
      if (!VIEW_NAME_RE.test(n)) continue;
      try {
        await stat(join(this.root, n, MANIFEST));
        out.push(n);
      } catch {
        // not a view
      }
    }
    return out;
  }

  /** Removes a view's data (under its writer lock: waits for a running write). */
  async dropView(view: string): Promise<void> {
    checkViewName(view);
    const dir = this.viewDir(view);
    try {
      await stat(dir);
    } catch (err) {
      if (isFileNotFound(err)) return;
      throw storeError(`cannot stat ${dir}: ${errMessage(err)}`, { view }, err);
    }
    const lock = await ViewLock.acquire(join(dir, LOCK), view, this.lockTimeoutMs);
    try {
      // The manifest goes first: from then on readers see no view; then the data.
      await rm(join(dir, MANIFEST), { force: true });
      await fsyncDir(dir);
      await rm(this.dataDir(view), { recursive: true, force: true });
      const rest = await readdir(dir);
      for (const n of rest) if (n !== LOCK) await rm(join(dir, n), { recursive: true, force: true });
    } catch (err) {
      await lock.release();
      throw storeError(`cannot drop view ${JSON.stringify(view)}: ${errMessage(err)}`, { view }, err);
    }
    await lock.release();
    await rmdir(dir).catch(() => undefined); // fails harmlessly if a writer has started meanwhile
  }

  // ───────────── internals used by Write ─────────────

  private async readManifest(view: string): Promise<Manifest | undefined> {
    const path = join(this.viewDir(view), MANIFEST);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      if (isFileNotFound(err)) return undefined;
      throw storeError(`cannot read ${path}: ${errMessage(err)}`, { view }, err);
    }
    let m: Manifest;
    try {
      m = JSON.parse(text) as Manifest;
    } catch (err) {
      throw storeError(`${path} is not valid JSON: ${errMessage(err)}`, { view }, err);
    }
    if (m?.format !== 1 || !Array.isArray(m.columns) || !Array.isArray(m.segments)) {
      throw storeError(`${path} is not a Larder offline manifest (format 1)`, { view });
    }
    return m;
  }

  /** @internal Where a data file of the view lives. */
  dataFilePath(view: string, name: string): string {
    return join(this.dataDir(view), name);
  }

  /** @internal */
  async writeDataFile(view: string, name: string, batch: ColumnarBatch, columns: OfflineColumnSpec[]): Promise<void> {
    await writeParquetFile(join(this.dataDir(view), name), batch, {
      engineConfig: this.engineConfig,
      ...this.options.parquet,
      metadata: { ...this.options.parquet?.metadata, "larder.view": view, "larder.columns": JSON.stringify(columns) },
    });
  }

  /** @internal */
  async removeDataFiles(view: string, names: string[]): Promise<void> {
    const dir = this.dataDir(view);
    await Promise.all(names.map((n) => unlink(join(dir, n)).catch(() => undefined)));
  }

  /**
   * Rewrites the rows of `file` whose event timestamp is outside [start, end) into new files (one
   * for the rows before `start`, one for those at or after `end`), keeping their order.
   */
  private async trimFile(view: string, f: ManifestFile, range: { start: number; end: number }, columns: OfflineColumnSpec[]): Promise<{ before?: ManifestFile; after?: ManifestFile }> {
    const tsName = (columns.find((c) => c.role === "event_ts") as OfflineColumnSpec).name;
    const path = join(this.dataDir(view), f.file);
    let batch: ColumnarBatch;
    try {
      batch = await readParquetBatch(path, { columns: columns.map((c) => c.name), engineConfig: this.engineConfig });
    } catch (err) {
      throw storeError(`view ${JSON.stringify(view)}: cannot read committed file ${path} to trim it: ${errMessage(err)}`, { view, file: path }, err);
    }
    const ts = batch.columns.get(tsName) as NumericColumn;
    const out: { before?: ManifestFile; after?: ManifestFile } = {};
    for (const side of ["before", "after"] as const) {
      const keep = new Uint8Array(batch.numRows);
      let minTs = Number.POSITIVE_INFINITY;
      let maxTs = Number.NEGATIVE_INFINITY;
      let rows = 0;
      for (let i = 0; i < batch.numRows; i++) {
        const v = ts.values[i] as number;
        if (side === "before" ? v < range.start : v >= range.end) {
          keep[i] = 1;
          rows++;
          if (v < minTs) minTs = v;
          if (v > maxTs) maxTs = v;
        }
      }
      if (rows === 0) continue;
      const name = `${randomUUID()}.parquet`;
      await this.writeDataFile(view, name, filterRows(batch, keep), columns);
      out[side] = { file: name, rows, minTs, maxTs };
    }
    return out;
  }

  /** @internal The commit of a Write, under its lock. */
  async commitWrite(view: string, range: { start: number; end: number }, columns: OfflineColumnSpec[], written: ManifestFile[], lock: ViewLock): Promise<{ rows: number; files: number }> {
    const created: string[] = []; // trimmed rewrites, removed if the commit fails
    let swapped = false;
    try {
      if (!(await lock.stillHeld())) {
        throw storeError(`view ${JSON.stringify(view)}: the writer lock was broken by another process; nothing was committed`, { view });
      }
      const old = await this.readManifest(view);
      const superseded: string[] = [];
      const segments: ManifestSegment[] = [];
      if (old && !sameSchema(old.columns, columns)) {
        // A schema change invalidates every old segment.
        for (const s of old.segments) for (const f of s.files) superseded.push(f.file);
      } else if (old) {
        for (const seg of old.segments) {
          if (seg.end <= range.start || seg.start >= range.end) {
            segments.push(seg);
            continue;
          }
          const left: ManifestSegment = { start: seg.start, end: range.start, files: [] };
          const right: ManifestSegment = { start: range.end, end: seg.end, files: [] };
          for (const f of seg.files) {
            if (f.maxTs < range.start) left.files.push(f);
            else if (f.minTs >= range.end) right.files.push(f);
            else if (f.minTs >= range.start && f.maxTs < range.end) superseded.push(f.file);
            else {
              const { before, after } = await this.trimFile(view, f, range, old.columns);
              if (before) {
                created.push(before.file);
                left.files.push(before);
              }
              if (after) {
                created.push(after.file);
                right.files.push(after);
              }
              superseded.push(f.file);
            }
          }
          if (left.start < left.end) segments.push(left);
          if (right.start < right.end) segments.push(right);
        }
      }
      segments.push({ start: range.start, end: range.end, files: written });
      segments.sort((a, b) => a.start - b.start);
      const manifest: Manifest = {
        format: 1,
        view,
        version: (old?.version ?? 0) + 1,
        updatedAt: new Date().toISOString(),
        columns,
        segments,
      };
      await this.swapManifest(view, manifest);
      swapped = true;
      // After the swap: the old files are no longer part of the view.
      await this.removeDataFiles(view, superseded);
      await this.removeOrphans(view, manifest, this.orphanAgeMs).catch(() => undefined);
      return { rows: written.reduce((s, f) => s + f.rows, 0), files: written.length };
    } catch (err) {
      if (!swapped) await this.removeDataFiles(view, created);
      if (err instanceof LarderError) throw err;
      throw storeError(`view ${JSON.stringify(view)}: commit failed: ${errMessage(err)}`, { view }, err);
    }
  }

  private async swapManifest(view: string, manifest: Manifest): Promise<void> {
    const dir = this.viewDir(view);
    const path = join(dir, MANIFEST);
    const tmp = `${path}.tmp-${randomBytes(6).toString("hex")}`;
    try {
      await writeFile(tmp, `${JSON.stringify(manifest, null, 1)}\n`, { flag: "wx" });
      const fh = await open(tmp, "r+");
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw storeError(`cannot write ${path}: ${errMessage(err)}`, { view }, err);
    }
    await fsyncDir(dir);
  }

  /**
   * Deletes files under data/ (and stray temporaries) not in the manifest and older than `ageMs`.
   * Called under the view's lock. Lock breakers' files (`.lock.breaking-*`) always keep the
   * orphan age: a live breaker of another waiter may own one.
   */
  private async removeOrphans(view: string, manifest: Manifest | null, ageMs: number): Promise<void> {
    const live = new Set<string>();
    for (const s of manifest?.segments ?? []) for (const f of s.files) live.add(f.file);
    const now = Date.now();
    const sweep = async (dir: string, isCandidate: (name: string) => boolean, minAgeMs: number) => {
      for (const name of await readdir(dir)) {
        if (live.has(name) || !isCandidate(name)) continue;
        const p = join(dir, name);
        try {
          const st = await stat(p);
          if (st.isFile() && now - st.mtimeMs >= minAgeMs) await unlink(p);
        } catch {
          // raced with another cleanup
        }
      }
    };
    await sweep(this.dataDir(view), (n) => n.endsWith(".parquet") || n.includes(".tmp-"), ageMs);
    await sweep(this.viewDir(view), (n) => n.startsWith(`${MANIFEST}.tmp-`), ageMs);
    await sweep(this.viewDir(view), (n) => n.startsWith(`${LOCK}.breaking-`), this.orphanAgeMs);
  }
}
