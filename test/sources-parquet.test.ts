import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  Bool,
  type DataType,
  DateDay,
  DateMillisecond,
  Decimal,
  Dictionary,
  Float32,
  Float64,
  Int32,
  Int64,
  LargeUtf8,
  makeData,
  makeVector,
  Table,
  TimestampMicrosecond,
  TimestampMillisecond,
  TimestampNanosecond,
  TimestampSecond,
  tableToIPC,
  Uint64,
  Utf8,
  type Vector,
  vectorFromArray,
} from "apache-arrow";
import { DuckDBInstance } from "@duckdb/node-api";
import fc from "fast-check";
import { Compression, Table as WasmTable, WriterPropertiesBuilder, writeParquet } from "parquet-wasm";
import { type ParquetSourceOptions, parquetSource } from "../src/definitions/sources.js";
import { LarderError } from "../src/errors.js";
import { type Row, readSource, type SourceReadOptions, sourceColumns } from "../src/sources/read-source.js";

// ---- fixtures ----------------------------------------------------------------------------------

const T0 = Date.UTC(2024, 0, 1); // 2024-01-01T00:00:00Z
const HOUR = 3_600_000;

/** A vector from a typed array, with the listed rows null; `stride` values per row (decimals: 4). */
function vec(type: DataType, data: ArrayLike<number> | ArrayLike<bigint>, nulls: number[] = [], stride = 1): Vector {
  const length = data.length / stride;
  let nullBitmap: Uint8Array | undefined;
  if (nulls.length > 0) {
    nullBitmap = new Uint8Array(Math.ceil(length / 8)).fill(0xff);
    for (const i of nulls) nullBitmap[i >> 3] = (nullBitmap[i >> 3] as number) & ~(1 << (i & 7));
  }
  return makeVector(makeData({ type, length, data, nullBitmap, nullCount: nulls.length } as never));
}

const i64 = (values: (number | bigint)[], nulls: number[] = []) => vec(new Int64(), BigInt64Array.from(values.map((v) => BigInt(v))), nulls);
const tsVec = (type: DataType, unitsPerMs: bigint, ms: number[], nulls: number[] = []) => vec(type, BigInt64Array.from(ms.map((m) => BigInt(m) * unitsPerMs)), nulls);
const strVec = (values: (string | null)[]) => vectorFromArray(values, new Utf8());

function parquetBytes(columns: Record<string, Vector>, rowGroupSize = 1024 * 1024): Uint8Array {
  const table = new Table(columns);
  const props = new WriterPropertiesBuilder().setMaxRowGroupSize(rowGroupSize).setCompression(Compression.SNAPPY).build();
  return writeParquet(WasmTable.fromIPCStream(tableToIPC(table, "stream")), props);
}

async function writeParquetFile(path: string, columns: Record<string, Vector>, rowGroupSize?: number): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, parquetBytes(columns, rowGroupSize));
  return path;
}

let dir = "";
const opts = (extra: Partial<SourceReadOptions> = {}): SourceReadOptions => ({ repoDir: dir, ...extra });

function source(options: Partial<ParquetSourceOptions> & { path: string }) {
  return parquetSource({ name: "events", timestampField: "ts", ...options });
}

async function readAll(src: ReturnType<typeof parquetSource>, o: SourceReadOptions = opts()): Promise<{ rows: Row[]; batches: number[] }> {
  const rows: Row[] = [];
  const batches: number[] = [];
  for await (const batch of readSource(src, o)) {
    batches.push(batch.length);
    rows.push(...batch);
  }
  return { rows, batches };
}

