import { CompiledQuery, Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { LarderError, isLarderError } from "../../errors.js";
import { advisoryLockKey } from "../advisory-lock-key.js";
import { KeyedMutex } from "../keyed-mutex.js";
import { migrate } from "../migrate.js";
import type { RegistryStore } from "../registry-store.js";
import type { RegistryTables } from "../registry-tables.js";
import { DEFAULT_LOCK_TIMEOUT_MS, SqlRegistryStore, checkSchemaName, sqlState } from "../sql-registry-store.js";
import { describePostgresUrl, isConnectionError, postgresUnavailable, reasonOf } from "./postgres-errors.js";

export interface PostgresRegistryOptions {
  /** postgres://user:password@host:port/database (any pg connection string). */
  url: string;
  /** Schema holding every registry table, created if absent (default "larder"). */
  schema?: string;
  /** How long apply and withLock wait for a lock another process holds (default 60 s). */
  lockTimeoutMs?: number;
  /** pg pool size (default 10). withLock holds a connection while its function runs. */
  maxConnections?: number;
}

/**
 * Opens the registry in a Postgres schema, creating the schema and applying migrations if needed.
 * Throws POSTGRES_UNAVAILABLE (without the password) if Postgres cannot be reached.
 *
 * @example
 * const registry = await openPostgresRegistry({ url: "postgres://larder@db:5432/features" });
 */
export async function openPostgresRegistry(opts: PostgresRegistryOptions): Promise<RegistryStore> {
  const schema = checkSchemaName(opts.schema ?? "larder");
  const where = describePostgresUrl(opts.url);
  const lockTimeoutMs = opts.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.maxConnections ?? 10,
    connectionTimeoutMillis: 10_000,
    // Idle connections don't keep a CLI process alive if a caller forgets close().
    allowExitOnIdle: true,
  });
  // An idle client whose server goes away emits here; without a listener that would crash the
  // process. The next query reports the failure instead.
  pool.on("error", () => {});
  const db = new Kysely<RegistryTables>({
    dialect: new PostgresDialect({
      pool,
      onCreateConnection: async (connection) => {
        await connection.executeQuery(CompiledQuery.raw(`set search_path to "${schema}"`));
      },
    }),
  });
  try {
    await migrate(db, schema, { lockTimeoutMs });
  } catch (err) {
    await db.destroy().catch(() => {});
    if (isLarderError(err)) throw err;
    if (isConnectionError(err)) throw postgresUnavailable(where, err);
    if (sqlState(err) === "55P03") throw new LarderError("REGISTRY_LOCKED", `another process is migrating the registry schema "${schema}" at ${where}; gave up after ${lockTimeoutMs} ms`, { schema });
    throw new LarderError("REGISTRY_UNAVAILABLE", `cannot open the registry at ${where} (schema "${schema}"): ${reasonOf(err)}`, { registry: where, schema }, { cause: err });
  }
  return new PostgresRegistryStore(db, { schema, lockTimeoutMs, where });
}

/**
 * The registry on Postgres. `apply` takes a transaction-scoped advisory lock per project, so applies
 * from any number of processes run one after another. `withLock` takes an in-process mutex first
 * (so waiting callers of one process don't each hold a pooled connection), then a session advisory
 * lock on a dedicated connection held until `fn` settles; if that connection dies, Postgres drops
 * the lock.
 */
class PostgresRegistryStore extends SqlRegistryStore {
  readonly #localLocks = new KeyedMutex();
  readonly #where: string;

  constructor(db: Kysely<RegistryTables>, opts: { schema: string; lockTimeoutMs: number; where: string }) {
    super(db, { schema: opts.schema, lockTimeoutMs: opts.lockTimeoutMs });
    this.#where = opts.where;
  }

  protected describe(): string {
    return `the registry at ${this.#where} (schema "${this.options.schema}")`;
  }

  async withLock<T>(project: string, lockName: string, fn: () => Promise<T>, opts?: { timeoutMs?: number }): Promise<T> {
    this.assertOpen();
    const timeoutMs = opts?.timeoutMs ?? this.options.lockTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    const key = advisoryLockKey(this.options.schema, project, lockName);
    const releaseLocal = await this.#localLocks.acquire(key, timeoutMs);
    if (releaseLocal === undefined) throw this.lockedError(project, lockName, timeoutMs);
    try {
      // fn's own result or error must pass through untouched, so only the locking runs inside run().
      const box: { outcome?: { ok: true; value: T } | { ok: false; error: unknown } } = {};
      await this.run(() =>
        this.db.connection().execute(async (conn) => {
          const remaining = Math.max(1, deadline - Date.now());
          await sql`select set_config('lock_timeout', ${`${remaining}ms`}, false)`.execute(conn);
          try {
            await sql`select pg_advisory_lock(${key}::bigint)`.execute(conn);
          } catch (err) {
            if (sqlState(err) === "55P03") throw this.lockedError(project, lockName, timeoutMs);
            throw err;
          } finally {
            await sql`reset lock_timeout`.execute(conn);
          }
          try {
            box.outcome = { ok: true, value: await fn() };
          } catch (error) {
            box.outcome = { ok: false, error };
          }
          await sql`select pg_advisory_unlock(${key}::bigint)`.execute(conn);
        }),
      ).catch((err: unknown) => {
        // A failed unlock after fn ran means the connection died, and Postgres dropped the lock with it.
        if (box.outcome === undefined) throw err;
      });
      const outcome = box.outcome;
      if (outcome === undefined) throw new LarderError("INTERNAL", "withLock finished without running its function");
      if (!outcome.ok) throw outcome.error;
      return outcome.value;
    } finally {
      releaseLocal();
    }
  }

  protected async closeResources(): Promise<void> {
    await this.db.destroy();
  }

  protected translateError(err: unknown): LarderError {
    if (isConnectionError(err)) return postgresUnavailable(this.#where, err);
    const state = sqlState(err);
    return new LarderError("INTERNAL", `registry query failed on ${this.#where}: ${reasonOf(err)}`, state === undefined ? {} : { sqlState: state }, { cause: err });
  }
}
