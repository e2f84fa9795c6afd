/**
 * The point-in-time join and windowed aggregation contract (DESIGN.md, "Point-in-time join" and
 * "Windowed aggregations"), one test per case, against hand-computed expectations.
 *
 * One feature repository is built, applied and backfilled once for the whole file; each test
 * builds its own entity rows and asks for a training set.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Table } from "apache-arrow";
import { arrowTable, col, columnValues, createFeatureRepo, expectLarderError, tableRows, type FeatureRepo } from "./helpers/feature-repo.js";

// ───────────────────────────── fixtures ─────────────────────────────

/** 2024-01-10 at hh:mm:ss.mmm UTC, in epoch ms. */
function at(hh: number, mm = 0, ss = 0, ms = 0): number {
  return Date.UTC(2024, 0, 10, hh, mm, ss, ms);
}
const MS = 1;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const FEATURES = `
import { entity, parquetSource, csvSource, featureView, onDemandFeatureView, requestSource, featureService, agg, types as t } from "larder";

export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });

const basicSrc = parquetSource({ name: "basic_src", path: "data/basic.parquet", timestampField: "ts", createdTimestampField: "created" });
// Two views over one source: without a TTL (unbounded) and with one.
export const basic = featureView({ name: "basic", entities: [customer], source: basicSrc, schema: { x: t.float64, label: t.string } });
export const basicTtl = featureView({ name: "basic_ttl", entities: [customer], source: basicSrc, ttl: "1h", schema: { x: t.float64 } });

const mappedSrc = parquetSource({
  name: "mapped_src", path: "data/mapped.parquet", timestampField: "event_time",
  fieldMapping: { cust: "customer_id", amount_raw: "amount" },
});
export const mapped = featureView({ name: "mapped", entities: [customer], source: mappedSrc, schema: { amount: t.float64 } });

const eventsSrc = parquetSource({ name: "events_src", path: "data/events.parquet", timestampField: "ts", createdTimestampField: "created" });
export const win = featureView({
  name: "win", entities: [customer], source: eventsSrc,
  aggregations: {
    s_1h: agg.sum("x", "1h"),
    c_1h: agg.count("1h"),
    a_1h: agg.avg("x", "1h"),
    mn_1h: agg.min("x", "1h"),
    mx_1h: agg.max("x", "1h"),
    l_1h: agg.last("x", "1h"),
    l_all: agg.last("x"),
    c_1d: agg.count("1d"),
  },
});

// Composite join keys (int64 and string).
export const pair = entity({ name: "pair", joinKeys: ["a", "b"], valueType: [t.int64, t.string] });
const pairsSrc = parquetSource({ name: "pairs_src", path: "data/pairs.parquet", timestampField: "ts" });
export const pairs = featureView({ name: "pairs", entities: [pair], source: pairsSrc, schema: { v: t.float64 } });

// Source times as ISO strings: in a Parquet string column, and in CSV.
const strSrc = parquetSource({ name: "str_src", path: "data/str.parquet", timestampField: "ts", createdTimestampField: "created" });
export const strts = featureView({ name: "strts", entities: [customer], source: strSrc, schema: { y: t.float64 } });
const csvSrc = csvSource({ name: "csv_src", path: "data/c.csv", timestampField: "ts", createdTimestampField: "created" });
export const csvv = featureView({ name: "csvv", entities: [customer], source: csvSrc, schema: { z: t.float64 } });

const cart = requestSource({ name: "cart", schema: { cart_value: t.float64 } });
export const ratios = onDemandFeatureView({
  name: "ratios", sources: [win, cart], schema: { cart_vs_avg: t.float64, cart_plus_count: t.float64 },
  transform: (f) => ({ cart_vs_avg: f.a_1h == null ? null : f.cart_value / f.a_1h, cart_plus_count: f.cart_value + f.c_1h }),
});

export const svc = featureService({ name: "svc", features: [basic.select(["x"]), win.select(["c_1h", "s_1h"]), ratios] });
`;

