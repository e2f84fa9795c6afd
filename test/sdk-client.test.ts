/**
 * The SDK against a real server: `startServer` (src/server/app.ts) on port 0 over a feature
 * repository whose online store is a dedicated redis-server this file starts (so it can pause,
 * kill and restart it). Every call goes through the real fetch over loopback; the only wrapper
 * is a counter of the HTTP requests the client makes (retries are counted, not simulated).
 *
 * Skips when redis-server is not installed, unless LARDER_REQUIRE_SERVICES=1.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Table } from "apache-arrow";
import { LarderClient, LarderClientError, OnlineFeatures, type PredictResponse } from "../sdk/src/index.js";
import { hashApiKey } from "../src/config/define-config.js";
import { FeatureStore } from "../src/feature-store.js";
import { promoteModel, registerModel } from "../src/use-cases/model-registry.js";
import { startServer, type RunningServer } from "../src/server/app.js";
import { arrowTable, col, fastTempDir, tableRows, writeParquet } from "./helpers/feature-repo.js";
import { redisBinariesAvailable, startRedisServer, type RedisServer } from "./helpers/redis-cluster.js";
import { requireServices } from "./helpers/services.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 10 * DAY;
const RANGE = { start: BASE - DAY, end: BASE + 9 * DAY };
const READ_KEY = "sdk-test-read-key-0123456789";
const PUSH_KEY = "sdk-test-push-key-0123456789";

const FEATURES = `
import { entity, parquetSource, pushSource, requestSource, featureView, onDemandFeatureView, featureService, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const profiles = parquetSource({ name: "profiles", path: "data/profiles.parquet", timestampField: "ts" });
export const profile = featureView({ name: "profile", entities: [customer], source: profiles, ttl: "30d",
  schema: { plan: t.string, fee: t.float64, tenure: t.int64, vip: t.bool } });
const txns = parquetSource({ name: "txns", path: "data/txns.parquet", timestampField: "ts" });
const txnPush = pushSource({ name: "txns_push", batchSource: txns });
export const spend = featureView({ name: "spend", entities: [customer], source: txnPush,
  transform: (row) => ({ ...row, last_usd: row.cents / 100 }), schema: { cents: t.int64, last_usd: t.float64 } });
const cart = requestSource({ name: "cart", schema: { cart: t.float64 } });
export const ratio = onDemandFeatureView({ name: "ratio", sources: [spend, cart], schema: { cart_vs_last: t.float64 },
  transform: (f) => ({ cart_vs_last: f.last_usd == null ? null : f.cart / f.last_usd }) });
export const svc = featureService({ name: "svc", features: [profile, spend, ratio] });
`;

function files() {
  const ids = [1, 2, 3, 4, 5, 6];
  const txnIds: number[] = [];
  const txnTs: number[] = [];
  const cents: number[] = [];
  ids.forEach((id, i) => {
    for (let k = 0; k <= i % 3; k++) {
      txnIds.push(id);
      txnTs.push(BASE + (i + k) * DAY + k * HOUR);
      cents.push(100 * id + 7 * k);
    }
  });
  return {
    "data/profiles.parquet": arrowTable({
      customer_id: col.int64(ids),
      ts: col.timestamp(ids.map((i) => BASE + i * HOUR)),
      plan: col.string(["basic", "pro", null, "plus", "pro", "basic"]),
      fee: col.float64([9.5, 29, 19.25, null, 29, 9.5]),
      tenure: col.int64([1, 12, 5, 7, 30, 2]),
      vip: col.bool([false, true, null, false, true, false]),
    }),
    "data/txns.parquet": arrowTable({ customer_id: col.int64(txnIds), ts: col.timestamp(txnTs), cents: col.int64(cents) }),
  };
}

/** A logistic model on the service's fee (numeric), plan (categorical) and cart_vs_last (on demand). */
const FEE_MODEL = {
  format: "larder.linear.v1",
  objective: "logistic",
  inputs: [
    { feature: "fee", kind: "numeric", mean: 20, std: 8, fill: 20, weight: 0.7 },
    { feature: "plan", kind: "categorical", categories: ["basic", "pro", "plus"], weights: [-0.4, 0.9, 0.2], fill: null },
    { feature: "cart_vs_last", kind: "numeric", mean: 1, std: 2, fill: 1, weight: -0.3 },
  ],
  intercept: 0.25,
  missing: "fill",
};

