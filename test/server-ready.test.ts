/**
 * `GET /ready` against real services: a Redis of its own (started on a free loopback port, killed
 * and restarted) and the test Postgres as the registry, reached through a TCP relay this test
 * closes to take the registry away.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, createServer, type Server, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import pg from "pg";
import { startServer } from "../src/server/app.js";
import { createServedRepo, get } from "./helpers/http-server.js";
import { configSource } from "./helpers/feature-repo.js";
import { redisBinariesAvailable, startRedisServer } from "./helpers/redis-cluster.js";
import { postgresAvailable, requireServices, testPostgresUrl } from "./helpers/services.js";

const pgUrl = testPostgresUrl();
const services = redisBinariesAvailable() && (await postgresAvailable(pgUrl));
if (!services && requireServices()) throw new Error(`/ready tests need redis-server and Postgres at ${pgUrl}`);

/** A TCP relay to `host:port` on a free loopback port; `close()` drops it and every connection through it. */
async function startRelay(host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host, port });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** Polls GET /ready until `ok(res)` or the deadline. */
async function readyUntil(url: string, ok: (res: Awaited<ReturnType<typeof get>>) => boolean, what: string): Promise<Awaited<ReturnType<typeof get>>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await get(url, "/ready");
    if (ok(res)) return res;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${res.status} ${res.text}`);
    await sleep(100);
  }
}

test("/ready: 200 while the registry and the online store answer, 503 naming the one that is down, 200 again when it is back", { skip: services ? false : "needs redis-server and Postgres" }, async () => {
  const redis = await startRedisServer();
  const target = new URL(pgUrl);
  const relay = await startRelay(target.hostname, Number(target.port || 5432));
  const schema = `ready_${randomBytes(4).toString("hex")}`;
  const registryUrl = new URL(pgUrl);
  registryUrl.hostname = "127.0.0.1";
  registryUrl.port = String(relay.port);
  process.env.LARDER_REGISTRY_SCHEMA = schema;
  const config = configSource("ready")
    .replace(`online: "embedded"`, `online: ${JSON.stringify(redis.url)}`)
    .replace(`registry: "embedded"`, `registry: ${JSON.stringify(registryUrl.href)}`);
  const repo = await createServedRepo({ config });
  const server = await startServer(repo.served, { port: 0, apiKeys: [] });
  try {
    const up = await get(server.url, "/ready");
    assert.equal(up.status, 200, up.text);
    assert.deepEqual(up.json, { status: "ready", project: "ready", checks: { registry: "ok", online_store: "ok" } });

    await redis.kill();
    const noRedis = await readyUntil(server.url, (r) => r.status !== 200, "503 without Redis");
    assert.equal(noRedis.status, 503, noRedis.text);
    assert.equal(noRedis.json.status, "unavailable");
    assert.equal(noRedis.json.checks.registry, "ok");
    assert.match(noRedis.json.checks.online_store, new RegExp(`^down: \\[ONLINE_STORE_UNAVAILABLE\\] .*127\\.0\\.0\\.1:${redis.port}`));
    assert.equal(noRedis.json.error.code, "ONLINE_STORE_UNAVAILABLE");
    // Liveness is not readiness: /health still answers (with its own 503 for the online store).
    assert.ok([200, 503].includes((await get(server.url, "/health")).status));

    await redis.restart();
    await readyUntil(server.url, (r) => r.status === 200, "200 after Redis restarted");

    await relay.close();
    const noRegistry = await readyUntil(server.url, (r) => r.status !== 200, "503 without the registry");
    assert.equal(noRegistry.status, 503, noRegistry.text);
    assert.equal(noRegistry.json.checks.online_store, "ok");
    assert.match(noRegistry.json.checks.registry, /^down: \[POSTGRES_UNAVAILABLE\] /);
    assert.equal(noRegistry.json.error.code, "REGISTRY_UNAVAILABLE");
  } finally {
    await server.close();
    await repo.cleanup();
    await relay.close().catch(() => {});
    await redis.stop();
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  }
});
