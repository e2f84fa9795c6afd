/**
 * Progress output: the module with a stream that records writes and a fake clock (terminal and
 * plain modes, percentage and ETA from a known total, every view's line finished), and the real
 * `larder backfill` in plain mode (a pipe), whose last progress line stands on its own line.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Progress, viewProgress } from "../src/cli/progress.js";
import { assertOk, larder } from "./helpers/cli.js";
import { arrowTable, col, createFeatureRepo, fastTempDir, type FeatureRepo } from "./helpers/feature-repo.js";

function recorder(): { writes: string[]; stream: { write: (s: string) => boolean }; text: () => string } {
  const writes: string[] = [];
  return { writes, stream: { write: (s: string) => (writes.push(s), true) }, text: () => writes.join("") };
}

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe("Progress (module)", () => {
  test("terminal: redraws one line in place with percentage and ETA; done ends it with a newline", () => {
    const out = recorder();
    const c = clock();
    const p = new Progress("backfill spend", { tty: true, stream: out.stream, now: c.now });
    c.advance(1000);
    p.update(25_000, { total: 100_000 });
    c.advance(1000);
    p.update(50_000, { total: 100_000 });
    p.done();
    assert.equal(out.writes.length, 3);
    assert.equal(out.writes[0], "\r\x1b[Kbackfill spend: 25,000 of ~100,000 rows, 25%, ETA 3 s, 25,000 rows/s, 1.0 s");
    assert.equal(out.writes[1], "\r\x1b[Kbackfill spend: 50,000 of ~100,000 rows, 50%, ETA 2 s, 25,000 rows/s, 2.0 s");
    assert.equal(out.writes[2], "\r\x1b[Kbackfill spend: 50,000 rows, 25,000 rows/s, 2.0 s\n");
    p.done();
    assert.equal(out.writes.length, 3, "done is idempotent");
  });

  test("an estimate that is exceeded never shows 100% or a negative ETA before the end", () => {
    const out = recorder();
    const c = clock();
    const p = new Progress("x", { tty: true, stream: out.stream, now: c.now });
    c.advance(1000);
    p.update(150, { total: 100 });
    assert.match(out.text(), /150 of ~100 rows, 99%, ETA 0 s,/);
  });

  test("plain: a full line at most every interval, each ending with a newline, and a final line", () => {
    const out = recorder();
    const c = clock();
    const p = new Progress("backfill spend", { tty: false, stream: out.stream, now: c.now, intervalMs: 5000 });
    for (let i = 1; i <= 12; i++) {
      c.advance(1000);
      p.update(i * 1000, { total: 12_000 });
    }
    p.done();
    assert.deepEqual(out.writes, [
      "backfill spend: 5,000 of ~12,000 rows, 41%, ETA 7 s, 1,000 rows/s, 5.0 s\n",
      "backfill spend: 10,000 of ~12,000 rows, 83%, ETA 2 s, 1,000 rows/s, 10.0 s\n",
      "backfill spend: 12,000 rows, 1,000 rows/s, 12.0 s\n",
    ]);
  });

  test("several views: each view's line is finished before the next starts, and at the end", async () => {
    const out = recorder();
    const c = clock();
    const progress = viewProgress("backfill", { tty: true, stream: out.stream, now: c.now });
    await progress.around(async () => {
      for (const view of ["a", "b"]) {
        c.advance(200);
        progress.update(view, 10);
        c.advance(200);
        progress.update(view, 20);
      }
    });
    const text = out.text();
    assert.ok(text.endsWith("\n"), JSON.stringify(text));
    assert.deepEqual(
      text.split("\n").map((l) => l.split("\r\x1b[K").at(-1)),
      // view b's clock starts at its first update
      ["backfill a: 20 rows, 50 rows/s, 0.4 s", "backfill b: 20 rows, 100 rows/s, 0.2 s", ""],
    );
  });

  test("a failure ends a half-drawn terminal line, so the error line starts on its own", async () => {
    const out = recorder();
    const c = clock();
    const progress = viewProgress("backfill", { tty: true, stream: out.stream, now: c.now });
    await assert.rejects(
      progress.around(async () => {
        progress.update("a", 10);
        c.advance(200);
        progress.update("a", 20);
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.deepEqual(out.writes, ["\r\x1b[Kbackfill a: 20 rows, 100 rows/s, 0.2 s", "\n"], "the drawn line is ended; no summary after a failure");
  });
});

describe("larder backfill progress (plain mode)", () => {
  let repo: FeatureRepo;
  before(async () => {
    repo = await createFeatureRepo({
      features: `
import { entity, parquetSource, featureView, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const events = parquetSource({ name: "events", path: "data/events.parquet", timestampField: "ts" });
export const a = featureView({ name: "view_a", entities: [customer], source: events, schema: { amount: t.float64 } });
export const b = featureView({ name: "view_b", entities: [customer], source: events, schema: { amount: t.float64 } });
`,
      files: {
        "data/events.parquet": arrowTable({
          customer_id: col.int64([1, 2, 3]),
          ts: col.timestamp(["2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z", "2024-01-04T00:00:00Z"]),
          amount: col.float64([1, 2, 3]),
        }),
      },
      parentDir: fastTempDir(),
    });
  });
  after(async () => {
    await repo?.cleanup();
  });

  test("each view's progress ends with a full line of its own, before the summary lines", () => {
    const out = assertOk(larder(repo.dir, ["backfill", "--start", "2024-01-01", "--end", "2024-02-01"]));
    const lines = out.split("\n");
    assert.equal(lines.at(-1), "", "output ends with a newline");
    assert.match(lines[0]!, /^backfill view_a: 3 rows, \d[\d,]* rows\/s, \d+\.\d s$/);
    assert.match(lines[1]!, /^backfill view_b: 3 rows, \d[\d,]* rows\/s, \d+\.\d s$/);
    assert.match(lines[2]!, /^backfilled view_a: 3 source rows → 3 offline rows in 1 file\(s\)$/);
    assert.match(lines[3]!, /^backfilled view_b: 3 source rows/);
  });
});
