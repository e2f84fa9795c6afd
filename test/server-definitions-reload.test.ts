/**
 * A running server picks up definitions applied after it started: `larder serve` in a child
 * process, then `larder apply` of a changed features.ts (a new, scheduled feature view; a feature
 * removed from a view's service) in the same repository; the server serves the new view and its
 * schedule runs, without a restart. Also on a Postgres registry, which the watcher polls.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { test } from "node:test";
import pg from "pg";
import { DefinitionsWatcher } from "../src/config/definitions-watcher.js";
import { FeatureStore } from "../src/feature-store.js";
import { startScheduler } from "../src/use-cases/scheduler.js";
import { assertOk, larderAsync, larderServe } from "./helpers/cli.js";
import { configSource } from "./helpers/feature-repo.js";
import { FEATURES, RANGE, createServedRepo, post } from "./helpers/http-server.js";
import { postgresAvailable, requireServices, testPostgresUrl } from "./helpers/services.js";

/** FEATURES plus a view `fees` on the profiles source that runs every hour. */
const CHANGED = `${FEATURES}
export const fees = featureView({ name: "fees", entities: [customer], source: profiles, ttl: "30d", schema: { monthly_fee: t.float64 }, schedule: "@hourly" });
`;

/** Polls `fn` until it returns a value, or throws at the deadline with the last reason. */
async function eventually<T>(what: string, fn: () => Promise<T | string>): Promise<T> {
  const deadline = Date.now() + 60_000;
  let last = "";
  while (Date.now() < deadline) {
    const r = await fn();
    if (typeof r !== "string") return r;
    last = r;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}: ${last}`);
}

test("larder serve reloads definitions applied by the CLI: a new view is served and its schedule runs", async () => {
  const repo = await createServedRepo({ seed: 9 });
  await repo.served.close();
  const s = await larderServe(repo.dir);
  try {
    const fees = { features: ["fees:monthly_fee"], entities: { customer_id: [1, 2, 3, 4, 5] } };
    const before = await post(s.url, "/get-online-features", fees);
    assert.equal(before.status, 404, before.text);
    assert.equal(before.json.error.code, "UNKNOWN_FEATURE");

    await writeFile(join(repo.dir, "features.ts"), CHANGED);
    // Async: a blocked event loop would miss the server closing idle keep-alive connections.
    assertOk(await larderAsync(repo.dir, ["apply"]));
    const start = new Date(RANGE.start).toISOString();
    const end = new Date(RANGE.end).toISOString();
    assertOk(await larderAsync(repo.dir, ["backfill", "--start", start, "--end", end, "--view", "fees"]));
    assertOk(await larderAsync(repo.dir, ["materialize", "--start", start, "--end", end, "--view", "fees"]));

    const served = await eventually("the server to serve fees:monthly_fee", async () => {
      const res = await post(s.url, "/get-online-features", fees);
      return res.status === 200 ? res : `${res.status} ${res.text.slice(0, 200)}`;
    });
    const direct = await (await FeatureStore.open(repo.dir)).getOnlineFeatures(fees.entities, { features: fees.features });
    assert.deepEqual(served.json.results, direct.results);
    assert.ok(direct.results[1]!.statuses.includes("PRESENT"), "the new view has values");
    assert.match(s.stdout(), /definitions: reloaded after apply \(added feature view fees\)/);
    assert.match(s.stdout(), /scheduler: fees runs on "@hourly" \(UTC\), next at /);
    // The old views are still served.
    assert.equal((await post(s.url, "/get-online-features", { feature_service: "churn", entities: { customer_id: [1], cart_value: [2] } })).status, 200);
  } catch (err) {
    throw new Error(`${String(err)}\nserver stdout:\n${s.stdout()}\nserver stderr:\n${s.stderr()}`, { cause: err });
  } finally {
    s.child.kill("SIGTERM");
    await s.exit;
    await repo.cleanup();
  }
  assert.doesNotMatch(s.stderr(), /error/i, s.stderr());
});

const pgUrl = testPostgresUrl();
const pgUp = await postgresAvailable(pgUrl);
if (!pgUp && requireServices()) throw new Error(`Postgres is unavailable at ${pgUrl}`);

test("on a Postgres registry the watcher polls the registry: the store and the scheduler swap to what was applied, and files that do not match it are not served", { skip: pgUp ? false : `Postgres is unavailable at ${pgUrl}` }, async () => {
  const schema = `reload_${randomBytes(4).toString("hex")}`;
  process.env.LARDER_REGISTRY_SCHEMA = schema;
  const config = configSource("reload").replace(`registry: "embedded"`, `registry: ${JSON.stringify(pgUrl)}`);
  const repo = await createServedRepo({ seed: 4, config });
  const lines: string[] = [];
  const log = (l: string) => lines.push(l);
  const scheduler = startScheduler(repo.served, { log, timers: false });
  const watcher = new DefinitionsWatcher(repo.served, { log, intervalMs: 0, onReload: () => void scheduler.reload() });
  try {
    assert.deepEqual(await watcher.check(), { status: "unchanged" });
    const servedBefore = repo.served.repo.definitions;

    // Another process (here: a second store on the same files) applies the change.
    await writeFile(join(repo.dir, "features.ts"), CHANGED);
    const other = await FeatureStore.open(repo.dir);
    await other.apply();
    const check = await watcher.check();
    assert.deepEqual(check, { status: "reloaded", added: ["feature view fees"], changed: [], removed: [] });
    assert.notEqual(repo.served.repo.definitions, servedBefore, "swapped");
    assert.ok(repo.served.repo.definitions.featureViews.has("fees"));
    await eventually("the scheduler to take the new schedule", async () => (scheduler.views.some((v) => v.view === "fees") ? true : JSON.stringify(scheduler.views)));

    // Files edited but not applied: nothing changes. Applied elsewhere with files that differ: not swapped.
    await writeFile(join(repo.dir, "features.ts"), FEATURES);
    assert.deepEqual(await watcher.check(), { status: "unchanged" });
    await (await FeatureStore.open(repo.dir)).apply(); // the registry drops fees…
    await writeFile(join(repo.dir, "features.ts"), `${FEATURES}\nexport const extra = featureView({ name: "extra", entities: [customer], source: profiles, schema: { tenure: t.int64 } });\n`); // …and the files moved on again
    assert.deepEqual(await watcher.check(), { status: "mismatch" });
    assert.ok(repo.served.repo.definitions.featureViews.has("fees"), "still serving what it had");
    assert.ok(lines.some((l) => /do not define what was applied/.test(l)));
  } finally {
    await watcher.stop();
    await scheduler.stop();
    await repo.cleanup();
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`drop schema if exists "${schema}" cascade`);
    await client.end();
  }
});
