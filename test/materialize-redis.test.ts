/**
 * Materialization parity on Redis: after a backfill and a materialization, online vectors read
 * from Redis equal the training-set rows for the same entities and time (plain, aggregated and
 * on-demand views, never-seen entities). Keys live under a per-run prefix and are removed after.
 * Skips when Redis (LARDER_TEST_REDIS_URL, default 127.0.0.1:6379) is down, unless
 * LARDER_REQUIRE_SERVICES=1.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { materializeView } from "../src/materialize/materialize-view.js";
import { openOnlineStore } from "../src/online/open-online-store.js";
import { getOnlineFeatures } from "../src/serving/online-features.js";
import type { OnlineStore } from "../src/online/online-store.js";
import { arrowTable, col, expectLarderError, tableRows, withFeatureRepo, type FeatureRepo } from "./helpers/feature-repo.js";
import { redisBinariesAvailable, startRedisServer } from "./helpers/redis-cluster.js";
import { redisUrlAvailable, requireServices, testRedisUrl } from "./helpers/services.js";
import { rng } from "./helpers/seeded-random.js";

const URL = testRedisUrl();
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 10 * DAY;

const FEATURES = `
import { entity, parquetSource, featureView, onDemandFeatureView, requestSource, agg, types as t } from "larder";
export const account = entity({ name: "account", joinKeys: ["bank", "account_id"], valueType: [t.string, t.int64] });
const src = parquetSource({ name: "src", path: "data/src.parquet", timestampField: "ts", createdTimestampField: "created" });
export const balance = featureView({ name: "balance", entities: [account], source: src, ttl: "30d", schema: { amount: t.float64, note: t.string, vip: t.bool } });
export const activity = featureView({
  name: "activity", entities: [account], source: src,
  aggregations: { n_2d: agg.count("2d"), total_2d: agg.sum("amount", "2d"), mean_2d: agg.avg("amount", "2d"), last: agg.last("amount") },
});
const req = requestSource({ name: "req", schema: { limit: t.float64 } });
export const headroom = onDemandFeatureView({
  name: "headroom", sources: [balance, activity, req], schema: { left: t.float64, busy: t.bool },
  transform: (f) => ({ left: f.amount == null ? null : f.limit - f.amount, busy: f.n_2d > 2 }),
});
`;

const available = await redisUrlAvailable(URL);
if (!available && requireServices()) throw new Error(`Redis is unavailable at ${URL} (LARDER_REQUIRE_SERVICES=1)`);

type Account = [bank: string, id: number];

function makeData(seed: number) {
  const r = rng(seed);
  const rows = { bank: [] as string[], account_id: [] as number[], ts: [] as number[], created: [] as number[], amount: [] as (number | null)[], note: [] as (string | null)[], vip: [] as (boolean | null)[] };
  const accounts: Account[] = [];
  for (const bank of ["DE", "FR", 'a,"b']) for (let id = 1; id <= 12; id++) accounts.push([bank, id]);
  for (const [bank, id] of accounts) {
    const k = Math.floor(r() * 8);
    for (let e = 0; e < k; e++) {
      const ts = BASE + Math.floor(r() * 8 * DAY);
      rows.bank.push(bank);
      rows.account_id.push(id);
      rows.ts.push(ts);
      rows.created.push(ts + Math.floor(r() * 1000));
      rows.amount.push(r() < 0.1 ? null : Math.round(r() * 100000) / 100);
      rows.note.push(r() < 0.2 ? null : `n${Math.floor(r() * 9)}`);
      rows.vip.push(r() < 0.2 ? null : r() < 0.5);
    }
  }
  const files = {
    "data/src.parquet": arrowTable({
      bank: col.string(rows.bank),
      account_id: col.int64(rows.account_id),
      ts: col.timestamp(rows.ts),
      created: col.timestamp(rows.created),
      amount: col.float64(rows.amount),
      note: col.string(rows.note),
      vip: col.bool(rows.vip),
    }),
  };
  return { files, accounts };
}

const RANGE = { start: BASE - DAY, end: BASE + 9 * DAY };
const FEATURE_REFS = ["balance:amount", "balance:note", "balance:vip", "activity:n_2d", "activity:total_2d", "activity:mean_2d", "activity:last", "headroom:left", "headroom:busy"];

/** Online vectors of every account (and two unseen ones) against the training set at `end − 1`. */
async function assertParity(repo: FeatureRepo, online: OnlineStore, accounts: Account[], end: number): Promise<void> {
  const r = rng(end % 1000);
  const picks: Account[] = [...accounts, ["DE", 999], ["XX", 1]];
  const limit = picks.map(() => Math.round(r() * 1000));
  const res = await getOnlineFeatures(repo.store.repo.definitions, online, repo.store.project, {
    selection: { features: FEATURE_REFS },
    // Keys as strings: "5" and 5 are one entity for an int64 key.
    entities: { bank: picks.map((p) => p[0]), account_id: picks.map((p) => String(p[1])), limit },
  });
  const training = tableRows(
    await repo.store.getTrainingSet(arrowTable({ bank: col.string(picks.map((p) => p[0])), account_id: col.int64(picks.map((p) => p[1])), event_timestamp: col.timestamp(picks.map(() => end - 1)), limit: col.float64(limit) }), {
      features: FEATURE_REFS,
    }),
  );
  assert.deepEqual(res.metadata.feature_names, ["bank", "account_id", "amount", "note", "vip", "n_2d", "total_2d", "mean_2d", "last", "left", "busy"]);
  for (let i = 0; i < picks.length; i++) {
    const got: Record<string, unknown> = {};
    res.metadata.feature_names.forEach((name, k) => {
      if (k >= 2) got[name] = res.results[k]!.values[i];
    });
    const { bank: _b, account_id: _a, event_timestamp: _t, limit: _l, ...want } = training[i]!;
    assert.deepEqual(got, want, `account ${picks[i]!.join("/")}`);
  }
  const unseen = picks.length - 2;
  assert.equal(res.results[2]!.statuses[unseen], "NOT_FOUND");
  assert.equal(res.results[5]!.values[unseen], 0);
}

