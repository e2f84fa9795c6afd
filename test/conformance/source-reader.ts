/**
 * The sources port's conformance suite: every implementation (sources-parquet-conformance,
 * sources-csv-conformance, sources-postgres-conformance) runs it with a fixture that stores one
 * table in its own format. It checks the rows `read` yields (values as the documented JS types,
 * range, batches, early stop), `columns` after fieldMapping, the errors every kind shares, and —
 * for every implementation — that a backfill gives the same offline rows whichever path it takes:
 * a view without a transform (the engine reads Parquet and CSV itself) and the same view with an
 * identity transform (rows through JavaScript and the appender).
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { BatchSourceDef } from "../../src/definitions/definition-types.js";
import { entity } from "../../src/definitions/entity.js";
import { featureView } from "../../src/definitions/feature-view.js";
import { LarderError } from "../../src/errors.js";
import { OfflineStore } from "../../src/offline/offline-store.js";
import { backfillView } from "../../src/pipeline/view-pipeline.js";
import { type Row, readerOf, type SourceReadOptions } from "../../src/sources/read-source.js";
import { types as t } from "../../src/types.js";
import { fastTempDir } from "../helpers/feature-repo.js";

/** The table every fixture stores: `ts` and `created` are epoch ms (created may be null). */
export interface FixtureRow {
  id: number | null;
  ts: number;
  created: number | null;
  amount: number | null;
  plan: string | null;
  active: boolean | null;
}

const T0 = Date.UTC(2024, 0, 1);
const HOUR = 3_600_000;

export const FIXTURE_ROWS: readonly FixtureRow[] = [
  { id: 1, ts: T0, created: T0, amount: 1.5, plan: "basic", active: true },
  { id: 2, ts: T0 + HOUR, created: null, amount: -20, plan: "żółć 猫", active: false },
  { id: 1, ts: T0 + 2 * HOUR + 123, created: T0 + 5, amount: null, plan: null, active: null },
  // A tie on (id, ts) ordered by the created time, the later one first in the data.
  { id: 3, ts: T0 + 3 * HOUR, created: T0 + 9, amount: 0.1, plan: "pro", active: true },
  { id: 3, ts: T0 + 3 * HOUR, created: T0 + 8, amount: 0.2, plan: "pro, yearly", active: true },
  // A null key: read, then dropped (and counted) by a backfill.
  { id: null, ts: T0 + 4 * HOUR, created: T0, amount: 7, plan: "orphan", active: false },
  { id: 2, ts: T0 + 5 * HOUR, created: T0 + 1, amount: 1e6, plan: "basic", active: true },
  { id: 4, ts: T0 - HOUR, created: T0 - HOUR, amount: 3, plan: "before", active: false },
];

export interface SourceFixture {
  /** Stores `rows` under `name` and returns a source over them (timestampField "ts"). */
  make(name: string, rows: readonly FixtureRow[], options?: { fieldMapping?: Record<string, string>; createdTimestampField?: string | null }): Promise<BatchSourceDef>;
  /** A source whose data does not exist (SOURCE_NOT_FOUND). */
  missing(name: string): BatchSourceDef;
  /** Read options besides the range (repoDir, postgresUrl). */
  opts: SourceReadOptions;
  cleanup(): Promise<void>;
}

async function readAll(source: BatchSourceDef, opts: SourceReadOptions): Promise<{ rows: Row[]; batches: number[] }> {
  const rows: Row[] = [];
  const batches: number[] = [];
  for await (const batch of readerOf(source).read(source, opts)) {
    batches.push(batch.length);
    rows.push(...batch);
  }
  return { rows, batches };
}

