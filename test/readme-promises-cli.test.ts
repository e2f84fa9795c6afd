/**
 * README promises of the CLI and configuration that no other test held (issue 15 item 6), each
 * checked through what a user observes:
 * - progress: a plain line with rows/s on stdout off a terminal (stderr empty), an updating line
 *   (a carriage return, no newline) on a terminal;
 * - `materialize-incremental` of a view never materialized starts at `end − ttl`, or without a TTL
 *   at the start of its offline data; a view without offline data is skipped;
 * - `training-set` of a view changed since the last apply is NOT_APPLIED and writes no output;
 * - `LARDER_CACHE_DIR` is where the embedded registry's template is kept.
 *
 * The progress checks ask only for the view or command name and "rows/s" on the line, so a
 * percentage or an ETA added to it keeps them valid.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { assertCliError, assertOk, cliEnv, larder, plainRows, readParquetTable, ROOT } from "./helpers/cli.js";
import { arrowTable, col, createFeatureRepo, type FeatureRepo } from "./helpers/feature-repo.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// Data in the days before now, so the TTL view's rows are still live when materialized.
const BASE = Math.floor(Date.now() / HOUR) * HOUR - 10 * DAY;
const RANGE = { start: BASE - DAY, end: BASE + 9 * DAY };
const ROWS = 3_000;

const FEATURES = `
import { entity, parquetSource, featureView, types as t } from "larder";
export const rider = entity({ name: "rider", joinKeys: ["rider_id"], valueType: t.int64 });
const trips = parquetSource({ name: "trips", path: "data/trips.parquet", timestampField: "ts" });
export const recentTrips = featureView({ name: "recent_trips", entities: [rider], source: trips, ttl: "2d", schema: { fare: t.float64 } });
export const allTrips = featureView({ name: "all_trips", entities: [rider], source: trips, schema: { fare: t.float64 } });
export const tripTotals = featureView({ name: "trip_totals", entities: [rider], source: trips, transform: (row) => ({ ...row, fare2: row.fare * 2 }), schema: { fare2: t.float64 } });
`;

let repo: FeatureRepo;
const iso = (ms: number): string => new Date(ms).toISOString();
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

before(async () => {
  const ids: number[] = [];
  const ts: number[] = [];
  const fare: number[] = [];
  for (let i = 0; i < ROWS; i++) {
    ids.push((i % 300) + 1);
    ts.push(BASE + Math.floor((i / ROWS) * 8 * DAY));
    fare.push((i % 97) / 4);
  }
  repo = await createFeatureRepo({
    features: FEATURES,
    files: {
      "data/trips.parquet": arrowTable({ rider_id: col.int64(ids), ts: col.timestamp(ts), fare: col.float64(fare) }),
      "data/entities.csv": `rider_id,event_timestamp\n${Array.from({ length: 50 }, (_, i) => `${i + 1},${iso(BASE + 8 * DAY)}`).join("\n")}\n`,
    },
  });
  // Only two of the three views get offline data: trip_totals has none.
  await repo.store.backfill({ ...RANGE, views: ["recent_trips", "all_trips"] });
});
after(() => repo?.cleanup());

test("materialize-incremental of views never materialized: end − ttl with a TTL, else the start of the offline data; no data is skipped", () => {
  const end = BASE + 8 * DAY + 5 * HOUR;
  const stdout = assertOk(larder(repo.dir, ["materialize-incremental", "--end", iso(end)]));
  assert.match(stdout, new RegExp(`materialized recent_trips ${escape(`[${iso(end - 2 * DAY)}, ${iso(end)})`)}: [\\d,]+ rows`), stdout);
  assert.match(stdout, new RegExp(`materialized all_trips ${escape(`[${iso(RANGE.start)}, ${iso(end)})`)}: 300 rows`), stdout);
  assert.match(stdout, /skipped trip_totals: no offline data/, stdout);
  // The watermarks moved to end, so the next run continues from there.
  const again = assertOk(larder(repo.dir, ["materialize-incremental", "--end", iso(end + HOUR)]));
  assert.match(again, new RegExp(`materialized recent_trips ${escape(`[${iso(end)}, ${iso(end + HOUR)})`)}`), again);
  assert.match(again, new RegExp(`materialized all_trips ${escape(`[${iso(end)}, ${iso(end + HOUR)})`)}`), again);
});

test("progress off a terminal: a plain line with rows/s on stdout, nothing on stderr", () => {
  const out = join(repo.dir, "ts-plain.parquet");
  for (const [args, label] of [
    [["training-set", "--entities", repo.path("data/entities.csv"), "--features", "all_trips:fare", "--out", out], /training.set/i],
    [["materialize", "--start", iso(RANGE.start), "--end", iso(RANGE.end), "--view", "all_trips"], /all_trips/],
  ] as const) {
    const res = larder(repo.dir, args);
    const stdout = assertOk(res);
    assert.equal(res.stderr, "", `stderr carries only an error line:\n${res.stderr}`);
    assert.ok(
      stdout.split("\n").some((line) => label.test(line) && /rows\/s/.test(line)),
      `expected a progress line naming ${label} with rows/s on stdout:\n${stdout}`,
    );
    assert.doesNotMatch(stdout, /[\r\x1b]/, "a plain line has no carriage return or escape codes");
  }
});

test("progress on a terminal: an updating line (carriage return, no newline) with rows/s", () => {
  const out = join(repo.dir, "ts-tty.parquet");
  const argv = ["node", "--import", "tsx", "src/cli/main.ts", "--repo", repo.dir, "training-set", "--entities", repo.path("data/entities.csv"), "--features", "all_trips:fare", "--out", out];
  const quoted = argv.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(" ");
  // script(1) gives the command a pseudo-terminal on stdin, stdout and stderr (merged into one stream here).
  const res = spawnSync("script", ["-qefc", quoted, "/dev/null"], { cwd: ROOT, env: cliEnv(), encoding: "utf8", timeout: 120_000 });
  assert.equal(res.status, 0, `exit ${res.status}\n${res.stdout}\n${res.stderr}`);
  assert.ok(existsSync(out), "the training set was written");
  // An updating line: redrawn in place after a carriage return (not a line end) or an ANSI
  // cursor-to-column / erase-line sequence (readline.cursorTo, progress libraries).
  assert.match(res.stdout, /(\r(?!\n)|\x1b\[\d*[GK])[^\n]*training.set[^\n]*rows\/s/i, `expected an updating progress line:\n${JSON.stringify(res.stdout)}`);
  assert.match(res.stdout, /\n$/, "the output ends with a finished line");
});

test("training-set of a view changed since the last apply is NOT_APPLIED naming it, and writes no output", async () => {
  const out = join(repo.dir, "not-applied.parquet");
  const original = FEATURES;
  await repo.writeFile("features.ts", original.replace("fare2: row.fare * 2", "fare2: row.fare * 3"));
  try {
    assertCliError(larder(repo.dir, ["training-set", "--entities", repo.path("data/entities.csv"), "--features", "trip_totals:fare2", "--out", out]), "NOT_APPLIED", /trip_totals/);
    assert.equal(existsSync(out), false, "no output file");
    // A view that did not change still works next to it.
    assertOk(larder(repo.dir, ["training-set", "--entities", repo.path("data/entities.csv"), "--features", "all_trips:fare", "--out", out]));
  } finally {
    await repo.writeFile("features.ts", original);
  }
});

test("LARDER_CACHE_DIR holds the embedded registry's template; the home directory's cache is not touched", async () => {
  const cache = await mkdtemp(join(tmpdir(), "larder-cache-"));
  const home = await mkdtemp(join(tmpdir(), "larder-home-"));
  const fresh = await createFeatureRepo({ features: FEATURES, apply: false, files: { "data/trips.parquet": arrowTable({ rider_id: col.int64([1]), ts: col.timestamp([BASE]), fare: col.float64([1]) }) } });
  try {
    const res = larder(fresh.dir, ["apply"], { env: { LARDER_CACHE_DIR: cache, HOME: home } });
    assertOk(res);
    const templates = readdirSync(cache).filter((n) => /^pglite-/.test(n));
    assert.equal(templates.length, 1, `one template in LARDER_CACHE_DIR, found: ${readdirSync(cache).join(", ")}`);
    assert.ok(existsSync(join(cache, templates[0]!, "PG_VERSION")), "an initialised cluster");
    assert.equal(existsSync(join(home, ".cache", "larder")), false, "nothing under ~/.cache/larder");
    // The repository's registry is a working copy: a second command reads what apply stored.
    assert.match(assertOk(larder(fresh.dir, ["plan"], { env: { LARDER_CACHE_DIR: cache, HOME: home } })), /0 to add, 0 to change, 0 to remove/);
  } finally {
    await fresh.cleanup();
    await rm(cache, { recursive: true, force: true });
    await rm(home, { recursive: true, force: true });
  }
});

test("--entities and --out are relative to the current directory, source paths in definitions to the repository", async () => {
  // Run from a directory outside the repository (inside this checkout, where tsx resolves when the
  // CLI runs from source): the entity file is read from there and the output written there, while
  // the source path "data/trips.parquet" still resolves from the repository.
  const cwd = await mkdtemp(join(ROOT, ".scratch-cwd-"));
  try {
    await copyFile(repo.path("data/entities.csv"), join(cwd, "entities.csv"));
    const res = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "--repo", repo.dir, "training-set", "--entities", "entities.csv", "--features", "all_trips:fare", "--out", "relative-out.parquet"], {
      cwd,
      env: cliEnv(),
      encoding: "utf8",
      timeout: 120_000,
    });
    assert.equal(res.status, 0, `${res.stdout}\n${res.stderr}`);
    assert.ok(existsSync(join(cwd, "relative-out.parquet")), "written in the current directory");
    assert.equal(existsSync(repo.path("relative-out.parquet")), false, "not in the repository");
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
});

test("LARDER_DEBUG prints the stack trace after the error line; without it stderr is the one error line", () => {
  const args = ["backfill", "--start", "2024-02-01", "--end", "2024-01-01"];
  assertCliError(larder(repo.dir, args), "INVALID_ARGUMENT");
  const res = larder(repo.dir, args, { env: { LARDER_DEBUG: "1" } });
  assert.notEqual(res.status, 0);
  const [first, ...rest] = res.stderr.trimEnd().split("\n");
  assert.match(first!, /^error \[INVALID_ARGUMENT\]: /);
  assert.ok(
    rest.some((l) => /^\s+at /.test(l)),
    `a stack trace follows:\n${res.stderr}`,
  );
});

test("CSV --entities: other columns pass through unchanged with the narrowest type holding all their values", async () => {
  const at = iso(BASE + 8 * DAY);
  await repo.writeFile("data/typed.csv", ["n,rider_id,x,flag,label,event_timestamp,blank", `1,1,2,true,7,${at},`, `-3,2,2.5,FALSE,a,${at},`, `,3,,true,,${at},`, ""].join("\n"));
  const out = join(repo.dir, "typed.parquet");
  assertOk(larder(repo.dir, ["training-set", "--entities", repo.path("data/typed.csv"), "--features", "all_trips:fare", "--out", out]));
  const table = readParquetTable(out);
  const types = Object.fromEntries(table.schema.fields.map((f) => [f.name, String(f.type)]));
  assert.deepEqual(
    table.schema.fields.map((f) => f.name),
    ["n", "rider_id", "x", "flag", "label", "event_timestamp", "blank", "fare"],
    "entity columns first, in order, then the features",
  );
  assert.deepEqual([types.n, types.x, types.flag, types.label], ["Int64", "Float64", "Bool", "Utf8"], JSON.stringify(types));
  const rows = plainRows(table).map(({ n, x, flag, label, blank }) => ({ n, x, flag, label, blank }));
  assert.deepEqual(rows, [
    { n: 1, x: 2, flag: true, label: "7", blank: null },
    { n: -3, x: 2.5, flag: false, label: "a", blank: null },
    { n: null, x: null, flag: true, label: null, blank: null },
  ]);
});
