/**
 * Bounded memory: a backfill runs on the offline engine, which keeps at most offline.memoryLimit
 * in memory and spills the rest of its sort to offline.tempDirectory. A source much larger than
 * the limit backfills (spilling: files appear in the spill directory while it runs) and writes the
 * same offline rows as a run with plenty of memory, sorted by (key, event time).
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { entity } from "../src/definitions/entity.js";
import { featureView } from "../src/definitions/feature-view.js";
import { parquetSource } from "../src/definitions/sources.js";
import { withOfflineEngine } from "../src/offline/duckdb-engine.js";
import { OfflineStore } from "../src/offline/offline-store.js";
import { backfillView } from "../src/pipeline/view-pipeline.js";
import { types as t } from "../src/types.js";
import { fastTempDir } from "./helpers/feature-repo.js";

const ROWS = 2_000_000;
const T0 = Date.UTC(2024, 0, 1);
let dir: string;

before(async () => {
  dir = await mkdtemp(join(fastTempDir(), "larder-bounded-"));
  // Keys and times in a scrambled order, so the sort has real work; a few exact (key, time) ties.
  await withOfflineEngine({}, (engine) =>
    engine.run(`COPY (SELECT (hash(i) % 50000)::BIGINT AS customer_id, make_timestamp(${T0 * 1000}::BIGINT + (hash(i * 7) % 100000)::BIGINT * 60000000) AS ts,
      (hash(i * 3) % 100000) / 100.0 AS f1, 'v' || (hash(i * 5) % 1000)::VARCHAR AS f2 FROM range(${ROWS}) t(i)) TO '${join(dir, "events.parquet")}' (FORMAT parquet)`),
  );
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("a backfill far larger than the memory limit spills, succeeds and writes the same rows", async () => {
  const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
  const src = parquetSource({ name: "events", path: "events.parquet", timestampField: "ts" });
  const view = featureView({ name: "plain", entities: [customer], source: src, schema: { f1: t.float64, f2: t.string } });
  const range = { start: T0, end: T0 + 200_000 * 60_000 };

  const spill = join(dir, "spill");
  const small = new OfflineStore(join(dir, "small"), { engine: { memoryLimit: "64MB", threads: 1, tempDirectory: spill } });
  let spilled = 0;
  const watch = setInterval(() => {
    if (existsSync(spill)) spilled = Math.max(spilled, readdirSync(spill).length);
  }, 5);
  let paths: string[] = [];
  const a = await backfillView({ repoDir: dir, offline: small, postgresUrl: undefined, onPath: (p) => paths.push(p) }, view, range).finally(() => clearInterval(watch));
  assert.deepEqual(paths, ["native"]);
  assert.ok(spilled > 0, "the engine spilled to offline.tempDirectory");

  const large = new OfflineStore(join(dir, "large"), { engine: { memoryLimit: "2GB" } });
  paths = [];
  const b = await backfillView({ repoDir: dir, offline: large, postgresUrl: undefined, onPath: (p) => paths.push(p) }, view, range);
  assert.deepEqual({ ...a, view: "" }, { ...b, view: "" });
  assert.equal(a.rowsWritten, ROWS);

  const rows = await withOfflineEngine({}, async (engine) => {
    const files = (store: OfflineStore) => `read_parquet('${join(store.root, "plain", "data")}/*.parquet')`;
    const differ = await engine.rows(`SELECT count(*) AS n FROM (SELECT * FROM ${files(small)} EXCEPT ALL SELECT * FROM ${files(large)})`);
    const unsorted = await engine.rows(
      `SELECT count(*) AS n FROM (SELECT customer_id, event_timestamp, lag(customer_id) OVER w AS pk, lag(event_timestamp) OVER w AS pt FROM ${files(small)} WINDOW w AS (ORDER BY file_row_number)) WHERE pk IS NOT NULL AND (pk, pt) > (customer_id, event_timestamp)`,
    );
    return { differ: differ[0]!["n"], unsorted: unsorted[0]!["n"] };
  });
  assert.deepEqual(rows, { differ: 0, unsorted: 0 });
});

test("a transform's rows stream out of the engine and back in, every one, past the appender's flush size", async () => {
  // DuckDB's appender flushes every 204,800 rows; flushing on the connection that streams the
  // source ended the stream there, silently (found by the benchmark). 300,000 rows cross it.
  const n = 300_000;
  await withOfflineEngine({}, (engine) =>
    engine.run(`COPY (SELECT (i % 1000)::BIGINT AS customer_id, make_timestamp(${T0 * 1000}::BIGINT + i * 1000) AS ts, i / 10.0 AS f1 FROM range(${n}) t(i)) TO '${join(dir, "stream.parquet")}' (FORMAT parquet)`),
  );
  const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
  const src = parquetSource({ name: "stream", path: "stream.parquet", timestampField: "ts" });
  const view = featureView({ name: "doubled", entities: [customer], source: src, schema: { f1: t.float64, f2: t.float64 }, transform: (row) => ({ ...row, f2: (row.f1 as number) * 2 }) });
  const store = new OfflineStore(join(dir, "stream-store"));
  const paths: string[] = [];
  const r = await backfillView({ repoDir: dir, offline: store, postgresUrl: undefined, onPath: (p) => paths.push(p) }, view, { start: T0, end: T0 + n * 1000 });
  assert.deepEqual(paths, ["engine-rows"]);
  assert.equal(r.sourceRows, n);
  assert.equal(r.rowsWritten, n);
  const [sum] = await withOfflineEngine({}, (engine) => engine.rows(`SELECT sum(f2) AS s, count(*) AS c FROM read_parquet('${join(store.root, "doubled", "data")}/*.parquet')`));
  assert.equal(sum!["c"], n);
  assert.ok(Math.abs((sum!["s"] as number) - (n * (n - 1)) / 10) < 1e-3, `sum ${String(sum!["s"])}`);
});
