/**
 * Materialization into Redis: Larder against raw pipelined writes of the same data, from the same
 * process, in the same run, on a dedicated redis-server (a free loopback port, nothing persisted,
 * FLUSHALL SYNC between the runs so each starts from an empty server).
 *
 *   node --import tsx bench/materialize-redis.ts        (BENCH_MAT_ENTITIES=1000000, BENCH_MAT_FEATURES=20, BENCH_MAT_ROUNDS=3)
 *
 * Rows measured (1 row per entity, N entities × F float64 features):
 *   1. raw SET        the peer: ioredis pipelines of 1,000 `SET benchmat:wide:<id> <packed row>`, 4
 *                     pipelines in flight — Larder's own layout (the key and the packed string of
 *                     src/online/packed-row.ts, packed in the loop), from columns already decoded in
 *                     memory, with no monotonic compare: the lower bound on writing that layout.
 *   2. raw MSET       the same keys and packed strings, one `MSET` of 1,000 keys per batch, 4 in
 *                     flight: one command per batch, as Larder's one script call per 500 rows.
 *   3. raw HSET       ioredis pipelines of 1,000 `HSET raw:wide:<id> f0 v0 … f19 v19`, 4 in flight:
 *                     a different layout (a 20-field hash), the usual hand-written baseline.
 *   4. store.write    Larder's OnlineStore.write (Lua compare-and-set per row, packed row) of the
 *                     same in-memory rows, 1,000 rows per call, 4 calls in flight (materialize's
 *                     batching).
 *   5. materialize    `FeatureStore.materialize` end to end: offline Parquet → latest row per entity
 *                     → OnlineStore.write, under the registry lock, run recorded, watermark set.
 * For each: rows/s, and Redis memory per entity (INFO memory used_memory after − before, / N).
 * The five run in turn, BENCH_MAT_ROUNDS times, in the order above in odd rounds and reversed in
 * even ones (the machine is shared: one round can be hit by load the next is not); the table
 * gives medians, ranges, and the per-round ratios to raw SET and raw MSET.
 *
 * Data: a generated source Parquet in bench/data/materialize-<N>x<F>/ (gitignored), backfilled once
 * into that repository's offline store (embedded registry) and reused by later runs.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { Float64, Int64, Table, TimestampMillisecond, tableFromIPC, tableToIPC, vectorFromArray, type Vector } from "apache-arrow";
import { Redis } from "ioredis";
import * as pw from "parquet-wasm";
import { FeatureStore } from "../src/feature-store.js";
import { openOnlineStore } from "../src/online/open-online-store.js";
import type { OnlineRow } from "../src/online/online-store.js";
import { packRow, schemaIdFor } from "../src/online/packed-row.js";
import { startRedisServer } from "../test/helpers/redis-cluster.js";
import { rng } from "../test/helpers/seeded-random.js";
import { writeBenchRepo } from "./bench-repo.js";

const root = resolve(import.meta.dirname, "..");
const N = Number(process.env.BENCH_MAT_ENTITIES ?? 1_000_000);
const F = Number(process.env.BENCH_MAT_FEATURES ?? 20);
const ROUNDS = Number(process.env.BENCH_MAT_ROUNDS ?? 3);
const BATCH = 1000;
const IN_FLIGHT = 4;
const dataDir = join(root, "bench", "data", `materialize-${N}x${F}`);
const repoDir = join(dataDir, "repo");
const srcFile = join(repoDir, "data", "features.parquet");
const DAY = 86_400_000;
const T0 = Date.UTC(2024, 0, 1);
const features = Array.from({ length: F }, (_, i) => `f${i}`);

interface Columns {
  ids: number[];
  ts: number[];
  values: Float64Array[];
}

function generate(): Columns {
  const r = rng(7);
  const ids = Array.from({ length: N }, (_, i) => i + 1);
  const ts = Array.from({ length: N }, () => T0 + Math.floor(r() * DAY));
  // Four decimals: typical of real features, and the same text in both layouts.
  const values = features.map(() => Float64Array.from({ length: N }, () => Math.round(r() * 1e8) / 1e4));
  return { ids, ts, values };
}

function writeRepo(cols: Columns): void {
  mkdirSync(join(repoDir, "data"), { recursive: true });
  const vectors: Record<string, Vector> = {
    customer_id: vectorFromArray(
      cols.ids.map((i) => BigInt(i)),
      new Int64(),
    ),
    ts: vectorFromArray(cols.ts, new TimestampMillisecond("UTC")),
  };
  features.forEach((f, k) => (vectors[f] = vectorFromArray(Array.from(cols.values[k]!), new Float64())));
  const table = new Table(vectors);
  writeFileSync(srcFile, pw.writeParquet(pw.Table.fromIPCStream(tableToIPC(table, "stream"))));
  writeBenchRepo(repoDir, { project: "benchmat", views: { wide: features } });
}

/** The source file's columns (the raw baseline writes what Larder reads). */
function readColumns(): Columns {
  const t = tableFromIPC(pw.readParquet(readFileSync(srcFile)).intoIPCStream());
  const ids = Array.from(t.getChild("customer_id")!.toArray() as BigInt64Array, Number);
  const tsVec = t.getChild("ts")!;
  const ts = Array.from({ length: t.numRows }, (_, i) => Number(tsVec.get(i)));
  const values = features.map((f) => Float64Array.from(t.getChild(f)!.toArray() as Float64Array));
  return { ids, ts, values };
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info("memory");
  return Number(/used_memory:(\d+)/.exec(info)![1]);
}

