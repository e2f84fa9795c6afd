/**
 * Materialization and the online read path on the embedded online store: parity with training
 * sets (plain, aggregated and on-demand views, never-seen entities), watermarks that advance only
 * on success, serialized concurrent runs, monotonic writes, TTL at read time, and `larder online`.
 *
 * Data times are relative to now (the store also expires rows TTL after their event time).
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { after, before, test } from "node:test";
import { materializeView } from "../src/materialize/materialize-view.js";
import { openOnlineStore } from "../src/online/open-online-store.js";
import type { OnlineStore } from "../src/online/online-store.js";
import { getOnlineFeatures, type OnlineFeaturesResponse } from "../src/serving/online-features.js";
import { assertCliError, assertOk, larder } from "./helpers/cli.js";
import { arrowTable, col, createFeatureRepo, expectLarderError, tableRows, type FeatureRepo } from "./helpers/feature-repo.js";
import { rng } from "./helpers/seeded-random.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 20 * DAY;
const BACKFILL = { start: BASE - DAY, end: BASE + 16 * DAY };
const MID = BASE + 8 * DAY + 7 * HOUR + 123;
const IDS = Array.from({ length: 40 }, (_, i) => i + 1);
const UNSEEN = [999, 1000];

const FEATURES = `
import { entity, parquetSource, featureView, onDemandFeatureView, requestSource, featureService, agg, types as t } from "larder";

export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });

const profiles = parquetSource({ name: "profiles", path: "data/profiles.parquet", timestampField: "updated_at", createdTimestampField: "ingested_at" });
export const profile = featureView({
  name: "profile", entities: [customer], source: profiles, ttl: "30d",
  schema: { plan: t.string, monthly_fee: t.float64, tenure_months: t.int64 },
});
export const profileArchive = featureView({
  name: "profile_archive", entities: [customer], source: profiles, online: false, schema: { plan: t.string },
});

const txns = parquetSource({ name: "txns", path: "data/txns.parquet", timestampField: "ts" });
export const spend = featureView({
  name: "spend", entities: [customer], source: txns,
  transform: (row) => ({ ...row, amount_usd: row.amount_cents / 100 }),
  aggregations: {
    spend_7d: agg.sum("amount_usd", "7d"),
    txn_count_3d: agg.count("3d"),
    avg_amount_3d: agg.avg("amount_usd", "3d"),
    last_amount: agg.last("amount_usd"),
  },
});

const cart = requestSource({ name: "cart", schema: { cart_value: t.float64 } });
export const ratios = onDemandFeatureView({
  name: "ratios", sources: [spend, profile, cart], schema: { cart_vs_avg: t.float64, fee_plus_count: t.float64 },
  transform: (f) => ({
    cart_vs_avg: f.avg_amount_3d == null ? null : f.cart_value / f.avg_amount_3d,
    fee_plus_count: (f.monthly_fee ?? -1) + f.txn_count_3d,
  }),
});

export const svc = featureService({ name: "svc", features: [profile, spend.select(["txn_count_3d", "spend_7d"]), ratios] });
`;

const ALL_FEATURES = ["profile:plan", "profile:monthly_fee", "profile:tenure_months", "spend:spend_7d", "spend:txn_count_3d", "spend:avg_amount_3d", "spend:last_amount", "ratios:cart_vs_avg", "ratios:fee_plus_count"];

function makeData() {
  const r = rng(42);
  const p = { id: [] as number[], ts: [] as number[], created: [] as number[], plan: [] as (string | null)[], fee: [] as (number | null)[], tenure: [] as (number | null)[] };
  const t = { id: [] as number[], ts: [] as number[], cents: [] as number[] };
  for (const id of IDS) {
    const updates = Math.floor(r() * 5);
    for (let u = 0; u < updates; u++) {
      const ts = BASE + Math.floor(r() * 15 * DAY);
      const copies = r() < 0.2 ? 2 : 1; // equal event times: the greatest created time wins
      for (let c = 0; c < copies; c++) {
        p.id.push(id);
        p.ts.push(ts);
        p.created.push(ts + Math.floor(r() * HOUR));
        p.plan.push(r() < 0.15 ? null : ["basic", "pro", "team"][Math.floor(r() * 3)]!);
        p.fee.push(r() < 0.15 ? null : Math.round(r() * 10000) / 100);
        p.tenure.push(r() < 0.1 ? null : Math.floor(r() * 60));
      }
    }
    const events = Math.floor(r() * 16);
    for (let e = 0; e < events; e++) {
      t.id.push(id);
      t.ts.push(BASE + Math.floor(r() * 15 * DAY));
      t.cents.push(Math.floor(r() * 50000));
    }
  }
  return {
    "data/profiles.parquet": arrowTable({
      customer_id: col.int64(p.id),
      updated_at: col.timestamp(p.ts),
      ingested_at: col.timestamp(p.created),
      plan: col.string(p.plan),
      monthly_fee: col.float64(p.fee),
      tenure_months: col.int64(p.tenure),
    }),
    "data/txns.parquet": arrowTable({ customer_id: col.int64(t.id), ts: col.timestamp(t.ts), amount_cents: col.int64(t.cents) }),
  };
}

let repo: FeatureRepo;

before(async () => {
  repo = await createFeatureRepo({ features: FEATURES, files: makeData() });
  await repo.store.backfill(BACKFILL);
});

after(async () => {
  await repo?.cleanup();
});

async function withOnline<T>(fn: (store: OnlineStore) => Promise<T>): Promise<T> {
  const store = await openOnlineStore(repo.store.repo.config.online, { repoDir: repo.dir });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** The response as rows of `name → value`, and `name → status`. */