type BasicRow = [customer: number, ts: number, created: number | null, x: number | null, label: string | null];
// Deliberately not sorted by entity or time: the core must order rows itself.
const BASIC: BasicRow[] = [
  [3, at(11), at(11), 32, "c"],
  [2, at(10), at(10, 5), 21, "b1"],
  [6, at(11), at(11), null, null],
  [1, at(10), at(10), 1, "one"],
  [2, at(10), at(10, 10), 22, "b2"], // greatest created among customer 2's equal event times
  [5, at(12), at(12), 53, "e3"],
  [4, at(10), at(10), 4, "four"],
  [3, at(10), at(12), 31, "c-late-created"],
  [2, at(10), at(10, 1), 23, "b3"],
  [5, at(8), at(8), 51, "e1"],
  [6, at(10), at(10), 6, "six"],
  [5, at(10), at(10), 52, "e2"],
];

type EventRow = [customer: number, ts: number, created: number, x: number | null];
const EVENTS: EventRow[] = [
  [8, at(11, 15), at(11, 15), -3],
  [7, at(10), at(10), 5],
  [8, at(10, 30), at(10, 31), 2], // same event time as the next row, created later: `last` picks it
  [8, at(10, 30), at(10, 30), 4],
  [8, at(10), at(10), 1],
  [8, at(11), at(11), null],
];

let repo: FeatureRepo;
let savedTz: string | undefined;

before(async () => {
  // A local zone far from UTC for the whole file, so that reading a zone-less time as local shows.
  savedTz = process.env.TZ;
  process.env.TZ = "Asia/Kolkata";
  repo = await createFeatureRepo({
    features: FEATURES,
    files: {
      "data/basic.parquet": arrowTable({
        customer_id: col.int64(BASIC.map((r) => r[0])),
        ts: col.timestamp(BASIC.map((r) => r[1])),
        created: col.timestamp(BASIC.map((r) => r[2])),
        x: col.float64(BASIC.map((r) => r[3])),
        label: col.string(BASIC.map((r) => r[4])),
      }),
      "data/mapped.parquet": arrowTable({
        cust: col.int64([1, 1, 3]),
        event_time: col.timestamp([at(11), at(9), at(9)]),
        amount_raw: col.float64([110, 100, 300]),
        other: col.string(["o1", "o2", "o3"]),
      }),
      "data/events.parquet": arrowTable({
        customer_id: col.int64(EVENTS.map((r) => r[0])),
        ts: col.timestamp(EVENTS.map((r) => r[1])),
        created: col.timestamp(EVENTS.map((r) => r[2])),
        x: col.float64(EVENTS.map((r) => r[3])),
      }),
      "data/pairs.parquet": arrowTable({
        a: col.int64([1, 1, 2, 1]),
        b: col.string(["x", "y", "x", "x"]),
        ts: col.timestamp([at(10), at(10), at(10), at(11)]),
        v: col.float64([10, 20, 30, 11]),
      }),
      "data/str.parquet": arrowTable({
        customer_id: col.int64([1, 1, 1, 1]),
        ts: col.string(["2024-01-10T10:00:00", "2024-01-10T13:00:00+02:00", "2024-01-10T11:00:00Z", "2024-01-10T12:00:00.000Z"]),
        created: col.string(["2024-01-10T10:00:00", "2024-01-10T11:00:00Z", "2024-01-10T12:30:00+01:00", "2024-01-10T12:00:00"]),
        y: col.float64([1, 2, 3, 4]),
      }),
      "data/c.csv": [
        "customer_id,ts,created,z",
        "1,2024-01-10T10:00:00,2024-01-10T10:00:00,1.5",
        "1,2024-01-10T11:00:00+01:00,2024-01-10T12:00:00Z,2.5", // = 10:00Z, created later: wins the tie
        "1,2024-01-10T12:00:00Z,2024-01-10T12:00:00Z,", // empty cell: null
        "",
      ].join("\n"),
    },
  });
  await repo.store.backfill({ start: "2024-01-01T00:00:00Z", end: "2024-02-01T00:00:00Z" });
});

