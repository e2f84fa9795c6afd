/**
 * Offline push: rows appended to the push source's batch source show up in the next backfill —
 * a Parquet directory, a Parquet glob (a new file, written atomically), a Postgres table (one
 * transaction: all rows or none); single Parquet files, CSV and Postgres queries are
 * PUSH_OFFLINE_UNSUPPORTED naming the source.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { httpStatusFor, type ErrorCode } from "../src/errors.js";
import type { FeatureStore } from "../src/feature-store.js";
import { buildServer } from "../src/server/app.js";
import { arrowTable, col, createFeatureRepo, expectLarderError, tableRows, withFeatureRepo } from "./helpers/feature-repo.js";
import { eventsTable, PUSH_FEATURES, postgresPushFeatures } from "./helpers/push-repo.js";
import { postgresAvailable, requireServices, testPostgresUrl } from "./helpers/services.js";

const MIN = 60_000;
const BASE = Date.UTC(2024, 4, 1);
const RANGE = { start: BASE - 86_400_000, end: BASE + 86_400_000 };
const REFS = ["spend:n_1h", "spend:sum_1h", "latest_txn:amount_cents", "latest_txn:note"];

async function featuresAt(store: FeatureStore, customers: number[], at: number): Promise<Record<string, unknown>[]> {
  return tableRows(await store.getTrainingSet(arrowTable({ customer_id: col.int64(customers), event_timestamp: col.timestamp(customers.map(() => at)) }), { features: REFS }));
}

test("Parquet directory: offline push writes one new file the next backfill reads; online is untouched; online_and_offline does both", async () => {
  await withFeatureRepo({ features: PUSH_FEATURES, files: { "data/txns/part-0.parquet": eventsTable([{ cust: 1, ts: BASE, created: BASE, amount_cents: 100, note: "first" }]) } }, async (repo) => {
    const store = repo.store;
    const res = await store.push("txn_push", { cust: [1, 2], ts: [new Date(BASE + MIN).toISOString(), BASE + 2 * MIN], created: [BASE + MIN, null], amount_cents: [250, 7], note: ["pushed", null] }, { to: "offline" });
    assert.deepEqual(res, { pushSource: "txn_push", rows: 2, views: [] });
    const files = (await readdir(repo.path("data/txns"))).sort();
    assert.equal(files.length, 2);
    assert.match(files[1]!, /^push-\d{8}T\d{9}Z-[0-9a-f]{8}\.parquet$/);
    const online = await store.getOnlineFeatures({ customer_id: [1, 2] }, { features: ["latest_txn:note"] });
    assert.deepEqual(online.results[1]!.statuses, ["NOT_FOUND", "NOT_FOUND"]);

    await store.backfill(RANGE);
    assert.deepEqual(await featuresAt(store, [1, 2], BASE + 3 * MIN), [
      { customer_id: 1, event_timestamp: BASE + 3 * MIN, n_1h: 2, sum_1h: 3.5, amount_cents: 250, note: "pushed" },
      { customer_id: 2, event_timestamp: BASE + 3 * MIN, n_1h: 1, sum_1h: 0.07, amount_cents: 7, note: null },
    ]);

    const both = await store.push("txn_push", { cust: [2], ts: [BASE + 4 * MIN], created: [null], amount_cents: [13], note: ["both"] }, { to: "online_and_offline" });
    assert.deepEqual(both.views.map((v) => [v.view, v.written]).sort(), [
      ["latest_txn", 1],
      ["recent", 1],
      ["spend", 1],
    ]);
    assert.equal((await readdir(repo.path("data/txns"))).length, 3);
    await store.backfill(RANGE);
    assert.deepEqual((await featuresAt(store, [2], BASE + 5 * MIN))[0], { customer_id: 2, event_timestamp: BASE + 5 * MIN, n_1h: 2, sum_1h: 0.2, amount_cents: 13, note: "both" });
    const read = await store.getOnlineFeatures({ customer_id: [2] }, { features: ["latest_txn:note"] });
    assert.deepEqual(read.results[1]!.values, ["both"]);
    // The second backfill merged the two push files into one (compaction).
    assert.equal((await readdir(repo.path("data/txns"))).length, 2);
    // A column the source files do not have is refused before anything is written.
    await expectLarderError(store.push("txn_push", { cust: [3], ts: [BASE], created: [null], amount_cents: [1], note: [null], extra: [1] }, { to: "offline" }), "INVALID_ENTITIES");
    assert.equal((await readdir(repo.path("data/txns"))).length, 2);
  });
});

const VARIANTS = `
import { entity, parquetSource, csvSource, postgresSource, pushSource, featureView, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const globbed = parquetSource({ name: "globbed", path: "data/g/txn-*.parquet", timestampField: "ts" });
const single = parquetSource({ name: "single", path: "data/single.parquet", timestampField: "ts" });
const csv = csvSource({ name: "csv", path: "data/t.csv", timestampField: "ts" });
const query = postgresSource({ name: "query", query: "select 1 as customer_id, now() as ts, 1 as x", timestampField: "ts", connection: "postgres://127.0.0.1:1/none" });
export const pg = pushSource({ name: "glob_push", batchSource: globbed });
export const p2 = pushSource({ name: "single_push", batchSource: single });
export const p3 = pushSource({ name: "csv_push", batchSource: csv });
export const p4 = pushSource({ name: "query_push", batchSource: query });
export const g = featureView({ name: "g", entities: [customer], source: pg, schema: { x: t.float64 } });
`;

test("a Parquet glob gets a file matching it; single files, CSV and queries are PUSH_OFFLINE_UNSUPPORTED naming the source", async () => {
  const table = arrowTable({ customer_id: col.int64([1]), ts: col.timestamp([BASE]), x: col.float64([1.5]) });
  await withFeatureRepo({ features: VARIANTS, files: { "data/g/txn-0.parquet": table, "data/single.parquet": table, "data/t.csv": "customer_id,ts,x\n1,2024-05-01T00:00:00Z,1\n" }, apply: false }, async (repo) => {
    const store = repo.store;
    await store.withRegistry(async (r) => {
      const { definitionRecords } = await import("../src/definitions/definition-records.js");
      await r.apply(store.project, definitionRecords(store.repo.definitions));
    });
    await store.push("glob_push", { customer_id: [2], ts: [BASE + MIN], x: [2.5] }, { to: "offline" });
    const files = (await readdir(repo.path("data/g"))).sort();
    assert.equal(files.length, 2);
    assert.match(files[1]!, /^txn-push-.*\.parquet$/);
    await store.backfill(RANGE);
    const rows = tableRows(await store.getTrainingSet(arrowTable({ customer_id: col.int64([1, 2]), event_timestamp: col.timestamp([BASE + 2 * MIN, BASE + 2 * MIN]) }), { features: ["g:x"] }));
    assert.deepEqual(
      rows.map((r) => r.x),
      [1.5, 2.5],
    );
    for (const name of ["single", "csv", "query"]) {
      const err = await expectLarderError(store.push(`${name}_push`, { customer_id: [1], ts: [BASE] }, { to: "offline" }), "PUSH_OFFLINE_UNSUPPORTED");
      assert.match(err.message, new RegExp(`source "${name}"`));
    }
    // Online-only pushes of those sources are fine (they have no views here: nothing to write).
    assert.deepEqual((await store.push("single_push", { customer_id: [1], ts: [BASE] })).views, []);
  });
});

const PG_URL = testPostgresUrl();
if (!(await postgresAvailable(PG_URL))) {
  if (requireServices()) throw new Error(`Postgres is unavailable at ${PG_URL}`);
  test("offline push to Postgres", { skip: `Postgres is unavailable at ${PG_URL}` }, () => {});
} else {
  describe("offline push to a Postgres table", () => {
    const schema = `push_${randomBytes(4).toString("hex")}`;
    const client = new pg.Client({ connectionString: PG_URL });
    before(async () => {
      await client.connect();
      await client.query(`create schema ${schema}; create table ${schema}.txns (cust bigint, ts timestamptz not null, created timestamptz, amount_cents bigint, note text)`);
      await client.query(`insert into ${schema}.txns values (1, $1, null, 100, 'first')`, [new Date(BASE)]);
    });
    after(async () => {
      await client.query(`drop schema if exists ${schema} cascade`).catch(() => {});
      await client.end();
    });

    test("rows are inserted in one transaction and the next backfill reads them; a refused insert leaves the table as it was", async () => {
      const features = postgresPushFeatures(`${schema}.txns`, PG_URL);
      const repo = await createFeatureRepo({ features });
      try {
        const store = repo.store;
        await store.push("txn_push", { cust: [1, 2], ts: ["2024-05-01T00:01:00Z", BASE + 2 * MIN], created: [null, BASE], amount_cents: [250, 7], note: ["pushed", null] }, { to: "offline" });
        assert.equal((await client.query(`select count(*)::int as n from ${schema}.txns`)).rows[0].n, 3);
        await store.backfill(RANGE);
        assert.deepEqual(await featuresAt(store, [1, 2], BASE + 3 * MIN), [
          { customer_id: 1, event_timestamp: BASE + 3 * MIN, n_1h: 2, sum_1h: 3.5, amount_cents: 250, note: "pushed" },
          { customer_id: 2, event_timestamp: BASE + 3 * MIN, n_1h: 1, sum_1h: 0.07, amount_cents: 7, note: null },
        ]);
        // Postgres refuses the insert (a column the table lacks): nothing is inserted.
        await expectLarderError(store.push("txn_push", { cust: [3, 4], ts: [BASE, BASE], created: [null, null], amount_cents: [1, 2], note: ["ok", "bad"], nope: [1, 2] }, { to: "offline" }), "INVALID_ENTITIES");
        assert.equal((await client.query(`select count(*)::int as n from ${schema}.txns`)).rows[0].n, 3);
      } finally {
        await repo.cleanup();
      }
    });

    test("data Postgres refuses (NUL, a check constraint, a range bound beyond the column) is a 400 INVALID_DATA / TYPE_MISMATCH naming column and row; nothing is inserted", async () => {
      await client.query(`create table ${schema}.checked (cust bigint, ts timestamptz not null, created timestamptz, amount_cents bigint check (amount_cents >= 0), note varchar(5))`);
      const features = postgresPushFeatures(`${schema}.checked`, PG_URL);
      const repo = await createFeatureRepo({ features });
      try {
        const store = repo.store;
        const df = (note: (string | null)[], amount: number[]) => ({ cust: note.map((_, i) => i + 1), ts: note.map(() => BASE), created: note.map(() => null), amount_cents: amount, note });
        const server = buildServer(store);
        try {
          const res = await server.inject({ method: "POST", url: "/push", payload: { push_source_name: "txn_push", df: df(["ok", "a\u0000b"], [1, 2]), to: "online_and_offline" } });
          assert.equal(res.statusCode, 400, res.body);
          const body = (res.json() as { error: { code: string; message: string; path: string } }).error;
          assert.equal(body.code, "INVALID_DATA", res.body);
          assert.match(body.message, /column "note" row 2/);
          assert.equal(body.path, "df.note[1]");
        } finally {
          await server.close();
        }
        const check = await expectLarderError(store.push("txn_push", df(["a", "b", "c"], [1, 2, -3]), { to: "offline" }), "INVALID_DATA");
        assert.match(check.message, /row 3/);
        assert.match(check.message, /constraint "checked_amount_cents_check"/);
        const tooLong = await expectLarderError(store.push("txn_push", df(["a", "toolong"], [1, 2]), { to: "offline" }), "INVALID_DATA");
        assert.match(tooLong.message, /row 2/);
        assert.match(tooLong.message, /22001/);
        assert.equal((await client.query(`select count(*)::int as n from ${schema}.checked`)).rows[0].n, 0);
        // Online pushes were not made either: the offline half failed first.
        const online = await store.getOnlineFeatures({ customer_id: [1] }, { features: ["latest_txn:note"] });
        assert.deepEqual(online.results[1]!.statuses, ["NOT_FOUND"]);
      } finally {
        await repo.cleanup();
      }
    });

    test("a backfill range bound Postgres cannot compare with the event column is a 400, not a 502", async () => {
      await client.query(`create table ${schema}.small_ts (customer_id bigint, ts int2, x float8); insert into ${schema}.small_ts values (1, 5, 1.5)`);
      const features = `
import { entity, postgresSource, featureView, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const src = postgresSource({ name: "small", table: "${schema}.small_ts", timestampField: "ts", connection: ${JSON.stringify(PG_URL)} });
export const v = featureView({ name: "small_view", entities: [customer], source: src, schema: { x: t.float64 } });
`;
      const repo = await createFeatureRepo({ features });
      try {
        const err = await expectLarderError(repo.store.backfill(RANGE), "TYPE_MISMATCH");
        assert.equal(httpStatusFor(err.code as ErrorCode), 400);
        assert.match(err.message, /source "small"/);
        assert.match(err.message, /22003/);
      } finally {
        await repo.cleanup();
      }
    });
  });
}
