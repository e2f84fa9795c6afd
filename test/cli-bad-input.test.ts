/**
 * Bad input through the real `larder` command: each case fails with the right code, a non-zero
 * status and exactly one stderr line, `error [CODE]: message`, and writes nothing — the feature
 * repository (offline store manifests and data files, sources, outputs; everything but the
 * embedded registry's own files) is byte-identical before and after, and the registry's
 * definitions are unchanged.
 *
 * One repository for the whole file: a good view and a "flaky" view are applied and backfilled
 * first, so every case runs against an offline store with data in it; the other views each have a
 * source with one defect.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type TestContext, after, before, test } from "node:test";
import { FeatureStore } from "../src/feature-store.js";
import { type CliResult, assertCliError, assertOk, larder, plainRows, readParquetTable, snapshotTree } from "./helpers/cli.js";
import { arrowTable, col, configSource, fastTempDir, parquetBytes } from "./helpers/feature-repo.js";

const HOUR = 3_600_000;
const T0 = Date.UTC(2024, 0, 1);
const PG_PASSWORD = "hunter2-pw";

const FEATURES = `
import { agg, csvSource, entity, featureView, parquetSource, postgresSource, types as t } from "larder";

export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });

const good = parquetSource({ name: "good_src", path: "data/good.parquet", timestampField: "ts" });
export const goodView = featureView({ name: "good_view", entities: [customer], source: good, schema: { x: t.float64 } });

// 20,000 good rows; a test later replaces the file with one whose last rows are bad.
const flaky = csvSource({ name: "flaky_src", path: "data/flaky.csv", timestampField: "ts" });
export const flakyView = featureView({ name: "flaky_view", entities: [customer], source: flaky, schema: { y: t.float64 } });

// The schema says float64; the Parquet column holds strings.
const strings = parquetSource({ name: "strings_src", path: "data/strings.parquet", timestampField: "ts" });
export const typedView = featureView({ name: "typed_view", entities: [customer], source: strings, schema: { amount: t.float64 } });

// One event timestamp cannot be parsed.
const badTs = csvSource({ name: "bad_ts_src", path: "data/bad_ts.csv", timestampField: "ts" });
export const badTsView = featureView({ name: "bad_ts_view", entities: [customer], source: badTs, schema: { x: t.float64 } });

const missing = parquetSource({ name: "missing_src", path: "data/missing.parquet", timestampField: "ts" });
export const missingView = featureView({ name: "missing_view", entities: [customer], source: missing, schema: { x: t.float64 } });

// A Parquet file cut in half.
const corrupt = parquetSource({ name: "corrupt_src", path: "data/corrupt.parquet", timestampField: "ts" });
export const corruptView = featureView({ name: "corrupt_view", entities: [customer], source: corrupt, schema: { x: t.float64 } });

// Nothing listens on port 1.
const down = postgresSource({ name: "pg_src", table: "events", timestampField: "ts", connection: "postgres://postgres:${PG_PASSWORD}@127.0.0.1:1/test" });
export const pgView = featureView({ name: "pg_view", entities: [customer], source: down, schema: { x: t.float64 } });
`;

/** Appended to FEATURES by the definition-error case. */
const BROKEN_VIEW = `
export const brokenAggs = featureView({
  name: "broken_aggs", entities: [customer], source: good,
  aggregations: { x_sum_7d: agg.sum("x", "7d"), total_7d: agg.sum("no_such_column", "7d") },
});
`;

function flakyCsv(badRows: number): string {
  const lines = ["customer_id,ts,y"];
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const y = i >= n - badRows ? "oops" : String((i % 97) / 4);
    lines.push(`${1 + (i % 50)},${new Date(T0 + i * 60_000).toISOString()},${y}`);
  }
  return `${lines.join("\n")}\n`;
}

let root = "";
let dir = "";
let definitionsBefore: unknown[] = [];
let trainingSetBefore: Record<string, unknown>[] = [];

const path = (rel: string) => join(dir, rel);
const cli = (...args: string[]): CliResult => larder(dir, args);

const goodTable = () =>
  arrowTable({
    customer_id: col.int64([1, 2, 3, 1, 2]),
    ts: col.timestamp([T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR, T0 + 48 * HOUR, T0 + 49 * HOUR]),
    x: col.float64([1.5, 2.5, 3.5, 4.5, 5.5]),
  });

/** The project's current definitions, read from the registry in-process. */
async function registryDefinitions(): Promise<unknown[]> {
  const store = await FeatureStore.open(dir);
  const defs = await store.withRegistry((r) => r.listDefinitions(store.project));
  return defs.map((d) => ({ kind: d.kind, name: d.name, version: d.version, hash: d.hash, appliedAt: d.appliedAt.toISOString() }));
}

/** Everything in the repository but the embedded registry's files. */
const snapshot = () => snapshotTree(dir, [".larder"]);