function responseRows(res: OnlineFeaturesResponse): { values: Record<string, unknown>[]; statuses: Record<string, string>[] } {
  const n = res.results[0]?.values.length ?? 0;
  const values: Record<string, unknown>[] = [];
  const statuses: Record<string, string>[] = [];
  for (let i = 0; i < n; i++) {
    const v: Record<string, unknown> = {};
    const s: Record<string, string> = {};
    res.metadata.feature_names.forEach((name, k) => {
      v[name] = res.results[k]!.values[i];
      s[name] = res.results[k]!.statuses[i]!;
    });
    values.push(v);
    statuses.push(s);
  }
  return { values, statuses };
}

/** Online vectors for `ids` against the training set at T for the same entities and cart values. */
async function assertParity(ids: number[], T: number, seed: number): Promise<OnlineFeaturesResponse> {
  const r = rng(seed);
  const cart = ids.map(() => Math.round(r() * 50000) / 100);
  const res = await repo.store.getOnlineFeatures({ customer_id: ids, cart_value: cart }, { features: ALL_FEATURES });
  const training = await repo.store.getTrainingSet(arrowTable({ customer_id: col.int64(ids), event_timestamp: col.timestamp(ids.map(() => T)), cart_value: col.float64(cart) }), { features: ALL_FEATURES });
  const expected = tableRows(training);
  const online = responseRows(res).values;
  assert.deepEqual(res.metadata.feature_names, ["customer_id", ...ALL_FEATURES.map((f) => f.split(":")[1]!)]);
  for (let i = 0; i < ids.length; i++) {
    const { event_timestamp: _ts, cart_value: _cart, ...want } = expected[i]!;
    assert.deepEqual(online[i], want, `entity ${ids[i]} at ${new Date(T).toISOString()}`);
  }
  return res;
}

function shuffledEntities(seed: number): number[] {
  const r = rng(seed);
  const ids = [...IDS, ...UNSEEN, ...IDS.slice(0, 5)]; // duplicates too
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  return ids;
}

test("materialize, then online vectors equal training-set rows (plain, aggregated, on-demand, unseen entities)", async () => {
  const results = await repo.store.materialize({ start: BACKFILL.start, end: MID });
  assert.deepEqual(results.map((r) => r.view).sort(), ["profile", "spend"], "views with online: false are skipped");
  const res = await assertParity(shuffledEntities(1), MID - 1, 7);
  const ids = res.results[0]!.values;
  const { statuses } = responseRows(res);
  const unseen = ids.indexOf(999);
  assert.equal(statuses[unseen]!.plan, "NOT_FOUND");
  assert.equal(statuses[unseen]!.txn_count_3d, "NOT_FOUND");
  assert.equal(res.results[res.metadata.feature_names.indexOf("txn_count_3d")]!.values[unseen], 0, "count of an unseen entity is 0");
  assert.equal(statuses[unseen]!.customer_id, "PRESENT");
  await repo.store.withRegistry(async (registry) => {
    const wm = await registry.getWatermark(repo.store.project, "profile", "materialize");
    assert.equal(wm?.getTime(), MID);
  });
});

