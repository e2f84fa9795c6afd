/**
 * Property test: the SQL that computes an aggregated view's windows at training-set time
 * (src/offline/window-join-sql.ts) equals the JS windowed-aggregation engine that push and
 * materialization run (src/aggregate/window-aggregator.ts, through event-buffer's aggregateAsOf),
 * on random events written as the offline store writes them (sorted by key, time, created time,
 * arrival; split over files by time as segments are).
 *
 * Made to hit the hard cases often: event times on a small grid so ties are frequent, created times
 * from a small set with null (none lowest), ties on (time, created) resolved by arrival, null values
 * (count counts them, last returns them), entity times on event times, exactly one window after
 * them (the event has left: (T − w, T] excludes T − w) and 1 ms before or after, keys never seen,
 * null keys, unbounded windows, a 1 ms window, `last` of a string column.
 * Every value is compared exactly, except sums and averages (relative 1e-9: the JS engine adds and
 * subtracts as its window slides).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { agg } from "../src/definitions/aggregations.js";
import { entity } from "../src/definitions/entity.js";
import { featureView } from "../src/definitions/feature-view.js";
import { parquetSource } from "../src/definitions/sources.js";
import { aggregateAsOf, bufferColumns, mergeEvents, type BufferedEvent } from "../src/aggregate/event-buffer.js";
import { aggregateValue } from "../src/aggregate/aggregate-value.js";
import { OfflineEngine, sqlString } from "../src/offline/duckdb-engine.js";
import { aggregatedEventColumns, aggregatedViewJoinSql } from "../src/offline/window-join-sql.js";
import { aggregationsOf } from "../src/pipeline/view-pipeline.js";
import { types as t } from "../src/types.js";
import { isLarderError } from "../src/errors.js";

const S = 1000;
const B = Date.UTC(2024, 0, 1);
const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const source = parquetSource({ name: "events", path: "events.parquet", timestampField: "ts", createdTimestampField: "created" });
const view = featureView({
  name: "w",
  entities: [customer],
  source,
  aggregations: {
    n_10s: agg.count("10s"),
    n_all: agg.count(),
    sum_10s: agg.sum("x", "10s"),
    sum_all: agg.sum("x"),
    avg_25s: agg.avg("x", "25s"),
    min_25s: agg.min("x", "25s"),
    max_10s: agg.max("x", "10s"),
    max_1ms: agg.max("x", "1ms"),
    last_x: agg.last("x"),
    last_x_10s: agg.last("x", "10s"),
    last_s: agg.last("s"),
    last_s_25s: agg.last("s", "25s"),
  },
  schema: { last_s: t.string, last_s_25s: t.string },
});
const APPROX = new Set(["sum_10s", "sum_all", "avg_25s"]);
const FEATURES = Object.keys(view.aggregations!);
const WINDOWS = [10 * S, 25 * S, 1];

/** Event times: a small grid (ties) whose gaps hit window edges exactly. */
const EVENT_OFFSETS = [0, 5 * S, 10 * S, 15 * S, 25 * S, 35 * S, 60 * S];
const CREATED: (number | null)[] = [null, B - S, B, B + 7 * S];

interface Ev {
  key: number;
  ts: number;
  created: number | null;
  x: number | null;
  s: string | null;
}
interface Row {
  key: number | null;
  t: number;
}

const evArb = fc.record({
  key: fc.integer({ min: 0, max: 4 }),
  ts: fc.constantFrom(...EVENT_OFFSETS).map((o) => B + o),
  created: fc.constantFrom(...CREATED),
  x: fc.option(fc.oneof(fc.integer({ min: -50, max: 50 }), fc.double({ min: -1e3, max: 1e3, noNaN: true, noDefaultInfinity: true })), { nil: null, freq: 4 }),
  s: fc.option(fc.constantFrom("a", "b", "c", ""), { nil: null, freq: 4 }),
});
/** Entity times: event times, exactly one window later, ±1 ms, far before and after. */
const timeArb = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...EVENT_OFFSETS), fc.constantFrom(0, ...WINDOWS), fc.constantFrom(0, 0, -1, 1)).map(([o, w, d]) => B + o + w + d) },
  { weight: 1, arbitrary: fc.constantFrom(B - 60 * S, B + 3600 * S) },
);
const rowArb = fc.record({
  key: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 4 }) }, { weight: 2, arbitrary: fc.constantFrom(7, 8) }, { weight: 1, arbitrary: fc.constant(null) }),
  t: timeArb,
});

