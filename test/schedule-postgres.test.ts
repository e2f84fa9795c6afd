/**
 * Two schedulers (two servers) sharing one Postgres registry fire the same ticks: each scheduled
 * run happens exactly once. The registry lives in a schema of its own, dropped afterwards; the
 * online store is the embedded one both share.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { spawn } from "node:child_process";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { FeatureStore } from "../src/feature-store.js";
import { startScheduler, type Scheduler } from "../src/use-cases/scheduler.js";
import { arrowTable, col, fastTempDir, writeParquet } from "./helpers/feature-repo.js";
import { postgresAvailable, requireServices, testPostgresUrl } from "./helpers/services.js";

const url = testPostgresUrl();
const suffix = `${process.pid}_${randomBytes(3).toString("hex")}`;
const schema = `larder_sched_${suffix}`;
const timerSchema = `larder_sched_timers_${suffix}`;
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

const config = (project: string) => `import { defineConfig } from "larder";
export default defineConfig({
  project: "${project}",
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
      await writeFile(join(dir, "larder.config.ts"), config("sched_pg"));
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
      for (const name of [schema, timerSchema]) await sql(`drop schema if exists "${name}" cascade`).catch(() => {});
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test("both fire the same ticks of two views at once: every tick runs exactly once", async () => {
      const ticks = [1, 2, 3, 4, 5];
      for (const n of ticks) {
        const results = await Promise.all([a.scheduler.runTick("profile", T(n)), b.scheduler.runTick("profile", T(n)), b.scheduler.runTick("spend", T(n)), a.scheduler.runTick("spend", T(n))]);
        for (const view of ["profile", "spend"]) {
          const statuses = results
            .filter((r) => r.view === view)
            .map((r) => r.status)
            .sort();
          assert.deepEqual(statuses, ["claimed-elsewhere", "succeeded"], `tick ${n} of ${view}: ${JSON.stringify(results)}`);
        }
      }
      const { rows } = await sql(
        `select view_name, kind, count(*)::int as n, count(distinct slot)::int as slots, count(*) filter (where status = 'succeeded')::int as ok from "${schema}".runs group by view_name, kind order by view_name, kind`,
      );
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

    test("two server processes with real timers on an every-second schedule: each tick starts exactly once", async () => {
      const tdir = await mkdtemp(join(fastTempDir(), "larder-sched-timers-"));
      try {
        await writeFile(join(tdir, "larder.config.ts"), config("sched_timers"));
        await writeFile(join(tdir, "features.ts"), FEATURES.replace(/schedule: "@hourly"/g, `schedule: "* * * * * *"`).replace(/export const spend[^\n]*\n/, ""));
        await writeParquet(join(tdir, "data/profiles.parquet"), arrowTable({ customer_id: col.int64([1]), updated_at: col.timestamp([BASE]), plan: col.string(["x"]) }));
        const first = await FeatureStore.open(tdir, { registrySchema: timerSchema });
        await first.apply();
        const servers = [serverProcess(tdir), serverProcess(tdir)];
        try {
          await Promise.all(servers.map((p) => p.ready));
          const deadline = Date.now() + 60_000;
          for (;;) {
            const { rows } = await sql(`select count(*)::int as n from "${timerSchema}".runs where kind = 'schedule' and status = 'succeeded'`);
            if (rows[0].n >= 3 || Date.now() > deadline) break;
            await new Promise((r) => setTimeout(r, 250));
          }
        } finally {
          await Promise.all(servers.map((p) => p.stop()));
        }
        const { rows } = await sql(`select slot, count(*)::int as n, min(status) as status from "${timerSchema}".runs where kind = 'schedule' group by slot order by slot`);
        assert.ok(rows.filter((r: { status: string }) => r.status === "succeeded").length >= 3, `scheduled runs: ${JSON.stringify(rows)}`);
        assert.ok(
          rows.every((r: { n: number }) => r.n === 1),
          "one run per tick in the registry",
        );
        const backfills = await sql(`select count(*)::int as n from "${timerSchema}".runs where kind = 'backfill'`);
        assert.equal(backfills.rows[0].n, rows.length, "one backfill per tick run");
        // Across both processes' logs, every tick was started by exactly one of them.
        const started = new Map<string, number>();
        for (const p of servers)
          for (const line of p.lines) {
            const m = /^schedule profile at (\S+): started/.exec(line);
            if (m) started.set(m[1]!, (started.get(m[1]!) ?? 0) + 1);
          }
        assert.equal(started.size, rows.length);
        assert.ok(
          [...started.values()].every((n) => n === 1),
          JSON.stringify([...started]),
        );
        assert.ok(
          servers.every((p) => p.lines.some((l) => /: started|: claimed by another scheduler|still running/.test(l))),
          "both servers fired ticks",
        );
      } finally {
        await rm(tdir, { recursive: true, force: true });
      }
    });
  });
}

/** A process running the scheduler (timers on) for a repository, as `larder serve` would, until `stop`. */
function serverProcess(dir: string): { ready: Promise<void>; lines: string[]; stop: () => Promise<void> } {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "--input-type=module",
      "-e",
      `
      const { FeatureStore } = await import(process.env.STORE_MODULE);
      const { startScheduler } = await import(process.env.SCHEDULER_MODULE);
      const store = await FeatureStore.open(process.env.REPO_DIR, { registrySchema: process.env.SCHEMA });
      const scheduler = startScheduler(store, { log: (line) => console.log(line) });
      console.log("ready");
      process.stdin.resume();
      process.stdin.on("end", async () => { await scheduler.stop(); await store.close(); process.exit(0); });
    `,
    ],
    {
      env: {
        ...process.env,
        STORE_MODULE: pathToFileURL(resolve("src/feature-store.ts")).href,
        SCHEDULER_MODULE: pathToFileURL(resolve("src/use-cases/scheduler.ts")).href,
        REPO_DIR: dir,
        SCHEMA: timerSchema,
      },
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const lines: string[] = [];
  let buffered = "";
  const exited = new Promise<void>((r) => child.on("exit", () => r()));
  const ready = new Promise<void>((ok, fail) => {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      buffered += chunk;
      const parts = buffered.split("\n");
      buffered = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        if (line === "ready") ok();
      }
    });
    child.on("exit", (code) => fail(new Error(`server process exited early (${code})`)));
  });
  ready.catch(() => {});
  return {
    ready,
    lines,
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
}