test("materialize-incremental continues from the watermark; an older range never overwrites newer values", async () => {
  const end = BACKFILL.end;
  const results = await repo.store.materializeIncremental({ end });
  for (const r of results) {
    assert.ok(!("skipped" in r), JSON.stringify(r));
    assert.equal(r.start, MID);
    assert.equal(r.end, end);
  }
  await assertParity(shuffledEntities(2), end - 1, 8);
  // The older range again: its rows are older than the stored ones, so nothing changes.
  const again = await repo.store.materialize({ start: BACKFILL.start, end: MID });
  assert.ok(
    again.some((r) => r.stale > 0),
    "older rows were ignored",
  );
  await assertParity(shuffledEntities(3), end - 1, 9);
  // The watermark stays at `end` (the store still holds everything up to it).
  await repo.store.withRegistry(async (registry) => {
    for (const view of ["profile", "spend"]) assert.equal((await registry.getWatermark(repo.store.project, view, "materialize"))?.getTime(), end);
  });
  const upToDate = await repo.store.materializeIncremental({ end });
  assert.ok(upToDate.every((r) => "skipped" in r));
  // Rerunning a range is idempotent.
  await repo.store.materialize({ start: MID, end });
  await assertParity(shuffledEntities(4), end - 1, 10);
});

test("a failed run is recorded and leaves the watermark; a rerun after a fresh backfill succeeds", async () => {
  const project = repo.store.project;
  const before = await repo.store.withRegistry((r) => r.getWatermark(project, "profile", "materialize"));
  const snap = await repo.store.offline.snapshot("profile");
  const file = snap!.segments.flatMap((s) => s.files)[0]!;
  await rm(file.file);
  await expectLarderError(repo.store.materialize({ start: BACKFILL.start, end: BACKFILL.end, views: ["profile"] }), "OFFLINE_STORE_ERROR");
  await repo.store.withRegistry(async (r) => {
    assert.equal((await r.getWatermark(project, "profile", "materialize"))?.getTime(), before?.getTime());
    const [last] = await r.listRuns(project, { view: "profile", kind: "materialize", limit: 1 });
    assert.equal(last?.status, "failed");
    assert.match(last?.error ?? "", /OFFLINE_STORE_ERROR/);
  });
  await repo.store.backfill({ ...BACKFILL, views: ["profile"] });
  const [ok] = await repo.store.materialize({ start: BACKFILL.start, end: BACKFILL.end, views: ["profile"] });
  assert.equal(ok?.view, "profile");
  await repo.store.withRegistry(async (r) => {
    assert.equal((await r.getWatermark(project, "profile", "materialize"))?.getTime(), BACKFILL.end);
    const [last] = await r.listRuns(project, { view: "profile", kind: "materialize", limit: 1 });
    assert.equal(last?.status, "succeeded");
  });
  await assertParity(shuffledEntities(5), BACKFILL.end - 1, 11);
});

test("two materializations of one view at once are serialized by the registry lock", async () => {
  const project = repo.store.project;
  const view = repo.store.repo.definitions.featureViews.get("spend")!;
  await repo.store.withRegistry((registry) =>
    withOnline(async (online) => {
      const ctx = { project, registry, offline: repo.store.offline, online, batchSize: 7, source: { repoDir: repo.dir, postgresUrl: undefined } };
      const [a, b] = await Promise.all([materializeView(ctx, view, { start: BACKFILL.start, end: BACKFILL.end }), materializeView(ctx, view, { start: BACKFILL.start, end: BACKFILL.end })]);
      assert.equal(a.rows, b.rows);
      const runs = (await registry.listRuns(project, { view: "spend", kind: "materialize" })).filter((r) => r.id === a.runId || r.id === b.runId);
      assert.equal(runs.length, 2);
      const [first, second] = runs.sort((x, y) => x.startedAt.getTime() - y.startedAt.getTime());
      assert.ok(first!.finishedAt!.getTime() <= second!.startedAt.getTime(), "the runs did not overlap");
      assert.ok(runs.every((r) => r.status === "succeeded"));
    }),
  );
  await assertParity(shuffledEntities(6), BACKFILL.end - 1, 12);
});

