/**
 * `larder runs`: the run history through the real command: backfills (one failed), a
 * materialization and a scheduled run, as a table and as JSON, filtered and limited.
 */
import assert from "node:assert/strict";
import { rename } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import { startScheduler } from "../src/use-cases/scheduler.js";
import { assertCliError, assertOk, larder } from "./helpers/cli.js";
import { arrowTable, col, createFeatureRepo, fastTempDir, type FeatureRepo } from "./helpers/feature-repo.js";

const FEATURES = `
import { entity, parquetSource, featureView, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const profiles = parquetSource({ name: "profiles", path: "data/profiles.parquet", timestampField: "updated_at" });
export const profile = featureView({ name: "profile", entities: [customer], source: profiles, schema: { plan: t.string }, schedule: "@daily" });
const other = parquetSource({ name: "other", path: "data/other.parquet", timestampField: "updated_at" });
export const second = featureView({ name: "second", entities: [customer], source: other, schema: { plan: t.string } });
`;

const table = () =>
  arrowTable({
    customer_id: col.int64([1, 2, 3]),
    updated_at: col.timestamp(["2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z", "2024-01-04T00:00:00Z"]),
    plan: col.string(["a", "b", "c"]),
  });

describe("larder runs", () => {
  let repo: FeatureRepo;

  before(async () => {
    repo = await createFeatureRepo({ features: FEATURES, files: { "data/profiles.parquet": table(), "data/other.parquet": table() }, parentDir: fastTempDir() });
    assertOk(larder(repo.dir, ["backfill", "--start", "2024-01-01", "--end", "2024-01-05"]));
    await rename(repo.path("data/other.parquet"), repo.path("data/other.moved"));
    assertCliError(larder(repo.dir, ["backfill", "--start", "2024-01-05", "--end", "2024-01-06", "--view", "second"]), "SOURCE_NOT_FOUND");
    await rename(repo.path("data/other.moved"), repo.path("data/other.parquet"));
    assertOk(larder(repo.dir, ["materialize", "--start", "2024-01-01", "--end", "2024-01-05", "--view", "profile"]));
    const scheduler = startScheduler(repo.store, { log: () => {}, timers: false });
    const res = await scheduler.runTick("profile", new Date("2024-01-06T00:00:00Z"));
    await scheduler.stop();
    assert.equal(res.status, "succeeded", JSON.stringify(res));
  });
  after(async () => {
    await repo?.cleanup();
  });

  test("prints a table, newest first: started, kind, view, range, status, duration, rows, error", () => {
    const out = assertOk(larder(repo.dir, ["runs"]));
    const lines = out.trimEnd().split("\n");
    assert.match(lines[0]!, /^STARTED\s+KIND\s+VIEW\s+RANGE\s+STATUS\s+DURATION\s+ROWS\s+ERROR$/);
    const body = lines.slice(1);
    // The scheduled tick (schedule, then its backfill and materialization), the CLI materialization,
    // the failed backfill, and the first backfill of both views.
    assert.deepEqual(
      body.map((l) =>
        l
          .split(/\s{2,}/)
          .slice(1, 3)
          .join(" "),
      ),
      ["materialize profile", "backfill profile", "schedule profile", "materialize profile", "backfill second", "backfill second", "backfill profile"],
    );
    const failed = body.find((l) => /\bfailed\b/.test(l));
    assert.ok(failed, out);
    assert.match(failed, /backfill\s+second\s+2024-01-05T00:00:00Z → 2024-01-06T00:00:00Z\s+failed\s+\d+(\.\d)? m?s\s+-\s+\[SOURCE_NOT_FOUND\] source "other"/);
    const sched = body.find((l) => /\bschedule\b/.test(l));
    // A @daily view backfilled up to 2024-01-05 continues from there to the tick.
    assert.match(sched ?? "", /schedule\s+profile\s+2024-01-05T00:00:00Z → 2024-01-06T00:00:00Z\s+succeeded\s+\S+ m?s\s+0$/);
    const first = body.find((l) => /backfill\s+profile\s+2024-01-01T00:00:00Z/.test(l));
    assert.match(first ?? "", /succeeded\s+\S+ m?s\s+3$/);
  });

  test("--json prints every field; --view, --kind and --limit filter", () => {
    const runs = JSON.parse(assertOk(larder(repo.dir, ["runs", "--json"]))) as Record<string, unknown>[];
    assert.equal(runs.length, 7);
    const sched = runs.find((r) => r.kind === "schedule")!;
    assert.deepEqual(Object.keys(sched).sort(), ["durationMs", "error", "finishedAt", "heartbeatAt", "id", "kind", "leaseUntil", "rangeEnd", "rangeStart", "rows", "startedAt", "status", "tick", "view"]);
    assert.equal(sched.tick, "2024-01-06T00:00:00.000Z");
    assert.equal(sched.rangeStart, "2024-01-05T00:00:00.000Z");
    assert.equal(sched.status, "succeeded");
    assert.equal(typeof sched.durationMs, "number");
    const failed = runs.find((r) => r.status === "failed")!;
    assert.equal(failed.view, "second");
    assert.match(String(failed.error), /^\[SOURCE_NOT_FOUND\]/);
    assert.equal(failed.tick, null);
    assert.deepEqual(
      runs.map((r) => Date.parse(String(r.startedAt))),
      runs
        .map((r) => Date.parse(String(r.startedAt)))
        .slice()
        .sort((a, b) => b - a),
      "newest first",
    );

    const second = JSON.parse(assertOk(larder(repo.dir, ["runs", "--json", "--view", "second"]))) as Record<string, unknown>[];
    assert.deepEqual(
      second.map((r) => r.status),
      ["failed", "succeeded"],
    );
    const one = JSON.parse(assertOk(larder(repo.dir, ["runs", "--json", "--limit", "1"]))) as Record<string, unknown>[];
    assert.deepEqual(
      one.map((r) => r.id),
      [runs[0]!.id],
    );
    const scheduled = JSON.parse(assertOk(larder(repo.dir, ["runs", "--json", "--kind", "schedule"]))) as Record<string, unknown>[];
    assert.deepEqual(
      scheduled.map((r) => r.id),
      [sched.id],
    );
  });

  test("no runs says so; a bad --limit is INVALID_ARGUMENT", () => {
    assert.equal(assertOk(larder(repo.dir, ["runs", "--view", "nothing"])), "No runs of feature view nothing.\n");
    assert.equal(assertOk(larder(repo.dir, ["runs", "--json", "--view", "nothing"])).trim(), "[]");
    assertCliError(larder(repo.dir, ["runs", "--limit", "0"]), "INVALID_ARGUMENT", /--limit/);
    assertCliError(larder(repo.dir, ["runs", "--limit", "ten"]), "INVALID_ARGUMENT", /--limit/);
  });
});
