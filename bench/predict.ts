/**
 * Predictions against the plain online lookup for the same feature service, in the same run on one
 * `larder serve` process (from dist/), with autocannon in this process:
 *
 *   npm run build && node --import tsx bench/predict.ts
 *
 * Setup: 100k entities (BENCH_PREDICT_ENTITIES), one plain view with the five stored inputs of the
 * 100-tree xgboost fixture (test/fixtures/models/xgb-binary-logistic.model.json, made by real
 * xgboost: depth ≤ 4, binary:logistic) and an on-demand view computing its sixth, `cart_vs_avg`,
 * from a request field; a service `bench` over both. Data is generated into bench/data/predict-<N>/
 * (gitignored), backfilled and materialized into a dedicated redis-server (free loopback port,
 * nothing persisted). Two models read that service: `logit` (larder.linear.v1 logistic over the
 * six inputs) and `xgb` (the fixture, 100 trees).
 *
 * Each request carries 1 or 10 random entities and a cart value per row (bodies made up front and
 * cycled). The lookup is `POST /get-online-features {"feature_service": "bench", ...}`; a predict
 * is `POST /v1/predict/<model>` with the same entities and request field (no contributions; one
 * extra run with them for xgboost at batch 1). Per batch size: lookup, logit, xgb, lookup again
 * (the lookup figure is the mean of its two runs, so load drift hits both sides alike), each with a
 * 2 s warm-up, then BENCH_PREDICT_SECONDS (10) with 50 connections: req/s, p50, p99 and the
 * server's CPU time per request (from /proc; steadier than req/s on a shared machine). The
 * server runs with its defaults, so every prediction is also written to the prediction log
 * (BENCH_PREDICT_LOG=0 turns it off, to show its cost).
 *
 * BENCH_CPU_PROF=1 starts the server with --cpu-prof (profiles in bench/out/predict/).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import autocannon from "autocannon";
import { Float64, Int64, Table, TimestampMillisecond, tableToIPC, vectorFromArray, type Vector } from "apache-arrow";
import * as pw from "parquet-wasm";
import { FeatureStore } from "../src/feature-store.js";
import { promoteModel, registerModel } from "../src/use-cases/model-registry.js";
import { startRedisServer } from "../test/helpers/redis-cluster.js";
import { rng } from "../test/helpers/seeded-random.js";
import { cpuMs, freePort } from "./process-support.js";

const root = resolve(import.meta.dirname, "..");
const N = Number(process.env.BENCH_PREDICT_ENTITIES ?? 100_000);
const SECONDS = Number(process.env.BENCH_PREDICT_SECONDS ?? 10);
const CONNECTIONS = 50;
const BATCHES = (process.env.BENCH_PREDICT_BATCHES ?? "1,10").split(",").map(Number);
const dataDir = join(root, "bench", "data", `predict-${N}`);
const repoDir = join(dataDir, "repo");
const srcFile = join(repoDir, "data", "stats.parquet");
const cli = join(root, "dist", "cli", "main.js");
const xgbFile = join(root, "test", "fixtures", "models", "xgb-binary-logistic.model.json");
const DAY = 86_400_000;
/** Recent data, so the view's TTL-free rows and the read time need no care. */
const T0 = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;

/** Values in the ranges the fixture was trained on (a few nulls, which take default branches). */
function writeRepo(): void {
  const r = rng(5);
  mkdirSync(join(repoDir, "data"), { recursive: true });
  const maybe = (v: number) => (r() < 0.03 ? null : v);
  const vectors: Record<string, Vector> = {
    customer_id: vectorFromArray(
      Array.from({ length: N }, (_, i) => BigInt(i + 1)),
      new Int64(),
    ),
    ts: vectorFromArray(
      Array.from({ length: N }, () => T0 + Math.floor(r() * DAY)),
      new TimestampMillisecond("UTC"),
    ),
    monthly_fee: vectorFromArray(
      Array.from({ length: N }, () => maybe(Math.round((10 + r() * 40) * 100) / 100)),
      new Float64(),
    ),
    tenure_months: vectorFromArray(
      Array.from({ length: N }, () => maybe(Math.floor(r() * 48))),
      new Float64(),
    ),
    spend_7d: vectorFromArray(
      Array.from({ length: N }, () => maybe(Math.round(r() * 80000) / 100)),
      new Float64(),
    ),
    txn_count_30d: vectorFromArray(
      Array.from({ length: N }, () => Math.floor(r() * 25)),
      new Float64(),
    ),
    avg_amount_30d: vectorFromArray(
      Array.from({ length: N }, () => maybe(Math.round(r() * 20000) / 100)),
      new Float64(),
    ),
  };
  writeFileSync(srcFile, pw.writeParquet(pw.Table.fromIPCStream(tableToIPC(new Table(vectors), "stream"))));
  writeFileSync(join(repoDir, "package.json"), `{ "private": true }\n`);
  writeFileSync(
    join(repoDir, "features.ts"),
    [
      `import { entity, featureView, onDemandFeatureView, requestSource, featureService, parquetSource, types as t } from "larder";`,
      `export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });`,
      `const src = parquetSource({ name: "src", path: "data/stats.parquet", timestampField: "ts" });`,
      `export const stats = featureView({ name: "stats", entities: [customer], source: src,`,
      `  schema: { monthly_fee: t.float64, tenure_months: t.float64, spend_7d: t.float64, txn_count_30d: t.float64, avg_amount_30d: t.float64 } });`,
      `const cart = requestSource({ name: "cart", schema: { cart_value: t.float64 } });`,
      `export const ratios = onDemandFeatureView({ name: "ratios", sources: [stats, cart], schema: { cart_vs_avg: t.float64 },`,
      `  transform: (f) => ({ cart_vs_avg: f.avg_amount_30d == null || f.avg_amount_30d === 0 ? null : f.cart_value / f.avg_amount_30d }) });`,
      `export const bench = featureService({ name: "bench", features: [stats, ratios] });`,
      ``,
    ].join("\n"),
  );
}

