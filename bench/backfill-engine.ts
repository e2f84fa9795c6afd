/**
 * Plain backfill on the offline engine, in process (no CLI start-up), against DuckDB's own
 * `COPY (SELECT … ORDER BY key, ts) TO parquet` over the same file in the same run, alternating
 * which goes first. Also: a view with a row transform (the row path: rows through the transform
 * executor and back through the appender), and, with BENCH_BIG_ROWS, a backfill of that many rows
 * under BENCH_MEMORY_LIMIT (default 1GB) with the process's peak RSS.
 *
 *   node --import tsx bench/backfill-engine.ts            (BENCH_ROWS, default 10M)
 *   BENCH_BIG_ROWS=50000000 node --import tsx bench/backfill-engine.ts
 */
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { DuckDBInstance } from "@duckdb/node-api";
import { entity } from "../src/definitions/entity.js";
import { featureView } from "../src/definitions/feature-view.js";
import { parquetSource } from "../src/definitions/sources.js";
import { OfflineStore } from "../src/offline/offline-store.js";
import { backfillView } from "../src/pipeline/view-pipeline.js";
import { types as t } from "../src/types.js";

const root = resolve(import.meta.dirname, "..");
const rows = Number(process.env.BENCH_ROWS ?? 10_000_000);
const transformRows = Number(process.env.BENCH_TRANSFORM_ROWS ?? 1_000_000);
const bigRows = Number(process.env.BENCH_BIG_ROWS ?? 0);
const memoryLimit = process.env.BENCH_MEMORY_LIMIT ?? "1GB";
const entities = 100_000;
const DAY = 86_400_000;
const start = Date.UTC(2024, 0, 1);
const spanDays = 90;
const dataDir = join(root, "bench", "data", "backfill-engine");

async function generate(db: Awaited<ReturnType<DuckDBInstance["connect"]>>, n: number): Promise<string> {
  const file = join(dataDir, `events-${n}.parquet`);
  if (!existsSync(file)) {
    console.log(`generating ${n.toLocaleString()} rows…`);
    await db.run(`COPY (SELECT (hash(i) % ${entities})::BIGINT AS customer_id,
        make_timestamp(${start * 1000}::BIGINT + (hash(i * 7 + 1) % ${spanDays * 1440}::UBIGINT)::BIGINT * 60000000) AS ts,
        (hash(i * 3) % 100000) / 100.0 AS f1, (hash(i * 5) % 1000) / 10.0 AS f2, (hash(i * 11) % 10000)::DOUBLE AS f3
      FROM range(${n}) t(i)) TO '${file}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)`);
  }
  return file;
}

function views(file: string) {
  const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
  const src = parquetSource({ name: "events", path: file, timestampField: "ts" });
  const plain = featureView({ name: "plain", entities: [customer], source: src, schema: { f1: t.float64, f2: t.float64, f3: t.float64 } });
  const transformed = featureView({
    name: "transformed",
    entities: [customer],
    source: src,
    schema: { f1: t.float64, f2: t.float64, f3: t.float64, ratio: t.float64 },
    transform: (row) => ({ ...row, ratio: (row.f1 as number) / ((row.f3 as number) + 1) }),
  });
  return { plain, transformed };
}

const range = { start: start - DAY, end: start + (spanDays + 1) * DAY };

async function main(): Promise<void> {
  mkdirSync(dataDir, { recursive: true });
  const duck = await DuckDBInstance.create(":memory:", { threads: String(cpus().length) });
  const db = await duck.connect();
  const file = await generate(db, rows);
  const offlineDir = join(dataDir, "offline");
  rmSync(offlineDir, { recursive: true, force: true });
  const store = new OfflineStore(offlineDir);
  const { plain, transformed } = views(file);
  const peerOut = join(dataDir, "duck-plain.parquet");
  console.log(`${rows.toLocaleString()} rows, ${cpus().length} cores`);
  for (const larderFirst of [true, false]) {
    const results: string[] = [];
    const runLarder = async () => {
      const t0 = performance.now();
      const r = await backfillView({ repoDir: dataDir, offline: store, postgresUrl: undefined, onPath: (p) => p === "native" || console.log("(row path)") }, plain, range);
      const ms = performance.now() - t0;
      results.push(`Larder ${(ms / 1000).toFixed(2)} s (${(((r.rowsWritten / ms) * 1000) / 1e6).toFixed(2)}M rows/s, ${r.rowsWritten} rows)`);
    };
    const runDuck = async () => {
      const t0 = performance.now();
      await db.run(`COPY (SELECT customer_id, ts, f1, f2, f3 FROM read_parquet('${file}') ORDER BY customer_id, ts) TO '${peerOut}' (FORMAT parquet)`);
      const ms = performance.now() - t0;
      results.push(`DuckDB ${(ms / 1000).toFixed(2)} s (${(((rows / ms) * 1000) / 1e6).toFixed(2)}M rows/s)`);
    };
    const load = loadavg()[0]!.toFixed(2);
    if (larderFirst) {
      await runLarder();
      await runDuck();
    } else {
      await runDuck();
      await runLarder();
    }
    console.log(`plain backfill (load ${load}): ${results.join(" | ")}`);
  }
  if (transformRows > 0) {
    const tfile = await generate(db, transformRows);
    const { transformed: tv } = views(tfile);
    const t0 = performance.now();
    const r = await backfillView({ repoDir: dataDir, offline: store, postgresUrl: undefined }, tv, range);
    const ms = performance.now() - t0;
    console.log(`transform view (row path, appender): ${(ms / 1000).toFixed(2)} s for ${r.rowsWritten} rows (${(((r.rowsWritten / ms) * 1000) / 1e6).toFixed(2)}M rows/s)`);
    void transformed;
  }
  if (bigRows > 0) {
    const bfile = await generate(db, bigRows);
    db.closeSync();
    duck.closeSync();
    const bigStore = new OfflineStore(join(dataDir, "offline-big"), { engine: { memoryLimit, tempDirectory: join(dataDir, "spill") } });
    const { plain: bv } = views(bfile);
    let peak = 0;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
    const t0 = performance.now();
    const r = await backfillView({ repoDir: dataDir, offline: bigStore, postgresUrl: undefined }, bv, range);
    const ms = performance.now() - t0;
    clearInterval(timer);
    console.log(`${bigRows.toLocaleString()}-row backfill, memory_limit ${memoryLimit}: ${(ms / 1000).toFixed(2)} s, ${r.rowsWritten} rows, peak RSS ${(peak / 2 ** 20).toFixed(0)} MB`);
  }
}

await main();
