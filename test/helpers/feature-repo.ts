/**
 * Throwaway feature repositories for tests: a temp directory with `larder.config.ts`, a
 * `features.ts` written from a string, and data files (Arrow tables written as Parquet, or raw
 * text/bytes), opened as a FeatureStore and (by default) applied. `cleanup()` removes it all.
 *
 * Parquet files are written here directly with apache-arrow + parquet-wasm, not through Larder's
 * own writer, so that tests (and the DuckDB oracle reading the same files) do not depend on the
 * code under test to produce their inputs.
 *
 * @example
 * const repo = await createFeatureRepo({
 *   features: `import { entity, parquetSource, featureView, types as t } from "larder"; …`,
 *   files: { "data/s.parquet": arrowTable({ customer_id: col.int64([1]), ts: col.timestamp(["2024-01-01T00:00:00Z"]), x: col.float64([1.5]) }) },
 * });
 * try { await repo.store.backfill({ start: "2024-01-01", end: "2024-02-01" }); … } finally { await repo.cleanup(); }
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Bool, Float64, Int32, Int64, Table, TimestampMillisecond, Utf8, type Vector, tableToIPC, vectorFromArray } from "apache-arrow";
import * as pw from "parquet-wasm";
import { FeatureStore } from "../../src/feature-store.js";

// ───────────────────────────── Arrow tables ─────────────────────────────

/** A timestamp-like input: epoch ms, an ISO-8601 string (zone-less = UTC), a Date, or null. */
export type TimeInput = number | string | Date | null;

function toMs(v: TimeInput): number | null {
  if (v === null) return null;
  if (typeof v === "number") return v;
  if (v instanceof Date) return v.getTime();
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(v);
  const ms = Date.parse(hasZone || !v.includes("T") ? v : `${v}Z`);
  if (!Number.isFinite(ms)) throw new Error(`test helper: bad timestamp ${v}`);
  return ms;
}

/** Column builders with explicit Arrow types (numbers in, the right physical type out). */
export const col = {
  int64: (values: readonly (number | null)[]): Vector =>
    vectorFromArray(
      values.map((v) => (v === null ? null : BigInt(v))),
      new Int64(),
    ),
  int32: (values: readonly (number | null)[]): Vector => vectorFromArray([...values], new Int32()),
  float64: (values: readonly (number | null)[]): Vector => vectorFromArray([...values], new Float64()),
  string: (values: readonly (string | null)[]): Vector => vectorFromArray([...values], new Utf8()),
  bool: (values: readonly (boolean | null)[]): Vector => vectorFromArray([...values], new Bool()),
  /** Timestamp(ms) with zone `tz` ("UTC" by default; null for a zone-less timestamp). */
  timestamp: (values: readonly TimeInput[], tz: string | null = "UTC"): Vector => vectorFromArray(values.map(toMs), new TimestampMillisecond(tz)),
};

/** An Arrow table from named columns, in the given order. */
export function arrowTable(columns: Record<string, Vector>): Table {
  return new Table(columns);
}

/** Parquet bytes of an Arrow table (via parquet-wasm). */
export function parquetBytes(table: Table): Uint8Array {
  return pw.writeParquet(pw.Table.fromIPCStream(tableToIPC(table, "stream")));
}

export async function writeParquet(path: string, table: Table): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, parquetBytes(table));
}

/**
 * The rows of a table as plain objects: int64 (bigint) as numbers, timestamps as epoch ms,
 * nulls as null. For comparing training sets with hand-computed expectations.
 */
export function tableRows(table: Table): Record<string, unknown>[] {
  const names = table.schema.fields.map((f) => f.name);
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const row: Record<string, unknown> = {};
    for (const name of names) row[name] = plain(table.getChild(name)!.get(i));
    out.push(row);
  }
  return out;
}

/** One column of a table as plain values (see tableRows). */
export function columnValues(table: Table, name: string): unknown[] {
  const vec = table.getChild(name);
  if (!vec) throw new Error(`no column ${JSON.stringify(name)} (has: ${table.schema.fields.map((f) => f.name).join(", ")})`);
  const out: unknown[] = [];
  for (let i = 0; i < table.numRows; i++) out.push(plain(vec.get(i)));
  return out;
}

