/**
 * Online data loss against a real Redis of this test's own (a free loopback port, nothing
 * persisted): FLUSHALL of that private instance, and a restart, lose every view's rows; the next
 * `larder materialize-incremental` (and a scheduled tick) notice it by the views' missing markers,
 * refill them, log it and count it in /metrics.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Redis } from "ioredis";
import { startScheduler } from "../src/use-cases/scheduler.js";
import { startServer } from "../src/server/app.js";
import { assertOk, larder } from "./helpers/cli.js";
import { configSource } from "./helpers/feature-repo.js";
import { ALL_FEATURES, DAY, FEATURES, RANGE, createServedRepo, get } from "./helpers/http-server.js";
import { redisBinariesAvailable, startRedisServer } from "./helpers/redis-cluster.js";
import { requireServices } from "./helpers/services.js";

if (!redisBinariesAvailable() && requireServices()) throw new Error("redis-server is not installed: cannot run the online data loss test");

/** The response without `as_of` (write times change with every refill). */
function values(res: { metadata: { feature_names: string[] }; results: unknown[] }): unknown {
  return { names: res.metadata.feature_names, results: res.results };
}

test("Redis emptied (FLUSHALL, restart): materialize-incremental and the next scheduled tick notice the missing markers and refill the views", { skip: redisBinariesAvailable() ? false : "redis-server is not installed" }, async () => {
  const redis = await startRedisServer();
  const config = configSource("loss").replace(`online: "embedded"`, `online: ${JSON.stringify(redis.url)}`);
  // profile runs on a schedule: its ticks go through the same incremental materialization.
  const repo = await createServedRepo({ config, features: FEATURES.replace(`source: profiles, ttl: "30d",`, `source: profiles, ttl: "30d", schedule: "@hourly",`), materialize: false });
  const admin = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  admin.on("error", () => {});
  const server = await startServer(repo.served, { port: 0, apiKeys: [], predictionLog: false });
  try {
    const end = new Date(RANGE.end).toISOString();
    const customer_id = Array.from({ length: 40 }, (_, i) => i + 1);
    const read = () => repo.served.getOnlineFeatures({ customer_id, cart_value: customer_id.map((i) => i * 2) }, { features: ALL_FEATURES, now: RANGE.end + DAY });

    assertOk(larder(repo.dir, ["materialize-incremental", "--end", end]));
    const before = await read();
    const present = before.results.flatMap((r) => r.statuses).filter((s) => s === "PRESENT").length;
    assert.ok(present > 100, `materialized values are served (${present} PRESENT)`);

    await admin.connect();
    await admin.flushall(); // this test's own redis-server, nobody else's
    const lost = await read();
    assert.ok(
      lost.results.slice(1, 9).every((r) => r.statuses.every((s) => s === "NOT_FOUND")),
      "after FLUSHALL nothing is found",
    );

    // A narrow range cannot hide the loss: the next incremental run still refills everything.
    await repo.served.materialize({ start: RANGE.end - 3_600_000, end: RANGE.end });

    const repair = larder(repo.dir, ["materialize-incremental", "--end", end]);
    assertOk(repair);
    for (const view of ["profile", "spend"]) {
      assert.match(repair.stderr, new RegExp(`online data loss: the online store has no materialization marker for view "${view}"`));
    }
    assert.deepEqual(values(await read()), values(before), "refilled: the same vectors as before the loss");

    const metrics = await get(server.url, "/metrics");
    assert.match(metrics.text, /larder_online_data_loss_total\{view="profile"\} 1\n/);
    assert.match(metrics.text, /larder_online_data_loss_total\{view="spend"\} 1\n/);

    // Nothing lost: the next run refills nothing.
    const quiet = larder(repo.dir, ["materialize-incremental", "--end", end]);
    assertOk(quiet);
    assert.doesNotMatch(quiet.stderr, /data loss/);

    // A restart (empty: nothing persisted), then a scheduled tick: the scheduler repairs it too.
    admin.disconnect();
    await redis.kill();
    await redis.restart();
    const logs: string[] = [];
    const scheduler = startScheduler(repo.served, { log: (l) => logs.push(l), timers: false });
    try {
      const tick = await scheduler.runTick("profile", new Date(RANGE.end));
      assert.equal(tick.status, "succeeded", JSON.stringify(tick));
    } finally {
      await scheduler.stop();
    }
    assert.ok(
      logs.some((l) => /schedule profile at .*: online data loss: the online store has no materialization marker for view "profile"/.test(l)),
      logs.join("\n"),
    );
    const results = await repo.served.materializeIncremental({ end: RANGE.end, onDataLoss: (l) => logs.push(`${l.view}: ${l.reason}`) });
    assert.deepEqual(
      results.map((r) => ("repaired" in r && r.repaired !== undefined ? r.view : null)),
      [null, "spend"],
      "profile was repaired by the tick",
    );
    assert.deepEqual(values(await read()), values(before));
    const again = await get(server.url, "/metrics");
    assert.match(again.text, /larder_online_data_loss_total\{view="profile"\} 2\n/);

    // A store behind its watermark (restored from an older snapshot): refilled from the marker's watermark.
    const marker = await repo.served.withOnlineStore((o) => o.readMarker("loss", "profile"));
    assert.ok(marker);
    await repo.served.withOnlineStore((o) => o.writeMarker("loss", "profile", { ...marker, watermark: RANGE.end - 2 * DAY }));
    const behind = await repo.served.materializeIncremental({ end: RANGE.end, views: ["profile"] });
    assert.equal(behind.length, 1);
    assert.ok("repaired" in behind[0]! && behind[0].start === RANGE.end - 2 * DAY, JSON.stringify(behind[0]));
    assert.equal((await repo.served.withOnlineStore((o) => o.readMarker("loss", "profile")))?.watermark, RANGE.end);
  } finally {
    admin.disconnect();
    await server.close();
    await repo.cleanup();
    await redis.stop();
  }
});
