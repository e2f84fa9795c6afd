/**
 * Micro-benchmark of embedded model scoring (node --import tsx bench/models.ts): rows per second
 * for a logistic model (6 numeric inputs + 1 categorical) and the 100-tree, depth-4 xgboost
 * binary:logistic fixture, one row per call (online serving) and 100 rows per call (batch), with
 * and without contributions (TreeSHAP for the trees). Rows come from the xgboost fixture, missing
 * values included. Run it alone: the figures are only as quiet as the machine.
 */
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { loadModel, type Model, type ModelRow } from "../src/models/index.js";

const fixtures = new URL("../test/fixtures/models/", import.meta.url);
const expected = JSON.parse(readFileSync(new URL("xgb-binary-logistic.expected.json", fixtures), "utf8")) as { features: string[]; rows: (number | null)[][] };
const plans = ["basic", "pro", "family", "student"];
const rows: ModelRow[] = expected.rows.map((r, i) => ({ ...Object.fromEntries(expected.features.map((f, j) => [f, r[j]])), plan: plans[i % 4] }));

const xgb = loadModel(readFileSync(new URL("xgb-binary-logistic.model.json", fixtures), "utf8"));
const logistic = loadModel({
  format: "larder.linear.v1",
  objective: "logistic",
  missing: "fill",
  intercept: -0.4,
  inputs: [
    ...expected.features.map((feature, j) => ({ feature, kind: "numeric", mean: 10 * j, std: 1 + j, fill: null, weight: 0.1 * (j - 3) })),
    { feature: "plan", kind: "categorical", categories: ["basic", "pro", "family"], weights: [0.2, -0.3, 0.1], fill: "basic" },
  ],
});

let sink = 0;

/**
 * Rows per second of `predict` over `batch`-row calls, measured for ~`ms` after a warm-up, by the
 * wall clock and by this process's CPU time (the second is steadier on a shared machine).
 */
function measure(model: Model, batch: number, contributions: boolean, ms = 1500): { wall: number; cpu: number } {
  const batches: ModelRow[][] = [];
  for (let i = 0; i + batch <= rows.length || batches.length === 0; i += batch) batches.push(Array.from({ length: batch }, (_, k) => rows[(i + k) % rows.length]!));
  const opts = { contributions };
  const run = (n: number) => {
    for (let i = 0; i < n; i++) sink += model.predict(batches[i % batches.length]!, opts).length;
  };
  run(Math.ceil(2000 / batch) + 50); // warm-up (JIT)
  let calls = 0;
  const chunk = Math.max(1, Math.round((contributions ? 50 : 2000) / batch));
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < ms) {
    run(chunk);
    calls += chunk;
    elapsed = performance.now() - start;
  }
  const cpu = process.cpuUsage(cpu0);
  const n = calls * batch;
  return { wall: n / (elapsed / 1000), cpu: n / ((cpu.user + cpu.system) / 1e6) };
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US").padStart(10);
const both = (r: { wall: number; cpu: number }) => `${fmt(r.wall)} ${fmt(r.cpu)}`;
console.log(`node ${process.version}, ${cpus()[0]?.model ?? "?"} × ${cpus().length}, load average ${loadavg()[0]!.toFixed(1)}; xgboost: ${(xgb as { treeCount?: number }).treeCount} trees, depth ≤ 4, ${xgb.features.length} features`);
console.log("rows/s                          predict (wall, CPU)     + contributions (wall, CPU)");
for (const [name, model] of [
  ["logistic", logistic],
  ["xgboost 100 trees", xgb],
] as const) {
  for (const batch of [1, 100]) {
    console.log(`${name.padEnd(17)} batch ${String(batch).padStart(3)}  ${both(measure(model, batch, false))}   ${both(measure(model, batch, true))}`);
  }
}
if (sink === 0) console.log("");
