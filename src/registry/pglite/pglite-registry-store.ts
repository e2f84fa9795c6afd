import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { Kysely } from "kysely";
import { LarderError, isLarderError } from "../../errors.js";
import { KeyedMutex } from "../keyed-mutex.js";
import { migrate } from "../migrate.js";
import type { RegistryStore } from "../registry-store.js";
import type { RegistryTables } from "../registry-tables.js";
import { DEFAULT_LOCK_TIMEOUT_MS, SqlRegistryStore, checkSchemaName, sqlState } from "../sql-registry-store.js";
import { acquireFileLock, type FileLock } from "./file-lock.js";
import { PgliteDialect } from "./pglite-dialect.js";
import { ensurePgliteDataDir } from "./pglite-template.js";

// Postgres's default 128 MB of shared buffers is allocated and touched at every start; a registry's
// working set is a few hundred kB, and 8 MB cuts the open's CPU time by a quarter and its RSS by 140 MB.
const PGLITE_START_PARAMS = [...PGlite.defaultStartParams, "-c", "shared_buffers=8MB"];

export interface PgliteRegistryOptions {
  /** The feature repository; the database lives in `<repoDir>/.larder/registry`. */
  repoDir: string;
  /** Schema holding the tables (default "larder"). */
  schema?: string;
  /** How long to wait for another process's file lock, for a concurrent apply, and withLock's default (60 s). */
  lockTimeoutMs?: number;
}

/**
 * Opens the embedded registry: PGlite with its data in `<repoDir>/.larder/registry`. PGlite cannot be
 * opened by two processes at once, so the open takes `<repoDir>/.larder/registry.lock` (waiting up to
 * the lock timeout, breaking a lock whose process died) and holds it until `close()`: open it for
 * the span of a command, not for a process's lifetime, or other commands will wait.
 */
export async function openPgliteRegistry(opts: PgliteRegistryOptions): Promise<RegistryStore> {
  const schema = checkSchemaName(opts.schema ?? "larder");
  const lockTimeoutMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const larderDir = join(resolve(opts.repoDir), ".larder");
  const dataDir = join(larderDir, "registry");
  const what = `the embedded registry at ${dataDir}`;
  try {
    mkdirSync(larderDir, { recursive: true });
  } catch (err) {
    throw new LarderError("REGISTRY_UNAVAILABLE", `cannot create ${larderDir}: ${(err as Error).message}`, {}, { cause: err });
  }
  const lock = await acquireFileLock(join(larderDir, "registry.lock"), { timeoutMs: lockTimeoutMs, what });
  let pglite: PGlite | undefined;
  let db: Kysely<RegistryTables> | undefined;
  try {
    await ensurePgliteDataDir(dataDir);
    pglite = await PGlite.create(dataDir, { startParams: PGLITE_START_PARAMS });
    // One session, so search_path is set once for good.
    await pglite.exec(`set search_path to "${schema}"`);
    db = new Kysely<RegistryTables>({ dialect: new PgliteDialect(pglite) });
    await migrate(db, schema, { lockTimeoutMs });
    return new PgliteRegistryStore(db, pglite, lock, { schema, lockTimeoutMs, what });
  } catch (err) {
    await db?.destroy().catch(() => {});
    await pglite?.close().catch(() => {});
    lock.release();
    if (isLarderError(err)) throw err;
    throw new LarderError("REGISTRY_UNAVAILABLE", `cannot open ${what}: ${describeError(err)}`, {}, { cause: err });
  }
}

/**
 * The embedded registry. Because the file lock admits one process, `withLock` is an in-process mutex
 * per (project, lock name): that already serialises every holder there can be. `apply` needs no lock
 * of its own beyond its transaction, since PGlite runs one transaction at a time.
 */
class PgliteRegistryStore extends SqlRegistryStore {
  readonly #locks = new KeyedMutex();
  readonly #what: string;

  constructor(
    db: Kysely<RegistryTables>,
    private readonly pglite: PGlite,
    private readonly fileLock: FileLock,
    opts: { schema: string; lockTimeoutMs: number; what: string },
  ) {
    super(db, { schema: opts.schema, lockTimeoutMs: opts.lockTimeoutMs });
    this.#what = opts.what;
  }

  protected describe(): string {
    return this.#what;
  }

  async withLock<T>(project: string, lockName: string, fn: () => Promise<T>, opts?: { timeoutMs?: number }): Promise<T> {
    this.assertOpen();
    const timeoutMs = opts?.timeoutMs ?? this.options.lockTimeoutMs;
    const release = await this.#locks.acquire(`${project}\u0000${lockName}`, timeoutMs);
    if (release === undefined) throw this.lockedError(project, lockName, timeoutMs);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  protected async closeResources(): Promise<void> {
    try {
      await this.db.destroy();
      await this.pglite.close();
    } finally {
      this.fileLock.release();
    }
  }

  protected translateError(err: unknown): LarderError {
    const state = sqlState(err);
    return new LarderError("INTERNAL", `${this.#what}: ${describeError(err)}`, state === undefined ? {} : { sqlState: state }, { cause: err });
  }
}

function describeError(err: unknown): string {
  return err instanceof Error ? err.message || err.name : String(err);
}
