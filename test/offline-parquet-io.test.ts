import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as arrow from "apache-arrow";
import { DuckDBInstance } from "@duckdb/node-api";
import { LarderError } from "../src/errors.js";
import { columnFromValues, columnGet, makeBatch, type ColumnarBatch } from "../src/data/columnar.js";
import { arrowTableToBatch, batchToArrowTable, isFileNotFound, parquetFileInfo, parquetRowGroupCount, readParquetBatch, readParquetFile, writeArrowTableToParquet, writeParquetFile } from "../src/offline/parquet-io.js";

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "larder-parquet-io-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

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

const T0 = Date.UTC(2024, 0, 31, 12, 0, 0, 123);

function everyType(): ColumnarBatch {
  return makeBatch({
    i32: columnFromValues("int32", [1, null, -2147483648, 2147483647], "i32"),
    i64: columnFromValues("int64", [Number.MAX_SAFE_INTEGER, null, Number.MIN_SAFE_INTEGER, 0], "i64"),
    f32: columnFromValues("float32", [1.1, null, -0.5, Number.POSITIVE_INFINITY], "f32"),
    f64: columnFromValues("float64", [Math.PI, null, -1e300, 5e-324], "f64"),
    ts: columnFromValues("timestamp", [T0, null, -1, 0], "ts"),
    s: columnFromValues("string", ["a", null, "", "héllo ✓ 日本"], "s"),
    b: columnFromValues("bool", [true, null, false, true], "b"),
  });
}

describe("Parquet round trip", () => {
  test("every value type, with nulls", async () => {
    const path = join(dir, "every.parquet");
    const batch = everyType();
    await writeParquetFile(path, batch);
    const back = await readParquetBatch(path);
    assert.equal(back.numRows, 4);
    assert.deepEqual(
      [...back.columns.entries()].map(([n, c]) => `${n}:${c.type}`),
      ["i32:int32", "i64:int64", "f32:float32", "f64:float64", "ts:timestamp", "s:string", "b:bool"],
    );
    assert.deepEqual(rows(back), rows(batch));
    const table = await readParquetFile(path);
    assert.deepEqual(
      table.schema.fields.map((f) => String(f.type)),
      ["Int32", "Int64", "Float32", "Float64", "Timestamp<MILLISECOND, UTC>", "Utf8", "Bool"],
    );
    assert.equal(table.getChild("i64")!.get(0), BigInt(Number.MAX_SAFE_INTEGER));
  });

  test("batchToArrowTable ⇄ arrowTableToBatch without a file", () => {
    const batch = everyType();
    assert.deepEqual(rows(arrowTableToBatch(batchToArrowTable(batch))), rows(batch));
  });

  test("writing checks integer columns built by hand (not through columnFromValues)", () => {
    const big = makeBatch({ id: { type: "int64", values: Float64Array.from([1, 2 ** 60]), valid: null } });
    assert.throws(() => batchToArrowTable(big), larderError("VALUE_OUT_OF_RANGE", /"id" row 1/));
    const nan = makeBatch({ t: { type: "timestamp", values: Float64Array.from([Number.NaN]), valid: null } });
    assert.throws(() => batchToArrowTable(nan), larderError("TYPE_MISMATCH", /"t" row 0/));
    const wide = makeBatch({ n: { type: "int32", values: Float64Array.from([2 ** 31]), valid: null } });
    assert.throws(() => batchToArrowTable(wide), larderError("TYPE_MISMATCH", /"n" row 0/));
    const masked = makeBatch({ id: { type: "int64", values: Float64Array.from([1, Number.NaN]), valid: Uint8Array.from([1, 0]) } });
    assert.deepEqual(rows(arrowTableToBatch(batchToArrowTable(masked))), [{ id: 1 }, { id: null }]);
  });

  test("columns (in the requested order), a row limit and row groups", async () => {
    const path = join(dir, "groups.parquet");
    const n = 10_000;
    const batch = makeBatch({
      id: columnFromValues(
        "int64",
        Array.from({ length: n }, (_, i) => i),
        "id",
      ),
      name: columnFromValues(
        "string",
        Array.from({ length: n }, (_, i) => `n${i}`),
        "name",
      ),
      x: columnFromValues(
        "float64",
        Array.from({ length: n }, (_, i) => i / 2),
        "x",
      ),
    });
    await writeParquetFile(path, batch, { rowGroupSize: 2048 });
    assert.equal(await parquetRowGroupCount(path), 5);
    const info = await parquetFileInfo(path);
    assert.equal(info.numRows, n);
    assert.deepEqual(info.columns, ["id", "name", "x"]);
    assert.deepEqual(
      info.rowGroups.map((g) => g.rows),
      [2048, 2048, 2048, 2048, 1808],
    );

    const all = await readParquetBatch(path);
    assert.deepEqual(rows(all), rows(batch));
    const some = await readParquetBatch(path, { columns: ["x", "id"], limit: 3000 });
    assert.deepEqual([...some.columns.keys()], ["x", "id"]);
    assert.equal(some.numRows, 3000);
    assert.equal(columnGet(some.columns.get("id")!, 2999), 2999);
    assert.equal(columnGet(some.columns.get("x")!, 100), 50);
    const t = await readParquetFile(path, { columns: ["name"], limit: 100 });
    assert.deepEqual(
      t.schema.fields.map((f) => f.name),
      ["name"],
    );
    assert.equal(t.numRows, 100);
    assert.equal(t.getChild("name")!.get(99), "n99");
    await assert.rejects(readParquetBatch(path, { columns: ["nope"] }), larderError("OFFLINE_STORE_ERROR", /no column "nope"/));
  });

  test("a file with no rows keeps its schema", async () => {
    const path = join(dir, "empty.parquet");
    await writeParquetFile(path, makeBatch({ k: columnFromValues("int64", [], "k"), s: columnFromValues("string", [], "s") }));
    const b = await readParquetBatch(path);
    assert.equal(b.numRows, 0);
    assert.deepEqual(
      [...b.columns.entries()].map(([n, c]) => `${n}:${c.type}`),
      ["k:int64", "s:string"],
    );
    assert.equal((await readParquetFile(path)).numRows, 0);
  });

  test("zstd, lz4 and uncompressed files read back the same", async () => {
    const batch = everyType();
    for (const compression of ["zstd", "lz4", "none"] as const) {
      const path = join(dir, `c-${compression}.parquet`);
      await writeParquetFile(path, batch, { compression });
      assert.deepEqual(rows(await readParquetBatch(path)), rows(batch), compression);
    }
  });

  test("long and non-ASCII strings survive the windowed codecs", async () => {
    const values = Array.from({ length: 5000 }, (_, i) => (i % 7 === 0 ? null : i % 3 === 0 ? `ü${"x".repeat(i % 50)}€${i}` : `plain-${i}`));
    const path = join(dir, "strings.parquet");
    await writeParquetFile(path, makeBatch({ s: columnFromValues("string", values, "s") }));
    assert.deepEqual((await readParquetBatch(path)).columns.get("s")!.values, values);
  });
});

