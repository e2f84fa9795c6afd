/**
 * Run leases through the real command: a `larder backfill` child killed with SIGKILL mid-run shows
 * "abandoned" in `larder runs` once its (short, configured) lease expires, and the next backfill of
 * the view removes the spill directory the dead run left behind.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import { ROOT, assertOk, cliEnv, larder } from "./helpers/cli.js";
import { arrowTable, col, configSource, createFeatureRepo, fastTempDir, type FeatureRepo } from "./helpers/feature-repo.js";
import type { RunJson } from "../src/cli/runs-table.js";

const FEATURES = `
import { entity, parquetSource, featureView, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const events = parquetSource({ name: "events", path: "data/events.parquet", timestampField: "ts" });
export const activity = featureView({ name: "activity", entities: [customer], source: events, schema: { amount: t.float64 } });
`;

const ROWS = 100_000;
const LEASE_MS = 1000;

let repo: FeatureRepo;
let tmp: string;

before(async () => {
  const start = Date.parse("2024-01-01T00:00:00Z");
  repo = await createFeatureRepo({
    features: FEATURES,
    files: {
      "data/events.parquet": arrowTable({
        customer_id: col.int64(Array.from({ length: ROWS }, (_, i) => i % 5000)),
        ts: col.timestamp(Array.from({ length: ROWS }, (_, i) => start + i * 1000)),
        amount: col.float64(Array.from({ length: ROWS }, (_, i) => i / 10)),
      }),
    },
    parentDir: fastTempDir(),
    apply: false,
  });
  // A short lease, so the dead run is declared abandoned within seconds.
  await repo.writeFile("larder.config.ts", configSource("leases").replace("});", `  runs: { leaseMs: ${LEASE_MS} },\n});`));
  assertOk(larder(repo.dir, ["apply"]));
  // The child's TMPDIR: where its spill directories go, so this test sees exactly its own.
  tmp = mkdtempSync(join(fastTempDir(), "larder-lease-tmp-"));
});
after(async () => {
  await repo?.cleanup();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const spillDirs = (): string[] => readdirSync(tmp).filter((n) => n.startsWith("larder-spill-"));

function runs(): RunJson[] {
  return JSON.parse(assertOk(larder(repo.dir, ["runs", "--json"], { env: { TMPDIR: tmp } }))) as RunJson[];
}

test("a backfill killed with SIGKILL is abandoned after its lease; the next run removes its spill files", async () => {
  const args = ["--import", "tsx", "src/cli/main.ts", "--repo", repo.dir, "backfill", "--start", "2024-01-01", "--end", "2024-03-01", "--memory-rows", "1000"];
  const child = spawn(process.execPath, args, { cwd: ROOT, env: cliEnv({ TMPDIR: tmp }), stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (output += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (output += s));
  let exited = false;
  const exit = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => ((exited = true), resolve(signal))));

  // Mid-run: the pipeline has spilled rows to disk (its spill directory exists).
  const deadline = Date.now() + 60_000;
  while (spillDirs().length === 0) {
    assert.ok(!exited, `the backfill ended before it spilled; output:\n${output}`);
    assert.ok(Date.now() < deadline, `no spill directory after 60 s; output:\n${output}`);
    await sleep(5);
  }
  child.kill("SIGKILL");
  assert.equal(await exit, "SIGKILL");
  const orphans = spillDirs();
  assert.equal(orphans.length, 1, `the dead run's spill directory stays behind: ${orphans.join(", ")}`);

  // `larder runs` shows it abandoned once the lease has expired (polling: the registry clock decides).
  let dead: RunJson | undefined;
  const leaseDeadline = Date.now() + 60_000;
  for (;;) {
    dead = runs().find((r) => r.kind === "backfill");
    if (dead?.status === "abandoned") break;
    assert.ok(Date.now() < leaseDeadline, `still ${dead?.status} long after the lease: ${JSON.stringify(dead)}`);
    await sleep(200);
  }
  assert.ok(orphans[0]!.includes(dead.id), `the spill directory ${orphans[0]} is named after run ${dead.id}`);
  assert.equal(dead.finishedAt, null, "not reaped yet: abandoned is derived from the lease");
  assert.ok(dead.leaseUntil !== null && Date.parse(dead.leaseUntil) - Date.parse(dead.heartbeatAt!) === LEASE_MS);
  const table = assertOk(larder(repo.dir, ["runs"], { env: { TMPDIR: tmp } }));
  assert.match(table, /backfill\s+activity\s+2024-01-01T00:00:00Z → 2024-03-01T00:00:00Z\s+abandoned\b/);

  // The next run of the view reaps the dead run and removes its spill directory at once.
  assertOk(larder(repo.dir, ["backfill", "--start", "2024-01-01", "--end", "2024-03-01"], { env: { TMPDIR: tmp } }));
  assert.deepEqual(spillDirs(), [], "the dead run's spill directory is gone");
  assert.ok(!existsSync(join(tmp, orphans[0]!)));
  const after = runs().filter((r) => r.kind === "backfill");
  assert.deepEqual(
    after.map((r) => [r.id === dead.id ? "dead" : "next", r.status]),
    [
      ["next", "succeeded"],
      ["dead", "abandoned"],
    ],
  );
  const reaped = after[1]!;
  assert.equal(reaped.finishedAt, dead.leaseUntil, "stored abandoned, finished when its lease ended");
  assert.match(reaped.error ?? "", /stopped renewing the lease/);
  assert.equal(after[0]!.rows, ROWS);
});
