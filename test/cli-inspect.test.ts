/**
 * Looking at things through the real command: `--version`, `list`, `describe`, `plan`'s
 * field-by-field changes, `show FILE.parquet` and `online --format table`.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { ROOT, assertCliError, assertOk, larder } from "./helpers/cli.js";
import { lineDiff, specDiff } from "../src/cli/spec-diff.js";
import { arrowTable, col, createFeatureRepo, fastTempDir, type FeatureRepo } from "./helpers/feature-repo.js";

const FEATURES = (ttl: string, transform: string, extra = "") => `
import { entity, parquetSource, featureView, featureService, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const profiles = parquetSource({ name: "profiles", path: "data/profiles.parquet", timestampField: "updated_at" });
export const profile = featureView({ name: "profile", entities: [customer], source: profiles, ttl: "${ttl}",
  schema: { plan: t.string, fee: t.float64${extra} },
  transform: ${transform} });
export const svc = featureService({ name: "svc", features: [profile] });
`;

const TRANSFORM = `(row) => {
    const fee = row.fee;
    return { ...row, fee };
  }`;

describe("larder list, describe, show, plan, online --format table", () => {
  let repo: FeatureRepo;
  before(async () => {
    repo = await createFeatureRepo({
      features: FEATURES("3650d", TRANSFORM),
      files: {
        "data/profiles.parquet": arrowTable({
          customer_id: col.int64([1, 2, 3]),
          updated_at: col.timestamp(["2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z", "2024-01-04T00:00:00Z"]),
          plan: col.string(["basic", "pro, plus", null]),
          fee: col.float64([9.5, 19, 0]),
        }),
      },
      parentDir: fastTempDir(),
    });
  });
  after(async () => {
    await repo?.cleanup();
  });

  test("--version prints package.json's version", () => {
    const version = (JSON.parse(readFileSync(`${ROOT}/package.json`, "utf8")) as { version: string }).version;
    assert.equal(assertOk(larder(null, ["--version"])), `${version}\n`);
  });

  test("list: every object with a one-line summary; --json", () => {
    const table = assertOk(larder(repo.dir, ["list"]))
      .trimEnd()
      .split("\n");
    assert.match(table[0]!, /^KIND\s+NAME\s+SUMMARY$/);
    assert.deepEqual(
      table.slice(1).map((l) =>
        l
          .split(/\s{2,}/)
          .slice(0, 2)
          .join(" "),
      ),
      ["entity customer", "source profiles", "feature view profile", "feature service svc"],
    );
    const json = JSON.parse(assertOk(larder(repo.dir, ["list", "--json"]))) as { kind: string; name: string; summary: string }[];
    assert.deepEqual(
      json.find((o) => o.name === "profile"),
      { kind: "feature_view", name: "profile", summary: "2 features of customer from profiles, ttl 3650d" },
    );
    assert.equal(json.find((o) => o.name === "profiles")?.summary, "parquet data/profiles.parquet");
  });

  test("describe: the full spec and its applied state; unknown names are UNKNOWN_DEFINITION", () => {
    const text = assertOk(larder(repo.dir, ["describe", "profile"]));
    assert.match(text, /^feature view profile \(version 1, applied \d{4}-\d\d-\d\dT[\d:.]+Z\)\n/);
    assert.match(text, /\n  ttl: 3650d\n/);
    assert.match(text, /\n  schema:\n    plan: string\n    fee: float64\n/);
    // (the transform's source text as the TypeScript loader emitted it)
    assert.match(text, /\n  transform: .*const fee ?= ?row\.fee;/);
    const json = JSON.parse(assertOk(larder(repo.dir, ["describe", "customer", "--json"]))) as Record<string, unknown>;
    assert.deepEqual(json, {
      kind: "entity",
      name: "customer",
      applied: { version: 1, upToDate: true, text: (json.applied as { text: string }).text },
      spec: { name: "customer", joinKeys: ["customer_id"], valueTypes: ["int64"], description: "", tags: {} },
    });
    assertCliError(larder(repo.dir, ["describe", "nothing_here"]), "UNKNOWN_DEFINITION", /nothing named "nothing_here"/, /customer/);
  });

  test("show: a Parquet file as a table (with a row count) or CSV, --limit", async () => {
    assertOk(larder(repo.dir, ["backfill", "--start", "2024-01-01", "--end", "2024-02-01"]));
    await repo.writeFile("entities.csv", "customer_id,event_timestamp\n1,2024-01-10T00:00:00Z\n2,2024-01-10T00:00:00Z\n3,2024-01-10T00:00:00Z\n");
    assertOk(larder(repo.dir, ["training-set", "--entities", repo.path("entities.csv"), "--service", "svc", "--out", repo.path("ts.parquet")]));
    const table = assertOk(larder(repo.dir, ["show", repo.path("ts.parquet"), "--limit", "2"]));
    assert.equal(table, ["customer_id  event_timestamp       plan       fee", "1            2024-01-10T00:00:00Z  basic      9.5", "2            2024-01-10T00:00:00Z  pro, plus  19", "(2 of 3 rows)", ""].join("\n"));
    const csv = assertOk(larder(repo.dir, ["show", repo.path("ts.parquet"), "--format", "csv"]));
    assert.equal(csv, 'customer_id,event_timestamp,plan,fee\n1,2024-01-10T00:00:00Z,basic,9.5\n2,2024-01-10T00:00:00Z,"pro, plus",19\n3,2024-01-10T00:00:00Z,,0\n');
    assertCliError(larder(repo.dir, ["show", repo.path("ts.parquet"), "--limit", "0"]), "INVALID_ARGUMENT", /--limit/);
    assertCliError(larder(repo.dir, ["show", repo.path("ts.parquet"), "--format", "xml"]), "INVALID_ARGUMENT", /--format/);
  });

  test("online --format table: one row per entity; JSON stays the default", () => {
    assertOk(larder(repo.dir, ["materialize", "--start", "2024-01-01", "--end", "2024-02-01"]));
    const args = ["online", "--entity", "customer_id=1", "--entity", "customer_id=3", "--entity", "customer_id=99", "--service", "svc"];
    const table = assertOk(larder(repo.dir, [...args, "--format", "table"]));
    assert.equal(table, ["customer_id  plan       fee", "1            basic      9.5", "3            null       0", "99           NOT_FOUND  NOT_FOUND", ""].join("\n"));
    const json = JSON.parse(assertOk(larder(repo.dir, args))) as { metadata: { feature_names: string[] } };
    assert.deepEqual(json.metadata.feature_names, ["customer_id", "plan", "fee"]);
    assertCliError(larder(repo.dir, [...args, "--format", "yaml"]), "INVALID_ARGUMENT", /--format/);
  });

  test("plan shows what changed field by field: TTL, schema, and a diff of the transform's source", async () => {
    // (tier is not a source column: the transform adds it)
    await repo.writeFile("features.ts", FEATURES("7d", TRANSFORM.replace("const fee = row.fee;", "const fee = row.fee * 2;").replace("{ ...row, fee }", '{ ...row, fee, tier: "a" }'), ", tier: t.string"));
    const out = assertOk(larder(repo.dir, ["plan"]));
    assert.match(out, /  ~ feature view profile \(version 1 → 2\)\n/);
    assert.match(out, /\n      \+ schema\.tier: "string"\n/);
    assert.match(out, /\n      transform:\n        - .*const fee ?= ?row\.fee;.*\n        \+ .*const fee ?= ?row\.fee ?\* ?2;.*tier: ?"a".*\n/);
    assert.match(out, /\n      ttl: "3650d" → "7d"\n/);
    // the service follows its view's new feature
    assert.match(out, /\n  ~ feature service svc \(version 1 → 2\)\n      features: \[\{"features":\["plan","fee"\],"view":"profile"\}\] → \[\{"features":\["plan","fee","tier"\],"view":"profile"\}\]\n/);
    assert.match(out, /Plan: 0 to add, 2 to change, 0 to remove, 2 unchanged\./);
  });
});

test("specDiff: nested fields key by key; lineDiff: removals before additions, long unchanged runs cut", () => {
  assert.deepEqual(specDiff({ schema: { a: "int64", b: "string" }, ttl: null, tags: {} }, { schema: { a: "float64", c: "string" }, ttl: "1d", tags: {} }), [
    'schema.a: "int64" → "float64"',
    '- schema.b: "string"',
    '+ schema.c: "string"',
    'ttl: null → "1d"',
  ]);
  assert.deepEqual(lineDiff("a\nb\nc\nd\ne\nf\ng\nh", "a\nB\nc\nd\ne\nf\ng\nH"), ["  a", "- b", "+ B", "  c", "  d", "  …", "  f", "  g", "- h", "+ H"]);
});