test("Redis: online vectors after materialize equal training-set rows", { skip: available ? false : `Redis is unavailable at ${URL}` }, async () => {
  const { files, accounts } = makeData(5);
  await withFeatureRepo({ features: FEATURES, files }, async (repo) => {
    const project = repo.store.project;
    const keyPrefix = `larder-test-${randomBytes(6).toString("hex")}:`;
    const online = await openOnlineStore(URL, { repoDir: repo.dir, keyPrefix });
    const defs = repo.store.repo.definitions;
    try {
      await repo.store.backfill(RANGE);
      const end = BASE + 5 * DAY + 17;
      await repo.store.withRegistry(async (registry) => {
        for (const view of defs.featureViews.values()) {
          await materializeView({ project, registry, offline: repo.store.offline, online, batchSize: 50, source: { repoDir: repo.dir, postgresUrl: undefined } }, view, { start: RANGE.start, end });
        }
      });
      await assertParity(repo, online, accounts, end);
    } finally {
      for (const view of defs.featureViews.keys()) await online.deleteView(project, view).catch(() => {});
      await online.close();
    }
  });
});

if (!redisBinariesAvailable()) {
  if (requireServices()) throw new Error("redis-server is not installed: cannot run the materialization fault test");
  test("Redis killed mid-materialization", { skip: "redis-server is not installed" }, () => {});
} else {
  test("Redis killed mid-materialization: a clear error, the watermark unchanged, a rerun repairs it", async () => {
    const server = await startRedisServer();
    const { files, accounts } = makeData(6);
    try {
      await withFeatureRepo({ features: FEATURES, files }, async (repo) => {
        const project = repo.store.project;
        const online = await openOnlineStore(server.url, { repoDir: repo.dir });
        const view = repo.store.repo.definitions.featureViews.get("activity")!;
        try {
          await repo.store.backfill(RANGE);
          let writes = 0;
          // The second write finds Redis dead.
          const killing: OnlineStore = {
            write: async (...args) => {
              if (++writes === 2) await server.kill();
              return online.write(...args);
            },
            // Aggregated views are materialized through update (rows with their event buffers).
            update: async (...args) => {
              if (++writes === 2) await server.kill();
              return online.update(...args);
            },
            read: (...args) => online.read(...args),
            deleteView: (...args) => online.deleteView(...args),
            writeMarker: (...args) => online.writeMarker(...args),
            readMarker: (...args) => online.readMarker(...args),
            close: () => online.close(),
          };
          await repo.store.withRegistry(async (registry) => {
            const ctx = { project, registry, offline: repo.store.offline, batchSize: 5, source: { repoDir: repo.dir, postgresUrl: undefined } };
            const err = await expectLarderError(materializeView({ ...ctx, online: killing }, view, RANGE), "ONLINE_STORE_UNAVAILABLE");
            assert.match(err.message, new RegExp(String(server.port)));
            assert.equal(await registry.getWatermark(project, "activity", "materialize"), undefined);
            const [run] = await registry.listRuns(project, { view: "activity", kind: "materialize", limit: 1 });
            assert.equal(run?.status, "failed");
            assert.match(run?.error ?? "", /ONLINE_STORE_UNAVAILABLE/);

            await server.restart();
            const deadline = Date.now() + 10_000;
            for (;;) {
              try {
                await materializeView({ ...ctx, online }, view, RANGE);
                break;
              } catch (e) {
                if ((e as { code?: string }).code !== "ONLINE_STORE_UNAVAILABLE" || Date.now() > deadline) throw e;
                await new Promise((r) => setTimeout(r, 100));
              }
            }
            assert.equal((await registry.getWatermark(project, "activity", "materialize"))?.getTime(), RANGE.end);
            await materializeView({ ...ctx, online }, repo.store.repo.definitions.featureViews.get("balance")!, RANGE);
          });
          await assertParity(repo, online, accounts, RANGE.end);
        } finally {
          await online.close();
        }
      });
    } finally {
      await server.stop();
    }
  });
}
