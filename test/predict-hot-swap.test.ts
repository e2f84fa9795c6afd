/**
 * Hot swap: a running process serving predictions (a loop of `predict` calls, as a server makes)
 * picks up a promotion made by another process with no failed request, and afterwards only the new
 * version answers. Embedded registry: the promoting process is the real `larder models promote`
 * (the server process never keeps the registry open; it watches `.larder/model-stages`). Postgres:
 * a second FeatureStore promotes and the server's cache polls the registry.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { FeatureStore } from "../src/feature-store.js";
import { promoteModel, registerModel } from "../src/use-cases/model-registry.js";
import { assertOk, larderAsync } from "./helpers/cli.js";
import { postgresAvailable, requireServices, testPostgresUrl } from "./helpers/services.js";
import { waitFor } from "./helpers/wait-for.js";
import { BACKFILL, copyWithRegistry, createChurnRepo, type ChurnFixture } from "./fixtures/models-train/churn-fixture.js";

const T = BACKFILL.end;

/** A linear model that predicts `intercept` whatever the features: the version shows in the number. */
function constant(intercept: number): unknown {
  return { format: "larder.linear.v1", objective: "linear", inputs: [{ feature: "monthly_fee", kind: "numeric", mean: 0, std: 1, fill: 0, weight: 0 }], intercept, missing: "fill" };
}

/**
 * Predicts in a loop until `stop` has resolved and version `until` has answered 20 more times (or
 * the deadline passes). `seen` (every version and prediction) and `errors` fill as it runs, so a
 * test can wait on them; `done` resolves when the loop ends.
 */
function predictLoop(store: FeatureStore, stop: Promise<unknown>, until: number, deadlineMs: number) {
  const seen: { version: number; prediction: number }[] = [];
  const errors: unknown[] = [];
  return { seen, errors, done: runPredictLoop(store, stop, until, deadlineMs, seen, errors).then(() => ({ seen, errors })) };
}

async function runPredictLoop(store: FeatureStore, stop: Promise<unknown>, until: number, deadlineMs: number, seen: { version: number; prediction: number }[], errors: unknown[]) {
  let stopped = false;
  void stop.finally(() => (stopped = true));
  const deadline = Date.now() + deadlineMs;
  let afterNew = 0;
  while (Date.now() < deadline) {
    try {
      const res = await store.predict("churn", { customer_id: [1, 2] }, { request: { cart_value: 10 }, now: T - 1 });
      seen.push({ version: res.version, prediction: res.results[0]!.prediction as number });
      if (res.version === until && stopped) afterNew++;
    } catch (err) {
      errors.push(err);
    }
    if (afterNew >= 20) break;
    await new Promise((r) => setImmediate(r));
  }
}

function assertSwapped(result: { seen: { version: number; prediction: number }[]; errors: unknown[] }, from: number, to: number): void {
  assert.deepEqual(result.errors, [], "no request failed");
  const versions = result.seen.map((s) => s.version);
  assert.equal(versions[0], from, "the old version answered first");
  assert.equal(versions[versions.length - 1], to, "the new version answers in the end");
  const firstNew = versions.indexOf(to);
  assert.ok(firstNew > 0);
  assert.ok(
    versions.slice(firstNew).every((v) => v === to),
    "once swapped, never back",
  );
  for (const s of result.seen) assert.equal(s.prediction, s.version === from ? from : to, "each answer is its version's model");
}

describe("hot swap on the embedded registry", () => {
  let fx: ChurnFixture;
  before(async () => {
    fx = await createChurnRepo({ customers: 10 });
    await fx.repo.store.materialize({ start: BACKFILL.start, end: T });
    await registerModel(fx.repo.store, { name: "churn", service: "small", model: constant(1) });
    await registerModel(fx.repo.store, { name: "churn", service: "small", model: constant(2) });
    await promoteModel(fx.repo.store, "churn", 1);
  });
  after(async () => {
    await fx?.repo.cleanup();
  });

  test("larder models promote in another process while predictions run: no failure, then the new version answers", async () => {
    const server = await FeatureStore.open(fx.repo.dir, { holdOnlineStore: true, modelRefreshMs: 50 });
    try {
      assert.equal((await server.predict("churn", { customer_id: [1] }, { request: { cart_value: 1 } })).version, 1);
      let promoted!: (v: unknown) => void;
      const done = new Promise((r) => (promoted = r));
      const loop = predictLoop(server, done, 2, 120_000);
      // Let the loop serve, then promote from a separate process, which needs the registry the loop must not hold.
      await waitFor(() => loop.seen.length >= 10 || loop.errors.length > 0, "the loop served 10 predictions");
      const beforePromotion = loop.seen.length;
      const cli = await larderAsync(fx.repo.dir, ["models", "promote", "--name", "churn", "--version", "2"]);
      const duringPromotion = loop.seen.length - beforePromotion;
      assertOk(cli);
      promoted(undefined);
      const result = await loop.done;
      assertSwapped(result, 1, 2);
      assert.ok(duringPromotion > 0, "the loop kept serving while the promotion ran");
      assert.equal(server.models.lastRefreshError, null);
    } finally {
      await server.models.settled();
      await server.close();
    }
  });

  test("a promotion through the same FeatureStore answers from the next request", async () => {
    const store = await FeatureStore.open(fx.repo.dir);
    const before = (await store.predict("churn", { customer_id: [1] }, { request: { cart_value: 1 } })).version;
    const next = before === 1 ? 2 : 1;
    await promoteModel(store, "churn", next);
    assert.equal((await store.predict("churn", { customer_id: [1] }, { request: { cart_value: 1 } })).version, next);
    await store.models.settled();
  });
});