/** The config, rewritten every run: BENCH_PREDICT_LOG=0 turns the server's prediction log off. */
function writeConfig(): void {
  writeFileSync(
    join(repoDir, "larder.config.ts"),
    [
      `export default {`,
      `  project: "benchpredict",`,
      `  definitions: ["./features.ts"],`,
      `  registry: "embedded",`,
      `  online: process.env.LARDER_ONLINE_URL ?? "embedded",`,
      `  offline: { path: "./offline" },`,
      `  server: { predictionLog: process.env.BENCH_PREDICT_LOG !== "0" },`,
      `};`,
      ``,
    ].join("\n"),
  );
}

const INPUTS = ["monthly_fee", "tenure_months", "spend_7d", "txn_count_30d", "avg_amount_30d", "cart_vs_avg"];
const logit = {
  format: "larder.linear.v1",
  objective: "logistic",
  missing: "fill",
  intercept: -0.3,
  inputs: INPUTS.map((feature, j) => ({ feature, kind: "numeric", mean: [30, 24, 400, 12, 100, 1.5][j], std: [11, 14, 230, 7, 58, 3][j], fill: null, weight: [0.4, -0.3, 0.2, -0.1, 0.05, 0.25][j] })),
};

async function startLarder(port: number, env: NodeJS.ProcessEnv): Promise<{ url: string; child: ChildProcess }> {
  const prof = process.env.BENCH_CPU_PROF === "1" ? ["--cpu-prof", "--cpu-prof-dir", join(root, "bench", "out", "predict")] : [];
  const child = spawn(process.execPath, [...prof, cli, "--repo", repoDir, "serve", "--host", "127.0.0.1", "--port", String(port)], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`larder serve exited with ${child.exitCode}:\n${log}`);
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`larder serve did not start:\n${log}`);
    await sleep(200);
  }
  return { url, child };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGINT");
  const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

type Kind = { kind: "lookup" } | { kind: "predict"; model: string; contributions: boolean };

function bodies(kind: Kind, batch: number, count: number): string[] {
  const r = rng(batch * 31 + 7); // the same entities for every kind of run at one batch size
  return Array.from({ length: count }, () => {
    const customer_id = Array.from({ length: batch }, () => 1 + Math.floor(r() * N));
    const cart_value = customer_id.map(() => Math.round(r() * 30000) / 100);
    return JSON.stringify(kind.kind === "lookup" ? { feature_service: "bench", entities: { customer_id, cart_value } } : { entities: { customer_id }, request: { cart_value }, ...(kind.contributions ? { contributions: true } : {}) });
  });
}

function path(kind: Kind): string {
  return kind.kind === "lookup" ? "/get-online-features" : `/v1/predict/${kind.model}`;
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  cpuUsPerReq: number;
}

/** CPU time of a process so far, ms (Linux /proc; NaN elsewhere). */

async function load(url: string, kind: Kind, batch: number, seconds: number, pid?: number): Promise<Result> {
  const pool = bodies(kind, batch, 1000);
  let next = 0;
  const cpu0 = cpuMs(pid);
  const res = await autocannon({
    url: `${url}${path(kind)}`,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [{ method: "POST", headers: { "content-type": "application/json" }, setupRequest: (req) => ({ ...req, body: pool[next++ % pool.length]! }) }],
  });
  const cpuUsPerReq = ((cpuMs(pid) - cpu0) * 1000) / Math.max(1, res.requests.total);
  return { rps: res.requests.average, p50: res.latency.p50, p99: res.latency.p99, errors: res.errors + res.timeouts, non2xx: res.non2xx, cpuUsPerReq };
}

async function check(url: string): Promise<void> {
  for (const kind of [{ kind: "lookup" }, { kind: "predict", model: "logit", contributions: true }, { kind: "predict", model: "xgb", contributions: true }] as Kind[]) {
    const res = await fetch(`${url}${path(kind)}`, { method: "POST", headers: { "content-type": "application/json" }, body: bodies(kind, 10, 1)[0]! });
    const text = await res.text();
    if (!res.ok) throw new Error(`${path(kind)}: ${res.status} ${text}`);
    if (kind.kind === "predict") {
      const body = JSON.parse(text) as { results: { prediction: number | null; features: Record<string, unknown> }[] };
      const present = body.results.filter((r) => r.features.monthly_fee !== null).length;
      if (present < 5 || body.results.some((r) => typeof r.prediction !== "number")) throw new Error(`${path(kind)}: features missing or no prediction: ${text.slice(0, 500)}`);
    }
  }
}

