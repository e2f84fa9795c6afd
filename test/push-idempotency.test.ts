/**
 * Idempotent pushes (`Idempotency-Key` on POST /push), against a real Postgres registry, a
 * Postgres push source (the offline half) and a redis-server of our own that the tests freeze
 * (SIGSTOP) to make the online half fail after the offline half committed.
 */
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { FeatureStore } from "../src/feature-store.js";
import { buildServer } from "../src/server/app.js";
import { createFeatureRepo, type FeatureRepo } from "./helpers/feature-repo.js";
import { postgresPushFeatures } from "./helpers/push-repo.js";
import { redisBinariesAvailable, startRedisServer, type RedisServer } from "./helpers/redis-cluster.js";
import { postgresAvailable, requireServices, testPostgresUrl } from "./helpers/services.js";

const MIN = 60_000;
const BASE = Math.floor(Date.now() / MIN) * MIN - 30 * MIN;
const PG_URL = testPostgresUrl();

type Inject = Awaited<ReturnType<ReturnType<typeof buildServer>["inject"]>>;

/** Polls `check` until it holds (deadline 30 s): for conditions other processes make true. */
async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const usable = (await postgresAvailable(PG_URL)) && redisBinariesAvailable();
if (!usable) {
  if (requireServices()) throw new Error(`Postgres (${PG_URL}) or redis-server is unavailable`);
  test("idempotent push", { skip: "Postgres or redis-server is unavailable" }, () => {});
} else {
  describe("idempotent push: Postgres registry and source, a Redis that freezes", () => {
    const schema = `idem_${randomBytes(4).toString("hex")}`;
    const client = new pg.Client({ connectionString: PG_URL });
    let redis: RedisServer;
    let repo: FeatureRepo;
    let store: FeatureStore;
    let server: ReturnType<typeof buildServer>;

    const config = (retention: string) => `import { defineConfig } from "larder";
export default defineConfig({ project: "idem", definitions: ["./features.ts"], registry: ${JSON.stringify(PG_URL)},
  online: ${JSON.stringify(redis.url)}, offline: { path: "./data/offline" }, server: { idempotencyRetention: ${JSON.stringify(retention)} } });
`;
    const open = async (retention: string): Promise<void> => {
      await server?.close();
      await store?.close();
      await writeFile(repo.path("larder.config.ts"), config(retention));
      store = await FeatureStore.open(repo.dir, { registrySchema: `${schema}_registry`, holdOnlineStore: true });
      server = buildServer(store);
    };
    const push = (key: string | undefined, df: Record<string, unknown[]>, to = "online_and_offline"): Promise<Inject> =>
      server.inject({ method: "POST", url: "/push", headers: key === undefined ? {} : { "idempotency-key": key }, payload: { push_source_name: "txn_push", df, to } });
    const offlineRows = async (): Promise<number> => (await client.query(`select count(*)::int as n from ${schema}.txns`)).rows[0].n;
    const online = async (customer: number): Promise<Record<string, unknown>> => {
      const res = await store.getOnlineFeatures({ customer_id: [customer] }, { features: ["spend:n_1h", "spend:sum_1h", "latest_txn:note"] });
      return Object.fromEntries(res.metadata.feature_names.map((n, k) => [n, res.results[k]!.values[0]]));
    };
    const keyRow = async (key: string) =>
      (await client.query(`select fingerprint, owner, offline_done, online_done, status from ${schema}_registry.push_idempotency where key = $1`, [key])).rows[0] as
        { fingerprint: string; owner: string | null; offline_done: boolean; online_done: boolean; status: number | null } | undefined;
    const df = (cust: number[], minutes: number[], notes: string[]) => ({
      cust,
      ts: minutes.map((m) => BASE + m * MIN),
      created: cust.map(() => null),
      amount_cents: minutes.map((m) => 100 + m),
      note: notes,
    });

    before(async () => {
      await client.connect();
      await client.query(`create schema ${schema}; create table ${schema}.txns (cust bigint, ts timestamptz not null, created timestamptz, amount_cents bigint, note text)`);
      redis = await startRedisServer();
      const features = postgresPushFeatures(`${schema}.txns`, PG_URL);
      repo = await createFeatureRepo({ features, apply: false });
      await open("1h");
      await store.apply();
    });
    after(async () => {
      await server?.close();
      await store?.close();
      await repo?.cleanup();
      await redis?.stop();
      await client.query(`drop schema if exists ${schema} cascade; drop schema if exists ${schema}_registry cascade`).catch(() => {});
      await client.end();
    });

    test("a retry after the online half failed (Redis frozen, 503) writes only the online half, once; later retries answer as the first success", async () => {
      assert.deepEqual(await online(1), { customer_id: 1, n_1h: 0, sum_1h: 0, note: null }); // connects before the freeze
      const key = randomUUID();
      const body = df([1, 1, 2], [1, 2, 3], ["a", "b", "c"]);
      redis.pause();
      let first: Inject;
      try {
        first = await push(key, body);
      } finally {
        redis.resume();
      }
      assert.equal(first.statusCode, 503, first.body);
      assert.equal(first.json().error.code, "ONLINE_STORE_UNAVAILABLE");
      assert.equal(await offlineRows(), 3);
      assert.deepEqual(await keyRow(key), { fingerprint: (await keyRow(key))!.fingerprint, owner: null, offline_done: true, online_done: false, status: null });

      const retry = await push(key, body);
      assert.equal(retry.statusCode, 200, retry.body);
      assert.equal(await offlineRows(), 3, "the offline half is not appended again");
      assert.deepEqual(await online(1), { customer_id: 1, n_1h: 2, sum_1h: 1.01 + 1.02, note: "b" });
      assert.deepEqual(await online(2), { customer_id: 2, n_1h: 1, sum_1h: 1.03, note: "c" });

      const again = await push(key, body);
      assert.equal(again.statusCode, 200);
      assert.deepEqual(again.json(), retry.json());
      assert.equal(await offlineRows(), 3);
      assert.deepEqual(await online(1), { customer_id: 1, n_1h: 2, sum_1h: 1.01 + 1.02, note: "b" });

      // The same key with another body is refused, naming the header; nothing is written.
      const reused = await push(key, df([1], [4], ["d"]));
      assert.equal(reused.statusCode, 422, reused.body);
      assert.equal(reused.json().error.code, "IDEMPOTENCY_KEY_REUSED");
      assert.equal(reused.json().error.path, "headers.idempotency-key");
      assert.equal(await offlineRows(), 3);
      assert.deepEqual(await online(1), { customer_id: 1, n_1h: 2, sum_1h: 1.01 + 1.02, note: "b" });
    });

    test("a crash after the offline commit but before its record: the retry asks Postgres (txid_status) and does not append again", async () => {
      const key = randomUUID();
      const body = df([3], [5], ["e"]);
      const before = await offlineRows();
      assert.equal((await push(key, body, "offline")).statusCode, 200);
      assert.equal(await offlineRows(), before + 1);
      // What a process killed between COMMIT and "offline done" leaves: the token, nothing done, no owner.
      await client.query(`update ${schema}_registry.push_idempotency set offline_done = false, online_done = false, status = null, response = null, owner = null where key = $1`, [key]);
      const retry = await push(key, body, "offline");
      assert.equal(retry.statusCode, 200, retry.body);
      assert.equal(await offlineRows(), before + 1);
      // An append whose transaction rolled back (token recorded, never committed): the retry appends.
      await client.query("begin");
      const txid = (await client.query<{ t: string }>("select txid_current()::text as t")).rows[0]!.t;
      await client.query("rollback");
      await client.query(`update ${schema}_registry.push_idempotency set offline_done = false, status = null, response = null, owner = null, offline_token = $2 where key = $1`, [key, `txid:${txid}`]);
      const redo = await push(key, body, "offline");
      assert.equal(redo.statusCode, 200, redo.body);
      assert.equal(await offlineRows(), before + 2);
    });

    test("a concurrent request with the key of a push in progress gets 409 IDEMPOTENCY_KEY_IN_USE; after it, the answer", async () => {
      const key = randomUUID();
      const body = df([4], [6], ["f"]);
      redis.pause();
      let first: Promise<Inject>;
      try {
        first = push(key, body, "online");
        await eventually("the first push to own its key", async () => (await keyRow(key))?.owner != null);
        const second = await push(key, body, "online");
        assert.equal(second.statusCode, 409, second.body);
        assert.equal(second.json().error.code, "IDEMPOTENCY_KEY_IN_USE");
      } finally {
        redis.resume();
      }
      const firstRes = await first;
      assert.ok([200, 503].includes(firstRes.statusCode), firstRes.body);
      const retry = await push(key, body, "online");
      assert.equal(retry.statusCode, 200, retry.body);
      assert.deepEqual(await online(4), { customer_id: 4, n_1h: 1, sum_1h: 1.06, note: "f" });
    });

    test("expired keys are purged: after the retention the key is a new push (and another body is accepted)", async () => {
      await open("1s");
      const key = randomUUID();
      assert.equal((await push(key, df([5], [7], ["g"]), "online")).statusCode, 200);
      const fingerprint = (await keyRow(key))!.fingerprint;
      assert.equal((await push(key, df([5], [8], ["h"]), "online")).statusCode, 422);
      let res: Inject | undefined;
      await eventually("the key to expire", async () => {
        res = await push(key, df([5], [8], ["h"]), "online");
        return res.statusCode !== 422;
      });
      assert.equal(res!.statusCode, 200, res!.body);
      const row = await keyRow(key);
      assert.notEqual(row!.fingerprint, fingerprint);
      assert.deepEqual(await online(5), { customer_id: 5, n_1h: 2, sum_1h: 1.07 + 1.08, note: "h" });
      await open("1h");
    });
  });
}
