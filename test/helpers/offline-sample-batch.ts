/**
 * The offline store's hot-path shape for Parquet round trips (test/offline-parquet-roundtrip.test.ts)
 * and throughput (bench/parquet-io.ts): an int64 key, a timestamp and 3 float64 columns; 100
 * events per entity, sorted by (key, ts); deterministic values.
 */
import { makeBatch, type ColumnarBatch } from "../../src/data/columnar.js";
import { rng } from "./seeded-random.js";

export function offlineSampleBatch(n: number): ColumnarBatch {
  const key = new Float64Array(n);
  const ts = new Float64Array(n);
  const a = new Float64Array(n);
  const b = new Float64Array(n);
  const c = new Float64Array(n);
  const t0 = Date.UTC(2024, 0, 1);
  const random = rng(42);
  for (let i = 0; i < n; i++) {
    key[i] = Math.floor(i / 100);
    ts[i] = t0 + (i % 100) * 3_600_000;
    a[i] = random();
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
