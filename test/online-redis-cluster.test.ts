/**
 * The online-store conformance suite on a Redis Cluster of three masters that this file starts on
 * free loopback ports (test/helpers/redis-cluster.ts) and stops afterwards; plus checks that a
 * view's keys spread over all masters.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Cluster } from "ioredis";
import { encodeEntityKey } from "../src/data/entity-keys.js";
import { openOnlineStore } from "../src/online/open-online-store.js";
import { runOnlineStoreConformance } from "./conformance/online-store.js";
import { redisBinariesAvailable, startRedisCluster, type RedisCluster } from "./helpers/redis-cluster.js";
import { requireServices } from "./helpers/services.js";

if (!redisBinariesAvailable()) {
  if (requireServices()) throw new Error("redis-server / redis-cli are not installed: cannot start a Redis Cluster");
  test("Redis Cluster online store", { skip: "redis-server / redis-cli are not installed" }, () => {});
} else {
  let cluster: RedisCluster | undefined;
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.stop();
  });
  const url = (): string => {
    if (!cluster) throw new Error("the cluster did not start");
    return cluster.url;
  };

  runOnlineStoreConformance("Redis Cluster (3 masters)", () => openOnlineStore(url(), { repoDir: "/unused", keyPrefix: "t:" }));

  describe("Redis Cluster layout", () => {
    test("one view's keys spread over every master, and each entity is one key", async () => {
      const store = await openOnlineStore(url(), { repoDir: "/unused", keyPrefix: "spread:" });
      const raw = new Cluster(cluster!.ports.map((port) => ({ host: "127.0.0.1", port })));
      try {
        const rows = Array.from({ length: 300 }, (_, i) => ({ entityKey: encodeEntityKey([i]), eventTs: 1, values: [i, "x"] }));
        await store.write("p", "v", rows, { features: ["a", "b"], ttlMs: null });
        const counts = await Promise.all(raw.nodes("master").map((n) => n.dbsize()));
        assert.equal(counts.length, 3);
        for (const c of counts) assert.ok(c > 50, `every master holds a share of the keys: ${counts.join(", ")}`);
        // One key per entity (plus the view's schema key), whichever master holds it.
        const keys = (await Promise.all(raw.nodes("master").map((n) => n.keys("spread:p:v:*")))).flat().sort();
        assert.deepEqual(
          keys.filter((k) => !k.startsWith("spread:p:v:#")),
          rows.map((r) => `spread:p:v:${r.entityKey}`).sort(),
        );
        assert.equal(keys.filter((k) => k.startsWith("spread:p:v:#")).length, 1, `one schema key: ${keys.filter((k) => k.includes("#")).join(", ")}`);
        assert.match((await raw.get("spread:p:v:7")) ?? "", /^1,\d+,null,"[A-Za-z0-9_-]{12}",7,"x"$/);
      } finally {
        raw.disconnect();
        await store.close();
      }
    });
  });
}
