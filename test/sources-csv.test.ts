import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { type CsvSourceOptions, csvSource } from "../src/definitions/sources.js";
import { LarderError } from "../src/errors.js";
import { type Row, readSource, type SourceReadOptions, sourceColumns } from "../src/sources/read-source.js";

const T0 = Date.UTC(2024, 0, 1);
const HOUR = 3_600_000;

let dir = "";
const opts = (extra: Partial<SourceReadOptions> = {}): SourceReadOptions => ({ repoDir: dir, ...extra });
const source = (o: Partial<CsvSourceOptions> & { path: string }) => csvSource({ name: "events", timestampField: "ts", ...o });

async function csv(path: string, text: string): Promise<string> {
  const file = join(dir, path);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, text);
  return path;
}

async function readAll(src: ReturnType<typeof csvSource>, o: SourceReadOptions = opts()): Promise<{ rows: Row[]; batches: number[] }> {
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
  dir = await mkdtemp(join(tmpdir(), "larder-sources-csv-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("csv source", () => {
  test("types cells: empty → null, numbers, true/false, everything else a string", async () => {
    const path = await csv(
      "typed.csv",
      [
        "ts,i,f,neg,exp,lead,b,s,quoted,almost",
        '2024-01-01T00:00:00Z,42,1.5,-3,1e3,007,true,hello,"a, ""b""",1.2.3',
        '2024-01-01T00:00:00Z,,.5,+4,-2.5E-1,0,false,,"multi\nline",12abc',
        '2024-01-01T00:00:00Z,9007199254740991,0.1,-0,1.,-.5,TRUE,True,"",--1',
      ].join("\n"),
    );
    const { rows } = await readAll(source({ path }));
    assert.deepEqual(
      rows.map((r) => ({ ...r, ts: iso(r.ts) })),
      [
        { ts: "2024-01-01T00:00:00.000Z", i: 42, f: 1.5, neg: -3, exp: 1000, lead: 7, b: true, s: "hello", quoted: 'a, "b"', almost: "1.2.3" },
        { ts: "2024-01-01T00:00:00.000Z", i: null, f: 0.5, neg: 4, exp: -0.25, lead: 0, b: false, s: null, quoted: "multi\nline", almost: "12abc" },
        { ts: "2024-01-01T00:00:00.000Z", i: 9007199254740991, f: 0.1, neg: -0, exp: 1, lead: -0.5, b: true, s: true, quoted: null, almost: "--1" },
      ],
    );
  });

  test("an integer beyond ±2^53 is VALUE_OUT_OF_RANGE naming the column and line", async () => {
    const path = await csv("big.csv", "ts,amount_cents\n2024-01-01,1\n2024-01-01,9007199254740993\n");
    await rejects(readAll(source({ path })), "VALUE_OUT_OF_RANGE", /column "amount_cents"/, /9007199254740993/, /big\.csv line 3/);
  });

  test("event times: ISO (zone-less is UTC, offsets, dates, space separator) and epoch ms, as Dates", async () => {
    const path = await csv(
      "times.csv",
      [
        "ts,n",
        "2024-01-01T00:00:00,0", // zone-less: UTC
        "2024-01-01T05:30:00+05:30,1",
        "2023-12-31T16:00:00-08:00,2",
        "2024-01-01,3",
        "2024-01-01 00:00:00.000Z,4",
        `${T0},5`, // epoch ms
        "2024-01-01T01:00:00+0100,6",
      ].join("\n"),
    );
    const { rows } = await readAll(source({ path }));
    assert.equal(rows.length, 7);
    for (const r of rows) {
      assert.ok(r.ts instanceof Date);
      assert.equal((r.ts as Date).getTime(), T0, `row ${String(r.n)}`);
    }
  });

  test("created time: parsed like the event time; empty is null", async () => {
    const path = await csv("created.csv", "ts,created,v\n2024-01-01,2024-01-02T00:00:00,1\n2024-01-01,,2\n");
    const { rows } = await readAll(source({ path, createdTimestampField: "created" }));
    assert.equal(iso(rows[0]?.created), "2024-01-02T00:00:00.000Z");
    assert.equal(rows[1]?.created, null);
    const bad = await csv("bad-created.csv", "ts,created\n2024-01-01,soon\n");
    await rejects(readAll(source({ path: bad, createdTimestampField: "created" })), "INVALID_TIMESTAMP", /column "created"/, /"soon"/);
  });

  test("a bad or empty event time is INVALID_TIMESTAMP naming source, column, value, file and line", async () => {
    const path = await csv("bad.csv", "id,ts\n1,2024-01-01\n2,2024-02-30T00:00:00\n");
    await rejects(readAll(source({ name: "clicks", path })), "INVALID_TIMESTAMP", /source "clicks"/, /column "ts"/, /"2024-02-30T00:00:00"/, /bad\.csv line 3/);
    const empty = await csv("empty-ts.csv", "id,ts\n1,\n");
    await rejects(readAll(source({ path: empty })), "INVALID_TIMESTAMP", /null event timestamp/, /line 2/);
  });

  test("fieldMapping renames columns; time columns are named before mapping", async () => {
    const path = await csv("mapped.csv", "cust,when,plan\n7,2024-01-01,gold\n");
    const src = source({ path, timestampField: "when", fieldMapping: { cust: "customer_id", when: "event_timestamp" } });
    const { rows } = await readAll(src);
    assert.deepEqual(
      rows.map((r) => ({ ...r, event_timestamp: iso(r.event_timestamp) })),
      [{ customer_id: 7, event_timestamp: "2024-01-01T00:00:00.000Z", plan: "gold" }],
    );
    assert.deepEqual(await sourceColumns(src, opts()), ["customer_id", "event_timestamp", "plan"]);
  });

  test("range: start inclusive, end exclusive, filtered while streaming; batches never exceed batchSize", async () => {
    const lines = ["id,ts"];
    for (let i = 0; i < 50; i++) lines.push(`${i},${new Date(T0 + i * HOUR).toISOString()}`);
    const path = await csv("hours.csv", `${lines.join("\n")}\n`);
    const ids = async (range: SourceReadOptions["range"], batchSize = 7) => {
      const { rows, batches } = await readAll(source({ path }), opts({ range, batchSize }));
      assert.ok(
        batches.every((b) => b > 0 && b <= batchSize),
        `batches ${batches.join(",")}`,
      );
      return rows.map((r) => r.id);
    };
    assert.deepEqual(await ids({ start: T0 + 10 * HOUR, end: T0 + 13 * HOUR }), [10, 11, 12]);
    assert.deepEqual(await ids({ start: T0 + 10 * HOUR + 1, end: T0 + 13 * HOUR + 1 }), [11, 12, 13]);
    assert.deepEqual(await ids({ start: T0 + 48 * HOUR }), [48, 49]);
    assert.deepEqual(await ids({ end: T0 + HOUR }), [0]);
    assert.equal((await ids(undefined, 7)).length, 50);
    assert.equal((await ids(undefined, 1)).length, 50);
  });

  test("a glob reads every matching file in path order; the delimiter option is honoured", async () => {
    await csv("parts/b.csv", "id;ts\n2;2024-01-01\n");
    await csv("parts/a.csv", "id;ts\n1;2024-01-01\n");
    await csv("parts/sub/c.csv", "id;ts\n3;2024-01-01\n");
    const read = async (path: string) => (await readAll(source({ path, delimiter: ";" }))).rows.map((r) => r.id);
    assert.deepEqual(await read("parts/*.csv"), [1, 2]);
    assert.deepEqual(await read("parts/**/*.csv"), [1, 2, 3]);
    assert.deepEqual(await read("parts/a.csv"), [1]);
  });

  test("missing file or no match is SOURCE_NOT_FOUND naming the source and resolved path", async () => {
    await rejects(readAll(source({ name: "lost", path: "nope.csv" })), "SOURCE_NOT_FOUND", /source "lost"/, new RegExp(`${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/nope\\.csv`));
    await rejects(readAll(source({ path: "nothing/*.csv" })), "SOURCE_NOT_FOUND", /nothing\/\*\.csv/);
  });

  test("header problems: missing timestamp column, empty file, header only, ragged rows", async () => {
    const noTs = await csv("no-ts.csv", "a,b,c\n1,2,3\n");
    const err = await rejects(readAll(source({ name: "x", path: noTs })), "SOURCE_READ_ERROR");
    assert.equal(err.message, 'source "x": no column "ts" (has: a, b, c)');
    await rejects(sourceColumns(source({ name: "x", path: noTs }), opts()), "SOURCE_READ_ERROR", /no column "ts"/);
    const empty = await csv("empty.csv", "");
    await rejects(readAll(source({ path: empty })), "SOURCE_READ_ERROR", /empty\.csv is empty/);
    await rejects(sourceColumns(source({ path: empty }), opts()), "SOURCE_READ_ERROR", /header/);
    const headerOnly = await csv("header-only.csv", "id,ts\n");
    assert.deepEqual((await readAll(source({ path: headerOnly }))).batches, []);
    const ragged = await csv("ragged.csv", "id,ts\n1,2024-01-01\n2,2024-01-01,extra\n");
    await rejects(readAll(source({ path: ragged })), "SOURCE_READ_ERROR", /ragged\.csv line 3/);
  });

  test("a byte-order mark and CRLF line ends are handled", async () => {
    const path = await csv("bom.csv", "\uFEFFid,ts\r\n1,2024-01-01\r\n");
    const { rows } = await readAll(source({ path }));
    assert.deepEqual(Object.keys(rows[0] ?? {}), ["id", "ts"]);
  });

  test("the consumer can stop early", async () => {
    const lines = ["id,ts"];
    for (let i = 0; i < 1000; i++) lines.push(`${i},2024-01-01`);
    const path = await csv("long.csv", lines.join("\n"));
    let seen = 0;
    for await (const batch of readSource(source({ path }), opts({ batchSize: 10 }))) {
      seen += batch.length;
      break;
    }
    assert.equal(seen, 10);
  });
});