describe("Arrow types accepted by arrowTableToBatch", () => {
  test("narrow and unsigned ints, Date, Timestamp units, Dictionary, LargeUtf8, Decimal, Float16", async () => {
    const table = new arrow.Table({
      i8: arrow.vectorFromArray([1, -2, null], new arrow.Int8()),
      f16: arrow.vectorFromArray([1.5, -65504, null], new arrow.Float16()),
      u16: arrow.vectorFromArray([65535, 0, null], new arrow.Uint16()),
      u32: arrow.vectorFromArray([4294967295, 1, null], new arrow.Uint32()),
      u64: arrow.vectorFromArray([2n ** 53n - 1n, 0n, null], new arrow.Uint64()),
      day: arrow.vectorFromArray([new Date(Date.UTC(2024, 1, 29)), new Date(Date.UTC(1969, 11, 31)), null], new arrow.DateDay()),
      sec: arrow.makeVector(arrow.makeData({ type: new arrow.TimestampSecond(), length: 3, data: BigInt64Array.from([1706702400n, -1n, 0n]) })),
      us: arrow.makeVector(arrow.makeData({ type: new arrow.TimestampMicrosecond("America/New_York"), length: 3, data: BigInt64Array.from([1706702400123999n, -1n, -1000n]) })),
      ns: arrow.makeVector(arrow.makeData({ type: new arrow.TimestampNanosecond(), length: 3, data: BigInt64Array.from([1706702400123000000n, 1706702400123999999n, -1n]) })),
      dict: arrow.vectorFromArray(["x", "y", "x"], new arrow.Dictionary(new arrow.Utf8(), new arrow.Int32())),
      large: arrow.vectorFromArray(["long", null, "ü"], new arrow.LargeUtf8()),
      dec: arrow.makeVector(arrow.makeData({ type: new arrow.Decimal(2, 10, 128), length: 3, data: Uint32Array.from([12345, 0, 0, 0, 0xffffffff - 149, 0xffffffff, 0xffffffff, 0xffffffff, 0, 0, 0, 0]) })),
    });
    const b = arrowTableToBatch(table);
    const types = Object.fromEntries([...b.columns].map(([n, c]) => [n, c.type]));
    assert.deepEqual(types, { i8: "int32", f16: "float32", u16: "int32", u32: "int64", u64: "int64", day: "timestamp", sec: "timestamp", us: "timestamp", ns: "timestamp", dict: "string", large: "string", dec: "float64" });
    assert.deepEqual(rows(b), [
      { i8: 1, f16: 1.5, u16: 65535, u32: 4294967295, u64: 2 ** 53 - 1, day: Date.UTC(2024, 1, 29), sec: 1706702400000, us: 1706702400123, ns: 1706702400123, dict: "x", large: "long", dec: 123.45 },
      { i8: -2, f16: -65504, u16: 0, u32: 1, u64: 0, day: Date.UTC(1969, 11, 31), sec: -1000, us: -1, ns: 1706702400123, dict: "y", large: null, dec: -1.5 },
      { i8: null, f16: null, u16: null, u32: null, u64: null, day: null, sec: 0, us: -1, ns: -1, dict: "x", large: "ü", dec: 0 },
    ]);
    // the same through a Parquet file written from an arbitrary Arrow table
    const path = join(dir, "arrow-types.parquet");
    await writeArrowTableToParquet(path, table);
    const back = await readParquetBatch(path);
    for (const name of ["i8", "f16", "u16", "u32", "u64", "day", "us", "ns", "dict", "large", "dec"]) {
      assert.deepEqual(
        Array.from({ length: 3 }, (_, i) => columnGet(back.columns.get(name)!, i)),
        Array.from({ length: 3 }, (_, i) => columnGet(b.columns.get(name)!, i)),
        name,
      );
    }
  });

  test("int64 beyond ±2^53 is VALUE_OUT_OF_RANGE naming the column (nulls are not checked)", async () => {
    const big = new arrow.Table({
      ok: arrow.vectorFromArray([1n, 2n], new arrow.Int64()),
      user_id: arrow.vectorFromArray([1n, 2n ** 53n + 1n], new arrow.Int64()),
    });
    assert.throws(() => arrowTableToBatch(big), larderError("VALUE_OUT_OF_RANGE", /"user_id".*9007199254740993/));
    const neg = new arrow.Table({ n: arrow.vectorFromArray([-(2n ** 53n)], new arrow.Int64()) });
    assert.throws(() => arrowTableToBatch(neg), larderError("VALUE_OUT_OF_RANGE", /"n"/));
    const path = join(dir, "big.parquet");
    await writeArrowTableToParquet(path, big);
    await assert.rejects(readParquetBatch(path), larderError("VALUE_OUT_OF_RANGE", /"user_id"/));
    assert.equal((await readParquetFile(path)).getChild("user_id")!.get(1), 2n ** 53n + 1n, "an Arrow read keeps int64 exact");
    assert.equal((await readParquetBatch(path, { columns: ["ok"] })).numRows, 2, "the other column alone reads fine");
    // a garbage value under a null is not an error
    const masked = arrow.makeVector(arrow.makeData({ type: new arrow.Int64(), length: 2, nullCount: 1, nullBitmap: Uint8Array.from([0b01]), data: BigInt64Array.from([5n, 2n ** 62n]) }));
    assert.deepEqual(rows(arrowTableToBatch(new arrow.Table({ m: masked }))), [{ m: 5 }, { m: null }]);
  });

  test("types with no Larder value type are TYPE_MISMATCH naming the column", () => {
    const t = new arrow.Table({ l: arrow.vectorFromArray([[1], [2]], new arrow.List(new arrow.Field("item", new arrow.Int32()))) });
    assert.throws(() => arrowTableToBatch(t), larderError("TYPE_MISMATCH", /"l"/));
  });
});