/** Runs the command, expects `code`, and checks the repository is byte-identical afterwards. */
function expectFailureWritingNothing(t: TestContext, args: string[], code: string, ...patterns: RegExp[]): string {
  const before = snapshot();
  assert.ok(
    Object.keys(before).some((p) => p.endsWith("manifest.json")),
    "the offline store should have data before the case",
  );
  const message = assertCliError(cli(...args), code, ...patterns);
  // Shown without the CLI's `error [CODE]` prefix, so a passing run prints no error lines.
  t.diagnostic(`refused as expected, ${code}: ${message}`);
  assert.deepEqual(snapshot(), before, `larder ${args.join(" ")} changed files in the repository`);
  return message;
}

before(() => {
  root = mkdtempSync(join(fastTempDir(), "larder-cli-bad-"));
  dir = join(root, "repo");
  const files: Record<string, string | Uint8Array> = {
    "larder.config.ts": configSource("bad_input"),
    "features.ts": FEATURES,
    "data/good.parquet": parquetBytes(goodTable()),
    "data/flaky.csv": flakyCsv(0),
    "data/strings.parquet": parquetBytes(arrowTable({ customer_id: col.int64([1, 2]), ts: col.timestamp([T0 + HOUR, T0 + 2 * HOUR]), amount: col.string(["12.5", "a lot"]) })),
    "data/bad_ts.csv": `customer_id,ts,x\n1,2024-01-01T01:00:00Z,1.5\n2,2024-01-01T02:00:00Z,2.5\n3,2024-13-45 25:61,3.5\n`,
    "data/corrupt.parquet": parquetBytes(goodTable()).subarray(0, 200),
    "data/entities.csv": `customer_id,event_timestamp\n1,2024-01-01T12:00:00Z\n2,2024-01-03T12:00:00Z\n3,2024-01-01T00:30:00Z\n1,2024-01-14T00:00:00Z\n`,
    "data/entities_no_key.csv": `cust_id,event_timestamp\n1,2024-01-01T12:00:00Z\n`,
    "data/entities_bad_ts.csv": `customer_id,event_timestamp\n1,2024-01-01T12:00:00Z\n2,last tuesday\n`,
  };
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, ".."), { recursive: true });
    writeFileSync(join(dir, rel), content);
  }
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

test("setup: apply (sources that cannot be read are noted, not fatal), backfill the good views, a baseline training set", async () => {
  const applied = assertOk(cli("apply"));
  assert.match(applied, /Applied: 15 add, 0 change, 0 remove, 0 unchanged\./);
  assert.match(applied, /note: columns of feature view missing_view not checked: SOURCE_NOT_FOUND/);
  assert.match(applied, /note: columns of feature view corrupt_view not checked: CORRUPT_PARQUET/);
  assert.match(applied, /note: columns of feature view pg_view not checked: POSTGRES_UNAVAILABLE/);
  assert.doesNotMatch(applied, new RegExp(PG_PASSWORD), "apply printed the source's Postgres password");

  const backfilled = assertOk(cli("backfill", "--start", "2024-01-01", "--end", "2024-02-01", "--view", "good_view", "--view", "flaky_view"));
  assert.match(backfilled, /backfilled good_view: 5 source rows/);
  assert.match(backfilled, /backfilled flaky_view: 20,000 source rows/);

  const out = path("baseline.parquet");
  assertOk(cli("training-set", "--entities", path("data/entities.csv"), "--features", "good_view:x,flaky_view:y", "--out", out));
  trainingSetBefore = plainRows(readParquetTable(out));
  assert.deepEqual(
    trainingSetBefore.map((r) => r.x),
    [1.5, 5.5, null, 4.5],
  );
  assert.equal(trainingSetBefore.length, 4);
  definitionsBefore = await registryDefinitions();
  assert.equal(definitionsBefore.length, 15);
});

test("training-set: an unknown feature reference is UNKNOWN_FEATURE, and no --out file is created", (t) => {
  const out = path("unknown.parquet");
  expectFailureWritingNothing(t, ["training-set", "--entities", path("data/entities.csv"), "--features", "good_view:x,good_view:nope", "--out", out], "UNKNOWN_FEATURE", /nope/);
  assert.ok(!existsSync(out));
});

test("training-set: entity rows without a join key column are MISSING_JOIN_KEY", (t) => {
  const out = path("no-key.parquet");
  expectFailureWritingNothing(t, ["training-set", "--entities", path("data/entities_no_key.csv"), "--features", "good_view:x", "--out", out], "MISSING_JOIN_KEY", /customer_id/);
  assert.ok(!existsSync(out));
});