let engine: OfflineEngine;
let dir: string;
let fileSeq = 0;

before(async () => {
  engine = await OfflineEngine.open({ threads: 2, memoryLimit: "1GB" });
  dir = await mkdtemp(join(tmpdir(), "larder-window-sql-"));
});
after(async () => {
  engine?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/**
 * Writes events as the offline store lays them out: per time segment one file, sorted by (key, ts,
 * created, arrival); with `createdSorted` false by (key, ts, arrival) only, which the SQL must not need.
 */
async function writeEvents(events: readonly Ev[], splitAt: number | null, createdSorted = true): Promise<string[]> {
  const segments = splitAt === null ? [events] : [events.filter((e) => e.ts < splitAt), events.filter((e) => e.ts >= splitAt)];
  const files: string[] = [];
  for (const seg of segments) {
    if (seg.length === 0) continue;
    const file = join(dir, `events-${fileSeq++}.parquet`);
    const values = seg.map((e, i) => `(${e.key}, ${e.ts}, ${e.created ?? "NULL"}, ${e.x === null ? "NULL" : `${e.x}::DOUBLE`}, ${e.s === null ? "NULL" : sqlString(e.s)}, ${i})`);
    await engine.run(`COPY (
      SELECT k::BIGINT AS customer_id, make_timestamp(ts * 1000) AS event_timestamp, make_timestamp(c * 1000) AS created_timestamp, x::DOUBLE AS x, s::VARCHAR AS s
      FROM (VALUES ${values.join(", ")}) v(k, ts, c, x, s, seq)
      ORDER BY k, ts, ${createdSorted ? "c NULLS FIRST, " : ""}seq
    ) TO ${sqlString(file)} (FORMAT parquet)`);
    files.push(file);
  }
  return files;
}

async function sqlAggregates(files: string[], rows: readonly Row[]): Promise<Map<number, Record<string, unknown>>> {
  await engine.run("CREATE OR REPLACE TEMP TABLE entity_rows (__row BIGINT, __ts BIGINT, customer_id BIGINT)");
  if (rows.length > 0) await engine.run(`INSERT INTO entity_rows VALUES ${rows.map((r, i) => `(${i}, ${r.t}, ${r.key ?? "NULL"})`).join(", ")}`);
  const out = new Map<number, Record<string, unknown>>();
  for (const r of await engine.rows(aggregatedViewJoinSql({ view, files, features: FEATURES }))) out.set(r.__row as number, r);
  return out;
}

/** The JS engine's value as of T: the key's events in engine order, aggregated by aggregateAsOf. */
function jsAggregates(events: readonly Ev[], row: Row): Record<string, unknown> {
  const aggs = aggregationsOf(view);
  const columns = bufferColumns(aggs);
  // Arrival order is the array order; mergeEvents sorts by (ts, created) and keeps it among ties.
  const mine: BufferedEvent[] = events.filter((e) => e.key === row.key).map((e) => ({ ts: e.ts, created: e.created ?? Number.NEGATIVE_INFINITY, values: columns.map((c) => (c === "x" ? e.x : e.s)) }));
  const { values } = aggregateAsOf(mergeEvents({ columns, events: [] }, mine), aggs, row.t);
  const out: Record<string, unknown> = {};
  aggs.forEach((a, k) => (out[a.name] = aggregateValue(view, a.name, values[k])));
  return out;
}

function same(actual: unknown, expected: unknown, approx: boolean): boolean {
  if (actual === null || expected === null || actual === undefined || expected === undefined) return (actual ?? null) === (expected ?? null);
  if (approx && typeof actual === "number" && typeof expected === "number") return Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(actual), Math.abs(expected));
  return actual === expected;
}

test("the window SQL equals the JS aggregation engine at every instant (ties, nulls, window edges, unseen keys, unbounded windows)", { timeout: 600_000 }, async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(evArb, { maxLength: 60 }), fc.array(rowArb, { minLength: 1, maxLength: 80 }), fc.option(fc.constantFrom(...EVENT_OFFSETS).map((o) => B + o)), fc.boolean(), async (events, rows, splitAt, createdSorted) => {
      const files = await writeEvents(events, splitAt, createdSorted);
      const got = await sqlAggregates(files, rows);
      assert.equal(got.size, rows.length, "one output row per entity row");
      const bad: string[] = [];
      rows.forEach((row, i) => {
        const want = jsAggregates(events, row);
        for (const f of FEATURES) {
          if (!same(got.get(i)?.[f], want[f], APPROX.has(f))) bad.push(`row ${i} (key ${row.key}, T=B+${row.t - B}ms) ${f}: SQL ${String(got.get(i)?.[f])}, JS ${String(want[f])}`);
        }
      });
      assert.deepEqual(bad, []);
    }),
    { numRuns: Number(process.env.WINDOW_SQL_RUNS ?? 150), seed: Number(process.env.WINDOW_SQL_SEED ?? 20_241_203) },
  );
});

