/**
 * `larder init` and the quickstart, run as a user runs them: the real command in a child process.
 * A scaffolded repository works as it is (apply, backfill, training-set), every command has
 * --help, and plan/apply/backfill agree on what is applied.
 *
 * One scaffolded repository is shared by the tests of this file, in order (the CLI costs a second
 * or more per call).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { assertCliError, assertOk, larder, larderAsync, plainRows, readParquetTable, snapshotTree } from "./helpers/cli.js";
import { fastTempDir } from "./helpers/feature-repo.js";

const DAY = 86_400_000;
let root = "";
let repo = "";

before(() => {
  root = mkdtempSync(join(fastTempDir(), "larder-cli-init-"));
  repo = join(root, "drivers");
});
after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

function csvRows(path: string): Record<string, string>[] {
  const [header, ...lines] = readFileSync(path, "utf8").trimEnd().split("\n");
  const names = header!.split(",");
  return lines.map((l) => Object.fromEntries(l.split(",").map((v, i) => [names[i]!, v])));
}

test("init scaffolds a repository that works as it is: apply, backfill, training-set", () => {
  const out = assertOk(larder(null, ["init", repo]));
  assert.match(out, /Created a feature repository/);
  for (const f of ["larder.config.ts", "features.ts", "data/trips.csv", "data/entities.csv"]) {
    assert.ok(existsSync(join(repo, f)), `init did not create ${f}`);
  }

  assert.match(assertOk(larder(repo, ["apply"])), /Applied: 7 add, 0 change, 0 remove, 0 unchanged\./);

  const backfilled = assertOk(larder(repo, ["backfill", "--start", "2024-01-01", "--end", "2024-03-01"]));
  assert.match(backfilled, /backfilled driver_activity: 2,000 source rows/);
  assert.match(backfilled, /backfilled driver_last_trip: 2,000 source rows → 2,000 offline rows/);

  const outFile = join(repo, "t.parquet");
  const entitiesFile = join(repo, "data/entities.csv");
  assertOk(larder(repo, ["training-set", "--entities", entitiesFile, "--service", "driver_activity", "--out", outFile]));
  const table = readParquetTable(outFile);
  const entities = csvRows(entitiesFile);
  assert.equal(entities.length, 50);
  assert.equal(table.numRows, entities.length, "one training row per entity row");
  const names = table.schema.fields.map((f) => f.name);
  for (const c of ["driver_id", "event_timestamp", "requested_km", "rating", "distance_km", "trips_1d", "km_7d", "avg_rating_7d", "requested_vs_daily_avg"]) {
    assert.ok(names.includes(c), `column ${c} missing (has: ${names.join(", ")})`);
  }

  // Row i belongs to entity row i, and the features are the right ones: recompute two of them from
  // the sample data by brute force.
  const trips = csvRows(join(repo, "data/trips.csv")).map((r) => ({ driver: Number(r.driver_id), ts: Date.parse(r.ts!), rating: Number(r.rating) }));
  const rows = plainRows(table);
  let withTrips = 0;
  rows.forEach((row, i) => {
    const e = entities[i]!;
    assert.equal(row.driver_id, Number(e.driver_id), `row ${i}: driver_id`);
    assert.equal(row.requested_km, Number(e.requested_km), `row ${i}: requested_km passes through`);
    const t = Date.parse(e.event_timestamp!);
    const mine = trips.filter((x) => x.driver === row.driver_id && x.ts <= t);
    const count1d = mine.filter((x) => x.ts > t - DAY).length;
    assert.equal(row.trips_1d, count1d, `row ${i}: trips_1d`);
    if (count1d > 0) withTrips++;
    const latest = mine.filter((x) => x.ts >= t - DAY).sort((a, b) => b.ts - a.ts)[0];
    assert.equal(row.rating, latest ? latest.rating : null, `row ${i}: rating (latest within the 1d ttl)`);
  });
  assert.ok(withTrips > 0, "some entity rows should have trips in their last day");
});

test("init into a non-empty directory fails with INVALID_ARGUMENT and writes nothing", () => {
  const dir = join(root, "not-empty");
  mkdirSync(dir);
  writeFileSync(join(dir, "notes.txt"), "mine\n");
  const before = snapshotTree(dir);
  assertCliError(larder(null, ["init", dir]), "INVALID_ARGUMENT", /not empty/);
  assert.deepEqual(snapshotTree(dir), before, "init wrote into a non-empty directory");
});

test("--help on every command exits 0 and prints its usage", async () => {
  const expected: Record<string, RegExp[]> = {
    init: [/Usage: larder init \[options\] \[dir\]/],
    plan: [/Usage: larder plan/],
    apply: [/Usage: larder apply/],
    backfill: [/Usage: larder backfill/, /--start <iso>/, /--end <iso>/, /--view <name>/],
    "training-set": [/Usage: larder training-set/, /--entities <file>/, /--features <refs>/, /--service <name>/, /--out <file>/, /--full-feature-names/],
  };
  const results = await Promise.all(Object.keys(expected).map((cmd) => larderAsync(repo, [cmd, "--help"])));
  for (const res of results) {
    const cmd = res.command.split(" ").at(-2)!;
    const out = assertOk(res);
    for (const p of expected[cmd]!) assert.match(out, p, `${res.command}: ${out}`);
    assert.equal(res.stderr, "", `${res.command} wrote to stderr`);
  }
});

test("plan after apply shows no changes; a changed ttl is a planned change, and backfill needs apply", () => {
  assert.match(assertOk(larder(repo, ["plan"])), /Plan: 0 to add, 0 to change, 0 to remove, 7 unchanged\./);

  const featuresFile = join(repo, "features.ts");
  const original = readFileSync(featuresFile, "utf8");
  assert.ok(original.includes(`ttl: "1d"`), "the scaffolded driver_last_trip has ttl 1d");
  writeFileSync(featuresFile, original.replace(`ttl: "1d"`, `ttl: "2d"`));

  const planned = assertOk(larder(repo, ["plan"]));
  assert.match(planned, /^ {2}~ feature view driver_last_trip \(version 1 → 2\)$/m);
  assert.match(planned, /Plan: 0 to add, 1 to change, 0 to remove, 6 unchanged\./);

  const offline = join(repo, "data/offline");
  const stored = snapshotTree(offline);
  assertCliError(larder(repo, ["backfill", "--start", "2024-01-01", "--end", "2024-03-01"]), "NOT_APPLIED", /driver_last_trip/);
  assert.deepEqual(snapshotTree(offline), stored, "a NOT_APPLIED backfill wrote to the offline store");

  assert.match(assertOk(larder(repo, ["apply"])), /Applied: 0 add, 1 change, 0 remove, 6 unchanged\./);
  assert.match(assertOk(larder(repo, ["backfill", "--start", "2024-01-01", "--end", "2024-03-01", "--view", "driver_last_trip"])), /backfilled driver_last_trip: 2,000 source rows/);
});