test("training-set: an unparseable entity event_timestamp is INVALID_TIMESTAMP naming the column and value", (t) => {
  const out = path("bad-ts.parquet");
  expectFailureWritingNothing(t, ["training-set", "--entities", path("data/entities_bad_ts.csv"), "--features", "good_view:x", "--out", out], "INVALID_TIMESTAMP", /event_timestamp/, /last tuesday/);
  assert.ok(!existsSync(out));
});

test("backfill: strings in a float64 feature column are TYPE_MISMATCH naming the view and the column", (t) => {
  expectFailureWritingNothing(t, ["backfill", "--start", "2024-01-01", "--end", "2024-02-01", "--view", "typed_view"], "TYPE_MISMATCH", /typed_view/, /amount/);
});

test("backfill: an unparseable source timestamp is INVALID_TIMESTAMP naming the column and value", (t) => {
  expectFailureWritingNothing(t, ["backfill", "--start", "2024-01-01", "--end", "2024-02-01", "--view", "bad_ts_view"], "INVALID_TIMESTAMP", /"ts"/, /2024-13-45 25:61/);
});

test("backfill: a missing source file is SOURCE_NOT_FOUND", (t) => {
  expectFailureWritingNothing(t, ["backfill", "--start", "2024-01-01", "--end", "2024-02-01", "--view", "missing_view"], "SOURCE_NOT_FOUND", /missing\.parquet/);
});

test("backfill: a corrupt Parquet source is CORRUPT_PARQUET", (t) => {
  expectFailureWritingNothing(t, ["backfill", "--start", "2024-01-01", "--end", "2024-02-01", "--view", "corrupt_view"], "CORRUPT_PARQUET", /corrupt\.parquet/);
});

test("backfill: an unreachable Postgres source is POSTGRES_UNAVAILABLE, without the password", (t) => {
  const message = expectFailureWritingNothing(t, ["backfill", "--start", "2024-01-01", "--end", "2024-02-01", "--view", "pg_view"], "POSTGRES_UNAVAILABLE", /pg_src/, /127\.0\.0\.1:1/);
  assert.doesNotMatch(message, new RegExp(PG_PASSWORD));
});

test("backfill: --start after --end is INVALID_ARGUMENT", (t) => {
  expectFailureWritingNothing(t, ["backfill", "--start", "2024-03-01", "--end", "2024-01-01"], "INVALID_ARGUMENT", /--start/);
});

test("apply: an aggregation over an unknown column is INVALID_DEFINITION naming the view, the field and the source's columns; the registry is unchanged", async (t) => {
  writeFileSync(path("features.ts"), FEATURES + BROKEN_VIEW);
  try {
    const message = expectFailureWritingNothing(t, ["apply"], "INVALID_DEFINITION");
    assert.equal(message, `featureView "broken_aggs" aggregations.total_7d: unknown column "no_such_column" (source has: customer_id, ts, x)`);
  } finally {
    writeFileSync(path("features.ts"), FEATURES);
  }
  assert.deepEqual(await registryDefinitions(), definitionsBefore, "a failed apply changed the registry");
});

test("an unreachable Postgres registry is POSTGRES_UNAVAILABLE, without the password", (t) => {
  const other = join(root, "pg-registry");
  mkdirSync(other);
  writeFileSync(join(other, "features.ts"), `import { entity, types as t } from "larder";\nexport const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });\n`);
  writeFileSync(join(other, "larder.config.ts"), configSource("bad_registry").replace(`registry: "embedded"`, `registry: "postgres://postgres:secret@127.0.0.1:1/x"`));
  assert.match(readFileSync(join(other, "larder.config.ts"), "utf8"), /secret@127\.0\.0\.1:1/);
  const res = larder(other, ["apply"]);
  t.diagnostic(`refused as expected, POSTGRES_UNAVAILABLE: ${assertCliError(res, "POSTGRES_UNAVAILABLE", /127\.0\.0\.1:1/)}`);
  assert.doesNotMatch(res.stderr + res.stdout, /secret/, "larder apply printed the registry password");
});

test("a backfill that fails after a successful one leaves the previous data readable and identical", (t) => {
  // The same range again, now with bad values in the last rows: the read fails late, after most rows.
  writeFileSync(path("data/flaky.csv"), flakyCsv(3));
  expectFailureWritingNothing(t, ["backfill", "--start", "2024-01-01", "--end", "2024-02-01", "--view", "flaky_view"], "TYPE_MISMATCH", /flaky_view/, /"y"/, /oops/);

  const out = path("after.parquet");
  assertOk(cli("training-set", "--entities", path("data/entities.csv"), "--features", "good_view:x,flaky_view:y", "--out", out));
  assert.deepEqual(plainRows(readParquetTable(out)), trainingSetBefore, "the training set changed after a failed backfill");
});

test("after every case: the registry's definitions are the ones applied at setup", async () => {
  assert.deepEqual(await registryDefinitions(), definitionsBefore);
});