after(async () => {
  await repo?.cleanup();
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

/** Entity rows: customer_id (int64) and event_timestamp (Timestamp(ms, UTC)). */
function entities(rows: [customer: number, t: number][]): Table {
  return arrowTable({ customer_id: col.int64(rows.map((r) => r[0])), event_timestamp: col.timestamp(rows.map((r) => r[1])) });
}

async function feature(rows: [number, number][], ref: string): Promise<unknown[]> {
  const out = await repo.store.getTrainingSet(entities(rows), { features: [ref] });
  return columnValues(out, ref.split(":")[1]!);
}

function assertClose(actual: unknown, expected: number | null, message?: string): void {
  if (expected === null || typeof actual !== "number") {
    assert.equal(actual, expected, message);
    return;
  }
  assert.ok(Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `${message ?? ""}: expected ${expected}, got ${actual}`);
}

const WIN_FEATURES = ["s_1h", "c_1h", "a_1h", "mn_1h", "mx_1h", "l_1h", "l_all", "c_1d"] as const;
type WinValues = Record<(typeof WIN_FEATURES)[number], number | null>;

async function winRows(rows: [number, number][]): Promise<Record<string, unknown>[]> {
  const out = await repo.store.getTrainingSet(entities(rows), { features: WIN_FEATURES.map((f) => `win:${f}`) });
  return tableRows(out);
}

function assertWin(actual: Record<string, unknown>, expected: WinValues, where: string): void {
  for (const f of WIN_FEATURES) {
    if (f === "a_1h") assertClose(actual[f], expected[f], `${where} ${f}`);
    else assert.equal(actual[f], expected[f], `${where} ${f}`);
  }
}

// ───────────────────────────── point-in-time join ─────────────────────────────

test("a row whose event timestamp equals the entity timestamp is used", async () => {
  assert.deepEqual(
    await feature(
      [
        [1, at(10)],
        [1, at(10) - MS],
        [1, at(10) + MS],
      ],
      "basic:x",
    ),
    [1, null, 1],
  );
});

test("among equal event timestamps the greatest created timestamp wins", async () => {
  // Customer 2 has three rows at 10:00 created 10:05 (21), 10:10 (22), 10:01 (23).
  assert.deepEqual(
    await feature(
      [
        [2, at(10)],
        [2, at(11)],
      ],
      "basic:x",
    ),
    [22, 22],
  );
  assert.deepEqual(await feature([[2, at(10)]], "basic:label"), ["b2"]);
});

test("a later event timestamp beats a later created timestamp", async () => {
  // Customer 3: event 10:00 created 12:00 (31); event 11:00 created 11:00 (32).
  assert.deepEqual(
    await feature(
      [
        [3, at(11)],
        [3, at(11) - MS],
        [3, at(12, 30)],
      ],
      "basic:x",
    ),
    [32, 31, 32],
  );
});

test("TTL boundary: a row exactly ttl old is used, 1 ms older is null", async () => {
  // basic_ttl has ttl 1h; customer 4's only row is at 10:00.
  assert.deepEqual(
    await feature(
      [
        [4, at(10)],
        [4, at(11)],
        [4, at(11) + MS],
        [4, at(10) - MS],
      ],
      "basic_ttl:x",
    ),
    [4, 4, null, null],
  );
  // The TTL applies to the latest row ≤ T only: customer 3's 11:00 row (32) expires at 12:00.
  assert.deepEqual(
    await feature(
      [
        [3, at(12)],
        [3, at(12) + MS],
      ],
      "basic_ttl:x",
    ),
    [32, null],
  );
});

test("without a TTL a row is used however old it is", async () => {
  assert.deepEqual(
    await feature(
      [
        [4, Date.UTC(2024, 0, 31, 23, 59, 59, 999)],
        [4, Date.UTC(2030, 5, 1)],
        [4, at(10) + 30 * DAY],
      ],
      "basic:x",
    ),
    [4, 4, 4],
  );
});

test("an entity never seen gets nulls, and for aggregated views count/sum 0 and avg/min/max/last null", async () => {
  assert.deepEqual(
    await feature(
      [
        [999, at(10)],
        [999, Date.UTC(2024, 0, 20)],
      ],
      "basic:x",
    ),
    [null, null],
  );
  assert.deepEqual(await feature([[999, at(10)]], "basic:label"), [null]);
  const rows = await winRows([
    [999, at(10)],
    [999, Date.UTC(2024, 0, 20)],
    [999, Date.UTC(2023, 11, 1)],
  ]);
  for (const [i, row] of rows.entries()) {
    assertWin(row, { s_1h: 0, c_1h: 0, a_1h: null, mn_1h: null, mx_1h: null, l_1h: null, l_all: null, c_1d: 0 }, `row ${i}`);
  }
});

test("duplicate entity rows are kept and output row i belongs to input row i (unsorted input)", async () => {
  const input: [number, number][] = [
    [3, at(11, 30)],
    [1, at(10)],
    [3, at(11, 30)],
    [2, at(10)],
    [1, at(9)],
    [3, at(10, 30)],
    [1, at(10)],
    [999, at(10)],
    [3, at(11, 30)],
  ];
  const out = await repo.store.getTrainingSet(entities(input), { features: ["basic:x", "basic:label"] });
  assert.equal(out.numRows, input.length);
  assert.deepEqual(
    columnValues(out, "customer_id"),
    input.map((r) => r[0]),
  );
  assert.deepEqual(
    columnValues(out, "event_timestamp"),
    input.map((r) => r[1]),
  );
  assert.deepEqual(columnValues(out, "x"), [32, 1, 32, 22, null, 31, 1, null, 32]);
  assert.deepEqual(columnValues(out, "label"), ["c", "one", "c", "b2", null, "c-late-created", "one", null, "c"]);
});

test("entity rows with a null join key are kept, with null features", async () => {
  const table = arrowTable({ customer_id: col.int64([1, null, 1]), event_timestamp: col.timestamp([at(10), at(10), at(10)]) });
  const out = await repo.store.getTrainingSet(table, { features: ["basic:x"] });
  assert.deepEqual(tableRows(out), [
    { customer_id: 1, event_timestamp: at(10), x: 1 },
    { customer_id: null, event_timestamp: at(10), x: null },
    { customer_id: 1, event_timestamp: at(10), x: 1 },
  ]);
});

test("no entity rows give an empty training set with the feature columns", async () => {
  const out = await repo.store.getTrainingSet(entities([]), { features: ["basic:x", "win:c_1h"] });
  assert.equal(out.numRows, 0);
  assert.deepEqual(
    out.schema.fields.map((f) => f.name),
    ["customer_id", "event_timestamp", "x", "c_1h"],
  );
});

test('join keys keep their value: string keys "4" join the int64 entity 4, and pass through as strings', async () => {
  const table = arrowTable({ customer_id: col.string(["4", "1", "999"]), event_timestamp: col.timestamp([at(10), at(10), at(10)]) });
  const out = await repo.store.getTrainingSet(table, { features: ["basic:x"] });
  assert.deepEqual(tableRows(out), [
    { customer_id: "4", event_timestamp: at(10), x: 4 },
    { customer_id: "1", event_timestamp: at(10), x: 1 },
    { customer_id: "999", event_timestamp: at(10), x: null },
  ]);
});

test("composite join keys: each (a, b) is its own entity", async () => {
  const table = arrowTable({
    b: col.string(["x", "y", "x", "y", "x"]),
    a: col.int64([1, 1, 2, 2, 1]),
    event_timestamp: col.timestamp([at(10), at(10), at(10), at(10), at(11)]),
  });
  const out = await repo.store.getTrainingSet(table, { features: ["pairs:v"] });
  assert.deepEqual(
    out.schema.fields.map((f) => f.name),
    ["b", "a", "event_timestamp", "v"],
  );
  assert.deepEqual(columnValues(out, "v"), [10, 20, 30, null, 11]);
});

test("source times as ISO strings (Parquet string column, CSV): zone-less is UTC, offsets honoured", async () => {
  // str.parquet, customer 1: 10:00Z (1); 11:00Z twice: created 11:00Z (2) and 11:30Z (3); 12:00Z (4).
  assert.deepEqual(
    await feature(
      [
        [1, at(10)],
        [1, at(11) - MS],
        [1, at(11)],
        [1, at(12) - MS],
        [1, at(12)],
        [1, at(9)],
      ],
      "strts:y",
    ),
    [1, 1, 3, 3, 4, null],
  );
  // c.csv, customer 1: 10:00Z twice: created 10:00Z (1.5) and 12:00Z (2.5); 12:00Z (empty → null).
  assert.deepEqual(
    await feature(
      [
        [1, at(10) - MS],
        [1, at(10)],
        [1, at(12) - MS],
        [1, at(12)],
      ],
      "csvv:z",
    ),
    [null, 2.5, 2.5, null],
  );
});

test("two views over one source are joined independently", async () => {
  const out = await repo.store.getTrainingSet(
    entities([
      [4, at(10, 30)],
      [4, at(12)],
      [3, at(10, 30)],
    ]),
    {
      features: ["basic:x", "basic_ttl:x", "basic:label"],
      fullFeatureNames: true,
    },
  );
  assert.deepEqual(
    out.schema.fields.map((f) => f.name),
    ["customer_id", "event_timestamp", "basic__x", "basic_ttl__x", "basic__label"],
  );
  assert.deepEqual(columnValues(out, "basic__x"), [4, 4, 31]);
  assert.deepEqual(columnValues(out, "basic_ttl__x"), [4, null, 31]);
  assert.deepEqual(columnValues(out, "basic__label"), ["four", "four", "c-late-created"]);
});

test("the same feature name from two views: DUPLICATE_FEATURE_NAME, or both with full feature names", async () => {
  const err = await expectLarderError(repo.store.getTrainingSet(entities([[4, at(10)]]), { features: ["basic:x", "basic_ttl:x"] }), "DUPLICATE_FEATURE_NAME");
  assert.match(err.message, /basic:x/);
  assert.match(err.message, /basic_ttl:x/);
  const out = await repo.store.getTrainingSet(entities([[4, at(10)]]), { features: ["basic:x", "basic_ttl:x"], fullFeatureNames: true });
  assert.deepEqual(
    out.schema.fields.map((f) => f.name),
    ["customer_id", "event_timestamp", "basic__x", "basic_ttl__x"],
  );
  assert.deepEqual(tableRows(out), [{ customer_id: 4, event_timestamp: at(10), basic__x: 4, basic_ttl__x: 4 }]);
});

test("field mapping renames source columns (join key and feature)", async () => {
  // mapped.parquet: cust → customer_id, amount_raw → amount; customer 1 at 09:00 (100) and 11:00 (110).
  const out = await repo.store.getTrainingSet(
    entities([
      [1, at(10)],
      [1, at(11)],
      [1, at(8)],
      [3, at(9)],
      [2, at(12)],
    ]),
    { features: ["mapped:amount"] },
  );
  assert.deepEqual(
    out.schema.fields.map((f) => f.name),
    ["customer_id", "event_timestamp", "amount"],
  );
  assert.deepEqual(columnValues(out, "amount"), [100, 110, null, 300, null]);
});

test("entity timestamps in a string column: zone-less is UTC, offsets are honoured", async () => {
  // Customer 5: rows at 08:00Z (51), 10:00Z (52), 12:00Z (53). The file runs in a non-UTC local
  // zone (see before), so reading a zone-less string as local time would show.
  {
    const stamps = [
      "2024-01-10T10:00:00", // UTC
      "2024-01-10T12:00:00+02:00", // = 10:00Z
      "2024-01-10T05:00:00-05:00", // = 10:00Z
      "2024-01-10T10:00:00Z",
      "2024-01-10T09:59:59.999Z",
      "2024-01-10T11:59:59.999", // UTC, just before 12:00Z
      "2024-01-10T13:00:00+01:00", // = 12:00Z
    ];
    const table = arrowTable({ customer_id: col.int64(stamps.map(() => 5)), event_timestamp: col.string(stamps) });
    const out = await repo.store.getTrainingSet(table, { features: ["basic:x"] });
    assert.deepEqual(columnValues(out, "x"), [52, 52, 52, 52, 51, 52, 53]);
    assert.deepEqual(columnValues(out, "event_timestamp"), stamps, "the timestamp column passes through as written");
  }
});

test("entity timestamps in a timestamp column, with a zone, without one, and with an offset zone", async () => {
  {
    for (const tz of ["UTC", null, "+02:00", "America/New_York"]) {
      const table = arrowTable({
        customer_id: col.int64([5, 5, 5]),
        event_timestamp: col.timestamp([at(10), at(10) - MS, at(12)], tz),
      });
      const out = await repo.store.getTrainingSet(table, { features: ["basic:x"] });
      assert.deepEqual(columnValues(out, "x"), [52, 51, 53], `timestamp zone ${String(tz)}`);
      assert.equal(String(out.schema.fields[1]!.type), String(table.schema.fields[1]!.type), "the timestamp column keeps its type");
    }
  }
});

test("a null feature value is a value: the latest row's null wins over an older non-null", async () => {
  // Customer 6: 10:00 (6, "six"), 11:00 (null, null).
  const out = await repo.store.getTrainingSet(
    entities([
      [6, at(10, 30)],
      [6, at(11)],
      [6, at(11, 30)],
      [6, Date.UTC(2024, 0, 20)],
    ]),
    {
      features: ["basic:x", "basic:label"],
    },
  );
  assert.deepEqual(columnValues(out, "x"), [6, null, null, null]);
  assert.deepEqual(columnValues(out, "label"), ["six", null, null, null]);
  // Also for `last`: customer 8's latest event at 11:00 has a null x.
  const rows = await winRows([
    [8, at(11)],
    [8, at(11, 10)],
  ]);
  assert.deepEqual(
    rows.map((r) => [r.l_1h, r.l_all]),
    [
      [null, null],
      [null, null],
    ],
  );
});

// ───────────────────────────── windowed aggregations ─────────────────────────────

test("windows at their exact edges: (T − w, T] for sum/count/avg/min/max/last", async () => {
  // Customer 7 has a single event at E = 10:00 with x = 5; windows of 1h (and count 1d).
  const E = at(10);
  const rows = await winRows([
    [7, E + HOUR], // event at T − w: excluded
    [7, E + HOUR - MS], // event at T − w + 1 ms: included
    [7, E], // event at T: included
    [7, E - MS], // event at T + 1 ms: excluded
    [7, E + DAY], // 1d window edge: excluded
    [7, E + DAY - MS], // 1d window: included
  ]);
  const inWindow = { s_1h: 5, c_1h: 1, a_1h: 5, mn_1h: 5, mx_1h: 5, l_1h: 5, l_all: 5, c_1d: 1 };
  const gone = { s_1h: 0, c_1h: 0, a_1h: null, mn_1h: null, mx_1h: null, l_1h: null };
  assertWin(rows[0]!, { ...gone, l_all: 5, c_1d: 1 }, "T = E + 1h");
  assertWin(rows[1]!, inWindow, "T = E + 1h − 1ms");
  assertWin(rows[2]!, inWindow, "T = E");
  assertWin(rows[3]!, { ...gone, l_all: null, c_1d: 0 }, "T = E − 1ms");
  assertWin(rows[4]!, { ...gone, l_all: 5, c_1d: 0 }, "T = E + 1d");
  assertWin(rows[5]!, { ...gone, l_all: 5, c_1d: 1 }, "T = E + 1d − 1ms");
});

test("windowed aggregations over several events, nulls and a tie", async () => {
  // Customer 8: 10:00 (1), 10:30 created 10:31 (2), 10:30 created 10:30 (4), 11:00 (null), 11:15 (−3).
  const rows = await winRows([
    [8, at(10, 45)],
    [8, at(11)],
    [8, at(11) + MS],
    [8, at(11, 15)],
    [8, at(11, 30)],
    [8, at(12)],
    [8, at(12, 15)],
    [8, at(10) + DAY],
  ]);
  assertWin(rows[0]!, { s_1h: 7, c_1h: 3, a_1h: 7 / 3, mn_1h: 1, mx_1h: 4, l_1h: 2, l_all: 2, c_1d: 3 }, "10:45");
  assertWin(rows[1]!, { s_1h: 6, c_1h: 3, a_1h: 3, mn_1h: 2, mx_1h: 4, l_1h: null, l_all: null, c_1d: 4 }, "11:00");
  assertWin(rows[2]!, { s_1h: 6, c_1h: 3, a_1h: 3, mn_1h: 2, mx_1h: 4, l_1h: null, l_all: null, c_1d: 4 }, "11:00:00.001");
  assertWin(rows[3]!, { s_1h: 3, c_1h: 4, a_1h: 1, mn_1h: -3, mx_1h: 4, l_1h: -3, l_all: -3, c_1d: 5 }, "11:15");
  assertWin(rows[4]!, { s_1h: -3, c_1h: 2, a_1h: -3, mn_1h: -3, mx_1h: -3, l_1h: -3, l_all: -3, c_1d: 5 }, "11:30");
  assertWin(rows[5]!, { s_1h: -3, c_1h: 1, a_1h: -3, mn_1h: -3, mx_1h: -3, l_1h: -3, l_all: -3, c_1d: 5 }, "12:00");
  assertWin(rows[6]!, { s_1h: 0, c_1h: 0, a_1h: null, mn_1h: null, mx_1h: null, l_1h: null, l_all: -3, c_1d: 5 }, "12:15");
  assertWin(rows[7]!, { s_1h: 0, c_1h: 0, a_1h: null, mn_1h: null, mx_1h: null, l_1h: null, l_all: -3, c_1d: 4 }, "next day 10:00");
});

// ───────────────────────────── entity columns, on-demand views, services ─────────────────────────────

test("extra entity columns pass through unchanged, in order, before the features", async () => {
  const table = arrowTable({
    note: col.string(["a", null, "c"]),
    customer_id: col.int64([1, 6, 999]),
    score: col.float64([0.5, null, -2]),
    event_timestamp: col.timestamp([at(10), at(10, 30), at(10)]),
    flag: col.bool([true, false, null]),
    n: col.int32([1, null, 3]),
    seen_at: col.timestamp([at(1), null, at(3)], null),
  });
  const out = await repo.store.getTrainingSet(table, { features: ["basic:x"] });
  assert.deepEqual(
    out.schema.fields.map((f) => f.name),
    [...table.schema.fields.map((f) => f.name), "x"],
  );
  table.schema.fields.forEach((f, i) => {
    assert.equal(String(out.schema.fields[i]!.type), String(f.type), `type of ${f.name}`);
    assert.deepEqual(columnValues(out, f.name), columnValues(table, f.name), `values of ${f.name}`);
  });
  assert.deepEqual(columnValues(out, "x"), [1, 6, null]);
});

test("an on-demand view is computed per row, with a request field from the entity rows", async () => {
  const table = arrowTable({
    customer_id: col.int64([8, 8, 999, 8]),
    event_timestamp: col.timestamp([at(10, 45), at(12, 15), at(10), at(11, 15)]),
    cart_value: col.float64([14, 10, 3, 2]),
  });
  const out = await repo.store.getTrainingSet(table, { features: ["ratios:cart_vs_avg", "ratios:cart_plus_count"] });
  assert.deepEqual(
    out.schema.fields.map((f) => f.name),
    ["customer_id", "event_timestamp", "cart_value", "cart_vs_avg", "cart_plus_count"],
  );
  const vsAvg = columnValues(out, "cart_vs_avg");
  // a_1h: 7/3 at 10:45, null at 12:15, null (never seen), 1 at 11:15.
  assertClose(vsAvg[0], 14 / (7 / 3), "row 0");
  assert.deepEqual(vsAvg.slice(1), [null, null, 2]);
  // c_1h: 3, 0, 0 (never seen: count is 0, not null), 4.
  assert.deepEqual(columnValues(out, "cart_plus_count"), [17, 10, 3, 6]);
});

test("a feature service selects its views' features in order", async () => {
  const table = arrowTable({
    customer_id: col.int64([8, 1]),
    event_timestamp: col.timestamp([at(11, 15), at(10)]),
    cart_value: col.float64([2, 5]),
  });
  const out = await repo.store.getTrainingSet(table, { service: "svc" });
  assert.deepEqual(
    out.schema.fields.map((f) => f.name),
    ["customer_id", "event_timestamp", "cart_value", "x", "c_1h", "s_1h", "cart_vs_avg", "cart_plus_count"],
  );
  assert.deepEqual(tableRows(out), [
    { customer_id: 8, event_timestamp: at(11, 15), cart_value: 2, x: null, c_1h: 4, s_1h: 3, cart_vs_avg: 2, cart_plus_count: 6 },
    { customer_id: 1, event_timestamp: at(10), cart_value: 5, x: 1, c_1h: 0, s_1h: 0, cart_vs_avg: null, cart_plus_count: 5 },
  ]);
});

// ───────────────────────────── bad input ─────────────────────────────

test("an unknown feature reference is UNKNOWN_FEATURE", async () => {
  const e = entities([[1, at(10)]]);
  const err = await expectLarderError(repo.store.getTrainingSet(e, { features: ["basic:nope"] }), "UNKNOWN_FEATURE");
  assert.match(err.message, /basic:nope/);
  await expectLarderError(repo.store.getTrainingSet(e, { features: ["no_such_view:x"] }), "UNKNOWN_FEATURE");
  await expectLarderError(repo.store.getTrainingSet(e, { features: ["basic:x", "win:nope"] }), "UNKNOWN_FEATURE");
});

test("entity rows without a join key column are MISSING_JOIN_KEY", async () => {
  const table = arrowTable({ cust: col.int64([1]), event_timestamp: col.timestamp([at(10)]) });
  const err = await expectLarderError(repo.store.getTrainingSet(table, { features: ["basic:x"] }), "MISSING_JOIN_KEY");
  assert.match(err.message, /customer_id/);
});

test("an unparseable entity timestamp is INVALID_TIMESTAMP", async () => {
  for (const bad of ["yesterday", "2024-02-30T00:00:00Z", "2024-01-10T25:00:00Z", ""]) {
    const table = arrowTable({ customer_id: col.int64([1, 1]), event_timestamp: col.string(["2024-01-10T10:00:00Z", bad]) });
    await expectLarderError(repo.store.getTrainingSet(table, { features: ["basic:x"] }), "INVALID_TIMESTAMP");
  }
});
