#!/usr/bin/env node
/**
 * `npm run example`: the quickstart, end to end, with no services running.
 *
 *   1. generate the data (examples/churn/generate-data.ts)
 *   2. larder apply         store the definitions in the registry (embedded PGlite by default)
 *   3. larder backfill      compute the feature views into the offline store (data/offline)
 *   4. larder training-set  join churn_v1's features onto data/labels.parquet, point in time
 *   5. larder models train  fit a logistic churn model on that training set, register it as a new version
 *   6. larder models promote / predict   make it the production version, score the label rows in batch
 *   7. print the first rows of the training set and of the predictions
 *
 * Extra arguments go to the generator: `npm run example -- --customers 1000 --seed 7`.
 * Every step runs from the repository root; the script stops with the failing step's status.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as arrow from "apache-arrow";
import { readParquet } from "parquet-wasm";

const exampleDir = dirname(fileURLToPath(import.meta.url));
const root = resolve(exampleDir, "../..");
const rel = (p) => relative(root, p) || ".";
const repo = rel(exampleDir); // examples/churn
const cli = join(root, "dist/cli/main.js");
const labels = join(repo, "data/labels.parquet");
const trainingSet = join(repo, "data/training_set.parquet");
const predictions = join(repo, "data/predictions.parquet");

function step(title, args) {
  console.log(`\n▶ ${title}\n  $ node ${args.join(" ")}`);
  const res = spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" });
  if (res.error) {
    console.error(`✗ ${title}: ${res.error.message}`);
    process.exit(1);
  }
  if (res.status !== 0) {
    console.error(`✗ ${title} failed (${res.signal ? `signal ${res.signal}` : `exit status ${res.status}`})`);
    process.exit(res.status || 1);
  }
}

if (!existsSync(cli)) {
  // `npm ci` builds through the prepare script; build here too for a checkout that skipped it.
  step("build the CLI (dist/ is missing)", [join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.build.json"]);
}
const larder = (...args) => [rel(cli), "--repo", repo, ...args];

step("generate data", ["--import", "tsx", join(repo, "generate-data.ts"), ...process.argv.slice(2)]);
step("larder apply", larder("apply"));
step("larder backfill", larder("backfill", "--start", "2024-01-01T00:00:00Z", "--end", "2024-07-01T00:00:00Z"));
step("larder training-set", larder("training-set", "--entities", labels, "--service", "churn_v1", "--out", trainingSet));
step("larder models train", larder("models", "train", "--name", "churn", "--service", "churn_v1", "--entities", labels, "--label", "churned", "--type", "logistic"));
step("larder models promote", larder("models", "promote", "--name", "churn", "--version", "latest"));
step("larder predict", larder("predict", "--model", "churn", "--entities", labels, "--out", predictions));

const table = arrow.tableFromIPC(readParquet(readFileSync(join(root, trainingSet))).intoIPCStream());
console.log(`\n▶ ${trainingSet}: first 5 of ${table.numRows.toLocaleString("en-US")} rows\n`);
printRows(table, 5);
console.log(`\n${table.numRows.toLocaleString("en-US")} rows × ${table.numCols} columns (${table.schema.fields.map((f) => f.name).join(", ")})`);

const scored = arrow.tableFromIPC(readParquet(readFileSync(join(root, predictions))).intoIPCStream());
console.log(`\n▶ ${predictions}: first 5 of ${scored.numRows.toLocaleString("en-US")} rows\n`);
printRows(scored.select(["customer_id", "event_timestamp", "churned", "prediction", "model_version"]), 5);

/** Prints the first rows as an aligned text table: timestamps as ISO, floats to 2 decimals. */
function printRows(t, n) {
  const fields = t.schema.fields;
  const isTime = fields.map((f) => arrow.DataType.isTimestamp(f.type) || arrow.DataType.isDate(f.type));
  const isFloat = fields.map((f) => arrow.DataType.isFloat(f.type));
  const isText = fields.map((f) => arrow.DataType.isUtf8(f.type) || arrow.DataType.isLargeUtf8(f.type));
  const format = (v, i) => {
    if (v === null || v === undefined) return "null";
    if (isTime[i]) return new Date(Number(v instanceof Date ? v.getTime() : v)).toISOString().replace(".000Z", "Z");
    if (isFloat[i]) return Number(v).toFixed(2);
    return String(v);
  };
  const rows = [];
  for (let r = 0; r < Math.min(n, t.numRows); r++) {
    rows.push(fields.map((f, i) => format(t.getChildAt(i)?.get(r), i)));
  }
  const header = fields.map((f) => f.name);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) => cells.map((c, i) => (isText[i] ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "─".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
}
