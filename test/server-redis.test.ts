/**
 * The HTTP server on a Redis online store that this test starts on a free loopback port: Redis
 * killed → 503 ONLINE_STORE_UNAVAILABLE (and /health 503), counted in /metrics; Redis back on
 * the same port → the server recovers by itself, and a new materialization serves the same values.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import { startServer } from "../src/server/app.js";
import { configSource } from "./helpers/feature-repo.js";
import { ALL_FEATURES, RANGE, createServedRepo, get, post } from "./helpers/http-server.js";
import { redisBinariesAvailable, startRedisServer } from "./helpers/redis-cluster.js";
import { requireServices } from "./helpers/services.js";

if (!redisBinariesAvailable() && requireServices()) throw new Error("redis-server is not installed: cannot run the server's Redis fault test");

test("Redis down: 503 ONLINE_STORE_UNAVAILABLE; back up: the server recovers by itself", { skip: redisBinariesAvailable() ? false : "redis-server is not installed" }, async () => {
  const redis = await startRedisServer();
  const repo = await createServedRepo({ config: configSource("test").replace(`online: "embedded"`, `online: ${JSON.stringify(redis.url)}`) });
  const server = await startServer(repo.served, { port: 0, apiKeys: [] });
  try {
    const body = { features: ALL_FEATURES, entities: { customer_id: [1, 2, 3, 44], cart_value: [1, 2, 3, 4] } };
    const healthy = await post(server.url, "/get-online-features", body);
    assert.equal(healthy.status, 200, healthy.text);
    assert.ok(
      healthy.json.results.some((r: { statuses: string[] }) => r.statuses.includes("PRESENT") && r !== healthy.json.results[0]),
      "values come from Redis",
    );

    await redis.kill();
    const down = await post(server.url, "/get-online-features", body);
    assert.equal(down.status, 503, down.text);
    assert.equal(down.json.error.code, "ONLINE_STORE_UNAVAILABLE");
    assert.match(down.json.error.message, new RegExp(`127\\.0\\.0\\.1:${redis.port}`));
    assert.equal(down.headers.get("retry-after"), "1");
    const health = await get(server.url, "/health");
    assert.deepEqual([health.status, health.json.error.code], [503, "ONLINE_STORE_UNAVAILABLE"]);
    // Validation still answers without the store.
    assert.equal((await post(server.url, "/get-online-features", { entities: {} })).status, 400);

    await redis.restart();
    const deadline = Date.now() + 15_000;
    for (;;) {
      const res = await get(server.url, "/health");
      if (res.status === 200) break;
      assert.equal(res.json.error.code, "ONLINE_STORE_UNAVAILABLE");
      if (Date.now() > deadline) assert.fail(`the server did not recover within 15 s: ${res.text}`);
      await sleep(100);
    }
    // The restarted Redis is empty (nothing persisted): a new materialization serves the same values.
    const empty = await post(server.url, "/get-online-features", body);
    assert.equal(empty.status, 200, empty.text);
    // Every stored feature reads NOT_FOUND; on-demand features computed from them are null.
    const names: string[] = empty.json.metadata.feature_names;
    const statuses = Object.fromEntries(names.map((n, i) => [n, [...new Set(empty.json.results[i].statuses as string[])]]));
    const expected = Object.fromEntries(names.map((n, i) => [n, i === 0 ? ["PRESENT"] : ALL_FEATURES[i - 1]!.startsWith("ratios:") ? ["NULL_VALUE"] : ["NOT_FOUND"]]));
    assert.deepEqual(statuses, expected);
    await repo.served.materialize(RANGE);
    const again = await post(server.url, "/get-online-features", body);
    assert.equal(again.status, 200);
    assert.deepEqual(again.json.results, healthy.json.results);

    const metrics = await get(server.url, "/metrics");
    assert.match(metrics.text, /larder_online_store_errors_total\{route="\/get-online-features"\} 1/);
    assert.match(metrics.text, /larder_online_store_errors_total\{route="\/health"\} [1-9]/);
  } finally {
    await server.close();
    await repo.cleanup();
    await redis.stop();
  }
});