async function rejects(promise: Promise<unknown>, code: string, ...patterns: RegExp[]): Promise<LarderError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof LarderError, `expected a LarderError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const p of patterns) assert.match(err.message, p);
    return err;
  }
  assert.fail(`expected ${code}`);
}

const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : d);

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "larder-sources-parquet-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

// ---- tests -------------------------------------------------------------------------------------

describe("parquet source: values", () => {
  test("converts every column type to plain JS values; nulls are null", async () => {
    const ms = [T0, T0 + HOUR, T0 + 2 * HOUR];
    await writeParquetFile(join(dir, "types.parquet"), {
      ts: tsVec(new TimestampMillisecond(), 1n, ms),
      id: i64([1, -2, 9007199254740991], [1]),
      u: vec(new Uint64(), BigUint64Array.from([0n, 7n, 9007199254740991n])),
      small: vec(new Int32(), Int32Array.from([1, -2, 3]), [2]),
      f32: vec(new Float32(), Float32Array.from([0.5, 1.5, -2])),
      f64: vec(new Float64(), Float64Array.from([0.1, Number.NaN, 1e300])),
      dec: vec(new Decimal(2, 12, 128), Uint32Array.from([12345, 0, 0, 0, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0, 0, 0, 0]), [2], 4),
      s: strVec(["a", null, "ünïcødé"]),
      ls: vectorFromArray(["x", "yy", null], new LargeUtf8()),
      cat: vectorFromArray(["gold", "silver", "gold"], new Dictionary(new Utf8(), new Int32())),
      flag: vectorFromArray([true, false, null], new Bool()),
      other_ts: tsVec(new TimestampMicrosecond("UTC"), 1000n, [T0 + 5, 0, 0], [2]),
      day: vec(new DateDay(), Int32Array.from([19723, 0, -1])),
    });
    const { rows } = await readAll(source({ path: "types.parquet" }));
    assert.equal(rows.length, 3);
    assert.deepEqual(
      rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, iso(v)]))),
      [
        {
          ts: "2024-01-01T00:00:00.000Z",
          id: 1,
          u: 0,
          small: 1,
          f32: 0.5,
          f64: 0.1,
          dec: 123.45,
          s: "a",
          ls: "x",
          cat: "gold",
          flag: true,
          other_ts: "2024-01-01T00:00:00.005Z",
          day: "2024-01-01T00:00:00.000Z",
        },
        {
          ts: "2024-01-01T01:00:00.000Z",
          id: null,
          u: 7,
          small: -2,
          f32: 1.5,
          f64: Number.NaN,
          dec: -0.01,
          s: null,
          ls: "yy",
          cat: "silver",
          flag: false,
          other_ts: "1970-01-01T00:00:00.000Z",
          day: "1970-01-01T00:00:00.000Z",
        },
        {
          ts: "2024-01-01T02:00:00.000Z",
          id: 9007199254740991,
          u: 9007199254740991,
          small: null,
          f32: -2,
          f64: 1e300,
          dec: null,
          s: "ünïcødé",
          ls: null,
          cat: "gold",
          flag: null,
          other_ts: null,
          day: "1969-12-31T00:00:00.000Z",
        },
      ],
    );
    assert.ok(rows[0]?.ts instanceof Date && rows[0]?.other_ts instanceof Date && rows[0]?.day instanceof Date);
  });

  test("strings read back exactly (repeated, unique, empty, unicode, null)", async () => {
    const value = fc.oneof(fc.constantFrom("a", "b", "ab", "ba", "", "é", "plan_1", "plan_10"), fc.string({ unit: "grapheme", maxLength: 60 }), fc.constant(null));
    await fc.assert(
      fc.asyncProperty(fc.array(value, { minLength: 1, maxLength: 10_000 }), async (values) => {
        const file = join(dir, "strings.parquet");
        await writeParquetFile(file, {
          ts: tsVec(
            new TimestampMillisecond(),
            1n,
            values.map(() => T0),
          ),
          s: strVec(values),
        });
        const { rows } = await readAll(source({ path: file }));
        assert.deepEqual(
          rows.map((r) => r.s),
          values,
        );
      }),
      { numRuns: 25 },
    );
  });

  test("an int64 beyond ±2^53 is VALUE_OUT_OF_RANGE naming the column", async () => {
    await writeParquetFile(join(dir, "big.parquet"), {
      ts: tsVec(new TimestampMillisecond(), 1n, [T0, T0]),
      amount_cents: i64([1, 9007199254740993n]),
    });
    await rejects(readAll(source({ path: "big.parquet" })), "VALUE_OUT_OF_RANGE", /"amount_cents"/, /9007199254740993/, /big\.parquet, row index 1/);
    await writeParquetFile(join(dir, "neg.parquet"), {
      ts: tsVec(new TimestampMillisecond(), 1n, [T0]),
      x: i64([-9007199254740992n]),
    });
    await rejects(readAll(source({ path: "neg.parquet" })), "VALUE_OUT_OF_RANGE", /"x"/);
    await writeParquetFile(join(dir, "ubig.parquet"), {
      ts: tsVec(new TimestampMillisecond(), 1n, [T0]),
      x: vec(new Uint64(), BigUint64Array.from([18446744073709551615n])),
    });
    await rejects(readAll(source({ path: "ubig.parquet" })), "VALUE_OUT_OF_RANGE", /"x"/, /18446744073709551615/);
  });

  test("fieldMapping renames columns, including the time columns, which are named before mapping", async () => {
    await writeParquetFile(join(dir, "mapped.parquet"), {
      cust: i64([7, 8]),
      updated: tsVec(new TimestampMillisecond(), 1n, [T0, T0 + 1]),
      ingested: strVec(["2024-01-02T00:00:00", null]),
      plan: strVec(["a", "b"]),
    });
    const src = source({
      path: "mapped.parquet",
      timestampField: "updated",
      createdTimestampField: "ingested",
      fieldMapping: { cust: "customer_id", updated: "event_timestamp", ingested: "created" },
    });
    const { rows } = await readAll(src);
    assert.deepEqual(Object.keys(rows[0] ?? {}), ["customer_id", "event_timestamp", "created", "plan"]);
    assert.equal(rows[0]?.customer_id, 7);
    assert.equal(iso(rows[0]?.event_timestamp), "2024-01-01T00:00:00.000Z");
    assert.equal(iso(rows[0]?.created), "2024-01-02T00:00:00.000Z", "a null created time is allowed");
    assert.equal(rows[1]?.created, null);
    assert.deepEqual(await sourceColumns(src, opts()), ["customer_id", "event_timestamp", "created", "plan"]);
  });

  test("a mapping onto a column the source already has is an error", async () => {
    await writeParquetFile(join(dir, "clash.parquet"), { ts: tsVec(new TimestampMillisecond(), 1n, [T0]), cust: i64([1]), customer_id: i64([2]) });
    await rejects(readAll(source({ path: "clash.parquet", fieldMapping: { cust: "customer_id" } })), "SOURCE_READ_ERROR", /"cust" and "customer_id"|"customer_id" and "cust"/);
  });
});

describe("parquet source: event times", () => {
  const instants = [T0 - 1, T0, T0 + 1_234, T0 + HOUR];
  const kinds: [string, () => Vector][] = [
    [
      "timestamp[s]",
      () =>
        tsVec(
          new TimestampSecond(),
          1n,
          [T0 - 1000, T0, T0 + 1000, T0 + HOUR].map((m) => m / 1000),
        ),
    ],
    ["timestamp[ms]", () => tsVec(new TimestampMillisecond(), 1n, instants)],
    ["timestamp[us, UTC]", () => tsVec(new TimestampMicrosecond("UTC"), 1000n, instants)],
    ["timestamp[ns, +05:30]", () => tsVec(new TimestampNanosecond("+05:30"), 1_000_000n, instants)],
    ["date32", () => vec(new DateDay(), Int32Array.from([-1, 0, 1, 19723]))],
    ["date64", () => vec(new DateMillisecond(), BigInt64Array.from(instants.map(BigInt)))],
    ["epoch-ms int64", () => i64(instants)],
    ["epoch-ms double", () => vec(new Float64(), Float64Array.from(instants))],
    ["ISO, zone-less (UTC)", () => strVec(instants.map((m) => new Date(m).toISOString().replace("Z", "")))],
    ["ISO with offsets", () => strVec(instants.map((m, i) => offsetIso(m, ["+05:30", "Z", "-08:00", "+0100"][i] as string)))],
    [
      "ISO dictionary",
      () =>
        vectorFromArray(
          instants.map((m) => new Date(m).toISOString()),
          new Dictionary(new Utf8(), new Int32()),
        ),
    ],
  ];
  const expected: Record<string, number[]> = {
    "timestamp[s]": [T0 - 1000, T0, T0 + 1000, T0 + HOUR],
    date32: [-86_400_000, 0, 86_400_000, T0],
  };

  for (const [kind, make] of kinds) {
    test(`reads ${kind} as Dates`, async () => {
      const file = join(dir, `ts-${kind.replace(/\W+/g, "_")}.parquet`);
      await writeParquetFile(file, { ts: make(), n: i64([0, 1, 2, 3]) });
      const { rows } = await readAll(source({ path: file }));
      const want = expected[kind] ?? instants;
      assert.deepEqual(
        rows.map((r) => (r.ts as Date).getTime()),
        want,
      );
      assert.ok(rows.every((r) => r.ts instanceof Date));
      // The range applies to the converted instants (the second value is the start, inclusive).
      const ranged = await readAll(source({ path: file }), opts({ range: { start: want[1] as number, end: want[3] as number } }));
      assert.deepEqual(
        ranged.rows.map((r) => r.n),
        [1, 2],
      );
    });
  }

  test("sub-millisecond timestamps are floored to the millisecond, also before 1970", async () => {
    await writeParquetFile(join(dir, "ns.parquet"), {
      ts: vec(new TimestampNanosecond(), BigInt64Array.from([1_700_000_000_000_999_999n, -1n, -1_000_001n])),
    });
    const { rows } = await readAll(source({ path: "ns.parquet" }));
    assert.deepEqual(
      rows.map((r) => (r.ts as Date).getTime()),
      [1_700_000_000_000, -1, -2],
    );
  });

  test("a null or unparseable event time is INVALID_TIMESTAMP naming source, column, value and row", async () => {
    await writeParquetFile(join(dir, "bad-ts.parquet"), { ts: strVec(["2024-01-01", "2024-13-45T00:00:00", "2024-01-02"]), v: i64([1, 2, 3]) });
    await rejects(readAll(source({ name: "clicks", path: "bad-ts.parquet" })), "INVALID_TIMESTAMP", /source "clicks"/, /column "ts"/, /"2024-13-45T00:00:00"/, /bad-ts\.parquet, row index 1/);
    await writeParquetFile(join(dir, "null-ts.parquet"), { ts: tsVec(new TimestampMillisecond(), 1n, [T0, T0, T0], [2]) });
    await rejects(readAll(source({ path: "null-ts.parquet" })), "INVALID_TIMESTAMP", /null/, /null-ts\.parquet, row index 2/);
    // Also when the range would exclude the row: errors do not depend on the range.
    await rejects(readAll(source({ path: "null-ts.parquet" }), opts({ range: { start: T0 + 1 } })), "INVALID_TIMESTAMP");
  });

  test("a bad created time is an error, a null one is not", async () => {
    await writeParquetFile(join(dir, "bad-created.parquet"), { ts: tsVec(new TimestampMillisecond(), 1n, [T0, T0]), created: strVec([null, "yesterday"]) });
    await rejects(readAll(source({ path: "bad-created.parquet", createdTimestampField: "created" })), "INVALID_TIMESTAMP", /column "created"/, /"yesterday"/);
  });

  test("a missing timestamp column is SOURCE_READ_ERROR listing the columns", async () => {
    await writeParquetFile(join(dir, "no-ts.parquet"), { a: i64([1]), b: i64([1]), c: i64([1]) });
    const err = await rejects(readAll(source({ name: "x", path: "no-ts.parquet" })), "SOURCE_READ_ERROR");
    assert.equal(err.message, 'source "x": no column "ts" (has: a, b, c)');
    await rejects(sourceColumns(source({ name: "x", path: "no-ts.parquet" }), opts()), "SOURCE_READ_ERROR", /no column "ts"/);
    await writeParquetFile(join(dir, "has-ts.parquet"), { ts: tsVec(new TimestampMillisecond(), 1n, [T0]) });
    await rejects(readAll(source({ path: "has-ts.parquet", createdTimestampField: "created" })), "SOURCE_READ_ERROR", /no column "created" \(has: ts\)/);
  });
});

function offsetIso(ms: number, zone: string): string {
  if (zone === "Z") return new Date(ms).toISOString();
  const sign = zone[0] === "-" ? -1 : 1;
  const digits = zone.slice(1).replace(":", "");
  const offset = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  return new Date(ms + offset).toISOString().replace("Z", zone);
}

describe("parquet source: ranges, row groups and batches", () => {
  const N = 100;
  // Event times: row i at T0 + i hours, in row groups of 10 rows.
  let file = "";
  before(async () => {
    file = await writeParquetFile(
      join(dir, "hours.parquet"),
      {
        id: i64(Array.from({ length: N }, (_, i) => i)),
        ts: tsVec(
          new TimestampMicrosecond("UTC"),
          1000n,
          Array.from({ length: N }, (_, i) => T0 + i * HOUR),
        ),
      },
      10,
    );
  });

  test("start is inclusive, end exclusive; open sides are unbounded", async () => {
    const ids = async (range: SourceReadOptions["range"]) => (await readAll(source({ path: file }), opts({ range }))).rows.map((r) => r.id);
    assert.deepEqual(await ids({ start: T0 + 5 * HOUR, end: T0 + 8 * HOUR }), [5, 6, 7]);
    assert.deepEqual(await ids({ start: T0 + 5 * HOUR + 1, end: T0 + 8 * HOUR + 1 }), [6, 7, 8]);
    assert.deepEqual(await ids({ start: T0 + 97 * HOUR }), [97, 98, 99]);
    assert.deepEqual(await ids({ end: T0 + 2 * HOUR }), [0, 1]);
    assert.deepEqual(await ids({ start: T0 + 5 * HOUR, end: T0 + 5 * HOUR }), []);
    assert.equal((await ids(undefined)).length, N);
  });

  test("matches a plain filter for any range and batch size, with batches never above batchSize", async () => {
    const instant = fc.integer({ min: -2, max: N + 2 }).map((h) => T0 + h * HOUR + (h % 3) - 1);
    await fc.assert(
      fc.asyncProperty(fc.option(instant, { nil: undefined }), fc.option(instant, { nil: undefined }), fc.integer({ min: 1, max: 40 }), async (start, end, batchSize) => {
        const range: { start?: number; end?: number } = {};
        if (start !== undefined) range.start = start;
        if (end !== undefined) range.end = end;
        const { rows, batches } = await readAll(source({ path: file }), opts({ range, batchSize }));
        const want = Array.from({ length: N }, (_, i) => i).filter((i) => T0 + i * HOUR >= (start ?? -Infinity) && T0 + i * HOUR < (end ?? Infinity));
        assert.deepEqual(
          rows.map((r) => r.id),
          want,
        );
        assert.ok(batches.every((b) => b > 0 && b <= batchSize));
        // Batches are full except the last.
        assert.ok(batches.slice(0, -1).every((b) => b === batchSize));
      }),
      { numRuns: 60 },
    );
  });

  test("row groups whose statistics lie outside the range are not read", async () => {
    // Break the pages of the last row group: reading it fails, so a range that excludes it proves
    // it was skipped by its statistics.
    const bytes = new Uint8Array(await readFile(file));
    const db = await DuckDBInstance.create(":memory:");
    const con = await db.connect();
    let pages: number[];
    try {
      const groups = await con.runAndReadAll(`SELECT count(DISTINCT row_group_id) FROM parquet_metadata('${file}')`);
      assert.equal(Number(groups.getRows()[0]?.[0]), 10);
      const last = await con.runAndReadAll(`SELECT data_page_offset FROM parquet_metadata('${file}') WHERE row_group_id = 9`);
      pages = last.getRows().map((r) => Number(r[0]));
    } finally {
      con.closeSync();
      db.closeSync();
    }
    for (const offset of pages) bytes.fill(0xff, offset, offset + 12);
    const broken = join(dir, "broken-last-group.parquet");
    await writeFile(broken, bytes);
    await rejects(readAll(source({ path: broken })), "CORRUPT_PARQUET", /broken-last-group\.parquet/);
    const { rows } = await readAll(source({ path: broken }), opts({ range: { start: T0 + 15 * HOUR, end: T0 + 90 * HOUR } }));
    assert.deepEqual(
      rows.map((r) => r.id),
      Array.from({ length: 75 }, (_, i) => i + 15),
    );
  });

  test("yields nothing when the range excludes every row", async () => {
    const { batches } = await readAll(source({ path: file }), opts({ range: { start: T0 + 1000 * HOUR } }));
    assert.deepEqual(batches, []);
  });

  test("the consumer can stop early", async () => {
    let seen = 0;
    for await (const batch of readSource(source({ path: file }), opts({ batchSize: 5 }))) {
      seen += batch.length;
      if (seen >= 10) break;
    }
    assert.equal(seen, 10);
  });

  test("rejects a bad batchSize", async () => {
    await rejects(readAll(source({ path: file }), opts({ batchSize: 0 })), "INVALID_ARGUMENT", /batchSize/);
  });
});

describe("parquet source: files, directories and globs", () => {
  const part = (sub: string, first: number) =>
    writeParquetFile(join(dir, "lake", sub), {
      id: i64([first, first + 1]),
      ts: tsVec(new TimestampMillisecond(), 1n, [T0 + first, T0 + first + 1]),
    });
  before(async () => {
    await part("part-1.parquet", 10);
    await part("part-0.parquet", 0);
    await part("day=02/part-0.parquet", 30);
    await part("day=01/part-0.parquet", 20);
    await mkdir(join(dir, "lake", "_meta"), { recursive: true });
    await writeFile(join(dir, "lake", "_SUCCESS"), "");
    await writeFile(join(dir, "lake", "_meta", "x.parquet"), "not parquet");
    await writeFile(join(dir, "lake", ".part-0.parquet.crc"), "crc");
    await writeFile(join(dir, "lake", "notes.txt"), "hello");
  });
  const ids = async (path: string) => (await readAll(source({ path }))).rows.map((r) => r.id);

  test("a directory reads every .parquet inside, recursively, sorted by path", async () => {
    assert.deepEqual(await ids("lake"), [20, 21, 30, 31, 0, 1, 10, 11]);
  });

  test("globs: * within a segment, ** across segments", async () => {
    assert.deepEqual(await ids("lake/part-*.parquet"), [0, 1, 10, 11]);
    // "**/" also matches no directory at all.
    assert.deepEqual(await ids("lake/**/part-*.parquet"), [20, 21, 30, 31, 0, 1, 10, 11]);
    assert.deepEqual(await ids("lake/day=0{1,2}/part-?.parquet"), [20, 21, 30, 31]);
    assert.deepEqual(await ids(join(dir, "lake/day=*/*.parquet")), [20, 21, 30, 31]);
  });

  test("no match or a missing file is SOURCE_NOT_FOUND naming the source and resolved path", async () => {
    await rejects(readAll(source({ name: "lost", path: "lake/nothing-*.parquet" })), "SOURCE_NOT_FOUND", /source "lost"/, new RegExp(`${escape(join(dir, "lake"))}/nothing-\\*\\.parquet`));
    await rejects(readAll(source({ name: "lost", path: "missing.parquet" })), "SOURCE_NOT_FOUND", new RegExp(escape(join(dir, "missing.parquet"))));
    await rejects(sourceColumns(source({ name: "lost", path: "nowhere/**/*.parquet" }), opts()), "SOURCE_NOT_FOUND");
    await mkdir(join(dir, "empty-dir"), { recursive: true });
    await rejects(readAll(source({ path: "empty-dir" })), "SOURCE_NOT_FOUND", /empty-dir/);
  });

  test("sourceColumns reads the schema only", async () => {
    assert.deepEqual(await sourceColumns(source({ path: "lake", fieldMapping: { id: "customer_id" } }), opts()), ["customer_id", "ts"]);
  });
});

describe("parquet source: corrupt files", () => {
  test("a file that is not Parquet is CORRUPT_PARQUET naming the file", async () => {
    await writeFile(join(dir, "text.parquet"), "id,ts\n1,2024-01-01\n");
    await rejects(readAll(source({ path: "text.parquet" })), "CORRUPT_PARQUET", /text\.parquet/);
    await writeFile(join(dir, "tiny.parquet"), "PAR1");
    await rejects(readAll(source({ path: "tiny.parquet" })), "CORRUPT_PARQUET", /tiny\.parquet/);
    await rejects(sourceColumns(source({ path: "text.parquet" }), opts()), "CORRUPT_PARQUET");
  });

  test("a truncated file is CORRUPT_PARQUET", async () => {
    const bytes = parquetBytes({ ts: tsVec(new TimestampMillisecond(), 1n, [T0, T0 + 1]), s: strVec(["a", "b"]) });
    await writeFile(join(dir, "truncated.parquet"), bytes.subarray(0, Math.floor(bytes.length / 2)));
    await rejects(readAll(source({ path: "truncated.parquet" })), "CORRUPT_PARQUET", /truncated\.parquet/);
    // Intact magic numbers around a mangled footer.
    const mangled = new Uint8Array(bytes);
    const footerLength = new DataView(mangled.buffer, mangled.length - 8, 4).getUint32(0, true);
    mangled.fill(0xee, mangled.length - 8 - footerLength, mangled.length - 8);
    await writeFile(join(dir, "mangled.parquet"), mangled);
    await rejects(readAll(source({ path: "mangled.parquet" })), "CORRUPT_PARQUET", /mangled\.parquet/);
  });
});

describe("parquet source: files written by DuckDB", () => {
  test("reads DuckDB's Parquet (nested types too) and agrees with DuckDB on a range", async () => {
    const file = join(dir, "duck.parquet");
    const db = await DuckDBInstance.create(":memory:");
    const con = await db.connect();
    try {
      await con.run(`COPY (
        SELECT i AS id, TIMESTAMP '2024-01-01' + i * INTERVAL 1 MINUTE AS ts, DATE '2024-01-01' + (i // 1000)::INT AS d,
               'name_' || (i % 7) AS s, (i::DECIMAL(18, 3)) / 8 AS dec, CASE WHEN i % 5 = 0 THEN NULL ELSE i * 1.5 END AS f,
               [i, i + 1] AS pair, {'a': i, 'b': 'x'} AS st
        FROM range(10000) t(i)) TO '${file}' (FORMAT PARQUET, ROW_GROUP_SIZE 2048)`);
      const start = Date.UTC(2024, 0, 3, 1, 30);
      const end = Date.UTC(2024, 0, 5, 7);
      const reader = await con.runAndReadAll(`SELECT id FROM read_parquet('${file}') WHERE ts >= TIMESTAMP '${new Date(start).toISOString().slice(0, 19)}' AND ts < TIMESTAMP '${new Date(end).toISOString().slice(0, 19)}' ORDER BY id`);
      const want = reader.getRowObjects().map((r) => Number(r.id));
      const { rows } = await readAll(source({ path: file }), opts({ range: { start, end } }));
      assert.ok(want.length > 2048, "the range spans several row groups");
      assert.deepEqual(
        rows.map((r) => r.id),
        want,
      );
      const first = rows[0] as Row;
      const id = first.id as number;
      assert.deepEqual(first, {
        id,
        ts: new Date(Date.UTC(2024, 0, 1) + id * 60_000),
        d: new Date(Date.UTC(2024, 0, 1) + Math.floor(id / 1000) * 86_400_000),
        s: `name_${id % 7}`,
        dec: id / 8,
        f: id % 5 === 0 ? null : id * 1.5,
        pair: [id, id + 1],
        st: { a: id, b: "x" },
      });
    } finally {
      con.closeSync();
      db.closeSync();
    }
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
