/**
 * The measurement behind storing aggregated views' events offline (issue 11, item 2): on generated
 * data (BENCH_EVENTS events for BENCH_ENTITIES customers over 90 days on a minute grid, four
 * windows as in bench/run.ts, BENCH_ENTITY_ROWS entity rows), in one process per code version:
 *
 *   node --import tsx bench/window-layout.ts <larder root> store   backfill + training set through
 *     FeatureStore (run it once with this tree, once with an export of the change-point version)
 *   node --import tsx bench/window-layout.ts <larder root> sql     the window SQL alone over the
 *     events backfill's files vs a hand-written DuckDB window query (the peer), same engine settings
 *
 * Prints timings, rows stored and a checksum of the training set's values to compare versions.
 */
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadavg } from "node:os";
import { DuckDBInstance } from "@duckdb/node-api";

const root = resolve(process.argv[2] ?? ".");
const mode = process.argv[3] ?? "store";
const entities = Number(process.env.BENCH_ENTITIES ?? 100_000);
const events = Number(process.env.BENCH_EVENTS ?? 2_000_000);
const entityRows = Number(process.env.BENCH_ENTITY_ROWS ?? 500_000);
const DAY = 86_400_000;
const HOUR = 3_600_000;
const start = Date.UTC(2024, 0, 1);
const spanDays = 90;
const dataDir = resolve(process.env.BENCH_DIR ?? "/tmp/larder-window-bench", `${entities}-${events}-${entityRows}`);
const FEATURES = ["f1_sum_1d", "n_7d", "f2_avg_7d", "f3_max_1h"];

async function generate(): Promise<void> {
  if (existsSync(join(dataDir, "entities.parquet"))) return;
  mkdirSync(dataDir, { recursive: true });
  const duck = await DuckDBInstance.create(":memory:");
  const db = await duck.connect();
  await db.run(`COPY (SELECT (hash(i) % ${entities})::BIGINT AS customer_id,
      make_timestamp(${start * 1000}::BIGINT + (hash(i * 7 + 1) % ${spanDays * 1440}::UBIGINT)::BIGINT * 60000000) AS ts,
      (hash(i * 3) % 100000) / 100.0 AS f1, (hash(i * 5) % 1000) / 10.0 AS f2, (hash(i * 11) % 10000)::DOUBLE AS f3
    FROM range(${events}) t(i)) TO '${join(dataDir, "events.parquet")}' (FORMAT parquet)`);
  await db.run(`COPY (SELECT (hash(i * 13) % ${Math.round(entities * 1.05)})::BIGINT AS customer_id,
      make_timestamp(${start * 1000}::BIGINT + (hash(i * 17 + 3) % ${(spanDays + 5) * 1440}::UBIGINT)::BIGINT * 60000000) AS event_timestamp
    FROM range(${entityRows}) t(i)) TO '${join(dataDir, "entities.parquet")}' (FORMAT parquet)`);
  db.closeSync();
  duck.closeSync();
}

