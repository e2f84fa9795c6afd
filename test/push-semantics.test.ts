/**
 * Push semantics on the embedded store and on Redis: a push older than the stored value is ignored
 * for plain views; bad input (each kind) writes nothing, online or offline; unknown push sources;
 * many concurrent pushers to one entity give the exact aggregates (compare-and-set).
 */
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { FeatureStore } from "../src/feature-store.js";
import { arrowTable, col, expectLarderError, tableRows, type FeatureRepo } from "./helpers/feature-repo.js";
import { redisUrlAvailable, requireServices, testRedisUrl } from "./helpers/services.js";
import { createPushRepo, eventsTable, removePushRepo } from "./helpers/push-repo.js";

const MIN = 60_000;
const BASE = Date.UTC(2024, 4, 1);

function valuesOf(res: { metadata: { feature_names: string[] }; results: { values: unknown[]; statuses: string[] }[] }, row = 0): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  res.metadata.feature_names.forEach((n, k) => {
    out[n] = res.results[k]!.values[row];
  });
  return out;
}

function semanticsTests(name: string, onlineUrl: string | null): void {
  describe(`push semantics: ${name}`, () => {
    let repo: FeatureRepo;
    let store: FeatureStore;
    before(async () => {
      repo = await createPushRepo(onlineUrl, BASE);
      store = repo.store;
    });
    after(() => removePushRepo(repo));

    test("plain view: a push older than the stored value is ignored and counted stale; a newer one replaces it", async () => {
      const t = (m: number) => new Date(BASE + m * MIN).toISOString();
      let res = await store.push("txn_push", { cust: [1, 1, 2], ts: [t(10), t(5), t(10)], created: [null, null, null], amount_cents: [100, 50, 7], note: ["ten", "five", "x"] });
      assert.deepEqual(
        res.views.find((v) => v.view === "latest_txn"),
        { view: "latest_txn", written: 2, stale: 1, expired: 0 },
      );
      res = await store.push("txn_push", { cust: [1], ts: [BASE + 9 * MIN], created: [null], amount_cents: [90], note: ["nine"] });
      assert.deepEqual(
        res.views.find((v) => v.view === "latest_txn"),
        { view: "latest_txn", written: 0, stale: 1, expired: 0 },
      );
      let got = await store.getOnlineFeatures({ customer_id: [1] }, { features: ["latest_txn:amount_cents", "latest_txn:note", "spend:n_1h", "spend:last"] });
      // The aggregated view counts the late event (minute 9) in its window: it is an event, not a stale value.
      assert.deepEqual(valuesOf(got), { customer_id: 1, amount_cents: 100, note: "ten", n_1h: 3, last: 1 });
      assert.equal(got.results[1]!.event_timestamps[0], t(10));
      res = await store.push("txn_push", { cust: ["1"], ts: [t(11)], created: [null], amount_cents: [110], note: [null] });
      assert.equal(res.views.find((v) => v.view === "latest_txn")?.written, 1);
      got = await store.getOnlineFeatures({ customer_id: [1] }, { features: ["latest_txn:amount_cents", "latest_txn:note", "spend:n_1h", "spend:sum_1h", "spend:last"] });
      assert.deepEqual(valuesOf(got), { customer_id: 1, amount_cents: 110, note: null, n_1h: 4, sum_1h: 3.5, last: 1.1 });
      assert.deepEqual(got.results[2]!.statuses, ["NULL_VALUE"]);
    });

    test("bad input writes nothing, online or offline; errors name the column and row", async () => {
      const before = await readdir(repo.path("data/txns"));
      const ok = { cust: [500, 501, 502], ts: [BASE, BASE + MIN, BASE + 2 * MIN], created: [null, null, null], amount_cents: [1, 2, 3], note: ["a", "b", "c"] };
      const cases: [string, Record<string, unknown[]>, RegExp][] = [
        ["INVALID_ENTITIES", { ...ok, note: ["a", "b"] }, /unequal lengths.*"note" has 2/],
        ["INVALID_ENTITIES", { cust: ok.cust, amount_cents: ok.amount_cents, note: ok.note }, /lacks the timestamp column "ts"/],
        ["INVALID_TIMESTAMP", { ...ok, ts: [BASE, "2024-13-45", BASE] }, /"ts" row 2/],
        ["INVALID_TIMESTAMP", { ...ok, ts: [BASE, BASE, null] }, /"ts" row 3/],
        ["INVALID_TIMESTAMP", { ...ok, created: [null, null, "yesterday"] }, /"created" row 3/],
        ["INVALID_ENTITIES", { ...ok, cust: [500, null, 502] }, /row 2 .*join key "customer_id" is null/],
        ["INVALID_ENTITIES", { ts: ok.ts, created: ok.created, amount_cents: ok.amount_cents, note: ok.note }, /row 1 .*no column "customer_id"/],
        ["TYPE_MISMATCH", { ...ok, cust: [500, 501, "x"] }, /"cust" row 3: got "x", expected a whole number/],
        ["TYPE_MISMATCH", { ...ok, amount_cents: [1, 2, "many"] }, /"amount_cents" row 3: got "many", expected a whole number/],
        ["TYPE_MISMATCH", { ...ok, note: ["a", { nested: true }, "c"] }, /"note" row 2: got {"nested":true}, expected a string/],
      ];
      for (const [code, df, message] of cases) {
        for (const to of ["online", "online_and_offline"] as const) {
          const err = await expectLarderError(store.push("txn_push", df, { to }), code);
          assert.match(err.message, message, `${code} ${JSON.stringify(df)}`);
        }
      }
      await expectLarderError(store.push("txn_push", ok, { to: "everywhere" as never }), "INVALID_ARGUMENT");
      assert.deepEqual(await readdir(repo.path("data/txns")), before, "no file appended");
      const got = await store.getOnlineFeatures({ customer_id: [500, 501, 502] }, { features: ["latest_txn:note", "spend:n_1h"] });
      assert.deepEqual(got.results[1]!.statuses, ["NOT_FOUND", "NOT_FOUND", "NOT_FOUND"]);
      assert.deepEqual(got.results[2]!.statuses, ["NOT_FOUND", "NOT_FOUND", "NOT_FOUND"]);
    });

    test("an unknown push source is UNKNOWN_PUSH_SOURCE naming the known ones; an empty df writes nothing", async () => {
      const err = await expectLarderError(store.push("nope", { ts: [] }), "UNKNOWN_PUSH_SOURCE");
      assert.match(err.message, /"nope".*txn_push/);
      await expectLarderError(store.push("txns", { ts: [] }), "UNKNOWN_PUSH_SOURCE"); // a batch source is not a push source
      const res = await store.push("txn_push", { cust: [], ts: [], created: [], amount_cents: [], note: [] });
      assert.equal(res.rows, 0);
    });

    test("a materialization as of an earlier time than a push leaves the pushed aggregates; a later one replaces them", async () => {
      // Customer 99 is in the source (minute 0): materialized as of minute 10, then a push at minute 50.
      const refs = ["spend:n_1h", "spend:last"];
      const read = async () => valuesOf(await store.getOnlineFeatures({ customer_id: [99] }, { features: refs }));
      await store.backfill({ start: BASE - 86_400_000, end: BASE + 86_400_000, views: ["spend"] });
      const first = await store.materialize({ start: BASE - 86_400_000, end: BASE + 10 * MIN, views: ["spend"] });
      assert.equal(first[0]?.written, 1);
      await store.push("txn_push", { cust: [99], ts: [BASE + 50 * MIN], created: [null], amount_cents: [500], note: [null] });
      assert.deepEqual(await read(), { customer_id: 99, n_1h: 2, last: 5 });
      const older = await store.materialize({ start: BASE - 86_400_000, end: BASE + 10 * MIN, views: ["spend"] });
      assert.equal(older[0]?.stale, 1);
      assert.deepEqual(await read(), { customer_id: 99, n_1h: 2, last: 5 });
      // As of minute 89 the source alone (the push was online only) has the minute-0 event, out of the 1 h window.
      const later = await store.materialize({ start: BASE - 86_400_000, end: BASE + 90 * MIN, views: ["spend"] });
      assert.equal(later[0]?.written, 1);
      assert.deepEqual(await read(), { customer_id: 99, n_1h: 0, last: 0.01 });
    });

    test("many concurrent pushers to one entity (two store instances) give the exact aggregates", async () => {
      const other = await FeatureStore.open(repo.dir);
      const held = await FeatureStore.open(repo.dir, { holdOnlineStore: true });
      try {
        const n = 40;
        const events = Array.from({ length: n }, (_, i) => ({ cust: 7, ts: BASE + 30 * MIN + ((i * 37) % n) * 1000, created: BASE, amount_cents: ((i * 7919) % 1000) - 300, note: null }));
        const stores = [store, other, held];
        const results = await Promise.all(events.map((e, i) => stores[i % 3]!.push("txn_push", { cust: [e.cust], ts: [e.ts], created: [e.created], amount_cents: [e.amount_cents], note: [e.note] })));
        assert.equal(
          results.reduce((s, r) => s + (r.views.find((v) => v.view === "spend")?.written ?? 0), 0),
          n,
        );
        const newest = Math.max(...events.map((e) => e.ts));
        const refs = ["spend:n_1h", "spend:sum_1h", "spend:avg_3h", "spend:min_3h", "spend:max_1h", "spend:last_1h", "spend:last"];
        const got = valuesOf(await store.getOnlineFeatures({ customer_id: [7] }, { features: refs }));
        // The oracle: the same events in the source, backfilled, a training set at the newest event.
        await repo.writeFile("data/txns/concurrent.parquet", eventsTable(events));
        await store.backfill({ start: BASE - 86_400_000, end: BASE + 86_400_000, views: ["spend"] });
        const [want] = tableRows(await store.getTrainingSet(arrowTable({ customer_id: col.int64([7]), event_timestamp: col.timestamp([newest]) }), { features: refs }));
        const { event_timestamp: _t, ...expected } = want!;
        // Sums and averages agree to rounding, as in push-parity: push adds and evicts in a sliding
        // compensated sum (JavaScript), the training set sums each frame in SQL (DuckDB), and the two
        // orders can round the last bit differently (78.2 against 78.19999999999999 here).
        const isSum = (k: string): boolean => k.startsWith("sum_") || k.startsWith("avg_");
        const exact = (row: Record<string, unknown>): Record<string, unknown> => Object.fromEntries(Object.entries(row).filter(([k]) => !isSum(k)));
        assert.deepEqual(exact(got), exact(expected));
        for (const k of Object.keys(expected).filter(isSum)) {
          const [g, e] = [got[k] as number, expected[k] as number];
          assert.ok(Math.abs(g - e) <= 1e-9 * Math.max(1, Math.abs(e)), `${k}: ${g} online vs ${e} in the training set`);
        }
        assert.equal(got.n_1h, n);
      } finally {
        await held.close();
      }
    });

    test("plain view, equal event times: the greatest created time wins across pushes and materializations, as in training sets", async () => {
      const t = (m: number) => BASE + m * MIN;
      const note = async () => valuesOf(await store.getOnlineFeatures({ customer_id: [5] }, { features: ["latest_txn:note"] })).note;
      const push = (created: number, text: string, to: "online" | "offline" = "online") => store.push("txn_push", { cust: [5], ts: [t(20)], created: [created], amount_cents: [1], note: [text] }, { to });
      await push(t(30), "c30");
      const res = await push(t(25), "c25");
      assert.deepEqual(
        res.views.find((v) => v.view === "latest_txn"),
        { view: "latest_txn", written: 0, stale: 1, expired: 0 },
      );
      assert.equal(await note(), "c30");
      await push(t(40), "c40");
      assert.equal(await note(), "c40");
      // An offline row created earlier, materialized: it does not replace the later-created one.
      const range = { start: t(0), end: t(60), views: ["latest_txn"] };
      await push(t(35), "c35", "offline");
      await store.backfill(range);
      await store.materialize(range);
      assert.equal(await note(), "c40");
      // One created later wins, and online equals the training set at that time.
      await push(t(50), "c50", "offline");
      await store.backfill(range);
      await store.materialize(range);
      assert.equal(await note(), "c50");
      const training = tableRows(await store.getTrainingSet(arrowTable({ customer_id: col.int64([5]), event_timestamp: col.timestamp([t(21)]) }), { features: ["latest_txn:note"] }));
      assert.equal(training[0]!.note, "c50");
    });
  });
}

semanticsTests("embedded", null);

const REDIS = testRedisUrl();
if (await redisUrlAvailable(REDIS)) {
  semanticsTests("Redis", REDIS);
} else {
  if (requireServices()) throw new Error(`Redis is unavailable at ${REDIS}`);
  test("push semantics on Redis", { skip: `Redis is unavailable at ${REDIS}` }, () => {});
}
