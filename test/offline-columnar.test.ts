import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LarderError } from "../src/errors.js";
import { columnFromValues, columnGet, concatBatches, emptyColumn, filterRows, makeBatch, sliceBatch, takeRows, type ColumnarBatch } from "../src/data/columnar.js";

function rows(batch: ColumnarBatch): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < batch.numRows; i++) {
    const r: Record<string, unknown> = {};
    for (const [name, col] of batch.columns) r[name] = columnGet(col, i);
    out.push(r);
  }
  return out;
}

function larderError(code: string, pattern?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof LarderError, `expected a LarderError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (pattern) assert.match(err.message, pattern);
    return true;
  };
}

describe("columnFromValues", () => {
  test("coerces numbers, numeric strings, bigints; null/undefined/blank are null", () => {
    const c = columnFromValues("int64", [1, "2", 3n, null, undefined, " ", "-7"], "k");
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6].map((i) => columnGet(c, i)),
      [1, 2, 3, null, null, null, -7],
    );
    const f = columnFromValues("float64", [1.5, "2.25", "NaN", null], "f");
    assert.equal(columnGet(f, 1), 2.25);
    assert.ok(Number.isNaN(columnGet(f, 2) as number));
    assert.equal(columnGet(f, 3), null);
    const f32 = columnFromValues("float32", [1.1], "f");
    assert.equal(columnGet(f32, 0), Math.fround(1.1));
    const s = columnFromValues("string", ["a", 5, 6n, null], "s");
    assert.deepEqual(s.values, ["a", "5", "6", null]);
    const b = columnFromValues("bool", [true, false, "true", "FALSE", 1, 0, null, ""], "b");
    assert.deepEqual(b.values, [true, false, true, false, true, false, null, null]);
  });

  test("no nulls keeps valid null", () => {
    const c = columnFromValues("float64", [1, 2, 3], "f");
    assert.equal(c.type, "float64");
    assert.equal((c as { valid: unknown }).valid, null);
  });

  test("timestamps: Date, ISO (zone-less is UTC), epoch ms", () => {
    const c = columnFromValues("timestamp", [new Date("2024-01-01T00:00:00Z"), "2024-01-01T01:00:00", "2024-01-01T00:00:00+01:00", 1704067200000, 5.7], "ts");
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((i) => columnGet(c, i)),
      [1704067200000, 1704070800000, 1704063600000, 1704067200000, 5],
    );
    assert.throws(() => columnFromValues("timestamp", ["not a date"], "ts"), larderError("INVALID_TIMESTAMP", /"ts" row 0/));
    assert.throws(() => columnFromValues("timestamp", [true], "ts"), larderError("TYPE_MISMATCH"));
  });

  test("int64 beyond ±(2^53−1) is VALUE_OUT_OF_RANGE naming the column", () => {
    assert.throws(() => columnFromValues("int64", [1, 2n ** 60n], "big"), larderError("VALUE_OUT_OF_RANGE", /"big"/));
    assert.throws(() => columnFromValues("int64", ["9007199254740993"], "big"), larderError("VALUE_OUT_OF_RANGE", /"big"/));
    assert.throws(() => columnFromValues("int64", [2 ** 60], "big"), larderError("VALUE_OUT_OF_RANGE", /"big"/));
    assert.throws(() => columnFromValues("int64", [2n ** 60n], 'featureView "spend" feature "amount"'), larderError("VALUE_OUT_OF_RANGE", /^featureView "spend" feature "amount" row 0: int64 value 1152921504606846976 /));
    const ok = columnFromValues("int64", [Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER], "big");
    assert.equal(columnGet(ok, 0), Number.MAX_SAFE_INTEGER);
  });

  test("wrong types are TYPE_MISMATCH naming column, row, value and expected type", () => {
    assert.throws(
      () => columnFromValues("int32", [1, "x"], "age"),
      (err: unknown) => {
        assert.ok(err instanceof LarderError);
        assert.equal(err.code, "TYPE_MISMATCH");
        assert.match(err.message, /column "age" row 1: expected int32, got "x"/);
        assert.deepEqual({ column: err.details["column"], row: err.details["row"], expected: err.details["expected"] }, { column: "age", row: 1, expected: "int32" });
        return true;
      },
    );
    assert.throws(() => columnFromValues("int32", [1.5], "a"), larderError("TYPE_MISMATCH", /not an integer/));
    assert.throws(() => columnFromValues("int32", [2 ** 31], "a"), larderError("TYPE_MISMATCH", /int32 range/));
    assert.throws(() => columnFromValues("float64", [{}], "a"), larderError("TYPE_MISMATCH"));
    assert.throws(() => columnFromValues("string", [true], "a"), larderError("TYPE_MISMATCH"));
    assert.throws(() => columnFromValues("bool", ["yes"], "a"), larderError("TYPE_MISMATCH"));
  });
});

describe("batch helpers", () => {
  const batch = makeBatch({
    k: columnFromValues("int64", [1, 2, null, 4], "k"),
    s: columnFromValues("string", ["a", null, "c", "d"], "s"),
    b: columnFromValues("bool", [true, false, null, true], "b"),
  });

  test("emptyColumn is all null", () => {
    for (const t of ["int32", "int64", "float32", "float64", "timestamp", "string", "bool"] as const) {
      const c = emptyColumn(t, 3);
      assert.equal(c.type, t);
      assert.deepEqual(
        [0, 1, 2].map((i) => columnGet(c, i)),
        [null, null, null],
      );
    }
  });

  test("takeRows gathers, repeats, and maps negative indices to null rows", () => {
    const t = takeRows(batch, Int32Array.from([3, 0, -1, 0]));
    assert.deepEqual(rows(t), [
      { k: 4, s: "d", b: true },
      { k: 1, s: "a", b: true },
      { k: null, s: null, b: null },
      { k: 1, s: "a", b: true },
    ]);
  });

  test("sliceBatch copies a row range", () => {
    const s = sliceBatch(batch, 1, 3);
    assert.deepEqual(rows(s), [
      { k: 2, s: null, b: false },
      { k: null, s: "c", b: null },
    ]);
    assert.equal(sliceBatch(batch, 0, 2).columns.get("k")!.type, "int64");
    assert.equal((sliceBatch(batch, 0, 2).columns.get("k") as { valid: unknown }).valid, null, "no nulls in the slice → valid null");
  });

  test("concatBatches keeps order and nulls; rejects mismatched columns", () => {
    const c = concatBatches([sliceBatch(batch, 0, 2), sliceBatch(batch, 2, 4)]);
    assert.deepEqual(rows(c), rows(batch));
    assert.equal(concatBatches([]).numRows, 0);
    const other = makeBatch({ k: columnFromValues("float64", [1], "k"), s: columnFromValues("string", ["x"], "s"), b: columnFromValues("bool", [true], "b") });
    assert.throws(() => concatBatches([batch, other]), larderError("TYPE_MISMATCH"));
  });

  test("filterRows keeps marked rows in order", () => {
    assert.deepEqual(
      rows(filterRows(batch, Uint8Array.from([0, 1, 0, 1]))).map((r) => r["k"]),
      [2, 4],
    );
  });
});
