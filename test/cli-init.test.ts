/**
 * `larder init` and the walkthrough it prints, run as a user runs them: the real command in a child
 * process, from inside the new repository, every printed line in order — apply, backfill,
 * training-set, models train and promote, materialize, online (every value PRESENT), serve, a push
 * to online_and_offline, an online read that shows it, a prediction over HTTP. The printed lines are
 * the ones README.md (the project's and the scaffold's) shows. Also: every command has --help, and
 * plan/apply/backfill agree on what is applied.
 *
 * One scaffolded repository is shared by the tests of this file, in order (the CLI costs a second
 * or more per call).
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { assertCliError, assertOk, larder, larderAsync, larderServe, plainRows, readParquetTable, ROOT, snapshotTree } from "./helpers/cli.js";
import { fastTempDir } from "./helpers/feature-repo.js";

const DAY = 86_400_000;
const END = Date.parse("2024-03-01T00:00:00Z");
let root = "";
let repo = "";
let steps: string[] = [];

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

interface Trip {
  driver: number;
  ts: number;
  rating: number;
  km: number;
}

/** The sample trips, read with parquet-wasm (not Larder's reader). */
function sampleTrips(): Trip[] {
  return plainRows(readParquetTable(join(repo, "data/trips/trips-2024.parquet"))).map((r) => ({
    driver: r.driver_id as number,
    ts: r.ts as number,
    rating: r.rating as number,
    km: (r.distance_m as number) / 1000,
  }));
}

/** Brute force: the view values of one driver as of `t` (windows (t − w, t]; latest trip ever). */
function expected(trips: readonly Trip[], driver: number, t: number) {
  const mine = trips.filter((x) => x.driver === driver && x.ts <= t);
  const inWindow = (w: number) => mine.filter((x) => x.ts > t - w);
  const latest = [...mine].sort((a, b) => b.ts - a.ts)[0];
  return {
    rating: latest?.rating ?? null,
    trips_1d: inWindow(DAY).length,
    km_7d: inWindow(7 * DAY).reduce((s, x) => s + x.km, 0),
  };
}

/** A printed `npx larder …` line as CLI arguments. */
function larderArgs(line: string): string[] {
  assert.match(line, /^npx larder /);
  return line.slice("npx larder ".length).split(" ");
}

