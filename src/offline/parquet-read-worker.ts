/**
 * Worker thread that decodes Parquet files into ColumnarBatches (parquet-wasm is synchronous, so
 * decoding on a second core is the only way to overlap it with the join on the main thread).
 */
import { parentPort } from "node:worker_threads";
import { isLarderError } from "../errors.js";
import type { ColumnarBatch } from "./columnar.js";
import { readParquetBatch } from "./parquet-io.js";

interface ReadRequest {
  id: number;
  path: string;
  columns?: string[];
}

function transferables(batch: ColumnarBatch): ArrayBuffer[] {
  const out = new Set<ArrayBuffer>();
  for (const col of batch.columns.values()) {
    if (col.type === "string" || col.type === "bool") continue;
    out.add(col.values.buffer as ArrayBuffer);
    if (col.valid) out.add(col.valid.buffer as ArrayBuffer);
  }
  return [...out];
}

parentPort!.on("message", (req: ReadRequest) => {
  readParquetBatch(req.path, req.columns ? { columns: req.columns } : {}).then(
    (batch) => parentPort!.postMessage({ id: req.id, batch }, transferables(batch)),
    (err: unknown) => {
      const e = err as { message?: string; code?: string; details?: unknown; name?: string };
      parentPort!.postMessage({
        id: req.id,
        error: { message: e?.message ?? String(err), code: isLarderError(err) ? e.code : undefined, details: isLarderError(err) ? e.details : undefined, nodeCode: (err as { code?: unknown })?.code },
      });
    },
  );
});
