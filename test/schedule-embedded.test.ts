/**
 * Schedules on a real repository with the embedded registry and online store. Ticks are injected
 * with `runTick(view, at)` (timers off), so the tests choose the tick times and never wait for a
 * clock; one test runs the real node-cron timers on a six-field (every second) schedule.
 *
 * Data times are relative to now (the online store expires rows TTL after their event time).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rename } from "node:fs/promises";
import { resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import type { FeatureStore } from "../src/feature-store.js";
import { materializationLag } from "../src/materialize/materialization-lag.js";
import { firstBackfillStart } from "../src/use-cases/scheduled-run.js";
import { startScheduler, type Scheduler } from "../src/use-cases/scheduler.js";
import type { OnlineFeaturesResponse } from "../src/serving/online-features.js";
import { arrowTable, col, createFeatureRepo, expectLarderError, fastTempDir, withFeatureRepo, type FeatureRepo } from "./helpers/feature-repo.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 2 * DAY;
/** Tick n is at BASE + n hours. */
const T = (n: number): Date => new Date(BASE + n * HOUR);

const FEATURES = `
import { entity, parquetSource, featureView, agg, types as t } from "larder";

export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });

const profiles = parquetSource({ name: "profiles", path: "data/profiles.parquet", timestampField: "updated_at" });
export const profile = featureView({ name: "profile", entities: [customer], source: profiles, ttl: "30d", schema: { plan: t.string }, schedule: "@hourly" });
export const archive = featureView({ name: "archive", entities: [customer], source: profiles, online: false, schema: { plan: t.string }, schedule: "@daily" });
export const manual = featureView({ name: "manual", entities: [customer], source: profiles, schema: { plan: t.string } });

const txns = parquetSource({ name: "txns", path: "data/txns.parquet", timestampField: "ts" });
export const spend = featureView({
  name: "spend", entities: [customer], source: txns,
  aggregations: { n_1d: agg.count("1d"), total_1d: agg.sum("amount", "1d") },
  schedule: "0 * * * *",
});
`;

function data() {
  return {
    "data/profiles.parquet": arrowTable({
      customer_id: col.int64([1, 1, 2, 3]),
      updated_at: col.timestamp([BASE - 5 * DAY, BASE + 90 * MIN, BASE + 30 * MIN, BASE - 40 * DAY]),
      plan: col.string(["basic", "pro", "team", "ancient"]),
    }),
    "data/txns.parquet": arrowTable({
      customer_id: col.int64([1, 1, 1, 2]),
      ts: col.timestamp([BASE - 10 * HOUR, BASE + 30 * MIN, BASE + 150 * MIN, BASE - 30 * HOUR]),
      amount: col.float64([5, 7, 1, 100]),
    }),
  };
}

/** feature name → value per entity row, and the statuses. */
function byName(res: OnlineFeaturesResponse): Record<string, { values: unknown[]; statuses: string[] }> {
  const out: Record<string, { values: unknown[]; statuses: string[] }> = {};
  res.metadata.feature_names.forEach((name, k) => (out[name] = { values: res.results[k]!.values, statuses: res.results[k]!.statuses }));
  return out;
}

async function online(store: FeatureStore, features: string[]) {
  return byName(await store.getOnlineFeatures({ customer_id: [1, 2, 3] }, { features }));
}

/** Another process holding a repository's embedded registry open (as a CLI command would) until `release`. */
function holdRegistry(repoDir: string): { ready: Promise<void>; release: () => Promise<void> } {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      `
      const { openRegistry } = await import(process.env.REGISTRY_MODULE);
      const registry = await openRegistry("embedded", { repoDir: process.env.REPO_DIR });
      console.log("ready");
      process.stdin.resume();
      process.stdin.on("end", async () => { await registry.close(); process.exit(0); });
    `,
    ],
    { env: { ...process.env, REGISTRY_MODULE: pathToFileURL(resolve("src/registry/open-registry.ts")).href, REPO_DIR: repoDir }, stdio: ["pipe", "pipe", "inherit"] },
  );
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  const ready = new Promise<void>((ok, fail) => {
    child.stdout.setEncoding("utf8").on("data", (s: string) => s.includes("ready") && ok());
    child.on("exit", (code) => fail(new Error(`registry holder exited early (${code})`)));
  });
  ready.catch(() => {});
  return {
    ready,
    release: async () => {
      child.stdin.end();
      await exited;
    },
  };
}