async function rejects(promise: Promise<unknown>, code: string, ...patterns: RegExp[]): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof LarderError, `expected a LarderError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    for (const p of patterns) assert.match(err.message, p);
    return;
  }
  assert.fail(`expected ${code}`);
}

/** A fixture row as a reader yields it. */
function expectedRow(r: FixtureRow): Row {
  return { id: r.id, ts: new Date(r.ts), created: r.created === null ? null : new Date(r.created), amount: r.amount, plan: r.plan, active: r.active };
}

const byIdTs = (a: Row, b: Row) =>
  Number(a["id"] ?? -1) - Number(b["id"] ?? -1) || (a["ts"] as Date).getTime() - (b["ts"] as Date).getTime() || ((a["created"] as Date | null)?.getTime() ?? 0) - ((b["created"] as Date | null)?.getTime() ?? 0);

export function runSourceReaderConformance(name: string, setup: () => Promise<SourceFixture>): void {
  describe(`SourceReader conformance: ${name}`, () => {
    let fx: SourceFixture;
    let source: BatchSourceDef;
    before(async () => {
      fx = await setup();
      source = await fx.make("events", FIXTURE_ROWS, { createdTimestampField: "created" });
    });
    after(async () => {
      await fx?.cleanup();
    });

    test("read yields every row with numbers, strings, booleans, Dates and nulls", async () => {
      const { rows } = await readAll(source, fx.opts);
      assert.deepEqual([...rows].sort(byIdTs), FIXTURE_ROWS.map(expectedRow).sort(byIdTs));
    });

    test("range: start inclusive, end exclusive; batches never empty nor above batchSize", async () => {
      const range = { start: T0 + HOUR, end: T0 + 3 * HOUR };
      const { rows, batches } = await readAll(source, { ...fx.opts, range, batchSize: 2 });
      const want = FIXTURE_ROWS.filter((r) => r.ts >= range.start && r.ts < range.end).map(expectedRow);
      assert.deepEqual([...rows].sort(byIdTs), want.sort(byIdTs));
      assert.ok(
        batches.every((n) => n > 0 && n <= 2),
        `batches ${batches.join(", ")}`,
      );
      const none = await readAll(source, { ...fx.opts, range: { start: T0 + 100 * HOUR } });
      assert.deepEqual(none.rows, []);
    });

    test("the consumer can stop early", async () => {
      let seen = 0;
      for await (const batch of readerOf(source).read(source, { ...fx.opts, batchSize: 1 })) {
        seen += batch.length;
        break;
      }
      assert.equal(seen, 1);
    });

    test("columns come after fieldMapping, time columns named before it", async () => {
      const mapped = await fx.make("mapped", FIXTURE_ROWS, { fieldMapping: { id: "customer_id", ts: "event_time" }, createdTimestampField: "created" });
      const cols = await readerOf(mapped).columns(mapped, fx.opts);
      assert.deepEqual([...cols].sort(), ["active", "amount", "created", "customer_id", "event_time", "plan"]);
      const { rows } = await readAll(mapped, { ...fx.opts, range: { start: T0, end: T0 + 1 } });
      assert.deepEqual(rows, [{ customer_id: 1, event_time: new Date(T0), created: new Date(T0), amount: 1.5, plan: "basic", active: true }]);
    });

    test("a missing time column is SOURCE_READ_ERROR naming it; missing data is SOURCE_NOT_FOUND", async () => {
      const noCreated = await fx.make("no_created", FIXTURE_ROWS, { createdTimestampField: "ingested_at" });
      await rejects(readerOf(noCreated).columns(noCreated, fx.opts), "SOURCE_READ_ERROR", /"ingested_at"/);
      await rejects(readAll(noCreated, fx.opts), "SOURCE_READ_ERROR", /"ingested_at"/);
      const gone = fx.missing("gone");
      await rejects(readAll(gone, fx.opts), "SOURCE_NOT_FOUND", /"gone"/);
    });

    test("a backfill writes the same offline rows with or without the row path, null keys counted", async () => {
      const dir = await mkdtemp(join(fastTempDir(), "larder-src-conf-"));
      try {
        const store = new OfflineStore(dir, { engine: { threads: 1, memoryLimit: "256MB" } });
        const customer = entity({ name: "customer", joinKeys: ["id"], valueType: t.int64 });
        const schema = { amount: t.float64, plan: t.string, active: t.bool };
        const direct = featureView({ name: "direct", entities: [customer], source, schema });
        const viaRows = featureView({ name: "via_rows", entities: [customer], source, schema, transform: (row) => row });
        const range = { start: T0 - 2 * HOUR, end: T0 + 6 * HOUR };
        const paths: string[] = [];
        const ctx = { repoDir: fx.opts.repoDir, offline: store, postgresUrl: fx.opts.postgresUrl, onPath: (p: string) => paths.push(p) };
        const a = await backfillView(ctx, direct, range);
        const b = await backfillView(ctx, viaRows, range);
        // A source the engine reads itself: no row in JavaScript without a transform, and a
        // transform's input streamed out of the engine; else the source's reader.
        assert.deepEqual(paths, readerOf(source).scan ? ["native", "engine-rows"] : ["rows", "rows"]);
        assert.deepEqual({ ...a, view: "" }, { ...b, view: "" });
        assert.equal(a.droppedNullKeys, 1);
        assert.equal(a.sourceRows, FIXTURE_ROWS.length);
        const rowsA = await store.readView("direct");
        const rowsB = await store.readView("via_rows");
        assert.ok(rowsA && rowsB);
        assert.deepEqual(rowsA, rowsB);
        // Sorted by (key, event time, created time); the null key is gone.
        const ids = rowsA.columns.get("id")!.values as Float64Array;
        const created = rowsA.columns.get("created_timestamp")!.values as Float64Array;
        assert.deepEqual([...ids], [1, 1, 2, 2, 3, 3, 4]);
        assert.deepEqual([created[4], created[5]], [T0 + 8, T0 + 9]);
        assert.deepEqual(rowsA.columns.get("plan")!.values, ["basic", null, "żółć 猫", "basic", "pro, yearly", "pro", "before"]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}
