/**
 * README promises of push that no other test held (issue 15 item 6):
 * - a push source or view not applied, or changed since the apply, is NOT_APPLIED and writes
 *   nothing; the check passes once per FeatureStore and is remembered;
 * - an offline append that fails writes nothing online;
 * - a Postgres append of several INSERT statements is one transaction: a row refused in the last
 *   statement leaves none of the earlier statements' rows;
 * - on Redis, an update whose compare-and-set keeps losing to another writer ends in
 *   WRITE_CONFLICT naming the view, and stores nothing of its own.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdir } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { Redis } from "ioredis";
import pg from "pg";
import { newStateVersion, packState } from "../src/online/packed-state.js";
import { RedisOnlineStore } from "../src/online/redis/redis-online-store.js";
import { createFeatureRepo, expectLarderError, type FeatureRepo } from "./helpers/feature-repo.js";
import { eventsTable, PUSH_FEATURES } from "./helpers/push-repo.js";
import { postgresAvailable, redisUrlAvailable, requireServices, testPostgresUrl, testRedisUrl } from "./helpers/services.js";

const MIN = 60_000;
const BASE = Date.UTC(2024, 4, 1);
const PUSH_VIEWS = ["spend", "recent", "latest_txn"];

/** Online statuses of `latest_txn:note` and `spend:n_1h` for the customers. */
async function onlineStatuses(repo: FeatureRepo, customers: number[]): Promise<string[][]> {
  const got = await repo.store.getOnlineFeatures({ customer_id: customers }, { features: ["latest_txn:note", "spend:n_1h"] });
  return [got.results[1]!.statuses, got.results[2]!.statuses];
}

const notFound = (n: number): string[][] => [Array<string>(n).fill("NOT_FOUND"), Array<string>(n).fill("NOT_FOUND")];

test("push of an unapplied or changed push source is NOT_APPLIED and writes nothing; a passed check is remembered", async () => {
  const repo = await createFeatureRepo({
    features: PUSH_FEATURES,
    apply: false,
    files: { "data/txns/part-0.parquet": eventsTable([{ cust: 99, ts: BASE, created: BASE, amount_cents: 1, note: null }]) },
  });
  try {
    const df = { cust: [7], ts: [BASE + MIN], created: [null], amount_cents: [250], note: ["x"] };
    const files = await readdir(repo.path("data/txns"));
    const err = await expectLarderError(repo.store.push("txn_push", df, { to: "online_and_offline" }), "NOT_APPLIED");
    assert.match(err.message, /is not applied; run `larder apply`/);
    assert.deepEqual(await readdir(repo.path("data/txns")), files, "nothing appended offline");
    assert.deepEqual(await onlineStatuses(repo, [7]), notFound(1));

    await repo.store.apply();
    const pusher = repo.store; // keeps the definitions it loaded, like a running server
    assert.equal((await pusher.push("txn_push", df)).views.find((v) => v.view === "latest_txn")?.written, 1);

    // A view fed by the push source changes in features.ts: a store opened on it refuses to push.
    await repo.writeFile("features.ts", PUSH_FEATURES.replace("row.amount_cents / 100", "row.amount_cents / 1000"));
    const changed = await repo.reopen();
    const stale = await expectLarderError(changed.push("txn_push", { ...df, cust: [8] }), "NOT_APPLIED");
    assert.match(stale.message, /changed since the last apply/);
    assert.deepEqual(await onlineStatuses(repo, [8]), notFound(1));

    // The store that passed the check keeps pushing without opening the registry again, even
    // while another process holds it (here: the changed store, applying).
    await changed.withRegistry(
      async () => {
        const res = await pusher.push("txn_push", { ...df, cust: [9], ts: [BASE + 2 * MIN] });
        assert.equal(res.views.find((v) => v.view === "latest_txn")?.written, 1);
      },
      { lockTimeoutMs: 60_000 },
    );
  } finally {
    await repo.cleanup();
  }
});