async function main(): Promise<void> {
  if (!existsSync(cli)) throw new Error("run `npm run build` first (the server runs from dist/)");
  if (!existsSync(srcFile)) {
    console.log(`generating ${N.toLocaleString()} entities into ${dataDir}…`);
    writeRepo();
  }
  writeConfig();
  const redisServer = await startRedisServer();
  const env = { ...process.env, LARDER_ONLINE_URL: redisServer.url, CI: "1" };
  process.env.LARDER_ONLINE_URL = redisServer.url;
  let server: { url: string; child: ChildProcess } | undefined;
  try {
    const store = await FeatureStore.open(repoDir);
    const range = { start: T0 - DAY, end: T0 + 2 * DAY };
    await store.apply();
    if (!existsSync(join(repoDir, "offline", "stats"))) {
      console.log("backfill (once)…");
      await store.backfill(range);
    }
    console.log("materialize into Redis…");
    await store.materialize(range);
    for (const [name, model, type] of [
      ["logit", logit, "logistic"],
      ["xgb", JSON.parse(readFileSync(xgbFile, "utf8")) as unknown, "xgboost"],
    ] as const) {
      const v = await registerModel(store, { name, service: "bench", model, type });
      await promoteModel(store, name, v.version);
    }
    const port = await freePort();
    server = await startLarder(port, env);
    await check(server.url);

    const load1 = loadavg()
      .map((x) => x.toFixed(2))
      .join(" ");
    const lines: string[] = [];
    const fmt = (r: Result) => `${Math.round(r.rps).toLocaleString("en-US")} | ${r.p50} | ${r.p99} | ${Math.round(r.cpuUsPerReq)}${r.errors + r.non2xx > 0 ? ` (${r.errors} errors, ${r.non2xx} non-2xx)` : ""}`;
    for (const batch of BATCHES) {
      const runs: [string, Kind][] = [
        ["lookup", { kind: "lookup" }],
        ["predict logit", { kind: "predict", model: "logit", contributions: false }],
        ["predict xgb", { kind: "predict", model: "xgb", contributions: false }],
        ...(batch === 1 ? [["predict xgb + contributions", { kind: "predict", model: "xgb", contributions: true }] as [string, Kind]] : []),
        ["lookup", { kind: "lookup" }],
      ];
      const results: [string, Result][] = [];
      for (const [label, kind] of runs) {
        await load(server.url, kind, batch, 2);
        console.log(`batch ${batch}, ${label}: ${SECONDS} s…`);
        results.push([label, await load(server.url, kind, batch, SECONDS, server.child.pid)]);
      }
      const lookups = results.filter(([l]) => l === "lookup").map(([, r]) => r);
      const mean = (f: (r: Result) => number) => lookups.reduce((s, r) => s + f(r), 0) / lookups.length;
      const lookup: Result = {
        rps: mean((r) => r.rps),
        p50: mean((r) => r.p50),
        p99: mean((r) => r.p99),
        errors: lookups.reduce((s, r) => s + r.errors, 0),
        non2xx: lookups.reduce((s, r) => s + r.non2xx, 0),
        cpuUsPerReq: mean((r) => r.cpuUsPerReq),
      };
      lines.push(`| ${batch} | lookup (mean of ${lookups.length} runs: ${lookups.map((r) => Math.round(r.rps).toLocaleString("en-US")).join(", ")} req/s) | ${fmt(lookup)} | — | — | — |`);
      for (const [label, r] of results.filter(([l]) => l !== "lookup")) {
        lines.push(`| ${batch} | ${label} | ${fmt(r)} | ${(r.rps / lookup.rps).toFixed(2)}× | ${(r.p99 / lookup.p99).toFixed(2)}× | ${(r.cpuUsPerReq / lookup.cpuUsPerReq).toFixed(2)}× |`);
      }
    }
    const load2 = loadavg()
      .map((x) => x.toFixed(2))
      .join(" ");
    console.log(`\nmachine: nproc ${cpus().length}, ${cpus()[0]?.model ?? "?"}, Node ${process.version}; load average ${load1} before, ${load2} after`);
    console.log(
      `data: ${N.toLocaleString()} entities; service "bench": 5 stored float64 features + 1 on-demand; Redis; ${CONNECTIONS} connections, ${SECONDS} s per run; prediction log ${process.env.BENCH_PREDICT_LOG === "0" ? "off (BENCH_PREDICT_LOG=0)" : "on (the default)"}\n`,
    );
    console.log("| batch | run | req/s | p50 ms | p99 ms | CPU µs/req | req/s vs lookup | p99 vs lookup | CPU/req vs lookup |");
    console.log("|---|---|---|---|---|---|---|---|---|");
    for (const l of lines) console.log(l);
  } finally {
    if (server) await stop(server.child);
    await redisServer.stop();
  }
}

await main();