test("values older than the view's TTL at read time are OUTSIDE_MAX_AGE and null", async () => {
  const ids = [...IDS];
  const res = await repo.store.getOnlineFeatures({ customer_id: ids }, { features: ["profile:plan", "spend:txn_count_3d"], now: BACKFILL.end + 60 * DAY });
  const { values, statuses } = responseRows(res);
  const present = statuses.filter((s) => s.plan !== "NOT_FOUND");
  assert.ok(present.length > 0);
  for (let i = 0; i < ids.length; i++) {
    if (statuses[i]!.plan === "NOT_FOUND") continue;
    assert.equal(statuses[i]!.plan, "OUTSIDE_MAX_AGE");
    assert.equal(values[i]!.plan, null);
    assert.notEqual(statuses[i]!.txn_count_3d, "OUTSIDE_MAX_AGE", "spend has no TTL");
  }
});

test("online read errors: missing join key, missing request field, unequal columns", async () => {
  await withOnline(async (online) => {
    const defs = repo.store.repo.definitions;
    const read = (entities: Record<string, unknown[]>, features: string[]) => getOnlineFeatures(defs, online, repo.store.project, { selection: { features }, entities });
    const e1 = await expectLarderError(read({ id: [1] }, ["profile:plan"]), "MISSING_JOIN_KEY");
    assert.match(e1.message, /customer_id/);
    const e2 = await expectLarderError(read({ customer_id: [1] }, ["ratios:cart_vs_avg"]), "INVALID_ENTITIES");
    assert.match(e2.message, /cart_value/);
    const e3 = await expectLarderError(read({ customer_id: [1, 2], cart_value: [1] }, ["ratios:cart_vs_avg"]), "INVALID_ENTITIES");
    assert.match(e3.message, /cart_value/);
    await expectLarderError(read({ customer_id: [1] }, ["profile:nope"]), "UNKNOWN_FEATURE");
  });
});

test("larder online prints Feast's response shape; full feature names and services", async () => {
  const out = assertOk(larder(repo.dir, ["online", "--entity", "customer_id=1", "--entity", "customer_id=999", "--features", "profile:plan,spend:txn_count_3d", "--full-feature-names"]));
  const res = JSON.parse(out) as OnlineFeaturesResponse;
  assert.deepEqual(res.metadata.feature_names, ["customer_id", "profile__plan", "spend__txn_count_3d"]);
  assert.equal(res.results.length, 3);
  assert.deepEqual(res.results[0]!.values, [1, 999]);
  assert.deepEqual(res.results[0]!.statuses, ["PRESENT", "PRESENT"]);
  assert.equal(res.results[2]!.values[1], 0);
  assert.equal(res.results[2]!.statuses[1], "NOT_FOUND");
  for (const r of res.results) {
    assert.equal(r.values.length, 2);
    assert.equal(r.statuses.length, 2);
    assert.equal(r.event_timestamps.length, 2);
  }
  const svc = JSON.parse(assertOk(larder(repo.dir, ["online", "--entity", "customer_id=3", "--entity", "cart_value=12.5", "--service", "svc"]))) as OnlineFeaturesResponse;
  assert.deepEqual(svc.metadata.feature_names, ["customer_id", "plan", "monthly_fee", "tenure_months", "txn_count_3d", "spend_7d", "cart_vs_avg", "fee_plus_count"]);
});

test("larder materialize and materialize-incremental report rows and watermarks", async () => {
  const start = new Date(BACKFILL.start).toISOString();
  const end = new Date(BACKFILL.end).toISOString();
  const out = assertOk(larder(repo.dir, ["materialize", "--start", start, "--end", end, "--view", "spend"]));
  assert.match(out, new RegExp(`materialized spend \\[${start.replace(/[.]/g, "\\.")}, ${end.replace(/[.]/g, "\\.")}\\): \\d+ rows`));
  const inc = assertOk(larder(repo.dir, ["materialize-incremental", "--end", end]));
  assert.match(inc, /skipped spend: up to date/);
  assertCliError(larder(repo.dir, ["materialize", "--start", start, "--end", end, "--view", "profile_archive"]), "INVALID_ARGUMENT", /online: false/);
  assertCliError(larder(repo.dir, ["online", "--entity", "customer_id", "--features", "profile:plan"]), "INVALID_ARGUMENT");
});
