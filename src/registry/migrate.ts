import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sql, type Kysely } from "kysely";
import { LarderError } from "../errors.js";
import { advisoryLockKey } from "./advisory-lock-key.js";
import type { RegistryTables } from "./registry-tables.js";
import { sqlState } from "./sql-registry-store.js";

export interface MigrationFile {
  name: string;
  checksum: string;
  sql: string;
}

const MIGRATION_FILE_RE = /^\d{4}_[a-z0-9_]+\.sql$/;

/**
 * The package's `migrations/` folder: the nearest ancestor of this module holding both package.json
 * and migrations/, so it works from src/ (tsx) and from dist/src/ (tsc) alike.
 */
export function migrationsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json")) && existsSync(join(dir, "migrations"))) return join(dir, "migrations");
    const parent = dirname(dir);
    if (parent === dir) throw new LarderError("REGISTRY_UNAVAILABLE", `cannot find Larder's migrations/ folder above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** The migration files in order. Checksums ignore CRLF vs LF, so a Windows checkout doesn't count as an edit. */
export function readMigrations(dir = migrationsDir()): MigrationFile[] {
  return readdirSync(dir)
    .filter((f) => MIGRATION_FILE_RE.test(f))
    .sort()
    .map((name) => {
      const text = readFileSync(join(dir, name), "utf8").replace(/\r\n/g, "\n");
      return { name, checksum: createHash("sha256").update(text).digest("hex"), sql: text };
    });
}

/**
 * Brings the registry schema up to date, in one transaction under an advisory lock, so processes
 * opening a fresh registry at once apply each file exactly once. The connection's search_path must
 * already be the schema. Throws REGISTRY_UNAVAILABLE if an applied file was edited, or if the schema
 * has migrations this version of Larder doesn't know (a newer Larder migrated it).
 */
export async function migrate(db: Kysely<RegistryTables>, schema: string, opts: { lockTimeoutMs: number; files?: MigrationFile[] }): Promise<string[]> {
  const files = opts.files ?? readMigrations();
  if (await upToDate(db, files)) return [];
  return db.transaction().execute(async (trx) => {
    await sql`select set_config('lock_timeout', ${`${Math.max(1, Math.round(opts.lockTimeoutMs))}ms`}, true)`.execute(trx);
    await sql`select pg_advisory_xact_lock(${advisoryLockKey(schema, "", "migrations")}::bigint)`.execute(trx);
    // CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database; look first so a role that
    // only owns an existing schema can open it.
    const found = await sql<{ n: number }>`select 1 as n from pg_namespace where nspname = ${schema}`.execute(trx);
    if (found.rows.length === 0) await sql`create schema ${sql.id(schema)}`.execute(trx);
    await sql`create table if not exists migrations (
      name text primary key,
      checksum text not null,
      applied_at timestamptz not null default now()
    )`.execute(trx);
    const applied = await trx.selectFrom("migrations").select(["name", "checksum"]).orderBy("name").execute();
    const known = new Map(files.map((f) => [f.name, f]));
    for (const row of applied) {
      const file = known.get(row.name);
      if (file === undefined) {
        throw new LarderError("REGISTRY_UNAVAILABLE", `the registry schema "${schema}" has migration ${row.name}, which this version of Larder does not know; upgrade Larder`, { migration: row.name });
      }
      if (file.checksum !== row.checksum) {
        throw new LarderError(
          "REGISTRY_UNAVAILABLE",
          `migration ${row.name} was edited after it was applied to schema "${schema}" (checksum ${row.checksum.slice(0, 12)}… in the registry, ${file.checksum.slice(0, 12)}… on disk); migrations are append-only: restore the file and add a new one`,
          { migration: row.name },
        );
      }
    }
    const done = new Set(applied.map((r) => r.name));
    const ran: string[] = [];
    for (const file of files) {
      if (done.has(file.name)) continue;
      await sql.raw(file.sql).execute(trx);
      await trx.insertInto("migrations").values({ name: file.name, checksum: file.checksum }).execute();
      ran.push(file.name);
    }
    return ran;
  });
}

/**
 * True when the schema already holds exactly `files` (same names, same checksums, nothing more):
 * every open after the first takes this one read instead of the locked transaction. Anything else
 * (no schema yet, a pending file, an edited or unknown one) returns false, and the locked path
 * decides, with its errors.
 */
async function upToDate(db: Kysely<RegistryTables>, files: readonly MigrationFile[]): Promise<boolean> {
  let applied: { name: string; checksum: string }[];
  try {
    applied = await db.selectFrom("migrations").select(["name", "checksum"]).execute();
  } catch (err) {
    // The server answered (no schema or table yet): the locked path creates them. Anything else,
    // such as an unreachable server, is the open's failure.
    if (sqlState(err) !== undefined) return false;
    throw err;
  }
  const checksums = new Map(files.map((f) => [f.name, f.checksum]));
  return applied.length === files.length && applied.every((row) => checksums.get(row.name) === row.checksum);
}