describe("Parquet file errors", () => {
  test("a failed write leaves nothing under the final name (and an existing file intact)", async () => {
    const sub = await mkdtemp(join(dir, "atomic-"));
    const path = join(sub, "out.parquet");
    // Arrow unions cannot be written to Parquet: the writer fails after the temporary file exists.
    const union = arrow.makeVector(
      arrow.makeData({
        type: new arrow.DenseUnion([0], [new arrow.Field("a", new arrow.Int32())]),
        length: 1,
        typeIds: Int8Array.from([0]),
        valueOffsets: Int32Array.from([0]),
        children: [arrow.makeData({ type: new arrow.Int32(), length: 1, data: Int32Array.from([1]) })],
      }),
    );
    const bad = new arrow.Table({ u: union });
    await assert.rejects(writeArrowTableToParquet(path, bad), larderError("OFFLINE_STORE_ERROR", /out\.parquet/));
    assert.deepEqual(await readdir(sub), [], "no final file and no temporary left behind");

    await writeParquetFile(path, everyType());
    const before = await readFile(path);
    await assert.rejects(writeArrowTableToParquet(path, bad), larderError("OFFLINE_STORE_ERROR"));
    assert.deepEqual(await readdir(sub), ["out.parquet"]);
    assert.ok(before.equals(await readFile(path)), "the existing file is untouched");
    // the engine still works after the failure
    assert.equal((await readParquetBatch(path)).numRows, 4);
  });

  test("not Parquet, truncated, corrupted footer → CORRUPT_PARQUET naming the file; missing → notFound", async () => {
    const good = await readFile(join(dir, "every.parquet"));
    const cases: Record<string, Buffer> = {
      "text.parquet": Buffer.from("id,name\n1,a\n"),
      "truncated.parquet": good.subarray(0, good.length - 20),
      "footer.parquet": (() => {
        const b = Buffer.from(good);
        for (let i = b.length - 120; i < b.length - 8; i++) b[i] = b[i]! ^ 0x5a;
        return b;
      })(),
      "tiny.parquet": Buffer.from("PAR1"),
    };
    for (const [name, bytes] of Object.entries(cases)) {
      const p = join(dir, name);
      await writeFile(p, bytes);
      await assert.rejects(readParquetBatch(p), larderError("CORRUPT_PARQUET", new RegExp(name.replace(".", "\\."))), name);
      await assert.rejects(readParquetFile(p), larderError("CORRUPT_PARQUET"), name);
    }
    await assert.rejects(parquetFileInfo(join(dir, "text.parquet")), larderError("CORRUPT_PARQUET"));
    const missing = join(dir, "missing.parquet");
    await assert.rejects(readParquetBatch(missing), (err: unknown) => {
      assert.ok(err instanceof LarderError);
      assert.equal(err.code, "OFFLINE_STORE_ERROR");
      assert.ok(isFileNotFound(err));
      assert.match(err.message, /missing\.parquet/);
      return true;
    });
  });

  test("corrupted data pages never crash the process: an error or (undetectable) altered values", async () => {
    const path = join(dir, "pages.parquet");
    const n = 20_000;
    await writeParquetFile(
      path,
      makeBatch({
        k: columnFromValues(
          "int64",
          Array.from({ length: n }, (_, i) => i),
          "k",
        ),
        s: columnFromValues(
          "string",
          Array.from({ length: n }, (_, i) => `v${i % 100}`),
          "s",
        ),
      }),
    );
    const good = await readFile(path);
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    let errors = 0;
    for (let k = 0; k < 30; k++) {
      const b = Buffer.from(good);
      const pos = 4 + Math.floor(rnd() * (b.length - 600));
      for (let i = 0; i < 16; i++) b[pos + i] = Math.floor(rnd() * 256);
      const p = join(dir, "pages-bad.parquet");
      await writeFile(p, b);
      try {
        await readParquetBatch(p);
      } catch (err) {
        // DuckDB writes no page checksums: altered int64 values may be caught by the range check
        assert.ok(err instanceof LarderError && (err.code === "CORRUPT_PARQUET" || err.code === "VALUE_OUT_OF_RANGE"), String(err));
        errors++;
      }
    }
    assert.ok(errors > 0);
    assert.equal((await readParquetBatch(path)).numRows, n, "the good file still reads");
  });
});

