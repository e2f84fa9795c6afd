/** The sources port's conformance suite against Parquet sources. */
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { parquetSource } from "../src/definitions/sources.js";
import { runSourceReaderConformance } from "./conformance/source-reader.js";
import { arrowTable, col, fastTempDir, writeParquet } from "./helpers/feature-repo.js";

runSourceReaderConformance("parquet", async () => {
  const dir = await mkdtemp(join(fastTempDir(), "larder-src-parquet-"));
  return {
    opts: { repoDir: dir },
    async make(name, rows, options = {}) {
      await writeParquet(
        join(dir, `${name}.parquet`),
        arrowTable({
          id: col.int64(rows.map((r) => r.id)),
          ts: col.timestamp(rows.map((r) => r.ts)),
          created: col.timestamp(rows.map((r) => r.created)),
          amount: col.float64(rows.map((r) => r.amount)),
          plan: col.string(rows.map((r) => r.plan)),
          active: col.bool(rows.map((r) => r.active)),
        }),
      );
      return parquetSource({ name, path: `${name}.parquet`, timestampField: "ts", createdTimestampField: options.createdTimestampField ?? undefined, fieldMapping: options.fieldMapping ?? {} });
    },
    missing: (name) => parquetSource({ name, path: "nowhere/*.parquet", timestampField: "ts" }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