function repoFor(tag: string): string {
  const dir = join(dataDir, `repo-${tag}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "data"), { recursive: true });
  symlinkSync(join(dataDir, "events.parquet"), join(dir, "data", "events.parquet"));
  writeFileSync(join(dir, "larder.config.ts"), `export default { project: "bench", definitions: ["./features.ts"], registry: "embedded", online: "embedded", offline: { path: "./offline" } };\n`);
  writeFileSync(
    join(dir, "features.ts"),
    `import { agg, entity, featureView, parquetSource, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const src = parquetSource({ name: "events", path: "data/events.parquet", timestampField: "ts" });
export const windows = featureView({ name: "windows", entities: [customer], source: src, aggregations: {
  f1_sum_1d: agg.sum("f1", "1d"), n_7d: agg.count("7d"), f2_avg_7d: agg.avg("f2", "7d"), f3_max_1h: agg.max("f3", "1h") } });
`,
  );
  return dir;
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const load = loadavg()[0]!.toFixed(1);
  const t = performance.now();
  const r = await fn();
  console.log(`${label}: ${((performance.now() - t) / 1000).toFixed(2)} s (load ${load} → ${loadavg()[0]!.toFixed(1)})`);
  return r;
}

async function store(): Promise<void> {
  const { FeatureStore } = (await import(join(root, "src", "feature-store.ts"))) as typeof import("../src/feature-store.js");
  const { readEntityRows } = (await import(join(root, "src", "offline", "entity-rows.ts"))) as typeof import("../src/offline/entity-rows.js");
  const dir = repoFor(root.replaceAll("/", "_"));
  const fs = await FeatureStore.open(dir);
  await fs.apply();
  const res = await timed("backfill", () => fs.backfill({ start: start - DAY, end: start + (spanDays + 1) * DAY }));
  console.log(`offline rows: ${JSON.stringify(res.map((r) => ("rowsWritten" in r ? r.rowsWritten : r)))}`);
  const table = await readEntityRows(join(dataDir, "entities.parquet"));
  const out = await timed("training set", () => fs.getTrainingSet(table, { features: FEATURES.map((f) => `windows:${f}`) }));
  let n7 = 0;
  let max = 0;
  let sum = 0;
  const a = out.getChild("n_7d")!.toArray() as ArrayLike<number | bigint>;
  const m = out.getChild("f3_max_1h")!.toArray() as ArrayLike<number>;
  const s = out.getChild("f1_sum_1d")!.toArray() as ArrayLike<number>;
  for (let i = 0; i < out.numRows; i++) {
    n7 += Number(a[i] ?? 0);
    max += m[i] ?? 0;
    sum += s[i] ?? 0;
  }
  console.log(`training set rows ${out.numRows}; checksums n_7d ${n7}, f3_max_1h ${max}, f1_sum_1d ${sum.toFixed(2)}`);
}

async function sql(): Promise<void> {
  const { OfflineEngine } = (await import(join(root, "src", "offline", "duckdb-engine.ts"))) as typeof import("../src/offline/duckdb-engine.js");
  const { aggregatedViewJoinSql } = (await import(join(root, "src", "offline", "window-join-sql.ts"))) as typeof import("../src/offline/window-join-sql.js");
  const { loadRepo } = (await import(join(root, "src", "config", "load-repo.ts"))) as typeof import("../src/config/load-repo.js");
  const dir = join(dataDir, `repo-${root.replaceAll("/", "_")}`);
  const repo = await loadRepo(dir);
  const view = repo.definitions.featureViews.get("windows")!;
  const manifest = JSON.parse(readFileSync(join(dir, "offline", "windows", "manifest.json"), "utf8")) as { segments: { files: { file: string }[] }[] };
  const files = manifest.segments.flatMap((s) => s.files.map((f) => join(dir, "offline", "windows", "data", f.file)));
  const engine = await OfflineEngine.open({});
  await engine.run(`CREATE TEMP TABLE entity_rows AS SELECT (row_number() OVER () - 1)::BIGINT AS __row, epoch_ms(event_timestamp) AS __ts, customer_id FROM read_parquet('${join(dataDir, "entities.parquet")}')`);
  const list = `[${files.map((f) => `'${f}'`).join(", ")}]`;
  const frame = (ms: number) => `PARTITION BY customer_id ORDER BY __ts RANGE BETWEEN ${ms - 1} PRECEDING AND CURRENT ROW`;
  // The peer: what one would write by hand — entity rows as markers in the events, RANGE frames.
  const peer = `SELECT __row, coalesce(sum(f1) OVER (${frame(DAY)}), 0) AS f1_sum_1d, count(ev) OVER (${frame(7 * DAY)}) AS n_7d,
      avg(f2) OVER (${frame(7 * DAY)}) AS f2_avg_7d, max(f3) OVER (${frame(HOUR)}) AS f3_max_1h
    FROM (SELECT customer_id, __ts, __row, NULL::BOOLEAN AS ev, NULL::DOUBLE AS f1, NULL::DOUBLE AS f2, NULL::DOUBLE AS f3 FROM entity_rows
      UNION ALL SELECT customer_id, epoch_ms(event_timestamp), NULL, TRUE, f1, f2, f3 FROM read_parquet(${list}))
    QUALIFY __row IS NOT NULL`;
  const ours = aggregatedViewJoinSql({ view, files, features: FEATURES });
  const check = (q: string) => `SELECT count(*) AS n, sum(n_7d) AS n7, sum(f3_max_1h) AS mx, sum(f1_sum_1d) AS s FROM (${q})`;
  for (let round = 0; round < 2; round++) {
    for (const [label, q] of round === 0
      ? [
          ["larder SQL", ours],
          ["peer SQL", peer],
        ]
      : [
          ["peer SQL", peer],
          ["larder SQL", ours],
        ]) {
      const rows = await timed(`${label} (round ${round + 1})`, () => engine.rows(`CREATE OR REPLACE TEMP TABLE out AS ${q}`).then(() => engine.rows(check("SELECT * FROM out"))));
      console.log(`  ${JSON.stringify(rows[0])}`);
    }
  }
  const diff = await engine.rows(`SELECT count(*) AS differing FROM (${ours}) o JOIN (${peer}) p USING (__row)
    WHERE o.n_7d <> p.n_7d OR o.f3_max_1h IS DISTINCT FROM p.f3_max_1h OR abs(o.f1_sum_1d - p.f1_sum_1d) > 1e-9 * greatest(1, abs(p.f1_sum_1d))
      OR (o.f2_avg_7d IS NULL) <> (p.f2_avg_7d IS NULL) OR abs(o.f2_avg_7d - p.f2_avg_7d) > 1e-9 * greatest(1, abs(p.f2_avg_7d))`);
  console.log(`rows differing from the peer: ${JSON.stringify(diff[0])}`);
  engine.close();
}

await generate();
if (mode === "store") await store();
else await sql();