function plain(v: unknown): unknown {
  if (v === undefined || v === null) return null;
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Date) return v.getTime();
  return v;
}

// ───────────────────────────── repositories ─────────────────────────────

/** A memory-backed temp directory when there is one (Linux /dev/shm), else the OS temp dir. */
export function fastTempDir(): string {
  return existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
}

export type RepoFile = Table | string | Uint8Array;

export interface FeatureRepoOptions {
  /** The text of `features.ts`. */
  features: string;
  /** Files to write, by path relative to the repository: Arrow tables become Parquet. */
  files?: Record<string, RepoFile>;
  project?: string;
  /** Run `store.apply()` after opening (default true). */
  apply?: boolean;
  /** Where to create the temp directory (default the OS temp dir; /dev/shm avoids disk syncs). */
  parentDir?: string;
}

export interface FeatureRepo {
  dir: string;
  store: FeatureStore;
  /** Absolute path of a repository-relative path. */
  path(rel: string): string;
  /** Writes (or overwrites) a repository file. */
  writeFile(rel: string, content: RepoFile): Promise<void>;
  /** Opens the repository again (after changing features.ts, say) and replaces `store`. */
  reopen(): Promise<FeatureStore>;
  /** Removes the repository directory. Safe to call twice. */
  cleanup(): Promise<void>;
}

/** The repository's `larder.config.ts`: embedded registry and online store, offline store under data/. */
export function configSource(project: string): string {
  return [
    `import { defineConfig } from "larder";`,
    `export default defineConfig({`,
    `  project: ${JSON.stringify(project)},`,
    `  definitions: ["./features.ts"],`,
    `  registry: "embedded",`,
    `  online: "embedded",`,
    `  offline: { path: "./data/offline" },`,
    `});`,
    ``,
  ].join("\n");
}

async function writeRepoFile(dir: string, rel: string, content: RepoFile): Promise<void> {
  const path = join(dir, rel);
  await mkdir(dirname(path), { recursive: true });
  if (content instanceof Table) await writeFile(path, parquetBytes(content));
  else await writeFile(path, content);
}

/** Creates a feature repository in a fresh temp directory, opens it and (by default) applies it. */
export async function createFeatureRepo(options: FeatureRepoOptions): Promise<FeatureRepo> {
  const dir = await mkdtemp(join(options.parentDir ?? tmpdir(), "larder-test-"));
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await writeRepoFile(dir, "larder.config.ts", configSource(options.project ?? "test"));
    await writeRepoFile(dir, "features.ts", options.features);
    for (const [rel, content] of Object.entries(options.files ?? {})) await writeRepoFile(dir, rel, content);
    const store = await FeatureStore.open(dir);
    if (options.apply !== false) await store.apply();
    const repo: FeatureRepo = {
      dir,
      store,
      path: (rel) => join(dir, rel),
      writeFile: (rel, content) => writeRepoFile(dir, rel, content),
      reopen: async () => {
        repo.store = await FeatureStore.open(dir);
        return repo.store;
      },
      cleanup,
    };
    return repo;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Runs `fn` with a fresh repository and removes it afterwards, whatever happens. */
export async function withFeatureRepo<T>(options: FeatureRepoOptions, fn: (repo: FeatureRepo) => Promise<T>): Promise<T> {
  const repo = await createFeatureRepo(options);
  try {
    return await fn(repo);
  } finally {
    await repo.cleanup();
  }
}

// ───────────────────────────── errors ─────────────────────────────

/** Awaits `promise`, expecting a LarderError with `code`; returns it (for checks on its message). */
export async function expectLarderError(promise: Promise<unknown>, code: string): Promise<Error & { code: string }> {
  let result: unknown;
  try {
    result = await promise;
  } catch (err) {
    const e = err as { name?: unknown; code?: unknown; message?: unknown };
    if (e?.name !== "LarderError" || e.code !== code) {
      throw new Error(`expected LarderError ${code}, got ${String(e?.name)} ${String(e?.code)}: ${String(e?.message)}`, { cause: err });
    }
    return err as Error & { code: string };
  }
  throw new Error(`expected LarderError ${code}, but the call succeeded (${String(result)})`);
}