describe("DuckDB reads Larder's files", () => {
  test("types, nulls and UTC timestamps", async () => {
    const path = join(dir, "every.parquet");
    const instance = await DuckDBInstance.create(":memory:");
    const conn = await instance.connect();
    try {
      await conn.run("SET TimeZone = 'America/Los_Angeles'"); // must not shift instants
      const describe = await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${path}')`);
      const types = Object.fromEntries(describe.getRowObjects().map((r) => [String(r["column_name"]), String(r["column_type"])]));
      assert.deepEqual(types, {
        i32: "INTEGER",
        i64: "BIGINT",
        f32: "FLOAT",
        f64: "DOUBLE",
        ts: "TIMESTAMP WITH TIME ZONE",
        s: "VARCHAR",
        b: "BOOLEAN",
      });
      const reader = await conn.runAndReadAll(`SELECT i32, i64, f64, epoch_ms(ts) AS ts_ms, strftime(ts AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%g') AS ts_utc, s, b FROM read_parquet('${path}')`);
      const got = reader.getRowObjects().map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === "bigint" ? Number(v) : v])));
      assert.deepEqual(got[0], { i32: 1, i64: Number.MAX_SAFE_INTEGER, f64: Math.PI, ts_ms: T0, ts_utc: "2024-01-31T12:00:00.123", s: "a", b: true });
      assert.deepEqual(got[1], { i32: null, i64: null, f64: null, ts_ms: null, ts_utc: null, s: null, b: null });
      assert.equal(got[2]!["ts_ms"], -1);
      assert.equal(got[3]!["s"], "héllo ✓ 日本");
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
  });
});