describe("scheduled runs with injected ticks (embedded registry)", () => {
  let repo: FeatureRepo;
  let scheduler: Scheduler;
  const lines: string[] = [];

  before(async () => {
    repo = await createFeatureRepo({ features: FEATURES, files: data(), parentDir: fastTempDir() });
    scheduler = startScheduler(repo.store, { log: (l) => lines.push(l), timers: false });
  });
  after(async () => {
    await scheduler?.stop();
    await repo?.cleanup();
  });

  const runs = (filter: { view?: string; kind?: string; limit?: number } = {}) => repo.store.withRegistry((r) => r.listRuns(repo.store.project, filter));

  test("the scheduler lists the scheduled views; unscheduled views and unknown names are refused by runTick", async () => {
    assert.deepEqual(scheduler.views, [
      { view: "archive", schedule: "@daily" },
      { view: "profile", schedule: "@hourly" },
      { view: "spend", schedule: "0 * * * *" },
    ]);
    await expectLarderError(scheduler.runTick("manual", T(1)), "UNKNOWN_FEATURE_VIEW");
    await expectLarderError(scheduler.runTick("nope", T(1)), "UNKNOWN_FEATURE_VIEW");
  });

  test("a first tick backfills one TTL (plain view) or one period (aggregated view) and materializes: online values appear", async () => {
    const p = await scheduler.runTick("profile", T(1));
    assert.equal(p.status, "succeeded", JSON.stringify(p));
    assert.equal(p.start?.getTime(), T(1).getTime() - 30 * DAY, "a plain view with a TTL starts one TTL back");
    assert.equal(p.backfillRows, 2, "rows in [tick − 30d, tick): customer 1 at −5d, customer 2 at +30 min");
    assert.equal(p.materializedRows, 2);
    const prof = await online(repo.store, ["profile:plan"]);
    assert.deepEqual(prof.plan!.values, ["basic", "team", null]);
    assert.deepEqual(prof.plan!.statuses, ["PRESENT", "PRESENT", "NOT_FOUND"]);

    const s = await scheduler.runTick("spend", T(1));
    assert.equal(s.status, "succeeded", JSON.stringify(s));
    assert.equal(s.start?.getTime(), T(0).getTime(), "an aggregated view starts one period (1 h) back");
    const sp = await online(repo.store, ["spend:n_1d", "spend:total_1d"]);
    // As of the tick, customer 1's day window holds the events at −10 h (before the backfilled
    // range: read through the window's lookback) and +30 min.
    assert.deepEqual(sp.n_1d!.values.slice(0, 1), [2]);
    assert.deepEqual(sp.total_1d!.values.slice(0, 1), [12]);
    assert.equal(sp.n_1d!.values[1], 0, "customer 2's only event left the window before the tick");

    const a = await scheduler.runTick("archive", T(1));
    assert.equal(a.status, "succeeded");
    assert.equal(a.materializedRows, undefined, "a view with online: false is backfilled only");

    const sched = await runs({ kind: "schedule" });
    assert.deepEqual(
      sched.map((r) => [r.view, r.status, r.slot?.toISOString(), r.rangeEnd?.toISOString()]),
      [
        ["archive", "succeeded", T(1).toISOString(), T(1).toISOString()],
        ["spend", "succeeded", T(1).toISOString(), T(1).toISOString()],
        ["profile", "succeeded", T(1).toISOString(), T(1).toISOString()],
      ],
    );
    assert.equal(sched.find((r) => r.view === "profile")?.rows, 2, "a scheduled run's rows are the offline rows its backfill wrote");
    const kinds = (await runs({ view: "profile" })).map((r) => r.kind).sort();
    assert.deepEqual(kinds, ["backfill", "materialize", "schedule"], "the tick's backfill and materialization are recorded as runs of their own");
    assert.ok(
      lines.some((l) => /^schedule profile at .*: succeeded in [\d.]+ s: 2 offline rows, 2 rows materialized$/.test(l)),
      lines.join("\n"),
    );
  });

  test("the next tick backfills from the previous tick's end to its own and updates online values", async () => {
    const p = await scheduler.runTick("profile", T(2));
    assert.equal(p.status, "succeeded", JSON.stringify(p));
    assert.equal(p.start?.getTime(), T(1).getTime());
    assert.equal(p.backfillRows, 1, "customer 1's update at +90 min");
    const prof = await online(repo.store, ["profile:plan"]);
    assert.deepEqual(prof.plan!.values, ["pro", "team", null]);
  });

  test("a tick already claimed is skipped with a log line and runs nothing", async () => {
    const before = (await runs()).length;
    const again = await scheduler.runTick("profile", T(2));
    assert.equal(again.status, "claimed-elsewhere");
    assert.equal((await runs()).length, before, "no run recorded");
    assert.ok(
      lines.some((l) => l.includes(`schedule profile at ${T(2).toISOString()}: claimed by another scheduler`)),
      lines.join("\n"),
    );
  });

  test("a failing run is recorded with its error; the next tick repairs it from the last succeeded end", async () => {
    await rename(repo.path("data/txns.parquet"), repo.path("data/txns.moved"));
    const failed = await scheduler.runTick("spend", T(2));
    assert.equal(failed.status, "failed");
    assert.match(failed.error ?? "", /^\[SOURCE_NOT_FOUND\] /);
    const [rec] = await runs({ view: "spend", kind: "schedule", limit: 1 });
    assert.equal(rec?.status, "failed");
    assert.match(rec?.error ?? "", /SOURCE_NOT_FOUND/);
    assert.deepEqual([rec?.rangeStart?.getTime(), rec?.rangeEnd?.getTime()], [T(1).getTime(), T(2).getTime()]);
    assert.ok(
      lines.some((l) => l.startsWith(`schedule spend at ${T(2).toISOString()}: failed after`) && l.includes(`the next tick retries from ${T(1).toISOString()}`)),
      lines.join("\n"),
    );

    await rename(repo.path("data/txns.moved"), repo.path("data/txns.parquet"));
    const repaired = await scheduler.runTick("spend", T(3));
    assert.equal(repaired.status, "succeeded", JSON.stringify(repaired));
    assert.equal(repaired.start?.getTime(), T(1).getTime(), "covers the failed tick's range too");
    const sp = await online(repo.store, ["spend:n_1d", "spend:total_1d"]);
    assert.deepEqual([sp.n_1d!.values[0], sp.total_1d!.values[0]], [3, 13], "the event at +150 min (in the failed range) counts");
  });

  test("a crashed run's slot blocks only its own tick; the next tick covers its range", async () => {
    // A server that claimed T(3) and died: its run stays "running" forever.
    const crashed = await repo.store.withRegistry((r) => r.claimRun(repo.store.project, { kind: "schedule", view: "profile", slot: T(3) }));
    assert.ok(crashed);
    assert.equal((await scheduler.runTick("profile", T(3))).status, "claimed-elsewhere");
    const next = await scheduler.runTick("profile", T(4));
    assert.equal(next.status, "succeeded");
    assert.equal(next.start?.getTime(), T(2).getTime());
  });

  test("a tick of a view whose previous tick is still running in this process is skipped", async () => {
    const first = scheduler.runTick("profile", T(5));
    const second = await scheduler.runTick("profile", T(6));
    assert.equal(second.status, "skipped");
    assert.match(second.reason ?? "", /still running/);
    assert.equal((await first).status, "succeeded");
  });

  test("a tick that finds the embedded registry held by another process is skipped with a log line; the next one runs", async () => {
    const child = holdRegistry(repo.dir);
    try {
      await child.ready;
      const quick = startScheduler(repo.store, { log: (l) => lines.push(l), timers: false, registryWaitMs: 300 });
      const res = await quick.runTick("profile", T(7));
      await quick.stop();
      assert.equal(res.status, "skipped");
      assert.match(res.reason ?? "", /REGISTRY_LOCKED/);
      assert.ok(
        lines.some((l) => l.startsWith(`schedule profile at ${T(7).toISOString()}: skipped, registry unavailable: [REGISTRY_LOCKED]`)),
        lines.join("\n"),
      );
    } finally {
      await child.release();
    }
    const next = await scheduler.runTick("profile", T(8));
    assert.equal(next.status, "succeeded");
    assert.equal(next.start?.getTime(), T(5).getTime(), "from the last succeeded backfill's end");
  });

  test("materializationLag: each online view's watermark and lag; never materialized is null", async () => {
    const now = T(8).getTime() + 90_000;
    const lag = await materializationLag(repo.store, { now });
    assert.deepEqual(lag, [
      { view: "manual", watermark: null, lagSeconds: null },
      { view: "profile", watermark: T(8), lagSeconds: 90 },
      { view: "spend", watermark: T(3), lagSeconds: 5 * 3600 + 90 },
    ]);
  });

  test("materializationLag while the registry is busy answers with the watermarks it last read", async () => {
    const child = holdRegistry(repo.dir);
    try {
      await child.ready;
      const lag = await materializationLag(repo.store, { now: T(8).getTime() + 30_000, lockTimeoutMs: 200 });
      assert.deepEqual(
        lag.map((l) => [l.view, l.lagSeconds]),
        [
          ["manual", null],
          ["profile", 30],
          ["spend", 5 * 3600 + 30],
        ],
      );
      const fresh = await withFeatureRepo({ features: FEATURES, files: {}, apply: false, parentDir: fastTempDir() }, async (other) => {
        const holder = holdRegistry(other.dir);
        try {
          await holder.ready;
          return await expectLarderError(materializationLag(other.store, { lockTimeoutMs: 200 }), "REGISTRY_LOCKED");
        } finally {
          await holder.release();
        }
      });
      assert.match(fresh.message, /in use by/);
    } finally {
      await child.release();
    }
  });

  test("ticks of several views due at once run one after another on the embedded registry: all succeed", async () => {
    // A short registry wait: run at once, the second view's claim would time out behind the first's backfill.
    const s = startScheduler(repo.store, { log: (l) => lines.push(l), timers: false, registryWaitMs: 300 });
    const results = await Promise.all([s.runTick("profile", T(9)), s.runTick("spend", T(9)), s.runTick("archive", T(9))]);
    await s.stop();
    assert.deepEqual(
      results.map((r) => r.status),
      ["succeeded", "succeeded", "succeeded"],
      JSON.stringify(results),
    );
  });

  test("runTick after stop is refused", async () => {
    const s = startScheduler(repo.store, { log: () => {}, timers: false });
    await s.stop();
    await expectLarderError(s.runTick("profile", T(9)), "INVALID_ARGUMENT");
  });
});

