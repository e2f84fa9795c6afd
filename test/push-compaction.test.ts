/**
 * Compaction of offline push files (`larder compact`, and at the start of a backfill): many pushes
 * become one file with the same rows, backfill results do not change, a crash at any step loses or
 * duplicates nothing, and pushes during a compaction are kept.
 */
import assert from "node:assert/strict";
import { copyFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readParquetFile } from "../src/offline/parquet-io.js";
import { arrowTable, col, tableRows, type FeatureRepo } from "./helpers/feature-repo.js";
import { larderAsync } from "./helpers/cli.js";
import { createPushRepo, removePushRepo } from "./helpers/push-repo.js";

const MIN = 60_000;
const BASE = Date.UTC(2024, 4, 1);
const RANGE = { start: BASE - 86_400_000, end: BASE + 86_400_000 };
const REFS = ["spend:n_1h", "spend:sum_1h", "spend:max_1h", "latest_txn:amount_cents", "latest_txn:note"];

describe("compaction of offline push files", () => {
  let repo: FeatureRepo;
  let pushes = 0;
  before(async () => {
    repo = await createPushRepo(null, BASE);
  });
  after(() => removePushRepo(repo));

  const dir = () => repo.path("data/txns");
  const files = async () => (await readdir(dir())).filter((n) => !n.startsWith(".")).sort();
  /** Every row of the directory's visible files, as sorted JSON lines (a multiset). */
  const rowsOnDisk = async (): Promise<string[]> => {
    const out: string[] = [];
    for (const f of await files()) {
      for (const r of tableRows(await readParquetFile(join(dir(), f)))) out.push(JSON.stringify([r.cust, r.ts, r.created, r.amount_cents, r.note]));
    }
    return out.sort();
  };
  /** A push of 1–3 rows of customers 1–4, offline. */
  const push = async (): Promise<void> => {
    const i = pushes++;
    const n = 1 + (i % 3);
    const cust = Array.from({ length: n }, (_, k) => 1 + ((i + k) % 4));
    await repo.store.push(
      "txn_push",
      { cust, ts: cust.map((_, k) => BASE + (i + k) * MIN), created: cust.map((_, k) => (k % 2 === 0 ? BASE + i * MIN : null)), amount_cents: cust.map((_, k) => 10 * i + k), note: cust.map((_, k) => (k === 1 ? null : `p${i}`)) },
      { to: "offline" },
    );
  };
  const training = async () => {
    const customers = [1, 2, 3, 4, 1, 2];
    const at = [10, 20, 30, 40, 50, 60].map((m) => BASE + m * MIN);
    return tableRows(await repo.store.getTrainingSet(arrowTable({ customer_id: col.int64(customers), event_timestamp: col.timestamp(at) }), { features: REFS }));
  };

  test("many pushes → compact → one file with the same rows; backfill results unchanged; a backfill compacts by itself", async () => {
    for (let i = 0; i < 30; i++) await push();
    assert.equal((await files()).length, 31);
    const rows = await rowsOnDisk();
    await repo.store.backfill({ ...RANGE, compact: false });
    assert.equal((await files()).length, 31);
    const expected = await training();

    const [result] = await repo.store.compact();
    assert.equal(result?.merged, 30);
    assert.equal(result?.rows, rows.length - 1);
    const after = await files();
    assert.deepEqual(after.length, 2, after.join(", "));
    assert.equal(after[0], "part-0.parquet");
    assert.match(after[1]!, /^push-.*-compacted\.parquet$/);
    assert.deepEqual(await rowsOnDisk(), rows);
    await repo.store.backfill(RANGE);
    assert.deepEqual(await training(), expected);

    // More pushes: the next backfill merges them (with the compacted file) before reading.
    for (let i = 0; i < 5; i++) await push();
    const more = await rowsOnDisk();
    assert.equal((await files()).length, 7);
    await repo.store.backfill(RANGE);
    assert.equal((await files()).length, 2);
    assert.deepEqual(await rowsOnDisk(), more);
    const cli = await larderAsync(repo.dir, ["compact", "--source", "txns"]);
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /txns: fewer than two push files/);
    const bad = await larderAsync(repo.dir, ["compact", "--source", "nope"]);
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /error \[SOURCE_NOT_FOUND\]: unknown source "nope"/);
  });

  test("a crash after the commit point (journal written, old files not yet removed) duplicates nothing, and the next run finishes it", async () => {
    for (let i = 0; i < 4; i++) await push();
    const pushFiles = (await files()).filter((f) => f !== "part-0.parquet");
    // Keep copies of the files about to be merged, to put them back as a crash would have left them.
    for (const f of pushFiles) await copyFile(join(dir(), f), join(dir(), `.keep-${f}`));
    const rows = await rowsOnDisk();
    await repo.store.backfill(RANGE);
    const merged = (await files()).filter((f) => f !== "part-0.parquet");
    assert.equal(merged.length, 1);
    for (const f of pushFiles) await copyFile(join(dir(), `.keep-${f}`), join(dir(), f));
    await writeFile(join(dir(), ".larder-compaction.json"), JSON.stringify({ merged: ".compact-gone.parquet", final: merged[0], replaces: pushFiles }));
    // And a hidden merged file of a compaction that crashed before its commit point.
    await copyFile(join(dir(), merged[0]!), join(dir(), ".compact-orphan.parquet"));
    // Readers skip the replaced files: the materialization of aggregated views reads the source too.
    // (As of minute 50, so the pushed events are inside the windows the materialization reads.)
    const asOf = BASE + 50 * MIN;
    await repo.store.materialize({ start: RANGE.start, end: asOf + 1, views: ["spend"] });
    // A push merges into the event buffers that materialization read from the source: doubled
    // source rows would show in its aggregates.
    const pushedAt = asOf + MIN;
    await repo.store.push("txn_push", { cust: [1, 2, 3, 4], ts: [1, 2, 3, 4].map(() => pushedAt), created: [null, null, null, null], amount_cents: [1, 2, 3, 4], note: ["x", "x", "x", "x"] }, { to: "online_and_offline" });
    const online = await repo.store.getOnlineFeatures({ customer_id: [1, 2, 3, 4] }, { features: ["spend:n_1h", "spend:sum_1h"] });
    await repo.store.compact();
    await repo.store.backfill(RANGE);
    const oracle = tableRows(await repo.store.getTrainingSet(arrowTable({ customer_id: col.int64([1, 2, 3, 4]), event_timestamp: col.timestamp([1, 2, 3, 4].map(() => pushedAt)) }), { features: ["spend:n_1h", "spend:sum_1h"] }));
    assert.ok(oracle.every((r) => (r.n_1h as number) > 1));
    assert.deepEqual(
      online.results[1]!.values,
      oracle.map((r) => r.n_1h),
    );
    assert.deepEqual(
      online.results[2]!.values,
      oracle.map((r) => r.sum_1h),
    );
    await repo.store.compact();
    const left = await readdir(dir());
    assert.equal(left.filter((n) => !n.startsWith(".keep-") && !n.startsWith(".")).length, 2, left.join(", "));
    assert.equal((await rowsOnDisk()).length, rows.length + 4);
  });

  test("pushes during a compaction are kept", async () => {
    for (let i = 0; i < 6; i++) await push();
    const before = (await rowsOnDisk()).length;
    const concurrent = Array.from({ length: 8 }, () => push());
    const [compacted] = await Promise.all([repo.store.compact(), ...concurrent]);
    assert.ok((compacted[0]?.merged ?? 0) >= 2);
    const rowsAfter = (await rowsOnDisk()).length;
    // Pushes i..i+7 add 1–3 rows each (1 + i % 3).
    const added = Array.from({ length: 8 }, (_, k) => 1 + ((pushes - 8 + k) % 3)).reduce((a, b) => a + b, 0);
    assert.equal(rowsAfter, before + added);
  });
});
