/**
 * Training sets from an entity file to a Parquet file (`larder training-set`'s path, where DuckDB
 * reads the entities, joins and writes), against the Arrow path (`getTrainingSet`) on the same rows:
 * the same values, entity columns passed through in order, the same errors, nothing half-written.
 * And the exact-tie rule both paths share: among rows equal in key, event and created timestamp,
 * the first file of the snapshot wins, and within a file its last such row.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { after, before, test } from "node:test";
import { readParquetFile } from "../src/offline/parquet-io.js";
import { arrowTable, col, createFeatureRepo, expectLarderError, fastTempDir, tableRows, writeParquet, type FeatureRepo } from "./helpers/feature-repo.js";

const T0 = Date.UTC(2024, 0, 10);
const MIN = 60_000;
const HOUR = 60 * MIN;

const FEATURES = `
import { entity, parquetSource, featureView, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
export const shop = entity({ name: "shop", joinKeys: ["shop"], valueType: t.string });
const src = parquetSource({ name: "src", path: "data/src.parquet", timestampField: "ts", createdTimestampField: "created" });
export const plain = featureView({ name: "plain", entities: [customer], source: src, schema: { x: t.float64, label: t.string } });
export const recent = featureView({ name: "recent", entities: [customer], source: src, ttl: "1h", schema: { x: t.float64 } });
const shops = parquetSource({ name: "shops", path: "data/shops.parquet", timestampField: "ts" });
export const shopView = featureView({ name: "shop_view", entities: [shop], source: shops, schema: { rating: t.int64, opened: t.timestamp } });
`;

let repo: FeatureRepo;

before(async () => {
  repo = await createFeatureRepo({
    features: FEATURES,
    parentDir: fastTempDir(),
    files: {
      "data/src.parquet": arrowTable({
        customer_id: col.int64([1, 1, 1, 2, 2, 3]),
        ts: col.timestamp([T0, T0 + HOUR, T0 + HOUR, T0, T0 + 3 * HOUR, T0 + 2 * HOUR]),
        created: col.timestamp([T0, T0 + HOUR, T0 + HOUR + 5, T0, T0 + 3 * HOUR, null]),
        x: col.float64([1, 2, 3, 4, null, 6]),
        label: col.string(["a", "b", "c", "d", "e", null]),
      }),
      "data/shops.parquet": arrowTable({
        shop: col.string(["s1", "7", "s1"]),
        ts: col.timestamp([T0, T0, T0 + 2 * HOUR]),
        rating: col.int64([5, 7, 9]),
        opened: col.timestamp([T0 - HOUR, T0 - 2 * HOUR, T0 + HOUR]),
      }),
    },
  });
  await repo.store.backfill({ start: T0 - 24 * HOUR, end: T0 + 24 * HOUR });
});

after(async () => {
  await repo?.cleanup();
});

/** Entity rows out of order, duplicated, with a null key and extra columns of every kind. */
function entityTable(ts: ReturnType<typeof col.timestamp> = col.timestamp([T0 + 2 * HOUR, T0 + 30 * MIN, T0 + 2 * HOUR, T0 + 4 * HOUR, T0 + 5 * HOUR, T0 + HOUR])) {
  return arrowTable({
    note: col.string(["p", null, "r", "s", "t", "u"]),
    customer_id: col.int64([1, 2, 1, 2, null, 3]),
    event_timestamp: ts,
    shop: col.string(["s1", "7", "x", "s1", "s1", null]),
    n32: col.int32([1, -2, null, 4, 5, 6]),
    f: col.float64([0.5, null, 2.5, 3, 4, 5]),
    ok: col.bool([true, false, null, true, false, true]),
    seen: col.timestamp([T0, null, T0 + 1, T0 + 2, T0 + 3, T0 + 4]),
  });
}

const FEATURE_REFS = ["plain:x", "plain:label", "recent:x", "shop_view:rating", "shop_view:opened"];

test("the file path gives the Arrow path's rows: values, TTL, null keys, duplicates, entity columns in order", async () => {
  const entities = entityTable();
  await writeParquet(repo.path("ents.parquet"), entities);
  const out = repo.path("out.parquet");
  const { rows } = await repo.store.writeTrainingSet(repo.path("ents.parquet"), out, { features: FEATURE_REFS, fullFeatureNames: true });
  assert.equal(rows, 6);
  const fromFile = await readParquetFile(out);
  const fromTable = await repo.store.getTrainingSet(entities, { features: FEATURE_REFS, fullFeatureNames: true });
  assert.deepEqual(
    fromFile.schema.fields.map((f) => f.name),
    fromTable.schema.fields.map((f) => f.name),
  );
  assert.deepEqual(tableRows(fromFile), tableRows(fromTable));
  // Hand-checked: row 0 (customer 1 at T0+2h): the T0+1h row created last (x 3); recent's 1 h TTL keeps it.
  assert.deepEqual(
    tableRows(fromTable).map((r) => [r["plain__x"], r["plain__label"], r["recent__x"], r["shop_view__rating"]]),
    [
      [3, "c", 3, 9],
      [4, "d", 4, 7],
      [3, "c", 3, null],
      [null, "e", null, 9],
      [null, null, null, 9],
      [null, null, null, null],
    ],
  );
  assert.deepEqual(
    readdirSync(repo.dir).filter((f) => f.includes(".tmp-")),
    [],
    "no temporary file left",
  );
});