function configSource(redisUrl: string): string {
  return `export default { project: "sdktest", definitions: ["./features.ts"], registry: "embedded", online: ${JSON.stringify(redisUrl)}, offline: { path: "./data/offline" } };\n`;
}

/** A client whose HTTP requests are counted (real fetch underneath). */
function countingClient(url: string, options: Partial<ConstructorParameters<typeof LarderClient>[0]> = {}): { client: LarderClient; calls: () => number } {
  let n = 0;
  const counted: typeof fetch = (input, init) => {
    n++;
    return fetch(input, init);
  };
  return { client: new LarderClient({ url, apiKey: READ_KEY, fetch: counted, ...options }), calls: () => n };
}

async function expectClientError(promise: Promise<unknown>, code: string): Promise<LarderClientError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof LarderClientError, `expected a LarderClientError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected LarderClientError ${code}, but the call succeeded`);
}

const binaries = redisBinariesAvailable();
if (!binaries && requireServices()) throw new Error("redis-server is not installed (LARDER_REQUIRE_SERVICES=1)");

describe("LarderClient against a running server", { skip: binaries ? false : "redis-server is not installed" }, () => {
  let redis: RedisServer;
  let dir: string | undefined;
  let store: FeatureStore;
  let serverStore: FeatureStore;
  let server: RunningServer;
  let client: LarderClient;

  before(async () => {
    redis = await startRedisServer();
    // The repository is written whole before it is opened: a config re-imported by the same process
    // is not seen again when it compiles to CommonJS (the require cache keeps the first one).
    dir = await mkdtemp(join(fastTempDir(), "larder-sdk-test-"));
    await writeFile(join(dir, "larder.config.ts"), configSource(redis.url));
    await writeFile(join(dir, "features.ts"), FEATURES);
    for (const [rel, table] of Object.entries(files())) await writeParquet(join(dir, rel), table);
    store = await FeatureStore.open(dir);
    await store.apply();
    await store.backfill(RANGE);
    await store.materialize(RANGE);
    await registerModel(store, { name: "fee_model", service: "svc", model: FEE_MODEL });
    await promoteModel(store, "fee_model", 1);
    serverStore = await FeatureStore.open(dir, { holdOnlineStore: true });
    server = await startServer(serverStore, {
      port: 0,
      apiKeys: [
        { name: "reader", keyHash: hashApiKey(READ_KEY), scopes: ["read"] },
        { name: "pusher", keyHash: hashApiKey(PUSH_KEY), scopes: ["read", "push"] },
      ],
    });
    client = new LarderClient({ url: server.url, apiKey: READ_KEY });
  });

  after(async () => {
    await server?.close();
    await serverStore?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    await redis?.stop();
  });

  test("getOnlineFeatures returns exactly the server's JSON, plus row views", async () => {
    const request = { feature_service: "svc", entities: { customer_id: [3, 1, 99, 3], cart: [10, 20, 30, 40] } };
    const raw = await fetch(`${server.url}/get-online-features`, {
      method: "POST",
      headers: { authorization: `Bearer ${READ_KEY}`, "content-type": "application/json" },
      body: JSON.stringify(request),
    });
    assert.equal(raw.status, 200);
    const want = await raw.json();
    const res = await client.getOnlineFeatures({ featureService: "svc", entities: request.entities });
    assert.ok(res instanceof OnlineFeatures);
    assert.deepEqual(JSON.parse(JSON.stringify(res)), want);
    assert.deepEqual(res.featureNames, ["customer_id", "plan", "fee", "tenure", "vip", "cents", "last_usd", "cart_vs_last"]);

    // The in-process read path gives the same values and statuses.
    const local = await store.getOnlineFeatures(request.entities, { service: "svc" });
    assert.deepEqual(
      res.results.map((r) => r.values),
      local.results.map((r) => r.values),
    );
    assert.deepEqual(
      res.results.map((r) => r.statuses),
      local.results.map((r) => r.statuses),
    );

    const rows = res.toRows();
    assert.equal(rows.length, 4);
    assert.deepEqual(rows[1], Object.fromEntries(res.featureNames.map((name, k) => [name, res.results[k]!.values[1]])));
    assert.equal(rows[1]!.plan, "basic");
    assert.equal(rows[1]!.fee, 9.5);
    const { cart_vs_last: _first, ...r0 } = rows[0]!;
    const { cart_vs_last: _again, ...r3 } = rows[3]!;
    assert.deepEqual(r0, r3); // the same customer twice; only the request field differs
    assert.equal(res.toStatusRows()[2]!.plan, "NOT_FOUND");
    assert.equal(rows[2]!.last_usd, null);
    assert.equal(rows[1]!.last_usd, 1); // customer 1's only transaction: 100 cents, through the row transform
    assert.deepEqual(res.column("tenure"), [5, 1, null, 5]);
  });

  test("features by reference, full feature names, bigint and string keys", async () => {
    const res = await client.getOnlineFeatures({ features: ["profile:plan", "spend:last_usd"], entities: { customer_id: [2n as unknown as number, "5"] }, fullFeatureNames: true });
    assert.deepEqual(res.featureNames, ["customer_id", "profile__plan", "spend__last_usd"]);
    const local = await store.getOnlineFeatures({ customer_id: [2, 5] }, { features: ["profile:plan", "spend:last_usd"], fullFeatureNames: true });
    assert.deepEqual(
      res.results.slice(1).map((r) => r.values),
      local.results.slice(1).map((r) => r.values),
    );
    assert.deepEqual(
      res.toRows().map((r) => r.profile__plan),
      ["pro", "pro"],
    );
  });

  test("getTrainingSet returns the Table FeatureStore.getTrainingSet builds (JSON columns or an Arrow table in)", async () => {
    const ids = [1, 2, 3, 4, 5, 6, 99, 2];
    const times = ids.map((_, i) => BASE + (i + 1) * DAY + 5 * HOUR);
    const entities = arrowTable({ customer_id: col.int64(ids), event_timestamp: col.timestamp(times), cart: col.float64(ids.map((i) => i * 3.5)), row: col.int64(ids.map((_, i) => i)) });
    const want = await store.getTrainingSet(entities, { service: "svc" });

    const fromColumns = await client.getTrainingSet({ customer_id: ids, event_timestamp: times.map((t) => new Date(t)), cart: ids.map((i) => i * 3.5), row: ids.map((_, i) => i) }, { featureService: "svc" });
    assert.ok(fromColumns instanceof Table);
    assert.deepEqual(
      fromColumns.schema.fields.map((f) => f.name),
      want.schema.fields.map((f) => f.name),
    );
    assert.deepEqual(tableRows(fromColumns), tableRows(want));
    assert.deepEqual(
      fromColumns.schema.fields.map((f) => String(f.type)),
      want.schema.fields.map((f) => String(f.type)),
    );

    const fromTable = await client.getTrainingSet(entities, { featureService: "svc" });
    assert.deepEqual(tableRows(fromTable), tableRows(want));

    const batches = [];
    for await (const b of client.getTrainingSetBatches(entities, { features: ["profile:fee"], fullFeatureNames: true })) batches.push(b);
    assert.equal(
      batches.reduce((n, b) => n + b.numRows, 0),
      ids.length,
    );
    assert.ok(batches[0]!.schema.fields.some((f) => f.name === "profile__fee"));
  });

  test("predict returns exactly the server's answer to POST /v1/predict/:model, typed; errors keep their codes", async () => {
    const request = { entities: { customer_id: [1, 2, 99] }, request: { cart: [10, 20, 30] }, contributions: true };
    const raw = await fetch(`${server.url}/v1/predict/fee_model`, {
      method: "POST",
      headers: { authorization: `Bearer ${READ_KEY}`, "content-type": "application/json", "x-request-id": "sdk-predict-1" },
      body: JSON.stringify(request),
    });
    assert.equal(raw.status, 200);
    const want = (await raw.json()) as PredictResponse;
    const { client: counted, calls } = countingClient(server.url);
    const res = await counted.predict("fee_model", { ...request, requestId: "sdk-predict-1" });
    assert.equal(calls(), 1);
    assert.deepEqual(res, want);
    assert.equal(res.request_id, "sdk-predict-1");
    assert.deepEqual([res.model, res.version, res.stage, res.service], ["fee_model", 1, "production", "svc"]);
    assert.deepEqual(res.feature_names, ["fee", "plan", "cart_vs_last"]);

    // The same numbers as the in-process predict over the same online store.
    const local = await store.predict("fee_model", request.entities, { request: request.request, contributions: true });
    assert.deepEqual(res.results, local.results);
    const first = res.results[0]!;
    assert.equal(typeof first.prediction, "number");
    const contributions = first.contributions as Record<string, number>;
    const sum = Object.values(contributions).reduce((a, b) => a + b, first.bias as number);
    assert.ok(Math.abs(sum - (first.margin as number)) < 1e-9, "bias + Σ contributions = margin");

    // By version, one request value for every row; a fresh request id each call when none is given.
    const byVersion = await client.predict("fee_model", { entities: { customer_id: [3] }, request: { cart: 5 }, version: 1 });
    assert.equal(byVersion.stage, null);
    assert.equal(byVersion.results.length, 1);
    assert.equal(byVersion.results[0]!.contributions, undefined);
    assert.match(byVersion.request_id, /^[0-9a-f-]{36}$/);

    const unknown = await expectClientError(client.predict("no_such_model", { entities: { customer_id: [1] } }), "UNKNOWN_MODEL");
    assert.equal(unknown.status, 404);
    const noStage = await expectClientError(client.predict("fee_model", { entities: { customer_id: [1] }, request: { cart: 1 }, stage: "staging" }), "UNKNOWN_MODEL");
    assert.equal(noStage.path, "stage");
    const missingKey = await expectClientError(client.predict("fee_model", { entities: { cust: [1] }, request: { cart: 1 } }), "MISSING_JOIN_KEY");
    assert.equal(missingKey.status, 400);
    await expectClientError(client.predict("", { entities: { customer_id: [1] } }), "INVALID_ARGUMENT");
  });

  test("health", async () => {
    assert.deepEqual(await client.health(), { status: "ok", project: "sdktest" });
  });

  test("typed errors: 400 with the field's path, 404 unknown feature, 401 without a key, 403 without the scope", async () => {
    const bad = await expectClientError(client.getOnlineFeatures({ features: ["profile:plan"], entities: { customer_id: [1, { id: 2 } as unknown as number] } }), "INVALID_ARGUMENT");
    assert.equal(bad.status, 400);
    assert.equal(bad.path, "entities.customer_id[1]");

    const uneven = await expectClientError(client.getOnlineFeatures({ features: ["profile:plan"], entities: { customer_id: [1, 2], cart: [1] } }), "INVALID_ARGUMENT");
    assert.equal(uneven.status, 400);
    assert.equal(uneven.path, "entities.cart");

    const missingKey = await expectClientError(client.getOnlineFeatures({ features: ["profile:plan"], entities: { id: [1] } }), "MISSING_JOIN_KEY");
    assert.equal(missingKey.status, 400);
    assert.equal(missingKey.path, "entities.customer_id");

    const unknown = await expectClientError(client.getOnlineFeatures({ features: ["profile:plan", "profile:nope"], entities: { customer_id: [1] } }), "UNKNOWN_FEATURE");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.path, "features[1]");
    assert.match(unknown.message, /nope/);

    const noService = await expectClientError(client.getTrainingSet({ customer_id: [1], event_timestamp: [new Date()] }, { featureService: "nope" }), "UNKNOWN_FEATURE_SERVICE");
    assert.equal(noService.status, 404);
    assert.equal(noService.path, "feature_service");

    const anonymous = new LarderClient({ url: server.url });
    const unauth = await expectClientError(anonymous.getOnlineFeatures({ features: ["profile:plan"], entities: { customer_id: [1] } }), "UNAUTHENTICATED");
    assert.equal(unauth.status, 401);
    const wrongKey = new LarderClient({ url: server.url, apiKey: "not-a-key-of-this-server" });
    assert.equal(
      (
        await expectClientError(
          wrongKey.health().then(() => wrongKey.getOnlineFeatures({ features: ["profile:plan"], entities: { customer_id: [1] } })),
          "UNAUTHENTICATED",
        )
      ).status,
      401,
    );

    const forbidden = await expectClientError(client.push("txns_push", { customer_id: [1], ts: [new Date()], cents: [100] }), "FORBIDDEN");
    assert.equal(forbidden.status, 403);

    // Checked before any request.
    assert.throws(
      () => new LarderClient({ url: "not a url" }),
      (e: unknown) => e instanceof LarderClientError && e.code === "INVALID_ARGUMENT" && e.path === "url",
    );
    await expectClientError(client.getOnlineFeatures({ entities: { customer_id: [1] } } as never), "INVALID_ARGUMENT");
  });

  test("push goes through the row transform into the online store; an unknown push source is a 404 at push_source_name", async () => {
    const pusher = new LarderClient({ url: server.url, apiKey: PUSH_KEY });
    const unknown = await expectClientError(pusher.push("nope", { customer_id: [1] }), "UNKNOWN_PUSH_SOURCE");
    assert.equal(unknown.status, 404);
    assert.equal(unknown.path, "push_source_name");
    const ts = new Date(BASE + 9 * DAY - HOUR);
    const res = await pusher.push("txns_push", { customer_id: [6], ts: [ts], cents: [12345] }, { to: "online" });
    assert.equal(res.pushSource, "txns_push");
    assert.equal(res.rows, 1);
    const after = await client.getOnlineFeatures({ features: ["spend:last_usd"], entities: { customer_id: [6] } });
    assert.equal(after.column("last_usd")[0], 123.45);
  });

  test("timeouts: TIMEOUT after timeoutMs, not retried", async () => {
    const { client: slow, calls } = countingClient(server.url, { timeoutMs: 300, retries: 3, retryDelayMs: 10 });
    redis.pause(); // the server's Redis read hangs (until its own command timeout)
    try {
      const t = Date.now();
      // Redis stays paused, so the server cannot answer with values; TIMEOUT (not the server's 503)
      // shows the client gave up first, and not before timeoutMs (a lower bound, less the clock's
      // granularity: load cannot break it).
      const err = await expectClientError(slow.getOnlineFeatures({ features: ["profile:plan"], entities: { customer_id: [1] } }), "TIMEOUT");
      assert.ok(Date.now() - t >= 295, `gave up after ${Date.now() - t} ms, before timeoutMs`);
      assert.match(err.message, /timed out after 300 ms/);
      assert.equal(err.status, undefined);
      assert.equal(err.attempts, 1);
      assert.equal(calls(), 1);
    } finally {
      redis.resume();
    }
  });

  test("503 (Redis down): a push is never retried", async () => {
    await redis.kill();
    try {
      const { client: pusher, calls: pushCalls } = countingClient(server.url, { apiKey: PUSH_KEY, retries: 5, retryDelayMs: 10 });
      const pushErr = await expectClientError(pusher.push("txns_push", { customer_id: [1], ts: [new Date(BASE + 8 * DAY)], cents: [500] }), "ONLINE_STORE_UNAVAILABLE");
      assert.equal(pushErr.status, 503);
      assert.equal(pushErr.attempts, 1);
      assert.equal(pushCalls(), 1);
    } finally {
      await redis.restart();
      await store.materialize(RANGE);
    }
  });

  test("a push with an idempotencyKey sends the Idempotency-Key header, is retried on 503 until Redis is back, and answers the same again", async () => {
    await redis.kill();
    const sent: (string | null)[] = [];
    const recording: typeof fetch = (input, init) => {
      sent.push(new Headers(init?.headers).get("idempotency-key"));
      return fetch(input, init);
    };
    const pusher = new LarderClient({ url: server.url, apiKey: PUSH_KEY, fetch: recording, retries: 30, retryDelayMs: 100 });
    const key = `sdk-${Date.now()}`;
    const df = { customer_id: [8], ts: [new Date(BASE + 9 * DAY - HOUR)], cents: [4321] };
    const restarted = new Promise<void>((resolve, reject) => setTimeout(() => redis.restart().then(resolve, reject), 300));
    try {
      const res = await pusher.push("txns_push", df, { to: "online", idempotencyKey: key });
      await restarted;
      assert.ok(sent.length > 1, `retried (${sent.length} attempts)`);
      assert.ok(sent.every((k) => k === key));
      assert.deepEqual(await pusher.push("txns_push", df, { to: "online", idempotencyKey: key }), res);
      const reused = await expectClientError(pusher.push("txns_push", { ...df, cents: [1] }, { to: "online", idempotencyKey: key }), "IDEMPOTENCY_KEY_REUSED");
      assert.equal(reused.status, 422);
      const after = await client.getOnlineFeatures({ features: ["spend:last_usd"], entities: { customer_id: [8] } });
      assert.equal(after.column("last_usd")[0], 43.21);
    } finally {
      await restarted;
      await store.materialize(RANGE);
    }
  });

  test("503 (Redis down): reads are retried with backoff, and recover when Redis is back", async () => {
    await redis.kill();
    try {
      const { client: reader, calls: readCalls } = countingClient(server.url, { retries: 3, retryDelayMs: 10 });
      const err = await expectClientError(reader.getOnlineFeatures({ features: ["profile:plan"], entities: { customer_id: [1] } }), "ONLINE_STORE_UNAVAILABLE");
      assert.equal(err.status, 503);
      assert.equal(err.attempts, 4);
      assert.equal(readCalls(), 4);

      const { client: health, calls: healthCalls } = countingClient(server.url, { retries: 2, retryDelayMs: 10 });
      assert.equal((await expectClientError(health.health(), "ONLINE_STORE_UNAVAILABLE")).status, 503);
      assert.equal(healthCalls(), 3);

      // Redis comes back while the client backs off: the read succeeds on a later attempt.
      const { client: patient, calls: patientCalls } = countingClient(server.url, { retries: 30, retryDelayMs: 100 });
      const restarted = new Promise<void>((resolve, reject) => setTimeout(() => redis.restart().then(resolve, reject), 300));
      const res = await patient.getOnlineFeatures({ features: ["profile:plan"], entities: { customer_id: [1] } });
      await restarted;
      assert.ok(patientCalls() > 1, `expected retries, got ${patientCalls()} request(s)`);
      assert.deepEqual(res.results[1]!.statuses, ["NOT_FOUND"]); // nothing is persisted across the restart
    } finally {
      if (!(await redisUp(redis))) await redis.restart();
    }
  });

  test("network errors: retried for reads, a clear NETWORK_ERROR at the end", async () => {
    const closedPort = await unusedPort();
    const { client: dead, calls } = countingClient(`http://127.0.0.1:${closedPort}`, { retries: 2, retryDelayMs: 10 });
    const err = await expectClientError(dead.health(), "NETWORK_ERROR");
    assert.equal(err.attempts, 3);
    assert.equal(calls(), 3);
    assert.match(err.message, /ECONNREFUSED/);
    const { client: deadPush, calls: pushCalls } = countingClient(`http://127.0.0.1:${closedPort}`, { retries: 2, retryDelayMs: 10 });
    await expectClientError(deadPush.push("txns_push", { customer_id: [1] }), "NETWORK_ERROR");
    assert.equal(pushCalls(), 1);
  });
});

/** A loopback port nothing listens on (fetch refuses well-known ports like 9 as "bad port"). */
async function unusedPort(): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function redisUp(r: RedisServer): Promise<boolean> {
  const { redisAvailable } = await import("./helpers/services.js");
  return redisAvailable("127.0.0.1", r.port, 300);
}
