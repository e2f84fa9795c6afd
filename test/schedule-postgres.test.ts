/**
 * Two schedulers (two servers) sharing one Postgres registry fire the same ticks: each scheduled
 * run happens exactly once. The registry lives in a schema of its own, dropped afterwards; the
 * online store is the embedded one both share.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { FeatureStore } from "../src/feature-store.js";
import { startScheduler, type Scheduler } from "../src/materialize/scheduler.js";
import { arrowTable, col, fastTempDir, writeParquet } from "./helpers/feature-repo.js";
import { postgresAvailable, requireServices, testPostgresUrl } from "./helpers/services.js";

const url = testPostgresUrl();
const schema = `larder_sched_${process.pid}_${randomBytes(3).toString("hex")}`;
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 2 * DAY;
const T = (n: number): Date => new Date(BASE + n * HOUR);

const FEATURES = `
import { entity, parquetSource, featureView, agg, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const profiles = parquetSource({ name: "profiles", path: "data/profiles.parquet", timestampField: "updated_at" });
export const profile = featureView({ name: "profile", entities: [customer], source: profiles, ttl: "30d", schema: { plan: t.string }, schedule: "@hourly" });
const txns = parquetSource({ name: "txns", path: "data/txns.parquet", timestampField: "ts" });
export const spend = featureView({ name: "spend", entities: [customer], source: txns, aggregations: { n_1d: agg.count("1d") }, schedule: "@hourly" });
`;

const CONFIG = `import { defineConfig } from "larder";
export default defineConfig({
  project: "sched_pg",
  definitions: ["./features.ts"],
  registry: ${JSON.stringify(url)},
  online: "embedded",
  offline: { path: "./data/offline" },
});
`;

async function sql(text: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, params);
  } finally {
    await client.end();
  }
}

const available = await postgresAvailable(url);
if (!available) {
  const message = `Postgres is unavailable at ${url.replace(/:[^:@/]*@/, ":***@")} (set LARDER_TEST_POSTGRES_URL)`;
  if (requireServices()) test("Postgres is required (LARDER_REQUIRE_SERVICES=1)", () => assert.fail(message));
  else test("schedules on a Postgres registry", { skip: message }, () => {});
} else {
  describe("two schedulers on one Postgres registry", () => {
    let dir: string;
    let a: { store: FeatureStore; scheduler: Scheduler; lines: string[] };
    let b: { store: FeatureStore; scheduler: Scheduler; lines: string[] };

    before(async () => {
      dir = await mkdtemp(join(fastTempDir(), "larder-sched-pg-"));
      await writeFile(join(dir, "larder.config.ts"), CONFIG);
      await writeFile(join(dir, "features.ts"), FEATURES);
      // An event every 10 minutes for three customers over [BASE − 1 h, BASE + 6 h).
      const ids: number[] = [];
      const ts: number[] = [];
      const plans: string[] = [];
      for (let t = BASE - HOUR, i = 0; t < BASE + 6 * HOUR; t += 10 * MIN, i++) {
        ids.push((i % 3) + 1);
        ts.push(t);
        plans.push(`plan-${i}`);
      }
      await writeParquet(join(dir, "data/profiles.parquet"), arrowTable({ customer_id: col.int64(ids), updated_at: col.timestamp(ts), plan: col.string(plans) }));
      await writeParquet(join(dir, "data/txns.parquet"), arrowTable({ customer_id: col.int64(ids), ts: col.timestamp(ts) }));
      const server = async () => {
        const store = await FeatureStore.open(dir, { registrySchema: schema });
        const lines: string[] = [];
        return { store, lines, scheduler: startScheduler(store, { log: (l) => lines.push(l), timers: false }) };
      };
      a = await server();
      b = await server();
      await a.store.apply();
    });

    after(async () => {
      await a?.scheduler.stop();
      await b?.scheduler.stop();
      await sql(`drop schema if exists "${schema}" cascade`).catch(() => {});
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test("both fire the same ticks of two views at once: every tick runs exactly once", async () => {
      const ticks = [1, 2, 3, 4, 5];
      for (const n of ticks) {
        const results = await Promise.all([
          a.scheduler.runTick("profile", T(n)),
          b.scheduler.runTick("profile", T(n)),
          b.scheduler.runTick("spend", T(n)),
          a.scheduler.runTick("spend", T(n)),
        ]);
        for (const view of ["profile", "spend"]) {
          const statuses = results.filter((r) => r.view === view).map((r) => r.status).sort();
          assert.deepEqual(statuses, ["claimed-elsewhere", "succeeded"], `tick ${n} of ${view}: ${JSON.stringify(results)}`);
        }
      }
      const { rows } = await sql(`select view_name, kind, count(*)::int as n, count(distinct slot)::int as slots, count(*) filter (where status = 'succeeded')::int as ok from "${schema}".runs group by view_name, kind order by view_name, kind`);
      assert.deepEqual(rows, [
        { view_name: "profile", kind: "backfill", n: ticks.length, slots: 0, ok: ticks.length },
        { view_name: "profile", kind: "materialize", n: ticks.length, slots: 0, ok: ticks.length },
        { view_name: "profile", kind: "schedule", n: ticks.length, slots: ticks.length, ok: ticks.length },
        { view_name: "spend", kind: "backfill", n: ticks.length, slots: 0, ok: ticks.length },
        { view_name: "spend", kind: "materialize", n: ticks.length, slots: 0, ok: ticks.length },
        { view_name: "spend", kind: "schedule", n: ticks.length, slots: ticks.length, ok: ticks.length },
      ]);
      // Consecutive ranges: each tick starts where the previous one ended, whichever server ran it.
      const ranges = await sql(`select range_start, range_end from "${schema}".runs where view_name = 'spend' and kind = 'schedule' order by slot`);
      ranges.rows.forEach((r: { range_start: Date; range_end: Date }, i: number) => {
        assert.equal(r.range_end.getTime(), T(ticks[i]!).getTime());
        assert.equal(r.range_start.getTime(), T(ticks[i]! - 1).getTime());
      });
      const claimedLines = [...a.lines, ...b.lines].filter((l) => l.includes("claimed by another scheduler on this registry"));
      assert.equal(claimedLines.length, 2 * ticks.length, "the loser of every claim says so");

      // Online values as of the last tick: customer 1's latest plan before T(5), and the day's count.
      const res = await a.store.getOnlineFeatures({ customer_id: [1, 2, 3] }, { features: ["profile:plan", "spend:n_1d"] });
      const plan = res.results[res.metadata.feature_names.indexOf("plan")]!.values;
      const n1d = res.results[res.metadata.feature_names.indexOf("n_1d")]!.values;
      // Events at BASE − 1 h + 10 min · i, i = 0…; before T(5) = BASE + 5 h: i ≤ 35; customer (i % 3) + 1.
      assert.deepEqual(plan, ["plan-33", "plan-34", "plan-35"]);
      assert.deepEqual(n1d, [12, 12, 12]);
    });
  });
}