test("entity timestamps as ISO strings in the file go through the one parser and give the same rows", async () => {
  const isoTimes = [T0 + 2 * HOUR, T0 + 30 * MIN, T0 + 2 * HOUR, T0 + 4 * HOUR, T0 + 5 * HOUR, T0 + HOUR].map((t) => new Date(t).toISOString().replace("Z", "+00:00"));
  const entities = entityTable();
  const stringTs = arrowTable({ ...Object.fromEntries(entities.schema.fields.map((f) => [f.name, entities.getChild(f.name)!])), event_timestamp: col.string(isoTimes) });
  await writeParquet(repo.path("ents-iso.parquet"), stringTs);
  const out = repo.path("out-iso.parquet");
  await repo.store.writeTrainingSet(repo.path("ents-iso.parquet"), out, { features: FEATURE_REFS, fullFeatureNames: true });
  const want = await repo.store.getTrainingSet(entities, { features: FEATURE_REFS, fullFeatureNames: true });
  const strip = (rows: Record<string, unknown>[]) => rows.map(({ event_timestamp: _, ...rest }) => rest);
  assert.deepEqual(strip(tableRows(await readParquetFile(out))), strip(tableRows(want)));
});

test("a bad entity timestamp in the file is INVALID_TIMESTAMP naming the row, and nothing is written", async () => {
  await writeParquet(repo.path("ents-bad.parquet"), entityTable(col.timestamp([T0, T0, T0, null, T0, T0])));
  const out = repo.path("out-bad.parquet");
  const err = await expectLarderError(repo.store.writeTrainingSet(repo.path("ents-bad.parquet"), out, { features: FEATURE_REFS, fullFeatureNames: true }), "INVALID_TIMESTAMP");
  assert.match(err.message, /entity row 3/);
  assert.equal(existsSync(out), false);
  assert.deepEqual(
    readdirSync(repo.dir).filter((f) => f.includes(".tmp-")),
    [],
  );
  await expectLarderError(repo.store.writeTrainingSet(repo.path("ents.parquet"), out, { features: ["plain:nope"] }), "UNKNOWN_FEATURE");
  assert.equal(existsSync(out), false);
});

test("exact ties (same key, event and created timestamp): the snapshot's first file wins, and in it the last row", async () => {
  const snapshot = await repo.store.offline.snapshot("plain");
  assert.ok(snapshot);
  const columns = snapshot.columns;
  const tsCol = columns.find((c) => c.role === "event_ts")!.name;
  const createdCol = columns.find((c) => c.role === "created_ts")!.name;
  const t = T0 + 10 * HOUR;
  const chunk = (xs: number[]) => ({
    numRows: xs.length,
    columns: new Map<string, never>(
      columns.map((c) => {
        const values = c.role === "key" ? xs.map(() => 9) : c.name === tsCol || c.name === createdCol ? xs.map(() => t) : c.name === "x" ? xs : xs.map((x) => `v${x}`);
        const column = c.type === "string" ? { type: "string", values } : { type: c.type, values: Float64Array.from(values as number[]), valid: null };
        return [c.name, column as never];
      }),
    ),
  });
  const write = await repo.store.offline.beginWrite("plain", { start: T0 + 9 * HOUR, end: T0 + 11 * HOUR }, columns);
  await write.writeChunk(chunk([1, 2]));
  await write.writeChunk(chunk([3]));
  await write.commit();
  const entities = arrowTable({ customer_id: col.int64([9]), event_timestamp: col.timestamp([t + MIN]) });
  await writeParquet(repo.path("ents-tie.parquet"), entities);
  const fromTable = tableRows(await repo.store.getTrainingSet(entities, { features: ["plain:x", "plain:label"] }));
  assert.deepEqual(fromTable, [{ customer_id: 9, event_timestamp: t + MIN, x: 2, label: "v2" }]);
  await repo.store.writeTrainingSet(repo.path("ents-tie.parquet"), repo.path("out-tie.parquet"), { features: ["plain:x", "plain:label"] });
  assert.deepEqual(tableRows(await readParquetFile(repo.path("out-tie.parquet"))), fromTable);
});
