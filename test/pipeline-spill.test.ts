/**
 * Bounded memory: a backfill that spills its rows to disk by entity hash (a tiny memory bound
 * here) must produce the same offline data as one that keeps everything in memory, for plain and
 * aggregated views, with transforms, several files per segment and entities split over buckets.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { arrowTable, col, createFeatureRepo, fastTempDir, tableRows, type FeatureRepo } from "./helpers/feature-repo.js";

const HOUR = 3_600_000;
const B = Date.UTC(2024, 0, 1);
let repo: FeatureRepo;

// A deterministic pseudo-random sequence, so the data is the same on every run.
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

before(async () => {
  const rand = lcg(7);
  const n = 3000;
  const ids: number[] = [];
  const ts: number[] = [];
  const created: number[] = [];
  const x: (number | null)[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(1 + Math.floor(rand() * 97));
    ts.push(B + Math.floor(rand() * 72) * HOUR);
    created.push(B + i);
    x.push(rand() < 0.1 ? null : Math.round(rand() * 1000) / 10);
  }
  const entityIds: number[] = [];
  const entityTs: number[] = [];
  for (let i = 0; i < 500; i++) {
    entityIds.push(1 + Math.floor(rand() * 100));
    entityTs.push(B + Math.floor(rand() * 80 * HOUR));
  }
  repo = await createFeatureRepo({
    parentDir: fastTempDir(),
    features: `import { agg, entity, featureView, parquetSource, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const src = parquetSource({ name: "events", path: "data/events.parquet", timestampField: "ts", createdTimestampField: "created" });
export const plain = featureView({ name: "plain", entities: [customer], source: src, schema: { x: t.float64, doubled: t.float64 },
  transform: (row) => ({ ...row, doubled: row.x == null ? null : row.x * 2 }) });
export const windows = featureView({ name: "windows", entities: [customer], source: src, aggregations: {
  s3h: agg.sum("x", "3h"), c1d: agg.count("1d"), a6h: agg.avg("x", "6h"), m2h: agg.max("x", "2h"), l: agg.last("x") } });
`,
    files: {
      "data/events.parquet": arrowTable({ customer_id: col.int64(ids), ts: col.timestamp(ts), created: col.timestamp(created), x: col.float64(x) }),
    },
  });
  (repo as FeatureRepo & { entities?: unknown }).entities = arrowTable({ customer_id: col.int64(entityIds), event_timestamp: col.timestamp(entityTs) });
});

after(async () => {
  await repo?.cleanup();
});

async function trainingRows(): Promise<Record<string, unknown>[]> {
  const entities = (repo as FeatureRepo & { entities: Parameters<typeof repo.store.getTrainingSet>[0] }).entities;
  const table = await repo.store.getTrainingSet(entities, {
    features: ["plain:x", "plain:doubled", "windows:s3h", "windows:c1d", "windows:a6h", "windows:m2h", "windows:l"],
  });
  return tableRows(table);
}

test("a backfill that spills to disk gives the same training set as one in memory", async () => {
  const range = { start: B - 24 * HOUR, end: B + 96 * HOUR };
  const inMemory = await repo.store.backfill(range);
  assert.ok(inMemory.every((r) => r.files === 1), "the in-memory run writes one file per view");
  const expected = await trainingRows();

  const spilled = await repo.store.backfill({ ...range, memoryRows: 100 });
  assert.ok(spilled.every((r) => r.files > 1), `the spilling run writes one file per bucket (got ${spilled.map((r) => r.files).join(", ")})`);
  assert.deepEqual(
    spilled.map((r) => r.rowsWritten),
    inMemory.map((r) => r.rowsWritten),
    "the same number of offline rows",
  );
  const actual = await trainingRows();
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    for (const [k, v] of Object.entries(expected[i]!)) {
      const a = actual[i]![k];
      if (typeof v === "number" && typeof a === "number") assert.ok(Math.abs(v - a) <= 1e-9 * Math.max(1, Math.abs(v)), `row ${i} ${k}: ${a} vs ${v}`);
      else assert.deepEqual(a, v, `row ${i} ${k}`);
    }
  }
  assert.ok(expected.some((r) => r.c1d !== null && (r.c1d as number) > 0), "the data exercises non-empty windows");
});