describe("first backfill range of a view never backfilled", () => {
  const view = (over: Record<string, unknown>) => ({ schedule: "@hourly", aggregations: null, ttlMs: null, ...over }) as unknown as Parameters<typeof firstBackfillStart>[0];
  const tick = Date.parse("2024-03-01T05:00:00Z");

  test("aggregated: one period; plain with TTL: max(TTL, period); plain without TTL: all history", () => {
    assert.equal(firstBackfillStart(view({ aggregations: {} }), tick), tick - HOUR);
    assert.equal(firstBackfillStart(view({ aggregations: {}, schedule: "0 9 * * MON-FRI" }), tick), Date.parse("2024-02-29T09:00:00Z"));
    assert.equal(firstBackfillStart(view({ ttlMs: 7 * DAY }), tick), tick - 7 * DAY);
    assert.equal(firstBackfillStart(view({ ttlMs: MIN, schedule: "@daily" }), tick), Date.parse("2024-03-01T00:00:00Z"));
    assert.equal(firstBackfillStart(view({}), tick), 0);
  });
});

describe("real node-cron timers", () => {
  test("a six-field (every second) schedule fires on whole seconds and records its runs; stop waits for them", async () => {
    const features = FEATURES.replace(`schedule: "@hourly"`, `schedule: "* * * * * *"`).replace(/schedule: "(@daily|0 \* \* \* \*)",?/g, "");
    await withFeatureRepo({ features, files: data(), parentDir: fastTempDir() }, async (r) => {
      const lines: string[] = [];
      const s = startScheduler(r.store, { log: (l) => lines.push(l), registryWaitMs: 5000 });
      assert.deepEqual(s.views, [{ view: "profile", schedule: "* * * * * *" }]);
      assert.ok(
        lines.some((l) => /^scheduler: profile runs on "\* \* \* \* \* \*" \(UTC\), next at /.test(l)),
        lines.join("\n"),
      );
      const deadline = Date.now() + 60_000;
      while (!lines.some((l) => / succeeded in /.test(l)) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
      await s.stop();
      const done = lines.filter((l) => / succeeded in /.test(l));
      assert.ok(done.length >= 1, `no scheduled run succeeded within a minute:\n${lines.join("\n")}`);
      const sched = await r.store.withRegistry((reg) => reg.listRuns(r.store.project, { kind: "schedule" }));
      const ok = sched.filter((x) => x.status === "succeeded");
      assert.ok(ok.length >= 1);
      for (const x of sched) {
        assert.equal(x.slot!.getTime() % 1000, 0, "ticks are whole seconds");
        assert.notEqual(x.status, "running", "stop waited for the run in progress");
      }
      const prof = await online(r.store, ["profile:plan"]);
      assert.deepEqual(prof.plan!.values, ["pro", "team", null], "the timer's tick (now) covers all the data");
    });
  });
});

describe("schedule validation", () => {
  for (const bad of ["61 * * * *", "@every 5m", "* * * *", "0 0 31 2 *"]) {
    test(`schedule ${JSON.stringify(bad)} is INVALID_DEFINITION naming the view`, async () => {
      const features = FEATURES.replace(`schedule: "@hourly"`, `schedule: ${JSON.stringify(bad)}`);
      // createFeatureRepo opens the repository (loading the definitions) before anything else.
      const err = await expectLarderError(createFeatureRepo({ features, apply: false, parentDir: fastTempDir() }), "INVALID_DEFINITION");
      assert.match(err.message, /^featureView "profile" schedule: invalid schedule /);
    });
  }
});
