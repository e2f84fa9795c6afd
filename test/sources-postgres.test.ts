// Read every zone-less timestamp in a zone far from UTC, so that a reader relying on pg's default
// (local-time) parsing would fail. Node applies a TZ change at run time.
process.env.TZ = "America/New_York";

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { type PostgresSourceOptions, postgresSource } from "../src/definitions/sources.js";
import { LarderError } from "../src/errors.js";
import { type Row, readSource, type SourceReadOptions, sourceColumns } from "../src/sources/read-source.js";
import { postgresAvailable, requireServices, testPostgresUrl } from "./helpers/services.js";

const url = testPostgresUrl();
const schema = `larder_sources_${process.pid}_${randomBytes(3).toString("hex")}`;
const T0 = Date.UTC(2024, 0, 1);
const HOUR = 3_600_000;

const opts = (extra: Partial<SourceReadOptions> = {}): SourceReadOptions => ({ repoDir: "/unused", postgresUrl: url, ...extra });
const source = (o: Partial<PostgresSourceOptions>) => postgresSource({ name: "transactions", timestampField: "ts", ...(o.query === undefined && o.table === undefined ? { table: `${schema}.txns` } : {}), ...o });

async function readAll(src: ReturnType<typeof postgresSource>, o: SourceReadOptions = opts()): Promise<{ rows: Row[]; batches: number[] }> {
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

async function sql(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

describe("postgres source without a server", () => {
  test("connection refused is POSTGRES_UNAVAILABLE naming the source and URL, never the password", async () => {
    const src = source({ name: "transactions" });
    const err = await rejects(readAll(src, opts({ postgresUrl: "postgres://larder:s3cret-pw@127.0.0.1:1/features" })), "POSTGRES_UNAVAILABLE");
    assert.match(err.message, /^source "transactions": cannot reach postgres:\/\/127\.0\.0\.1:1\/features: ECONNREFUSED$/);
    assert.doesNotMatch(err.message, /s3cret/);
    await rejects(sourceColumns(src, opts({ postgresUrl: "postgres://larder:s3cret-pw@127.0.0.1:1/features" })), "POSTGRES_UNAVAILABLE");
  });

  test("an unknown host is POSTGRES_UNAVAILABLE", async () => {
    await rejects(readAll(source({}), opts({ postgresUrl: "postgres://u:pw@no-such-host.invalid:5432/db" })), "POSTGRES_UNAVAILABLE", /no-such-host\.invalid:5432\/db/);
  });

  test("no connection at all is INVALID_CONFIG; the source's own connection wins over the default", async () => {
    await rejects(readAll(source({}), { repoDir: "/unused" }), "INVALID_CONFIG", /source "transactions": no Postgres connection/);
    const own = source({ connection: "postgres://u:pw@127.0.0.1:1/own" });
    await rejects(readAll(own, opts({ postgresUrl: "postgres://u:pw@127.0.0.1:2/default" })), "POSTGRES_UNAVAILABLE", /127\.0\.0\.1:1\/own/);
  });
});

const available = await postgresAvailable(url);
if (!available) {
  const message = `Postgres is unavailable at ${url.replace(/:[^:@/]*@/, ":***@")} (set LARDER_TEST_POSTGRES_URL)`;
  if (requireServices()) test("Postgres is required (LARDER_REQUIRE_SERVICES=1)", () => assert.fail(message));
  else test("postgres source", { skip: message }, () => {});
} else {
  describe("postgres source", () => {
    before(async () => {
      await sql(`CREATE SCHEMA "${schema}"`);
      await sql(`CREATE TABLE "${schema}".txns (
        id int8 NOT NULL,
        cust int4,
        ts timestamptz NOT NULL,
        local_ts timestamp,
        day date,
        amount numeric(12, 2),
        big int8,
        payload jsonb,
        note text,
        ts_text text
      )`);
      // Row i at T0 + i hours.
      await sql(
        `INSERT INTO "${schema}".txns
         SELECT i, i % 3, $1::timestamptz + i * interval '1 hour', ($1::timestamptz + i * interval '1 hour') AT TIME ZONE 'UTC',
                date '2024-01-01' + (i / 24), i * 1.25, CASE WHEN i = 0 THEN 9007199254740991 ELSE i END,
                jsonb_build_object('i', i), CASE WHEN i % 2 = 0 THEN 'even' END,
                to_char(($1::timestamptz + i * interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
         FROM generate_series(0, 99) AS i`,
        [new Date(T0).toISOString()],
      );
      await sql(`CREATE TABLE "${schema}".overflow (ts timestamptz, big int8, num numeric)`);
      await sql(`INSERT INTO "${schema}".overflow VALUES ('2024-01-01Z', 9007199254740993, 1), ('2024-01-01Z', 1, 1e20)`);
      await sql(`CREATE TABLE "${schema}".bad_ts (ts text)`);
      await sql(`INSERT INTO "${schema}".bad_ts VALUES ('2024-01-01'), ('not a time'), (NULL)`);
    });
    after(async () => {
      await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    });

    test("reads a table: int8/numeric → number, timestamptz/timestamp/date → Date (UTC), json parsed, null → null", async () => {
      const { rows } = await readAll(source({ createdTimestampField: "local_ts" }), opts({ range: { end: T0 + 2 * HOUR } }));
      assert.equal(rows.length, 2);
      const [r0, r1] = rows as [Row, Row];
      assert.deepEqual(Object.keys(r0), ["id", "cust", "ts", "local_ts", "day", "amount", "big", "payload", "note", "ts_text"]);
      assert.equal(r0.id, 0);
      assert.equal(r0.big, 9007199254740991);
      assert.equal(r1.amount, 1.25);
      assert.ok(r1.ts instanceof Date && r1.local_ts instanceof Date && r1.day instanceof Date);
      assert.equal((r1.ts as Date).toISOString(), "2024-01-01T01:00:00.000Z");
      // timestamp without time zone is UTC, whatever the process time zone (America/New_York here).
      assert.equal((r1.local_ts as Date).toISOString(), "2024-01-01T01:00:00.000Z");
      assert.equal((r1.day as Date).toISOString(), "2024-01-01T00:00:00.000Z");
      assert.deepEqual(r1.payload, { i: 1 });
      assert.equal(r0.note, "even");
      assert.equal(r1.note, null);
    });

    test("pg's global type parsers are left alone", async () => {
      const before = pg.types.getTypeParser(1114, "text");
      await readAll(source({}), opts({ range: { end: T0 + HOUR } }));
      assert.equal(pg.types.getTypeParser(1114, "text"), before);
      // Default pg parsing of a zone-less timestamp is still local time.
      const res = await sql("SELECT '2024-01-01 00:00:00'::timestamp AS t");
      assert.equal((res.rows[0].t as Date).toISOString(), "2024-01-01T05:00:00.000Z");
    });

    test("fieldMapping renames columns, the time columns included", async () => {
      const src = source({ fieldMapping: { cust: "customer_id", ts: "event_timestamp" } });
      const { rows } = await readAll(src, opts({ range: { end: T0 + HOUR } }));
      assert.equal(rows[0]?.customer_id, 0);
      assert.ok(rows[0]?.event_timestamp instanceof Date);
      assert.ok(!("cust" in (rows[0] ?? {})) && !("ts" in (rows[0] ?? {})));
      assert.deepEqual((await sourceColumns(src, opts())).slice(0, 3), ["id", "customer_id", "event_timestamp"]);
    });

    const ids = async (src: ReturnType<typeof postgresSource>, range: SourceReadOptions["range"]) => (await readAll(src, opts({ range }))).rows.map((r) => r.id).sort((a, b) => (a as number) - (b as number));

    test("range on timestamptz: start inclusive, end exclusive", async () => {
      assert.deepEqual(await ids(source({}), { start: T0 + 5 * HOUR, end: T0 + 8 * HOUR }), [5, 6, 7]);
      assert.deepEqual(await ids(source({}), { start: T0 + 5 * HOUR + 1, end: T0 + 8 * HOUR + 1 }), [6, 7, 8]);
      assert.deepEqual(await ids(source({}), { start: T0 + 98 * HOUR }), [98, 99]);
      assert.deepEqual(await ids(source({}), { end: T0 + HOUR }), [0]);
    });

    test("range on timestamp without time zone is interpreted as UTC", async () => {
      const src = source({ timestampField: "local_ts" });
      assert.deepEqual(await ids(src, { start: T0 + 5 * HOUR, end: T0 + 8 * HOUR }), [5, 6, 7]);
    });

    test("range on a date column covers whole days by their UTC midnight", async () => {
      const src = source({ timestampField: "day" });
      // Days: rows 0-23 are 2024-01-01, 24-47 are 2024-01-02, …; midnight of 01-02 is inside
      // [01-01T05:00, 01-02T05:00), midnight of 01-01 is not.
      const got = await ids(src, { start: T0 + 5 * HOUR, end: T0 + 29 * HOUR });
      assert.deepEqual(
        got,
        Array.from({ length: 24 }, (_, i) => 24 + i),
      );
      assert.deepEqual(
        await ids(src, { start: T0 + 24 * HOUR, end: T0 + 48 * HOUR }),
        Array.from({ length: 24 }, (_, i) => 24 + i),
      );
    });

    test("range on an ISO text column (filtered in JS)", async () => {
      assert.deepEqual(await ids(source({ timestampField: "ts_text" }), { start: T0 + 5 * HOUR, end: T0 + 8 * HOUR }), [5, 6, 7]);
    });

    test("a query source is wrapped and filtered in SQL (rows outside the range are never computed)", async () => {
      // 1 / (id - 50) fails for id 50; with the range pushed into the wrapping query Postgres never
      // evaluates it for that row.
      const query = `SELECT id, ts, 100 / (id - 50) AS inv FROM "${schema}".txns;`;
      const src = source({ name: "inverse", query });
      assert.deepEqual(await ids(src, { start: T0 + 10 * HOUR, end: T0 + 13 * HOUR }), [10, 11, 12]);
      await rejects(readAll(src), "SOURCE_READ_ERROR", /source "inverse": query failed: division by zero/);
      assert.deepEqual(await sourceColumns(src, opts()), ["id", "ts", "inv"]);
    });

    test("batches never exceed batchSize and the cursor reads everything", async () => {
      for (const batchSize of [1, 7, 100, 1000]) {
        const { rows, batches } = await readAll(source({}), opts({ batchSize }));
        assert.equal(rows.length, 100);
        assert.ok(
          batches.every((b) => b > 0 && b <= batchSize),
          `batchSize ${batchSize}: ${batches.join(",")}`,
        );
      }
    });

    test("breaking out of for-await closes the cursor and ends the client", async () => {
      const name = `early_break_${randomBytes(3).toString("hex")}`;
      const src = source({ name });
      let seen = 0;
      for await (const batch of readSource(src, opts({ batchSize: 10 }))) {
        seen += batch.length;
        const during = await sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [`larder:${name}`]);
        assert.equal(during.rows[0].n, 1, "the reader holds one connection while iterating");
        break;
      }
      assert.equal(seen, 10);
      // The backend may take a moment to leave pg_stat_activity after the client has ended.
      let n = -1;
      for (let i = 0; i < 50 && n !== 0; i++) {
        n = (await sql("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [`larder:${name}`])).rows[0].n;
        if (n !== 0) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(n, 0, "the connection is closed after break");
    });

    test("int8 and numeric beyond ±2^53 are VALUE_OUT_OF_RANGE naming the column", async () => {
      await rejects(readAll(source({ table: `${schema}.overflow` })), "VALUE_OUT_OF_RANGE", /column "big"/, /9007199254740993/);
      await rejects(readAll(source({ query: `SELECT ts, num FROM "${schema}".overflow WHERE big = 1` })), "VALUE_OUT_OF_RANGE", /column "num"/);
    });

    test("a null or unparseable event time is INVALID_TIMESTAMP naming the value and row", async () => {
      await rejects(readAll(source({ name: "bad", table: `${schema}.bad_ts` })), "INVALID_TIMESTAMP", /source "bad"/, /column "ts"/, /"not a time"/, /result row 2/);
      await rejects(readAll(source({ query: `SELECT ts FROM "${schema}".bad_ts WHERE ts IS NULL` })), "INVALID_TIMESTAMP", /null event timestamp/);
    });

    test("a missing table is SOURCE_NOT_FOUND naming it; a missing column is SOURCE_READ_ERROR", async () => {
      await rejects(readAll(source({ table: `${schema}.nope` })), "SOURCE_NOT_FOUND", new RegExp(`table "${schema}\\.nope" does not exist`));
      await rejects(sourceColumns(source({ table: "no_such_schema_x.t" }), opts()), "SOURCE_NOT_FOUND", /no_such_schema_x\.t/);
      const err = await rejects(readAll(source({ name: "x", timestampField: "when" })), "SOURCE_READ_ERROR");
      assert.equal(err.message, 'source "x": no column "when" (has: id, cust, ts, local_ts, day, amount, big, payload, note, ts_text)');
    });
  });
}
