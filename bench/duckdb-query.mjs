/**
 * The DuckDB peer of bench/run.ts, run as a new process like the Larder CLI it is compared with:
 * `node bench/duckdb-query.mjs <file.sql> [memoryLimit]` opens an in-memory DuckDB (every core),
 * runs the file's statements and exits. Plain JavaScript, not TypeScript through tsx, so that its
 * start-up is Node's plus loading @duckdb/node-api, as the compiled CLI's is.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { DuckDBInstance } from "@duckdb/node-api";

const [file, memoryLimit] = process.argv.slice(2);
if (file === undefined) throw new Error("usage: node bench/duckdb-query.mjs <file.sql> [memoryLimit]");
const instance = await DuckDBInstance.create(":memory:", {
  threads: String(availableParallelism()),
  ...(memoryLimit !== undefined ? { memory_limit: memoryLimit } : {}),
});
const connection = await instance.connect();
await connection.run(readFileSync(file, "utf8"));
connection.closeSync();
instance.closeSync();
