/**
 * Defense in depth for stored data no Date can hold (event times beyond ±8.64e15 ms, written
 * before pushes were range-checked, or by hand): rows and aggregation state of one entity are
 * corrupted directly in Redis. Reads through /get-online-features, /v1/predict, the in-process
 * API and `larder online` still answer, with that entity NOT_FOUND (and a warning line), other
 * entities unchanged; a valid push then repairs the aggregated view (exactly: the stored valid
 * events plus the pushed one), and a materialization repairs the plain view.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Redis } from "ioredis";
import { onlineEntityKey } from "../src/data/entity-keys.js";
import { packRow, unpackRow } from "../src/online/packed-row.js";
import { packState, unpackState } from "../src/online/packed-state.js";
import { assertOk, larder } from "./helpers/cli.js";
import { arrowTable, col, tableRows } from "./helpers/feature-repo.js";
import { BASE, DAY, RANGE, post } from "./helpers/http-server.js";
import { createServedRedisRepo, TEST_REDIS_URL, type ServedRedisRepo } from "./helpers/served-redis-repo.js";
import { redisAvailable, requireServices } from "./helpers/services.js";

const BAD = 8640000000000001;
const up = await redisAvailable(new URL(TEST_REDIS_URL).hostname, Number(new URL(TEST_REDIS_URL).port || 6379));
if (!up && requireServices()) throw new Error(`Redis is unavailable at ${TEST_REDIS_URL}`);
const FEATURES = ["profile:plan", "profile:monthly_fee", "spend:spend_2d", "spend:txn_count_3d"];

let fx: ServedRedisRepo;
let redis: Redis;
before(async () => {
  if (!up) return;
  fx = await createServedRedisRepo(11);
  redis = new Redis(TEST_REDIS_URL);
});
after(async () => {
  redis?.disconnect();
  await fx?.cleanup();
});

/** Every Redis key of the project whose entity part is `entityKey` (rows and states of both views). */
async function keysOf(project: string, entityKey: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${project}:*`, "COUNT", 1000);
    cursor = next;
    out.push(...keys.filter((k) => !k.includes("#") && (k.endsWith(`:${entityKey}`) || k.endsWith(`}${entityKey}`))));
  } while (cursor !== "0");
  return out;
}

test("stored event times beyond ±8.64e15 never make a read fail; valid writes repair the entity", { skip: up ? false : `Redis is unavailable at ${TEST_REDIS_URL}` }, async () => {
  const url = fx.server.url;
  // Two customers with profile and spend rows: one to corrupt, one that must stay as it was.
  const all = await post(url, "/get-online-features", { features: FEATURES, entities: { customer_id: Array.from({ length: 40 }, (_, i) => i + 1) } });
  const ids = all.json.results[0].values.filter((_: unknown, i: number) => all.json.results[1].statuses[i] === "PRESENT" && all.json.results[4].statuses[i] === "PRESENT").slice(0, 2) as number[];
  assert.equal(ids.length, 2, "the fixture has two customers with both views");
  const [bad, good] = ids as [number, number];
  const body = { features: FEATURES, entities: { customer_id: [bad, good] } };
  const before = await post(url, "/get-online-features", body);
  const predictBefore = await post(url, "/v1/predict/fee", { entities: { customer_id: [bad, good] }, request: { cart_value: 3 } });
  assert.equal(predictBefore.status, 200, predictBefore.text);

  const entityKey = onlineEntityKey([bad], ["int64"], ["customer_id"])!;
  const keys = await keysOf(fx.project, entityKey);
  assert.equal(keys.length, 3, `a profile row, a spend row and a spend state: ${keys.join(", ")}`);
  for (const key of keys) {
    const packed = (await redis.get(key))!;
    if (key.includes("~")) {
      const s = unpackState(packed);
      const buffer = JSON.parse(s.state) as { c: string[]; e: unknown[][] };
      buffer.e.push([BAD, null, ...buffer.c.map(() => 1e9)]);
      await redis.set(key, packState(s.version, BAD, BAD, null, JSON.stringify(buffer)));
    } else {
      const r = unpackRow(packed);
      await redis.set(key, packRow(BAD, BAD, null, r.schemaId, r.values));
    }
  }

  // Every read path answers; the corrupt entity reads as missing, the other as before.
  const http = await post(url, "/get-online-features", body);
  assert.equal(http.status, 200, http.text);
  for (let k = 1; k <= FEATURES.length; k++) {
    assert.equal(http.json.results[k].statuses[0], "NOT_FOUND", FEATURES[k - 1]);
    assert.deepEqual([http.json.results[k].values[1], http.json.results[k].statuses[1]], [before.json.results[k].values[1], before.json.results[k].statuses[1]]);
  }
  assert.deepEqual(http.json.metadata.as_of.spend[0], null);
  const inProcess = await fx.repo.served.getOnlineFeatures({ customer_id: [bad, good] }, { features: FEATURES });
  assert.deepEqual(inProcess.results, http.json.results);
  const predict = await post(url, "/v1/predict/fee", { entities: { customer_id: [bad, good] }, request: { cart_value: 3 } });
  assert.equal(predict.status, 200, predict.text);
  assert.deepEqual(predict.json.results[1], predictBefore.json.results[1]);
  assert.deepEqual(predict.json.results[0].features, { monthly_fee: null, spend_2d: 0, fee_plus_cart: null });
  const cli = larder(fx.repo.dir, ["online", "--entity", `customer_id=${bad}`, "--features", FEATURES.join(",")]);
  const printed = JSON.parse(assertOk(cli)) as { results: { statuses: string[] }[] };
  assert.deepEqual(
    printed.results.slice(1).map((r) => r.statuses[0]),
    ["NOT_FOUND", "NOT_FOUND", "NOT_FOUND", "NOT_FOUND"],
  );
  assert.match(cli.stderr, /warning: online row of feature view "(profile|spend)".*is not a valid instant/);

  // A valid push repairs the aggregated view: the stored valid events plus the pushed one, exactly
  // what a training set at that time gives plus the pushed event.
  const at = BASE + 9 * DAY;
  const pushed = await post(url, "/push", { push_source_name: "txns_push", df: { customer_id: [bad], ts: [at], amount_cents: [500] } });
  assert.equal(pushed.status, 200, pushed.text);
  const [oracle] = tableRows(await fx.repo.store.getTrainingSet(arrowTable({ customer_id: col.int64([bad]), event_timestamp: col.timestamp([at]) }), { features: ["spend:spend_2d", "spend:txn_count_3d"] }));
  const repaired = await post(url, "/get-online-features", { features: ["spend:spend_2d", "spend:txn_count_3d"], entities: { customer_id: [bad] } });
  assert.deepEqual(
    repaired.json.results.slice(1).map((r: { values: unknown[]; statuses: string[]; event_timestamps: string[] }) => [r.values[0], r.statuses[0], r.event_timestamps[0]]),
    [
      [(oracle!.spend_2d as number) + 5, "PRESENT", new Date(at).toISOString()],
      [(oracle!.txn_count_3d as number) + 1, "PRESENT", new Date(at).toISOString()],
    ],
  );
  // A materialization repairs the plain view (its monotonic compare ignores the unreadable time).
  await fx.repo.served.materialize({ ...RANGE, views: ["profile"] });
  const profile = await post(url, "/get-online-features", { features: ["profile:plan", "profile:monthly_fee"], entities: { customer_id: [bad] } });
  assert.deepEqual(
    profile.json.results.slice(1),
    before.json.results.slice(1, 3).map((r: { values: unknown[]; statuses: string[]; event_timestamps: string[] }) => ({ values: [r.values[0]], statuses: [r.statuses[0]], event_timestamps: [r.event_timestamps[0]] })),
  );
});