/** A printed `curl -s localhost:6566/PATH -d 'JSON'` line, sent to `base` as curl would. */
async function curl(line: string, base: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const m = /^curl -s localhost:6566(\/\S+) -d '(.+)'$/.exec(line);
  assert.ok(m, `not a curl line of the walkthrough: ${line}`);
  JSON.parse(m[2]!); // the printed body is valid JSON
  const res = await fetch(base + m[1]!, { method: "POST", body: m[2]! });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** The next step whose line starts with `prefix` (steps run strictly in the printed order). */
function nextStep(prefix: string): string {
  const line = steps.shift();
  assert.ok(line?.startsWith(prefix), `expected a step starting with ${JSON.stringify(prefix)}, got ${JSON.stringify(line)}`);
  return line!;
}

test("init prints the walkthrough; the scaffold's README and the project's README show the same lines", () => {
  const out = assertOk(larder(null, ["init", repo]));
  for (const f of ["larder.config.ts", "features.ts", "README.md", "data/trips/trips-2024.parquet", "data/requests.csv"]) {
    assert.ok(existsSync(join(repo, f)), `init did not create ${f}`);
  }
  assert.match(readFileSync(join(repo, "features.ts"), "utf8"), /from "larder-feature-store"/);
  const printed = out
    .split("\n")
    .slice(1)
    .map((l) => l.trim())
    .filter(Boolean);
  assert.equal(printed[0], `cd ${repo}`);
  steps = printed.slice(1);
  assert.ok(steps.length >= 10, `the walkthrough has every step:\n${out}`);

  const lines = (text: string) => new Set(text.split("\n").map((l) => l.trim()));
  const scaffoldReadme = lines(readFileSync(join(repo, "README.md"), "utf8"));
  const projectReadme = readFileSync(join(ROOT, "README.md"), "utf8");
  const walkthrough = /### Start your own feature repository\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(projectReadme);
  assert.ok(walkthrough, "README.md has a 'Start your own feature repository' section with a sh block");
  const readmeLines = lines(walkthrough[1]!);
  for (const step of steps) {
    assert.ok(scaffoldReadme.has(step), `the scaffold's README.md lacks: ${step}`);
    assert.ok(readmeLines.has(step), `README.md's walkthrough lacks: ${step}`);
  }
});

test("the printed walkthrough runs as it is, from inside the repository", async () => {
  assert.ok(steps.length > 0, "the first test printed the steps");
  const run = (prefix: string) => assertOk(larder(null, larderArgs(nextStep(prefix)), { cwd: repo }));

  assert.match(run("npx larder apply"), /Applied: 8 add, 0 change, 0 remove, 0 unchanged\./);
  const backfilled = run("npx larder backfill");
  assert.match(backfilled, /backfilled driver_activity: 2,000 source rows/);
  assert.match(backfilled, /backfilled driver_last_trip: 2,000 source rows → 2,000 offline rows/);

  // training-set: row i belongs to offer i, with the features recomputed by brute force.
  run("npx larder training-set");
  const table = readParquetTable(join(repo, "training.parquet"));
  const offers = csvRows(join(repo, "data/requests.csv"));
  assert.equal(offers.length, 300);
  assert.equal(table.numRows, offers.length, "one training row per offer");
  const trips = sampleTrips();
  let withTrips = 0;
  plainRows(table).forEach((row, i) => {
    const offer = offers[i]!;
    assert.equal(row.driver_id, Number(offer.driver_id), `row ${i}: driver_id`);
    assert.equal(row.accepted, offer.accepted === "true", `row ${i}: the label passes through`);
    const want = expected(trips, Number(offer.driver_id), Date.parse(offer.event_timestamp!));
    assert.equal(row.trips_1d, want.trips_1d, `row ${i}: trips_1d`);
    assert.equal(row.rating, want.rating, `row ${i}: rating of the latest trip`);
    if (want.trips_1d > 0) withTrips++;
  });
  assert.ok(withTrips > 0, "some offers have trips in their last day");

  const trained = run("npx larder models train");
  const holdoutAuc = Number(/holdout: .*auc ([\d.]+)/.exec(trained)?.[1]);
  assert.ok(holdoutAuc > 0.6, `the labels carry a signal the features can learn (holdout AUC ${holdoutAuc}):\n${trained}`);
  assert.match(trained, /registered trip_accept version 1/);
  assert.match(run("npx larder models promote"), /promoted trip_accept version 1 to production/);

  const materialized = run("npx larder materialize");
  assert.match(materialized, /materialized driver_activity .*: 20 rows/);
  assert.match(materialized, /materialized driver_last_trip .*: 20 rows/);

  // Online values equal a training set at END − 1 ms, and every one is PRESENT (no TTL expires
  // the 2024 data).
  const online = JSON.parse(run("npx larder online")) as { metadata: { feature_names: string[] }; results: { values: unknown[]; statuses: string[] }[] };
  const value = (res: typeof online, name: string) => res.results[res.metadata.feature_names.indexOf(name)]!.values[0];
  for (const [k, r] of online.results.entries()) assert.deepEqual(r.statuses, ["PRESENT"], `${online.metadata.feature_names[k]} is PRESENT`);
  const atEnd = expected(trips, 1001, END - 1);
  assert.equal(value(online, "rating"), atEnd.rating);
  assert.equal(value(online, "trips_1d"), atEnd.trips_1d);
  assert.ok(Math.abs((value(online, "km_7d") as number) - atEnd.km_7d) < 1e-9, `km_7d ${String(value(online, "km_7d"))} vs ${atEnd.km_7d}`);

  assert.equal(nextStep("npx larder serve"), "npx larder serve");
  const served = await larderServe(repo, [], { cwd: repo });
  try {
    const tripFiles = () => readdirSync(join(repo, "data/trips")).sort();
    assert.deepEqual(tripFiles(), ["trips-2024.parquet"]);
    const pushed = await curl(nextStep("curl -s localhost:6566/push"), served.url);
    assert.equal(pushed.status, 200, JSON.stringify(pushed.json));
    // The offline half: a new file in the source directory with the pushed row.
    const added = tripFiles().filter((f) => f !== "trips-2024.parquet");
    assert.equal(added.length, 1, `one appended file: ${tripFiles().join(", ")}`);
    const appended = plainRows(readParquetTable(join(repo, "data/trips", added[0]!)));
    assert.deepEqual(appended, [{ driver_id: 1001, ts: Date.parse("2024-03-01T08:00:00Z"), rating: 4.9, distance_m: 12500 }]);

    // The online half: the latest trip is the pushed one; windows move to its time.
    const read = await curl(nextStep("curl -s localhost:6566/get-online-features"), served.url);
    assert.equal(read.status, 200, JSON.stringify(read.json));
    const body = read.json as unknown as typeof online;
    for (const [k, r] of body.results.entries()) assert.deepEqual(r.statuses, ["PRESENT"], `${body.metadata.feature_names[k]} is PRESENT after the push`);
    const afterPush = expected([...trips, { driver: 1001, ts: Date.parse("2024-03-01T08:00:00Z"), rating: 4.9, km: 12.5 }], 1001, Date.parse("2024-03-01T08:00:00Z"));
    assert.equal(value(body, "rating"), 4.9);
    assert.equal(value(body, "distance_km"), 12.5);
    assert.equal(value(body, "trips_1d"), afterPush.trips_1d);

    const predicted = await curl(nextStep("curl -s localhost:6566/v1/predict/trip_accept"), served.url);
    assert.equal(predicted.status, 200, JSON.stringify(predicted.json));
    assert.equal(predicted.json.version, 1);
    assert.equal(predicted.json.stage, "production");
    const results = predicted.json.results as { prediction: number }[];
    assert.equal(results.length, 2);
    for (const r of results) assert.ok(r.prediction > 0 && r.prediction < 1, `a probability: ${r.prediction}`);
  } finally {
    served.child.kill("SIGTERM");
  }
  assert.deepEqual(await served.exit, { code: 0, signal: null }, served.stderr());
  assert.deepEqual(steps, [], "every printed step ran");
});

test("init into a non-empty directory fails with INVALID_ARGUMENT and writes nothing", () => {
  const dir = join(root, "not-empty");
  mkdirSync(dir);
  writeFileSync(join(dir, "notes.txt"), "mine\n");
  const before = snapshotTree(dir);
  assertCliError(larder(null, ["init", dir]), "INVALID_ARGUMENT", /not empty \(has notes\.txt\)/);
  assert.deepEqual(snapshotTree(dir), before, "init wrote into a non-empty directory");
});

test("init . in a fresh npm project (package.json, node_modules) scaffolds next to them and prints no cd", () => {
  const dir = join(root, "npm-project");
  mkdirSync(join(dir, "node_modules"), { recursive: true });
  writeFileSync(join(dir, "package.json"), `{"name": "my-features", "version": "1.0.0"}\n`);
  const out = assertOk(larder(null, ["init", "."], { cwd: dir }));
  assert.ok(existsSync(join(dir, "features.ts")));
  assert.doesNotMatch(out, /^\s*cd /m);
  assert.match(out, /^ {2}npx larder apply$/m);
});

test("--help on every command exits 0 and prints its usage", async () => {
  const expectedUsage: Record<string, RegExp[]> = {
    init: [/Usage: larder init \[options\] \[dir\]/],
    plan: [/Usage: larder plan/],
    apply: [/Usage: larder apply/],
    backfill: [/Usage: larder backfill/, /--start <iso>/, /--end <iso>/, /--view <name>/],
    "training-set": [/Usage: larder training-set/, /--entities <file>/, /--features <refs>/, /--service <name>/, /--out <file>/, /--full-feature-names/],
  };
  const results = await Promise.all(Object.keys(expectedUsage).map((cmd) => larderAsync(repo, [cmd, "--help"])));
  for (const res of results) {
    const cmd = res.command.split(" ").at(-2)!;
    const out = assertOk(res);
    for (const p of expectedUsage[cmd]!) assert.match(out, p, `${res.command}: ${out}`);
    assert.equal(res.stderr, "", `${res.command} wrote to stderr`);
  }
});

test("plan after apply shows no changes; an added ttl is a planned change, and backfill needs apply", () => {
  assert.match(assertOk(larder(repo, ["plan"])), /Plan: 0 to add, 0 to change, 0 to remove, 8 unchanged\./);

  const featuresFile = join(repo, "features.ts");
  const original = readFileSync(featuresFile, "utf8");
  const lastTripSchema = `  schema: { rating: t.float64, distance_km: t.float64 },\n`;
  assert.ok(original.includes(lastTripSchema), "the scaffolded driver_last_trip schema");
  writeFileSync(featuresFile, original.replace(lastTripSchema, `  ttl: "7d",\n${lastTripSchema}`));

  const planned = assertOk(larder(repo, ["plan"]));
  assert.match(planned, /^ {2}~ feature view driver_last_trip \(version 1 → 2\)$/m);
  assert.match(planned, /Plan: 0 to add, 1 to change, 0 to remove, 7 unchanged\./);

  const offline = join(repo, "data/offline");
  const stored = snapshotTree(offline);
  assertCliError(larder(repo, ["backfill", "--start", "2024-01-01", "--end", "2024-03-01"]), "NOT_APPLIED", /driver_last_trip/);
  assert.deepEqual(snapshotTree(offline), stored, "a NOT_APPLIED backfill wrote to the offline store");

  assert.match(assertOk(larder(repo, ["apply"])), /Applied: 0 add, 1 change, 0 remove, 7 unchanged\./);
  assert.match(assertOk(larder(repo, ["backfill", "--start", "2024-01-01", "--end", "2024-03-01", "--view", "driver_last_trip"])), /backfilled driver_last_trip: 2,000 source rows/);
});
