/**
 * Parquet throughput of the offline store's hot path (the round trip of every value is
 * test/offline-parquet-roundtrip.test.ts). No peer: an absolute measurement of parquet-io.ts, run
 * on the same machine against the previous implementation (parquet-wasm) for BENCHMARKS.md.
 *
 *   node --import tsx bench/parquet-io.ts        (BENCH_PARQUET_ROWS=1000000, BENCH_PARQUET_REPS=3)
 *
 * Shape: 7 columns: 1 int64 key, 1 timestamp, 3 float64 (test/helpers/offline-sample-batch.ts),
 * a string (100 distinct values) and a bool; snappy, default row groups. Per repetition: write
 * ColumnarBatch → Parquet, read it back (all columns) and read 2 of the columns; min and all times.
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
  batch.columns.set("plan", { type: "string", values: Array.from({ length: ROWS }, (_, i) => `plan-${i % 100}`) });
  batch.columns.set("active", { type: "bool", values: Array.from({ length: ROWS }, (_, i) => i % 3 === 0) });
  const path = join(dir, "bench.parquet");
  const times = { write: [] as number[], read: [] as number[], read2: [] as number[] };
  for (let r = 0; r < REPS; r++) {
    times.write.push(await seconds(() => writeParquetFile(path, batch)));
    times.read.push(
      await seconds(async () => {
        const back = await readParquetBatch(path);
        if (back.numRows !== ROWS) throw new Error(`read ${back.numRows} rows, wrote ${ROWS}`);
      }),
    );
    times.read2.push(await seconds(() => readParquetBatch(path, { columns: ["entity_id", "f1"] })));
  }
  const fmt = (xs: number[]) => `min ${Math.min(...xs).toFixed(2)} s (${(ROWS / Math.min(...xs) / 1e6).toFixed(2)} M rows/s), all [${xs.map((x) => x.toFixed(2)).join(", ")}]`;
  console.log(`${ROWS.toLocaleString()} rows × 7 columns (int64, timestamp, 3 × float64, string, bool), file ${((await stat(path)).size / 1e6).toFixed(1)} MB (snappy)`);
  console.log(`write ColumnarBatch → Parquet:          ${fmt(times.write)}`);
  console.log(`read Parquet → ColumnarBatch (all 7):   ${fmt(times.read)}`);
  console.log(`read Parquet → ColumnarBatch (2 of 7):  ${fmt(times.read2)}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
