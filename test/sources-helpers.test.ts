import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parquetSource } from "../src/definitions/sources.js";
import { LarderError } from "../src/errors.js";
import { compileColumnsRowBuilder, compileValuesRowBuilder, planColumns } from "../src/sources/column-plan.js";
import { quoteQualifiedName, redactPostgresUrl } from "../src/sources/postgres/postgres-source.js";
import { globToRegExp } from "../src/sources/source-files.js";

describe("globToRegExp", () => {
  const cases: [string, string[], string[]][] = [
    ["part-*.parquet", ["part-0.parquet", "part-.parquet", "part-12.parquet"], ["part-0.parquet.crc", "x/part-0.parquet", "part-0.csv"]],
    ["**/*.parquet", ["a.parquet", "x/a.parquet", "x/y/z/a.parquet"], ["a.csv", "x/a.csv"]],
    ["data/**/p.parquet", ["data/p.parquet", "data/x/p.parquet", "data/x/y/p.parquet"], ["datap.parquet", "other/p.parquet"]],
    ["day=0?/*.csv", ["day=01/a.csv", "day=09/b.csv"], ["day=1/a.csv", "day=010/a.csv"]],
    ["{a,b}/[0-9].csv", ["a/1.csv", "b/9.csv"], ["c/1.csv", "a/x.csv"]],
    ["[!_]*.csv", ["a.csv"], ["_a.csv"]],
    ["a.b+c(d).csv", ["a.b+c(d).csv"], ["aXb+c(d).csv"]],
  ];
  for (const [glob, yes, no] of cases) {
    test(glob, () => {
      const re = globToRegExp(glob);
      for (const p of yes) assert.ok(re.test(p), `${glob} should match ${p}`);
      for (const p of no) assert.ok(!re.test(p), `${glob} should not match ${p}`);
    });
  }
});

describe("postgres names and URLs", () => {
  test("quoteQualifiedName quotes each part, keeps quoted parts, escapes quotes", () => {
    assert.equal(quoteQualifiedName("transactions"), '"transactions"');
    assert.equal(quoteQualifiedName("sales.Transactions"), '"sales"."Transactions"');
    assert.equal(quoteQualifiedName('"my.schema".t'), '"my.schema"."t"');
    assert.equal(quoteQualifiedName('we"ird'), '"we""ird"');
    assert.equal(quoteQualifiedName('"a""b".c'), '"a""b"."c"');
  });

  test("redactPostgresUrl drops credentials and the query string", () => {
    assert.equal(redactPostgresUrl("postgres://u:secret@db.example:5433/features?password=x"), "postgres://db.example:5433/features");
    assert.equal(redactPostgresUrl("postgresql://db/x"), "postgresql://db/x");
    assert.doesNotMatch(redactPostgresUrl("postgres://u:secret@[bad/x"), /secret/);
  });
});

describe("column plan and row builders", () => {
  const src = parquetSource({ name: "s", path: "x.parquet", timestampField: "ts", createdTimestampField: "c", fieldMapping: { ts: "event_timestamp", cust: "customer_id" } });

  test("maps names and finds the time columns by their source names", () => {
    const plan = planColumns(src, ["cust", "ts", "c", "v"], null);
    assert.deepEqual(plan.outputNames, ["customer_id", "event_timestamp", "c", "v"]);
    assert.equal(plan.eventIndex, 1);
    assert.equal(plan.createdIndex, 2);
  });

  test("duplicate source columns are an error", () => {
    assert.throws(
      () => planColumns(src, ["ts", "c", "v", "v"], "f.csv"),
      (err: unknown) => err instanceof LarderError && err.code === "SOURCE_READ_ERROR" && /"v" appears more than once in f\.csv/.test(err.message),
    );
  });

  test("row builders make plain objects with own keys, even for awkward names", () => {
    const names = ["a", "__proto__", "with space", 'q"uote', "constructor"];
    const fromValues = compileValuesRowBuilder(names)([1, 2, 3, 4, 5]);
    const fromColumns = compileColumnsRowBuilder(names)(
      [
        [0, 1],
        [0, 2],
        [0, 3],
        [0, 4],
        [0, 5],
      ],
      1,
    );
    for (const row of [fromValues, fromColumns]) {
      assert.deepEqual(Object.keys(row), names);
      assert.equal(Object.getPrototypeOf(row), Object.prototype);
      assert.equal(Object.getOwnPropertyDescriptor(row, "__proto__")?.value, 2);
      assert.equal(row['q"uote'], 4);
    }
  });
});