/** Runs `fn` on an empty server; returns its duration and the memory it added per entity. */
async function measure(redis: Redis, fn: () => Promise<void>): Promise<{ ms: number; bytesPerEntity: number; keys: number }> {
  await redis.flushall("SYNC");
  const before = await usedMemory(redis);
  const t = performance.now();
  await fn();
  const ms = performance.now() - t;
  const after = await usedMemory(redis);
  const keys = await redis.dbsize();
  return { ms, bytesPerEntity: (after - before) / N, keys };
}

/** Runs `batches` calls with up to IN_FLIGHT at once. */
async function overlapped(count: number, call: (b: number) => Promise<unknown>): Promise<void> {
  const inFlight = new Set<Promise<unknown>>();
  for (let b = 0; b < count; b++) {
    const p: Promise<unknown> = call(b).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
}

async function main(): Promise<void> {
  if (!existsSync(srcFile)) {
    console.log(`generating ${N.toLocaleString()} entities × ${F} float features into ${dataDir}…`);
    writeRepo(generate());
  }
  const server = await startRedisServer();
  process.env.LARDER_ONLINE_URL = server.url;
  const redis = new Redis(server.url);
  try {
    const store = await FeatureStore.open(repoDir);
    const range = { start: T0 - DAY, end: T0 + 2 * DAY };
    if (!existsSync(join(repoDir, "offline", "wide"))) {
      console.log("apply + backfill into the offline store (once)…");
      await store.apply();
      await store.backfill(range);
    }
    const cols = readColumns();
    const batches = Math.ceil(N / BATCH);
    const load = loadavg()[0]!.toFixed(2);

    type M = Awaited<ReturnType<typeof measure>>;
    type Key = "set" | "mset" | "hset" | "write" | "mat";
    const runs: Record<Key, M>[] = [];
    const online = await openOnlineStore(server.url, { repoDir });
    const schemaId = schemaIdFor(features);
    const rowValues = (i: number): number[] => {
      const values = new Array<number>(F);
      for (let k = 0; k < F; k++) values[k] = cols.values[k]![i]!;
      return values;
    };
    const measured: Record<Key, () => Promise<M>> = {
      set: () =>
        measure(redis, async () => {
          await redis.set(`benchmat:wide:#${schemaId}`, JSON.stringify(features));
          await overlapped(batches, (b) => {
            const p = redis.pipeline();
            const now = Date.now();
            for (let i = b * BATCH; i < Math.min(N, (b + 1) * BATCH); i++) p.set(`benchmat:wide:${cols.ids[i]}`, packRow(cols.ts[i]!, now, null, schemaId, rowValues(i)));
            return p.exec();
          });
        }),
      mset: () =>
        measure(redis, async () => {
          await redis.set(`benchmat:wide:#${schemaId}`, JSON.stringify(features));
          await overlapped(batches, (b) => {
            const args: string[] = [];
            const now = Date.now();
            for (let i = b * BATCH; i < Math.min(N, (b + 1) * BATCH); i++) args.push(`benchmat:wide:${cols.ids[i]}`, packRow(cols.ts[i]!, now, null, schemaId, rowValues(i)));
            return redis.mset(...args);
          });
        }),
      hset: () =>
        measure(redis, () =>
          overlapped(batches, (b) => {
            const p = redis.pipeline();
            for (let i = b * BATCH; i < Math.min(N, (b + 1) * BATCH); i++) {
              const args: (string | number)[] = [];
              for (let k = 0; k < F; k++) args.push(features[k]!, cols.values[k]![i]!);
              p.hset(`raw:wide:${cols.ids[i]}`, ...args);
            }
            return p.exec();
          }),
        ),
      write: () =>
        measure(redis, () =>
          overlapped(batches, (b) => {
            const rows: OnlineRow[] = [];
            // The entity key materialize computes for an int64 key (entity-key-codec): the number's text.
            for (let i = b * BATCH; i < Math.min(N, (b + 1) * BATCH); i++) rows.push({ entityKey: String(cols.ids[i]), eventTs: cols.ts[i]!, values: rowValues(i) });
            return online.write("benchmat", "wide", rows, { features, ttlMs: null });
          }),
        ),
      mat: async () => {
        let rows = 0;
        const m = await measure(redis, async () => {
          const [res] = await store.materialize(range);
          rows = res!.rows;
        });
        if (rows !== N) throw new Error(`materialize wrote ${rows} rows, expected ${N}`);
        return m;
      },
    };
    const order: Key[] = ["set", "mset", "hset", "write", "mat"];
    const loads: string[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const result = {} as Record<Key, M>;
      for (const key of round % 2 === 1 ? order : [...order].reverse()) {
        console.log(`round ${round}/${ROUNDS}: ${key}…`);
        result[key] = await measured[key]();
      }
      runs.push(result);
      loads.push(loadavg()[0]!.toFixed(2));
      const r = (m: M) => Math.round(N / (m.ms / 1000)).toLocaleString("en-US");
      console.log(
        `  rows/s: raw SET ${r(result.set)}, raw MSET ${r(result.mset)}, raw HSET ${r(result.hset)}, write ${r(result.write)} (${(result.set.ms / result.write.ms).toFixed(2)}× raw SET), materialize ${r(result.mat)} (${(result.set.ms / result.mat.ms).toFixed(2)}× raw SET); load ${loads.at(-1)}`,
      );
    }
    await online.close();

    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const rate = (ms: number) => Math.round(N / (ms / 1000));
    const names: Record<Key, string> = {
      set: "raw pipelined SET of the packed rows (Larder's layout, no compare)",
      mset: "raw MSET of the packed rows, 1,000 keys per command (Larder's layout, no compare)",
      hset: "raw pipelined HSET (20-field hashes: another layout)",
      write: "Larder OnlineStore.write (in-memory rows)",
      mat: "Larder materialize (offline Parquet → Redis)",
    };
    console.log(`\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, Node ${process.version}; load average ${load} at start, after each round: ${loads.join(", ")}`);
    console.log(`data: ${N.toLocaleString()} entities × ${F} float64 features, redis-server ${server.url}; ${ROUNDS} rounds (order reversed in even rounds), medians (ratios per round, then their median)\n`);
    console.log("| | rows/s (median) | range | vs raw SET, same round (median; range) | vs raw MSET, same round (median; range) | Redis memory per entity | keys |\n|---|---|---|---|---|---|---|");
    for (const key of order) {
      const rates = runs.map((x) => rate(x[key].ms));
      const vs = (peer: Key) => {
        const ratios = runs.map((x) => x[peer].ms / x[key].ms);
        return `${median(ratios).toFixed(2)}× (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
      };
      const last = runs.at(-1)![key];
      console.log(
        `| ${names[key]} | ${median(rates).toLocaleString("en-US")} | ${Math.min(...rates).toLocaleString("en-US")}–${Math.max(...rates).toLocaleString("en-US")} | ${vs("set")} | ${vs("mset")} | ${Math.round(last.bytesPerEntity)} B | ${last.keys.toLocaleString("en-US")} |`,
      );
    }
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

await main();