const url = testPostgresUrl();
if (!(await postgresAvailable(url))) {
  const message = `Postgres is unavailable at ${url}`;
  if (requireServices()) test("Postgres is required (LARDER_REQUIRE_SERVICES=1)", () => assert.fail(message));
  else test("hot swap on a Postgres registry", { skip: message }, () => {});
} else {
  describe("hot swap on a Postgres registry", () => {
    const schema = `larder_test_hotswap_${process.pid}_${randomBytes(3).toString("hex")}`;
    let fx: ChurnFixture;
    let pgRepo: { dir: string; cleanup: () => void };
    before(async () => {
      fx = await createChurnRepo({ customers: 10 });
      pgRepo = copyWithRegistry(fx.repo.dir, url);
      const admin = await FeatureStore.open(pgRepo.dir, { registrySchema: schema });
      assert.equal(admin.repo.config.registry, url);
      await admin.apply();
      await admin.materialize({ start: BACKFILL.start, end: T });
      await registerModel(admin, { name: "churn", service: "small", model: constant(1) });
      await registerModel(admin, { name: "churn", service: "small", model: constant(2) });
      await promoteModel(admin, "churn", 1);
    });
    after(async () => {
      await fx?.repo.cleanup();
      pgRepo?.cleanup();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    });

    test("another FeatureStore promotes while predictions run: no failure, then the new version answers", async () => {
      const server = await FeatureStore.open(pgRepo.dir, { registrySchema: schema, holdOnlineStore: true, modelRefreshMs: 100 });
      const other = await FeatureStore.open(pgRepo.dir, { registrySchema: schema });
      try {
        assert.equal((await server.predict("churn", { customer_id: [1] }, { request: { cart_value: 1 } })).version, 1);
        let promoted!: (v: unknown) => void;
        const done = new Promise((r) => (promoted = r));
        const loop = predictLoop(server, done, 2, 60_000);
        await waitFor(() => loop.seen.length >= 10 || loop.errors.length > 0, "the loop served 10 predictions");
        await promoteModel(other, "churn", 2);
        promoted(undefined);
        assertSwapped(await loop.done, 1, 2);
      } finally {
        await server.models.settled();
        await server.close();
      }
    });

    test("a new version that fails to load leaves the old one serving, and the error is kept", async () => {
      // The server runs older definitions, where service "small" lacks monthly_fee, which version 2 reads.
      const serverDir = mkdtempSync(join(tmpdir(), "larder-hotswap-server-"));
      try {
        cpSync(pgRepo.dir, serverDir, { recursive: true });
        const features = readFileSync(join(serverDir, "features.ts"), "utf8");
        writeFileSync(join(serverDir, "features.ts"), features.replace('profile.select(["plan", "monthly_fee"])', 'profile.select(["plan"])'));
        const admin = await FeatureStore.open(pgRepo.dir, { registrySchema: schema });
        const byPlan = { format: "larder.linear.v1", objective: "linear", inputs: [{ feature: "plan", kind: "categorical", categories: ["basic"], weights: [0], fill: null }], intercept: 1, missing: "fill" };
        await registerModel(admin, { name: "partial", service: "small", model: byPlan });
        await registerModel(admin, { name: "partial", service: "small", model: constant(2) });
        await promoteModel(admin, "partial", 1);
        const server = await FeatureStore.open(serverDir, { registrySchema: schema, holdOnlineStore: true, modelRefreshMs: 50 });
        try {
          const ask = () => server.predict("partial", { customer_id: [1] }, { now: T - 1 });
          assert.equal((await ask()).version, 1);
          await promoteModel(admin, "partial", 2);
          const deadline = Date.now() + 30_000;
          while (server.models.lastRefreshError === null && Date.now() < deadline) {
            const res = await ask();
            assert.equal(res.version, 1);
            assert.equal(res.results[0]!.prediction, 1);
            await new Promise((r) => setTimeout(r, 10));
          }
          assert.equal(server.models.lastRefreshError?.code, "INVALID_MODEL");
          assert.match(server.models.lastRefreshError.message, /"monthly_fee"/);
          assert.equal((await ask()).version, 1, "still the old version");
        } finally {
          await server.models.settled();
          await server.close();
        }
      } finally {
        rmSync(serverDir, { recursive: true, force: true });
      }
    });
  });
}