const PG_URL = testPostgresUrl();
if (!(await postgresAvailable(PG_URL))) {
  if (requireServices()) throw new Error(`Postgres is unavailable at ${PG_URL}`);
  test("offline push failures on Postgres", { skip: `Postgres is unavailable at ${PG_URL}` }, () => {});
} else {
  describe("offline push failures on a Postgres table", () => {
    const schema = `promises_${randomBytes(4).toString("hex")}`;
    const client = new pg.Client({ connectionString: PG_URL });
    let repo: FeatureRepo;
    const count = async (): Promise<number> => (await client.query(`select count(*)::int as n from ${schema}.txns`)).rows[0].n as number;
    before(async () => {
      await client.connect();
      // `note` NOT NULL: the push's own validation accepts a null note (the view's feature is
      // nullable), so only Postgres refuses it, at the INSERT.
      await client.query(`create schema ${schema}; create table ${schema}.txns (cust bigint, ts timestamptz not null, created timestamptz, amount_cents bigint, note text not null)`);
      await client.query(`insert into ${schema}.txns values (1, $1, null, 100, 'first')`, [new Date(BASE)]);
      const features = PUSH_FEATURES.replace(`parquetSource({ name: "txns", path: "data/txns",`, `postgresSource({ name: "txns", table: "${schema}.txns", connection: ${JSON.stringify(PG_URL)},`).replace(
        "import { entity, parquetSource,",
        "import { entity, postgresSource,",
      );
      repo = await createFeatureRepo({ features });
    });
    after(async () => {
      await repo?.cleanup();
      await client.query(`drop schema if exists ${schema} cascade`).catch(() => {});
      await client.end();
    });

    test("a push whose offline append fails writes nothing online", async () => {
      const err = await expectLarderError(repo.store.push("txn_push", { cust: [11, 12], ts: [BASE + MIN, BASE + MIN], created: [null, null], amount_cents: [5, 6], note: ["ok", null] }, { to: "online_and_offline" }), "TYPE_MISMATCH");
      assert.match(err.message, /note/);
      assert.equal(await count(), 1);
      assert.deepEqual(await onlineStatuses(repo, [11, 12]), notFound(2));
    });

    test("an append of several INSERT statements is rolled back as a whole when the last one fails", async () => {
      // 5 columns → 6,000 rows per statement (30,000 parameters): 20,000 rows are 4 statements,
      // and only the last row is refused.
      const n = 20_000;
      const ids = Array.from({ length: n }, (_, i) => 1000 + i);
      const df = {
        cust: ids,
        ts: ids.map((_, i) => BASE + (i % 600) * MIN),
        created: ids.map(() => null),
        amount_cents: ids.map((_, i) => i),
        note: ids.map((_, i) => (i === n - 1 ? null : `n${i}`)),
      };
      await expectLarderError(repo.store.push("txn_push", df, { to: "online_and_offline" }), "TYPE_MISMATCH");
      assert.equal(await count(), 1, "none of the first three statements' rows stayed");
      assert.deepEqual(await onlineStatuses(repo, [ids[0]!, ids[n - 1]!]), notFound(2));
      // The same rows without the bad one are all appended.
      df.note[n - 1] = "last";
      await repo.store.push("txn_push", df, { to: "offline" });
      assert.equal(await count(), n + 1);
    });
  });
}

const REDIS_URL = testRedisUrl();
if (!(await redisUrlAvailable(REDIS_URL))) {
  if (requireServices()) throw new Error(`Redis is unavailable at ${REDIS_URL}`);
  test("WRITE_CONFLICT on Redis", { skip: `Redis is unavailable at ${REDIS_URL}` }, () => {});
} else {
  test("Redis: an update that keeps losing its compare-and-set to another writer is WRITE_CONFLICT and stores nothing of its own", async () => {
    const keyPrefix = `larder-test:promises-${randomBytes(4).toString("hex")}:`;
    const store = await RedisOnlineStore.open(REDIS_URL, { keyPrefix });
    const raw = new Redis(REDIS_URL);
    const opts = { features: ["n"], ttlMs: null };
    try {
      const first = await store.update("p", "agg", ["e1"], () => ({ eventTs: BASE, values: [1], asOf: BASE, state: "[1]", stateExpiresAt: null }), opts);
      assert.equal(first.written, 1);
      const stateKeys = (await raw.keys(`${keyPrefix}*`)).filter((k) => k.includes("~"));
      assert.equal(stateKeys.length, 1, `one state key: ${stateKeys.join(", ")}`);
      const stateKey = stateKeys[0]!;

      // The other writer: between this update's read and its compare-and-set (that is, inside
      // `modify`), another connection stores a new version of the entity's state, every time.
      let rounds = 0;
      let lastForeign = "";
      const err = await expectLarderError(
        store.update(
          "p",
          "agg",
          ["e1"],
          (_key, current) => {
            rounds++;
            lastForeign = packState(newStateVersion(), BASE + rounds, BASE, null, `["other ${rounds}"]`);
            const set = spawnSync("redis-cli", ["-u", REDIS_URL, "SET", stateKey, lastForeign], { encoding: "utf8" });
            assert.equal(set.stdout.trim(), "OK", set.stderr);
            return { eventTs: BASE + MIN, values: [(current === null ? 0 : 1) + 100], asOf: BASE + MIN, state: "[mine]", stateExpiresAt: null };
          },
          opts,
        ),
        "WRITE_CONFLICT",
      );
      assert.match(err.message, /"agg"/);
      assert.ok(rounds > 1, `retried before giving up (${rounds} rounds)`);
      // Nothing of the losing update was stored: the row is the first one, the state the other writer's.
      const [row] = await store.read("p", "agg", ["e1"], ["n"]);
      assert.equal(row?.eventTs, BASE);
      assert.deepEqual(row?.values, [1]);
      assert.equal(await raw.get(stateKey), lastForeign);
    } finally {
      const keys = await raw.keys(`${keyPrefix}*`);
      if (keys.length > 0) await raw.del(...keys);
      raw.disconnect();
      await store.close();
    }
  });
}
