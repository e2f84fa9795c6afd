import { strict as assert } from "node:assert";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { readParquetFile } from "../src/offline/parquet-io.js";
import { PredictionLogger, predictionLogDir, type PredictionLogEntry } from "../src/serving/prediction-log.js";
import { readEntityRows } from "../src/offline/entity-rows.js";
import { fastTempDir, tableRows } from "./helpers/feature-repo.js";

const SCHEMA = [
  ["customer_id", "int64"],
  ["plan", "string"],
  ["monthly_fee", "float64"],
  ["prediction", "float64"],
] as const;

function entry(at: string, ids: number[], version = 1): PredictionLogEntry {
  return {
    model: "churn",
    version,
    at: Date.parse(at),
    requestId: `r-${at}`,
    schema: SCHEMA,
    columns: { customer_id: ids, plan: ids.map((i) => (i % 2 ? "pro" : null)), monthly_fee: ids.map((i) => i * 1.5), prediction: ids.map((i) => i / 100) },
  };
}

async function logFiles(offline: string): Promise<string[]> {
  const root = predictionLogDir(offline, "churn");
  const out: string[] = [];
  for (const day of (await readdir(root)).sort()) for (const f of (await readdir(join(root, day))).sort()) out.push(join(root, day, f));
  return out;
}

test("prediction logs: rows land in Parquet by day and version, with the serving time, and read back as entity rows", async () => {
  const offline = join(fastTempDir(), `plog-${process.pid}-${Date.now()}`);
  try {
    const logger = new PredictionLogger(offline, { flushIntervalMs: 60_000 });
    assert.equal(logger.log(entry("2024-03-01T23:59:59.999Z", [1, 2])), true);
    assert.equal(logger.log(entry("2024-03-02T00:00:00.000Z", [3])), true);
    assert.equal(logger.log(entry("2024-03-02T10:00:00.000Z", [4, 5], 2)), true);
    assert.equal(logger.stats().buffered, 5);
    await logger.close();
    assert.deepEqual(logger.stats(), { written: 5, files: 3, buffered: 0, dropped: 0, failures: 0 });
    const files = await logFiles(offline);
    assert.equal(files.length, 3);
    assert.deepEqual(
      files.map((f) => f.split("/").at(-2)),
      ["date=2024-03-01", "date=2024-03-02", "date=2024-03-02"],
    );
    const all = [];
    for (const f of files) all.push(...tableRows(await readParquetFile(f)));
    all.sort((a, b) => Number(a.customer_id) - Number(b.customer_id));
    assert.deepEqual(
      all.map((r) => [Number(r.customer_id), r.plan, r.monthly_fee, r.prediction, Number(r.model_version), r.model]),
      [
        [1, "pro", 1.5, 0.01, 1, "churn"],
        [2, null, 3, 0.02, 1, "churn"],
        [3, "pro", 4.5, 0.03, 1, "churn"],
        [4, null, 6, 0.04, 2, "churn"],
        [5, "pro", 7.5, 0.05, 2, "churn"],
      ],
    );
    const first = tableRows(await readEntityRows(files[0]!));
    assert.deepEqual(
      first.map((r) => new Date(r.event_timestamp as number).toISOString()),
      ["2024-03-01T23:59:59.999Z", "2024-03-01T23:59:59.999Z"],
    );
    assert.equal(first[0]!.request_id, "r-2024-03-01T23:59:59.999Z");
  } finally {
    await rm(offline, { recursive: true, force: true });
  }
});

test("prediction logs: a full buffer drops and counts instead of growing; a failed write keeps its rows for the next flush", async () => {
  const offline = join(fastTempDir(), `plog-${process.pid}-${Date.now()}-b`);
  const errors: unknown[] = [];
  try {
    const logger = new PredictionLogger(offline, { flushIntervalMs: 60_000, flushRows: 1000, maxBufferedRows: 3, onError: (e) => errors.push(e) });
    assert.equal(logger.log(entry("2024-03-01T00:00:00Z", [1, 2])), true);
    assert.equal(logger.log(entry("2024-03-01T00:00:01Z", [3, 4])), false, "past maxBufferedRows the entry is dropped");
    assert.equal(logger.stats().dropped, 2);
    // A file where the model's log directory belongs: the write fails and the rows stay buffered.
    await mkdir(join(offline, "_prediction_logs"), { recursive: true });
    await writeFile(predictionLogDir(offline, "churn"), "in the way");
    await logger.flush();
    assert.equal(logger.stats().failures, 1);
    assert.equal(logger.stats().buffered, 2);
    assert.equal(errors.length, 1);
    assert.deepEqual(await readdir(join(offline, "_prediction_logs")), ["churn"], "nothing half-written");
    await rm(predictionLogDir(offline, "churn"));
    await logger.close();
    assert.equal(logger.stats().buffered, 0);
    assert.equal(logger.stats().written, 2);
    assert.equal((await logFiles(offline)).length, 1);
    assert.equal(logger.log(entry("2024-03-01T00:00:02Z", [5])), false, "a closed logger takes nothing");
  } finally {
    await rm(offline, { recursive: true, force: true });
  }
});

test("prediction logs: log() returns at once and the timer flushes in the background", async () => {
  const offline = join(fastTempDir(), `plog-${process.pid}-${Date.now()}-c`);
  try {
    const logger = new PredictionLogger(offline, { flushIntervalMs: 20 });
    logger.log(entry("2024-03-01T00:00:00Z", [1]));
    assert.equal(logger.stats().written, 0, "nothing is written synchronously");
    for (let i = 0; i < 200 && logger.stats().written === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(logger.stats().written, 1);
    await logger.close();
  } finally {
    await rm(offline, { recursive: true, force: true });
  }
});
