/**
 * Push input checks over HTTP against a real server (Redis online store, Parquet directory
 * source), and a Postgres-table push source: timestamps out of range or malformed are 400
 * INVALID_TIMESTAMP; raw columns are checked against the batch source's column types before the
 * transform (no silent coercion), the same for `to: "online"` and `"online_and_offline"`, with
 * nothing written either way; non-finite transform outputs are refused.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { FeatureStore } from "../src/feature-store.js";
import { startServer, type RunningServer } from "../src/server/app.js";
import { arrowTable, col, createFeatureRepo, expectLarderError, type FeatureRepo } from "./helpers/feature-repo.js";
import { post } from "./helpers/http-server.js";
import { createPushRepo, removePushRepo } from "./helpers/push-repo.js";
import { postgresAvailable, redisUrlAvailable, requireServices, testPostgresUrl, testRedisUrl } from "./helpers/services.js";

const MIN = 60_000;
const BASE = Date.UTC(2024, 4, 1);
const REDIS = testRedisUrl();
const redisUp = await redisUrlAvailable(REDIS);
if (!redisUp && requireServices()) throw new Error(`Redis is unavailable at ${REDIS}`);

type Json = Record<string, unknown>;

describe("POST /push input checks (Redis online store, Parquet directory source)", { skip: redisUp ? false : `Redis is unavailable at ${REDIS}` }, () => {
  let repo: FeatureRepo;
  let served: FeatureStore;
  let server: RunningServer;
  before(async () => {
    repo = await createPushRepo(REDIS, BASE);
    served = await FeatureStore.open(repo.dir, { holdOnlineStore: true });
    server = await startServer(served, { port: 0, apiKeys: [], predictionLog: false });
  });
  after(async () => {
    await server?.close();
    await served?.close();
    await removePushRepo(repo);
  });

  const push = (df: Json, to = "online") => post(server.url, "/push", { push_source_name: "txn_push", df, to });
  const read = async (cust: number, features: string[]) => {
    const res = await post(server.url, "/get-online-features", { features, entities: { customer_id: [cust] } });
    assert.equal(res.status, 200, res.text);
    return res.json as { results: { values: unknown[]; statuses: string[]; event_timestamps: string[] }[] };
  };

  test("timestamps out of range or malformed are 400 INVALID_TIMESTAMP naming column and row; nothing is written online or offline", async () => {
    const files = await readdir(repo.path("data/txns"));
    const row = { cust: [61, 61], created: [null, null], amount_cents: [1, 2], note: ["a", "b"] };
    for (const bad of [8640000000000001, -8640000000000001, "2024-06-30T12:00:00+99:99", "2024-06-30T12:00:00+24:00", "2023-02-29T00:00:00Z", "275760-09-13T00:00:00Z", 1e400]) {
      for (const to of ["online", "online_and_offline"]) {
        const res = await post(
          server.url,
          "/push",
          `{"push_source_name":"txn_push","to":"${to}","df":${JSON.stringify({ ...row, ts: [BASE, "@"] }).replace('"@"', typeof bad === "string" ? JSON.stringify(bad) : bad === 1e400 ? "1e400" : String(bad))}}`,
        );
        assert.ok(res.status === 400, `${bad} ${to}: ${res.status} ${res.text}`);
        if (bad !== 1e400) {
          // 1e400 parses to Infinity: refused by the body schema before push sees it.
          assert.equal(res.json.error.code, "INVALID_TIMESTAMP", res.text);
          assert.equal(res.json.error.path, "df.ts[1]");
          assert.match(res.json.error.message, /column "ts" row 2/);
        }
      }
    }
    const created = await push({ ...row, ts: [BASE, BASE], created: [null, 8640000000000001] }, "online_and_offline");
    assert.deepEqual([created.status, created.json.error.code, created.json.error.path], [400, "INVALID_TIMESTAMP", "df.created[1]"]);
    assert.deepEqual(await readdir(repo.path("data/txns")), files, "no file appended");
    const got = await read(61, ["latest_txn:note", "spend:n_1h"]);
    assert.deepEqual([got.results[1]!.statuses, got.results[2]!.statuses], [["NOT_FOUND"], ["NOT_FOUND"]]);
  });

  test("years 0000–0099 stay as written; offsets up to ±23:59 are applied", async () => {
    let res = await push({ cust: [62], ts: ["0024-06-30T00:00:00Z"], created: [null], amount_cents: [5], note: ["old"] });
    assert.equal(res.status, 200, res.text);
    let got = await read(62, ["latest_txn:note"]);
    assert.deepEqual([got.results[1]!.values[0], got.results[1]!.event_timestamps[0]], ["old", "0024-06-30T00:00:00.000Z"]);
    res = await push({ cust: [63], ts: ["2024-06-30T12:00:00+23:59"], created: [null], amount_cents: [5], note: ["east"] });
    assert.equal(res.status, 200, res.text);
    got = await read(63, ["latest_txn:note"]);
    assert.equal(got.results[1]!.event_timestamps[0], "2024-06-29T12:01:00.000Z");
  });

  test("raw columns must fit the source's column types: TYPE_MISMATCH (column, row, expected type) for online and online_and_offline alike, nothing written", async () => {
    const files = await readdir(repo.path("data/txns"));
    const ok = { cust: [71, 71], ts: [BASE + MIN, BASE + 2 * MIN], created: [null, null], amount_cents: [100, 200], note: ["n", "m"] };
    const cases: [string, unknown, string, RegExp][] = [
      ...["abc", "NaN", "Infinity", "[1]", "", true, "12", 1.5].map((v): [string, unknown, string, RegExp] => ["amount_cents", v, "TYPE_MISMATCH", /expected a whole number \(source column type Int64\)/]),
      ["note", 12, "TYPE_MISMATCH", /expected a string/],
      ["note", false, "TYPE_MISMATCH", /expected a string/],
      ["cust", "x", "TYPE_MISMATCH", /expected a whole number/],
      ["cust", 2 ** 60, "VALUE_OUT_OF_RANGE", /beyond ±2\^53/],
      ["created", "junk", "INVALID_TIMESTAMP", /cannot parse timestamp "junk"/],
    ];
    for (const [column, value, code, message] of cases) {
      for (const to of ["online", "online_and_offline"]) {
        const df = { ...ok, [column]: [(ok as Json & Record<string, unknown[]>)[column]![0], value] };
        const res = await push(df, to);
        assert.equal(res.status, 400, `${column}=${JSON.stringify(value)} ${to}: ${res.text}`);
        assert.equal(res.json.error.code, code, res.text);
        assert.equal(res.json.error.path, `df.${column}[1]`, res.text);
        assert.match(res.json.error.message, new RegExp(`column "${column}" row 2`));
        assert.match(res.json.error.message, message);
      }
    }
    for (const to of ["online", "online_and_offline"]) {
      const res = await push({ ...ok, bogus: [1, 2] }, to);
      assert.deepEqual([res.status, res.json.error.code, res.json.error.path], [400, "INVALID_ENTITIES", "df.bogus"], res.text);
      assert.match(res.json.error.message, /"bogus" is not a column of source "txns" \(it has: cust, ts, created, amount_cents, note\)/);
    }
    assert.deepEqual(await readdir(repo.path("data/txns")), files, "no file appended");
    const got = await read(71, ["latest_txn:amount_cents", "spend:n_1h"]);
    assert.deepEqual([got.results[1]!.statuses, got.results[2]!.statuses], [["NOT_FOUND"], ["NOT_FOUND"]]);
  });

  test("nulls stay null (never 0), online and offline; a join key may be an integer string; both targets accept the same body", async () => {
    const files = await readdir(repo.path("data/txns"));
    const res = await push({ cust: ["72"], ts: [BASE + MIN], created: [null], amount_cents: [null], note: [null] }, "online_and_offline");
    assert.equal(res.status, 200, res.text);
    assert.equal((await readdir(repo.path("data/txns"))).length, files.length + 1, "one file appended");
    const got = await read(72, ["latest_txn:amount_cents", "latest_txn:note", "spend:n_1h", "spend:last"]);
    assert.deepEqual(
      got.results.slice(1).map((r) => [r.values[0], r.statuses[0]]),
      [
        [null, "NULL_VALUE"],
        [null, "NULL_VALUE"],
        [1, "PRESENT"],
        [null, "NULL_VALUE"],
      ],
    );
    // The appended row reads back as null through a backfill and a training set, as online.
    await repo.store.backfill({ start: BASE - 86_400_000, end: BASE + 86_400_000, views: ["latest_txn"] });
    const table = await repo.store.getTrainingSet(arrowTable({ customer_id: col.int64([72]), event_timestamp: col.timestamp([BASE + 5 * MIN]) }), { features: ["latest_txn:amount_cents"] });
    assert.equal(table.getChild("amount_cents")!.get(0), null);
  });
});

// ───────────────────────────── a Postgres table source ─────────────────────────────

const PG = testPostgresUrl();
const pgUp = await postgresAvailable(PG);
if (!pgUp && requireServices()) throw new Error(`Postgres is unavailable at ${PG}`);

describe("push to a Postgres-table source: its column types and NOT NULL constraints are checked before any write", { skip: pgUp ? false : `Postgres is unavailable at ${PG}` }, () => {
  const schema = `push_input_${randomBytes(4).toString("hex")}`;
  let repo: FeatureRepo;
  const client = new pg.Client({ connectionString: PG });
  before(async () => {
    await client.connect();
    await client.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.txns (cust bigint NOT NULL, ts timestamptz NOT NULL, amount_cents bigint NOT NULL, ratio double precision, note text)`);
    repo = await createFeatureRepo({
      project: schema,
      features: `
import { entity, postgresSource, pushSource, featureView, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const txns = postgresSource({ name: "pg_txns", table: "${schema}.txns", timestampField: "ts", fieldMapping: { cust: "customer_id" }, connection: ${JSON.stringify(PG)} });
export const txnPush = pushSource({ name: "pg_push", batchSource: txns });
export const latest = featureView({ name: "latest", entities: [customer], source: txnPush, schema: { amount_cents: t.int64, ratio: t.float64, note: t.string } });
`,
    });
  });
  after(async () => {
    await repo?.cleanup();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await client.end();
  });

  test("null in NOT NULL, strings in numeric columns, numbers in text: refused for online and online_and_offline; valid rows accepted by both", async () => {
    const ok = { cust: [1], ts: [BASE], amount_cents: [100], ratio: [0.5], note: ["x"] };
    const cases: [string, unknown, RegExp][] = [
      ["amount_cents", null, /expected a value \(the column is NOT NULL\)/],
      ["amount_cents", "12", /expected a whole number \(source column type int8\)/],
      ["ratio", "0.5", /expected a finite number \(source column type float8\)/],
      ["note", 5, /expected a string/],
    ];
    for (const [column, value, message] of cases) {
      for (const to of ["online", "online_and_offline"] as const) {
        const err = await expectLarderError(repo.store.push("pg_push", { ...ok, [column]: [value] }, { to }), "TYPE_MISMATCH");
        assert.match(err.message, new RegExp(`column "${column}" row 1: .*`));
        assert.match(err.message, message);
      }
    }
    assert.equal((await client.query(`SELECT count(*)::int AS n FROM ${schema}.txns`)).rows[0].n, 0);
    const none = await repo.store.getOnlineFeatures({ customer_id: [1] }, { features: ["latest:amount_cents"] });
    assert.deepEqual(none.results[1]!.statuses, ["NOT_FOUND"]);
    for (const to of ["online", "online_and_offline"] as const) {
      const res = await repo.store.push("pg_push", { ...ok, ratio: [null] }, { to });
      assert.equal(res.rows, 1);
    }
    assert.deepEqual((await client.query(`SELECT cust::int, amount_cents::int, ratio, note FROM ${schema}.txns`)).rows, [{ cust: 1, amount_cents: 100, ratio: null, note: "x" }]);
    const got = await repo.store.getOnlineFeatures({ customer_id: [1] }, { features: ["latest:amount_cents", "latest:ratio"] });
    assert.deepEqual(
      got.results.slice(1).map((r) => r.values[0]),
      [100, null],
    );
  });
});

// ───────────────────────────── transform outputs ─────────────────────────────

describe("transform outputs are checked against the view: non-finite numbers are refused", () => {
  let repo: FeatureRepo;
  before(async () => {
    repo = await createFeatureRepo({
      features: `
import { entity, parquetSource, pushSource, featureView, agg, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const src = parquetSource({ name: "ratios_src", path: "data/ratios", timestampField: "ts" });
export const ratioPush = pushSource({ name: "ratio_push", batchSource: src });
const ratio = (row) => ({ ...row, ratio: row.a / row.b });
export const sums = featureView({ name: "ratio_sums", entities: [customer], source: ratioPush, transform: ratio, aggregations: { ratio_sum_1h: agg.sum("ratio", "1h") } });
export const last = featureView({ name: "ratio_last", entities: [customer], source: ratioPush, transform: ratio, schema: { ratio: t.float64 } });
`,
      files: { "data/ratios/part-0.parquet": arrowTable({ customer_id: col.int64([1]), ts: col.timestamp([BASE]), a: col.float64([1]), b: col.float64([2]) }) },
    });
  });
  after(() => repo?.cleanup());

  test("0/0 and 1/0 from a transform: TYPE_MISMATCH naming the view and row, nothing written", async () => {
    for (const [a, b] of [
      [0, 0],
      [1, 0],
      [-1, 0],
    ]) {
      const err = await expectLarderError(repo.store.push("ratio_push", { customer_id: [5, 5], ts: [BASE, BASE + MIN], a: [1, a], b: [1, b] }), "TYPE_MISMATCH");
      assert.match(err.message, /row 2 \(feature view "ratio_(sums|last)"\)/);
    }
    const got = await repo.store.getOnlineFeatures({ customer_id: [5] }, { features: ["ratio_sums:ratio_sum_1h", "ratio_last:ratio"] });
    assert.deepEqual(
      got.results.slice(1).map((r) => r.statuses[0]),
      ["NOT_FOUND", "NOT_FOUND"],
    );
    await repo.store.push("ratio_push", { customer_id: [5], ts: [BASE], a: [1], b: [4] });
    const ok = await repo.store.getOnlineFeatures({ customer_id: [5] }, { features: ["ratio_sums:ratio_sum_1h", "ratio_last:ratio"] });
    assert.deepEqual(
      ok.results.slice(1).map((r) => r.values[0]),
      [0.25, 0.25],
    );
  });
});
