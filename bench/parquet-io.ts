/**
 * Parquet throughput of the offline store's hot path (moved here from the test suite, where it
 * wrote 1M rows three times per run and checked three of them; the round trip of every value is
 * test/offline-parquet-roundtrip.test.ts). No peer: an absolute measurement of parquet-io.ts.
 *
 *   node --import tsx bench/parquet-io.ts        (BENCH_PARQUET_ROWS=1000000, BENCH_PARQUET_REPS=3)
 *
 * Shape: 1 int64 key, 1 timestamp, 3 float64 columns (test/helpers/offline-sample-batch.ts),
 * snappy, default row groups. Per repetition: write ColumnarBatch → Parquet, read back through the
 * C data interface and through the IPC fallback; min and all times per step.
 */
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readParquetBatch, writeParquetFile } from "../src/offline/parquet-io.js";
import { offlineSampleBatch } from "../test/helpers/offline-sample-batch.js";

const ROWS = Number(process.env.BENCH_PARQUET_ROWS ?? 1_000_000);
const REPS = Number(process.env.BENCH_PARQUET_REPS ?? 3);

async function seconds(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return (performance.now() - t) / 1000;
}

const dir = await mkdtemp(join(tmpdir(), "larder-bench-parquet-"));
try {
  const batch = offlineSampleBatch(ROWS);
  const path = join(dir, "bench.parquet");
  const times = { write: [] as number[], readFfi: [] as number[], readIpc: [] as number[] };
  for (let r = 0; r < REPS; r++) {
    times.write.push(await seconds(() => writeParquetFile(path, batch)));
    times.readFfi.push(await seconds(async () => {
      const back = await readParquetBatch(path);
      if (back.numRows !== ROWS) throw new Error(`read ${back.numRows} rows, wrote ${ROWS}`);
    }));
    times.readIpc.push(await seconds(() => readParquetBatch(path, { decoder: "ipc" })));
  }
  const fmt = (xs: number[]) => `min ${Math.min(...xs).toFixed(2)} s (${(ROWS / Math.min(...xs) / 1e6).toFixed(2)} M rows/s), all [${xs.map((x) => x.toFixed(2)).join(", ")}]`;
  console.log(`${ROWS.toLocaleString()} rows × (int64, timestamp, 3 × float64), file ${((await stat(path)).size / 1e6).toFixed(1)} MB (snappy)`);
  console.log(`write ColumnarBatch → Parquet:                   ${fmt(times.write)}`);
  console.log(`read Parquet → ColumnarBatch (C data interface): ${fmt(times.readFfi)}`);
  console.log(`read Parquet → ColumnarBatch (IPC fallback):     ${fmt(times.readIpc)}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
