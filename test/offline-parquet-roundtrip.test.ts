/**
 * A Parquet round trip of the offline store's hot-path shape, large enough for several row groups
 * (a partial last one): every value of every row reads back equal. The
 * throughput of the same shape at 1M–10M rows is a benchmark: bench/parquet-io.ts.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { columnGet, type ColumnarBatch } from "../src/data/columnar.js";
import { readParquetBatch, writeParquetFile } from "../src/offline/parquet-io.js";
import { offlineSampleBatch } from "./helpers/offline-sample-batch.js";

const ROWS = 250_000;
const ROW_GROUP = 100_000;

/** The first differing (column, row), or null when every value is equal. */
function firstDifference(got: ColumnarBatch, want: ColumnarBatch): string | null {
  if (got.numRows !== want.numRows) return `${got.numRows} rows, expected ${want.numRows}`;
  for (const [name, col] of want.columns) {
    const back = got.columns.get(name);
    if (back === undefined) return `column ${name} is missing`;
    for (let i = 0; i < want.numRows; i++) {
      const [g, w] = [columnGet(back, i), columnGet(col, i)];
      if (g !== w) return `${name}[${i}]: ${String(g)}, expected ${String(w)}`;
    }
  }
  return null;
}

test(`Parquet write and read of ${ROWS} rows × (int64, timestamp, 3 × float64) in ${Math.ceil(ROWS / ROW_GROUP)} row groups: every value`, async () => {
  const dir = await mkdtemp(join(tmpdir(), "larder-roundtrip-"));
  try {
    const batch = offlineSampleBatch(ROWS);
    const path = join(dir, "sample.parquet");
    await writeParquetFile(path, batch, { rowGroupSize: ROW_GROUP });
    assert.equal(firstDifference(await readParquetBatch(path), batch), null);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
