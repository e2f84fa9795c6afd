/**
 * The online read path's contract (DESIGN.md "Online reads", Feast's response shape) against
 * hand-written store contents: statuses, the TTL boundary, key normalisation ("5" and 5),
 * composite keys, value types in JSON, event timestamps, on-demand views, empty requests, errors.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { encodeEntityKey } from "../src/data/entity-keys.js";
import { openOnlineStore } from "../src/online/open-online-store.js";
import type { OnlineStore } from "../src/online/online-store.js";
import { getOnlineFeatures, type OnlineFeaturesRequest } from "../src/serving/online-features.js";
import { parseEntityArgs } from "../src/cli/commands.js";
import { createFeatureRepo, expectLarderError, fastTempDir, type FeatureRepo } from "./helpers/feature-repo.js";

const HOUR = 3_600_000;
const NOW = Math.floor(Date.now() / HOUR) * HOUR;

const FEATURES = `
import { entity, parquetSource, featureView, onDemandFeatureView, requestSource, agg, types as t } from "larder";
export const user = entity({ name: "user", joinKeys: ["user_id"], valueType: t.int64 });
export const shop = entity({ name: "shop", joinKeys: ["country", "shop_id"], valueType: [t.string, t.string] });
const s = parquetSource({ name: "s", path: "data/s.parquet", timestampField: "ts" });
export const u = featureView({ name: "u", entities: [user], source: s, ttl: "2h",
  schema: { name: t.string, score: t.float64, active: t.bool, seen_at: t.timestamp, visits: t.int64 } });
export const sh = featureView({ name: "sh", entities: [shop], source: s, schema: { rating: t.float64 } });
export const w = featureView({ name: "w", entities: [user], source: s, aggregations: { n: agg.count("1d"), total: agg.sum("x", "1d"), mean: agg.avg("x", "1d") } });
const req = requestSource({ name: "req", schema: { bonus: t.float64 } });
export const od = onDemandFeatureView({ name: "od", sources: [u, w, req], schema: { boosted: t.float64, when: t.timestamp },
  transform: (f) => ({ boosted: f.score == null ? null : f.score + f.bonus + f.n, when: f.seen_at }) });
`;

let repo: FeatureRepo;
let store: OnlineStore;

before(async () => {
  repo = await createFeatureRepo({ features: FEATURES, apply: false, parentDir: fastTempDir() });
  store = await openOnlineStore("embedded", { repoDir: repo.dir });
  const uFeatures = ["name", "score", "active", "seen_at", "visits"];
  await store.write(
    "test",
    "u",
    [
      { entityKey: encodeEntityKey([1]), eventTs: NOW - HOUR, values: ["ann", 1.5, true, NOW - 5 * HOUR, 7] },
      { entityKey: encodeEntityKey([2]), eventTs: NOW - 2 * HOUR, values: [null, null, false, null, 0] }, // exactly ttl old
      { entityKey: encodeEntityKey([3]), eventTs: NOW - 2 * HOUR - 1, values: ["old", 9, true, NOW, 1] }, // 1 ms past the ttl
    ],
    { features: uFeatures, ttlMs: null },
  );
  await store.write("test", "sh", [{ entityKey: encodeEntityKey(["DE", "5"]), eventTs: NOW - 10, values: [4.5] }], { features: ["rating"], ttlMs: null });
  await store.write("test", "w", [{ entityKey: encodeEntityKey([1]), eventTs: NOW - 3, values: [2, 10, 5] }], { features: ["n", "total", "mean"], ttlMs: null });
});

after(async () => {
  await store?.close();
  await repo?.cleanup();
});

const read = (request: Partial<OnlineFeaturesRequest> & Pick<OnlineFeaturesRequest, "entities">) => getOnlineFeatures(repo.store.repo.definitions, store, "test", { selection: { features: ["u:name"] }, now: NOW, ...request });

test("statuses, the TTL boundary, JSON value types and event timestamps", async () => {
  const res = await read({
    selection: { features: ["u:name", "u:score", "u:active", "u:seen_at", "u:visits"] },
    entities: { user_id: [1, "2", 3, 4, null] },
  });
  assert.deepEqual(res.metadata.feature_names, ["user_id", "name", "score", "active", "seen_at", "visits"]);
  assert.deepEqual(res.results[0], {
    values: [1, "2", 3, 4, null],
    statuses: ["PRESENT", "PRESENT", "PRESENT", "PRESENT", "PRESENT"],
    event_timestamps: Array(5).fill("1970-01-01T00:00:00.000Z"),
  });
  assert.deepEqual(res.results[1], {
    values: ["ann", null, null, null, null],
    statuses: ["PRESENT", "NULL_VALUE", "OUTSIDE_MAX_AGE", "NOT_FOUND", "NOT_FOUND"],
    event_timestamps: [new Date(NOW - HOUR).toISOString(), new Date(NOW - 2 * HOUR).toISOString(), new Date(NOW - 2 * HOUR - 1).toISOString(), "1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00.000Z"],
  });
  assert.deepEqual(res.results[3]!.values, [true, false, null, null, null]);
  assert.deepEqual(res.results[3]!.statuses, ["PRESENT", "PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND", "NOT_FOUND"]);
  assert.deepEqual(res.results[4]!.values, [new Date(NOW - 5 * HOUR).toISOString(), null, null, null, null]);
  assert.deepEqual(res.results[5]!.values, [7, 0, null, null, null]);
});

test("composite string keys normalise numbers; full feature names", async () => {
  const res = await read({ selection: { features: ["sh:rating"] }, entities: { country: ["DE", "DE", "FR"], shop_id: [5, "5", "5"] }, fullFeatureNames: true });
  assert.deepEqual(res.metadata.feature_names, ["country", "shop_id", "sh__rating"]);
  assert.deepEqual(res.results[2]!.values, [4.5, 4.5, null]);
  assert.deepEqual(res.results[2]!.statuses, ["PRESENT", "PRESENT", "NOT_FOUND"]);
});

test("aggregated views: an unseen entity has count and sum 0, avg null; on-demand views see the same", async () => {
  const res = await read({
    selection: { features: ["w:n", "w:total", "w:mean", "od:boosted", "od:when"] },
    entities: { user_id: [1, 4, 1], bonus: [0.5, 1, "2"] },
  });
  assert.deepEqual(res.metadata.feature_names, ["user_id", "n", "total", "mean", "boosted", "when"]);
  assert.deepEqual(res.results[1]!.values, [2, 0, 2]);
  assert.deepEqual(res.results[1]!.statuses, ["PRESENT", "NOT_FOUND", "PRESENT"]);
  assert.deepEqual(res.results[2]!.values, [10, 0, 10]);
  assert.deepEqual(res.results[3]!.values, [5, null, 5]);
  assert.deepEqual(res.results[4]!.values, [1.5 + 0.5 + 2, null, 1.5 + 2 + 2]);
  assert.deepEqual(res.results[4]!.statuses, ["PRESENT", "NULL_VALUE", "PRESENT"]);
  // An on-demand value carries its newest input's event timestamp.
  assert.equal(res.results[4]!.event_timestamps[0], new Date(NOW - 3).toISOString());
  assert.deepEqual(res.results[5]!.values, [new Date(NOW - 5 * HOUR).toISOString(), null, new Date(NOW - 5 * HOUR).toISOString()]);
});

test("no entity rows: empty results of the right shape", async () => {
  const res = await read({ selection: { features: ["u:name", "w:n"] }, entities: { user_id: [] } });
  assert.deepEqual(res, {
    metadata: { feature_names: ["user_id", "name", "n"], as_of: { u: [], w: [] } },
    results: [0, 1, 2].map(() => ({ values: [], statuses: [], event_timestamps: [] })),
  });
});

test("errors name the field", async () => {
  assert.match((await expectLarderError(read({ entities: { user: [1] } }), "MISSING_JOIN_KEY")).message, /user_id/);
  assert.match((await expectLarderError(read({ selection: { features: ["od:boosted"] }, entities: { user_id: [1] } }), "INVALID_ENTITIES")).message, /bonus/);
  assert.match((await expectLarderError(read({ entities: { user_id: [1, 2], other: [1] } }), "INVALID_ENTITIES")).message, /other/);
  assert.match((await expectLarderError(read({ entities: { user_id: "1" as unknown as unknown[] } }), "INVALID_ENTITIES")).message, /user_id/);
  await expectLarderError(read({ entities: { user_id: ["x"] } }), "TYPE_MISMATCH");
  await expectLarderError(read({ selection: { features: ["od:boosted"] }, entities: { user_id: [1], bonus: ["lots"] } }), "TYPE_MISMATCH");
  await expectLarderError(read({ selection: { features: ["u:nope"] }, entities: { user_id: [1] } }), "UNKNOWN_FEATURE");
  await expectLarderError(read({ selection: { service: "nope" }, entities: { user_id: [1] } }), "UNKNOWN_FEATURE_SERVICE");
});

test("--entity KEY=VALUE arguments become typed columns", () => {
  const defs = repo.store.repo.definitions;
  assert.deepEqual(parseEntityArgs(defs, ["user_id=1", "user_id=2", "bonus=1.5", "country=DE", "shop_id=007", "x=y=z"]), {
    user_id: [1, 2],
    bonus: [1.5],
    country: ["DE"],
    shop_id: ["007"],
    x: ["y=z"],
  });
  assert.deepEqual(parseEntityArgs(defs, ["user_id=9007199254740993"]), { user_id: ["9007199254740993"] });
  assert.throws(() => parseEntityArgs(defs, ["user_id"]), /KEY=VALUE/);
  assert.throws(() => parseEntityArgs(defs, ["user_id=abc"]), /expected int64/);
});
