/**
 * The online-store conformance suite on standalone Redis (127.0.0.1:6379, or
 * LARDER_TEST_REDIS_URL) under a key prefix of this run, deleted afterwards; URL handling; and
 * faults on a redis-server this file starts on a spare port: killed → calls fail fast with
 * ONLINE_STORE_UNAVAILABLE; restarted → the same store instance works again.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, test } from "node:test";
import { Redis } from "ioredis";
import { encodeEntityKey } from "../src/data/entity-keys.js";
import { openOnlineStore } from "../src/online/open-online-store.js";
import { RedisOnlineStore } from "../src/online/redis/redis-online-store.js";
import type { OnlineStore } from "../src/online/online-store.js";
import { runOnlineStoreConformance } from "./conformance/online-store.js";
import { redisBinariesAvailable, startRedisServer } from "./helpers/redis-cluster.js";
import { redisUrlAvailable, requireServices, testRedisUrl } from "./helpers/services.js";

const url = testRedisUrl();
const keyPrefix = `larder-test:${process.pid}-${randomBytes(3).toString("hex")}:`;
const opts = { repoDir: "/unused-by-redis", keyPrefix };

describe("openOnlineStore URLs", () => {
  test("an unknown scheme is INVALID_CONFIG naming the value, without credentials", async () => {
    await assert.rejects(openOnlineStore("memcached://u:s3cret@localhost:11211", opts), (err: Error & { code?: string }) => {
      assert.equal(err.code, "INVALID_CONFIG");
      assert.match(err.message, /memcached:\/\/localhost:11211/);
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    });
    await assert.rejects(openOnlineStore("", opts), { code: "INVALID_CONFIG" });
    await assert.rejects(openOnlineStore("redis-cluster://127.0.0.1", opts), { code: "INVALID_CONFIG" });
  });

  // Fast means no waiting for a reconnect: a store that queued the call would hang into the timeout.
  test("an unreachable Redis fails calls fast with ONLINE_STORE_UNAVAILABLE naming the URL, never the password", { timeout: 60_000 }, async () => {
    const store = await openOnlineStore("redis://:pw-s3cret@127.0.0.1:1/0", opts);
    try {
      await assert.rejects(store.read("p", "v", ["1"], ["f"]), (err: Error & { code?: string }) => {
        assert.equal(err.code, "ONLINE_STORE_UNAVAILABLE");
        assert.match(err.message, /redis:\/\/127\.0\.0\.1:1\/0/);
        assert.doesNotMatch(err.message, /s3cret/);
        return true;
      });
    } finally {
      await store.close();
    }
  });
});

if (!(await redisUrlAvailable(url))) {
  if (requireServices()) throw new Error(`Redis is unavailable at ${url}`);
  test("Redis online store", { skip: `Redis is unavailable at ${url}` }, () => {});
} else {
  after(async () => {
    const raw = new Redis(url);
    let cursor = "0";
    do {
      const [next, keys] = await raw.scan(cursor, "MATCH", `${keyPrefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await raw.unlink(...keys);
    } while (cursor !== "0");
    raw.disconnect();
  });

  runOnlineStoreConformance("Redis standalone", () => openOnlineStore(url, opts));

  test("NOSCRIPT: after SCRIPT FLUSH the write script is sent again", async () => {
    const store = await openOnlineStore(url, opts);
    const raw = new Redis(url);
    try {
      const w = (ts: number) => store.write("noscript", "v", [{ entityKey: "1", eventTs: ts, values: [ts] }], { features: ["f"], ttlMs: null });
      await w(1);
      await raw.script("FLUSH");
      assert.equal((await w(2)).written, 1);
      assert.equal((await w(1)).stale, 1);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  test("a row with a TTL is a key with PEXPIREAT = eventTs + ttl", async () => {
    const store = await openOnlineStore(url, opts);
    const raw = new Redis(url);
    try {
      const ts = Date.now();
      await store.write("ttl", "v", [{ entityKey: encodeEntityKey([1]), eventTs: ts, values: [1] }], { features: ["f"], ttlMs: 60_000 });
      assert.equal(await raw.pexpiretime(`${keyPrefix}ttl:v:1`), ts + 60_000);
      await store.write("ttl", "v", [{ entityKey: encodeEntityKey([1]), eventTs: ts + 1, values: [1] }], { features: ["f"], ttlMs: null });
      assert.equal(await raw.pexpiretime(`${keyPrefix}ttl:v:1`), -1, "a row without TTL clears the expiry");
    } finally {
      raw.disconnect();
      await store.close();
    }
  });
}

if (!redisBinariesAvailable()) {
  if (requireServices()) throw new Error("redis-server is not installed: cannot run the Redis fault tests");
  test("Redis faults", { skip: "redis-server is not installed" }, () => {});
} else {
  // Each call must fail while the server stays down: a store that queued calls until a reconnect would hang into the timeout.
  test("Redis killed: calls fail fast with ONLINE_STORE_UNAVAILABLE; restarted: the same store works again", { timeout: 120_000 }, async () => {
    const server = await startRedisServer();
    let store: OnlineStore | undefined;
    try {
      store = await openOnlineStore(server.url, { repoDir: "/unused" });
      const row = (ts: number) => [{ entityKey: encodeEntityKey([1]), eventTs: ts, values: [ts] }];
      const write = (ts: number) => store!.write("p", "v", row(ts), { features: ["f"], ttlMs: null });
      assert.equal((await write(1)).written, 1);

      await server.kill();
      for (const call of [() => write(2), () => store!.read("p", "v", [encodeEntityKey([1])], ["f"]), () => store!.deleteView("p", "v")]) {
        await assert.rejects(call(), (err: Error & { code?: string }) => {
          assert.equal(err.code, "ONLINE_STORE_UNAVAILABLE");
          assert.match(err.message, new RegExp(`unavailable.*127\\.0\\.0\\.1:${server.port}|127\\.0\\.0\\.1:${server.port}.*unavailable`));
          return true;
        });
      }

      await server.restart();
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          assert.equal((await write(3)).written, 1);
          break;
        } catch (err) {
          assert.equal((err as { code?: string }).code, "ONLINE_STORE_UNAVAILABLE");
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      const [got] = await store.read("p", "v", [encodeEntityKey([1])], ["f"]);
      assert.deepEqual(got?.values, [3]);
    } finally {
      await store?.close();
      await server.stop();
    }
  });
}

if (redisBinariesAvailable()) {
  test("Redis hung (SIGSTOP): calls fail with ONLINE_STORE_UNAVAILABLE after the command timeout; resumed: they work again", { timeout: 60_000 }, async () => {
    const server = await startRedisServer();
    const store = await RedisOnlineStore.open(server.url, { commandTimeoutMs: 300 });
    try {
      await store.write("p", "v", [{ entityKey: "1", eventTs: 1, values: ["a"] }], { features: ["f"], ttlMs: null });
      server.pause();
      const t0 = Date.now();
      await assert.rejects(store.read("p", "v", ["1"], ["f"]), (err: Error & { code?: string }) => {
        assert.equal(err.code, "ONLINE_STORE_UNAVAILABLE");
        assert.match(err.message, /timed out/i);
        return true;
      });
      // The server stays stopped, so only the command timeout can end the call: not before it.
      assert.ok(Date.now() - t0 >= 295, `failed after ${Date.now() - t0} ms, before the 300 ms command timeout`);
      server.resume();
      const deadline = Date.now() + 5000;
      for (;;) {
        try {
          assert.deepEqual((await store.read("p", "v", ["1"], ["f"]))[0]?.values, ["a"]);
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    } finally {
      server.resume();
      await store.close();
      await server.stop();
    }
  });
}
