/**
 * Parquet read/write throughput for the offline store's hot path: 1 int64 key, 1 timestamp and
 * 3 float64 columns. 1M rows by default (a smoke check that also runs in CI); set
 * LARDER_PERF_ROWS=10000000 for the 10M-row measurement. Timings are printed as test diagnostics.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { columnGet, makeBatch, type ColumnarBatch } from "../src/offline/columnar.js";
import { readParquetBatch, writeParquetFile } from "../src/offline/parquet-io.js";

const ROWS = Number(process.env["LARDER_PERF_ROWS"] ?? 1_000_000);
const REPS = Number(process.env["LARDER_PERF_REPS"] ?? 3);

function dataset(n: number): ColumnarBatch {
  const key = new Float64Array(n);
  const ts = new Float64Array(n);
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  const c = new Float64Array(n);
  const t0 = Date.UTC(2024, 0, 1);
  let seed = 42;
  for (let i = 0; i < n; i++) {
    key[i] = Math.floor(i / 100); // 100 events per entity, sorted by (key, ts)
    ts[i] = t0 + (i % 100) * 3_600_000;
    seed = (seed * 1103515245 + 12345) % 2147483648;
    a[i] = seed / 2147483648;
    b[i] = i * 0.5;
    c[i] = Math.round(a[i]! * 1000) / 10;
  }
  return makeBatch({
    entity_id: { type: "int64", values: key, valid: null },
    event_timestamp: { type: "timestamp", values: ts, valid: null },
    f1: { type: "float64", values: a, valid: null },
    f2: { type: "float64", values: b, valid: null },
    f3: { type: "float64", values: c, valid: null },
  });
}

test(`Parquet write and read of ${ROWS} rows × (int64, timestamp, 3 × float64)`, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "larder-perf-"));
  try {
    const batch = dataset(ROWS);
    const path = join(dir, "perf.parquet");
    const writes: number[] = [];
    const reads: number[] = [];
    const readsIpc: number[] = [];
    let back: ColumnarBatch | undefined;
    for (let r = 0; r < REPS; r++) {
      let s = performance.now();
      await writeParquetFile(path, batch);
      writes.push((performance.now() - s) / 1000);
      s = performance.now();
      back = await readParquetBatch(path);
      reads.push((performance.now() - s) / 1000);
      s = performance.now();
      await readParquetBatch(path, { decoder: "ipc" });
      readsIpc.push((performance.now() - s) / 1000);
    }
    const size = (await stat(path)).size;
    const fmt = (xs: number[]) => `min ${Math.min(...xs).toFixed(2)} s, all [${xs.map((x) => x.toFixed(2)).join(", ")}]`;
    t.diagnostic(`file: ${(size / 1e6).toFixed(1)} MB (snappy)`);
    t.diagnostic(`write ColumnarBatch → Parquet: ${fmt(writes)}`);
    t.diagnostic(`read Parquet → ColumnarBatch (C data interface): ${fmt(reads)}`);
    t.diagnostic(`read Parquet → ColumnarBatch (IPC fallback): ${fmt(readsIpc)}`);
    assert.equal(back!.numRows, ROWS);
    for (const i of [0, ROWS >> 1, ROWS - 1]) {
      for (const name of batch.columns.keys()) assert.equal(columnGet(back!.columns.get(name)!, i), columnGet(batch.columns.get(name)!, i), `${name}[${i}]`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