test("output columns are typed as the view declares them; no files gives every entity row an empty window", async () => {
  const got = await sqlAggregates(
    [],
    [
      { key: 1, t: B },
      { key: null, t: B },
    ],
  );
  for (const r of got.values()) {
    assert.deepEqual(
      FEATURES.map((f) => r[f]),
      FEATURES.map((f) => (f.startsWith("n_") || f.startsWith("sum_") ? 0 : null)),
    );
  }
  const types = await engine.rows(`DESCRIBE ${aggregatedViewJoinSql({ view, files: [], features: ["n_10s", "sum_10s", "last_s"] })}`);
  assert.deepEqual(
    types.map((c) => [c.column_name, c.column_type]),
    [
      ["__row", "BIGINT"],
      ["n_10s", "BIGINT"],
      ["sum_10s", "DOUBLE"],
      ["last_s", "VARCHAR"],
    ],
  );
  assert.deepEqual(
    aggregatedEventColumns(view).map((c) => `${c.name}:${c.type}:${c.role}`),
    ["customer_id:int64:key", "event_timestamp:timestamp:event_ts", "created_timestamp:timestamp:created_ts", "x:float64:feature", "s:string:feature"],
  );
});

test("an aggregate declared as an integer that is not integral fails the query with the view and aggregation named", async () => {
  const intView = featureView({ name: "iv", entities: [customer], source, aggregations: { total: agg.sum("x", "10s") }, schema: { total: t.int64 } });
  const files = await writeEvents([{ key: 1, ts: B, created: null, x: 1.5, s: null }], null);
  await engine.run("CREATE OR REPLACE TEMP TABLE entity_rows (__row BIGINT, __ts BIGINT, customer_id BIGINT)");
  await engine.run(`INSERT INTO entity_rows VALUES (0, ${B + 20 * S}, 1)`);
  assert.deepEqual(await engine.rows(aggregatedViewJoinSql({ view: intView, files, features: ["total"] })), [{ __row: 0, total: 0 }], "an empty window sums to 0");
  await engine.run(`INSERT INTO entity_rows VALUES (1, ${B}, 1)`);
  await assert.rejects(engine.rows(aggregatedViewJoinSql({ view: intView, files, features: ["total"] })), (err: Error) => {
    assert.ok(!isLarderError(err));
    assert.match(err.message, /LARDER_TYPE_MISMATCH: featureView "iv" aggregations\.total: declared int64 but the aggregate is 1\.5/);
    return true;
  });
});
