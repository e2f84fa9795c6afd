/**
 * How long one large `/get-online-features` request stalls the other requests of a server: while
 * a 100k-entity request runs (BENCH_STALL_ENTITIES), one client sends batch-1 requests back to
 * back and records their latency. Compared with the server processing the large request in chunks
 * of 1,000 rows (`server.chunkRows`, the default) and in one go (chunkRows 1e9, what the server did
 * before chunking), each in its own `larder serve` process, over the same Redis data.
 *
 *   node --import tsx bench/large-request-stall.ts
 *
 * Setup: 100k entities × 1 view × 5 float64 features, backfilled and materialized by Larder into a
 * dedicated redis-server (free loopback port, nothing persisted), under bench/data/ (gitignored).
 * Per configuration: 20 s of batch-1 requests alone (baseline), then BENCH_STALL_ROUNDS (5)
 * large requests one after another, each with batch-1 requests running alongside it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Float64, Int64, Table, TimestampMillisecond, tableToIPC, vectorFromArray, type Vector } from "apache-arrow";
import * as pw from "parquet-wasm";
import { FeatureStore } from "../src/feature-store.js";
import { startRedisServer } from "../test/helpers/redis-cluster.js";
import { rng } from "../test/helpers/seeded-random.js";
import { writeBenchRepo } from "./bench-repo.js";
import { freePort } from "./process-support.js";

const root = resolve(import.meta.dirname, "..");
const N = Number(process.env.BENCH_STALL_ENTITIES ?? 100_000);
const ROUNDS = Number(process.env.BENCH_STALL_ROUNDS ?? 5);
const BASELINE_MS = 20_000;
const dataDir = join(root, "bench", "data", `stall-${N}`);
const repoDir = join(dataDir, "repo");
const FEATURES = ["f0", "f1", "f2", "f3", "f4"];
const T0 = Date.UTC(2024, 0, 1);

function writeRepo(): void {
  const r = rng(3);
  mkdirSync(join(repoDir, "data"), { recursive: true });
  const vectors: Record<string, Vector> = {
    customer_id: vectorFromArray(
      Array.from({ length: N }, (_, i) => BigInt(i + 1)),
      new Int64(),
    ),
    ts: vectorFromArray(
      Array.from({ length: N }, () => T0 + Math.floor(r() * 86_400_000)),
      new TimestampMillisecond("UTC"),
    ),
  };
  for (const f of FEATURES)
    vectors[f] = vectorFromArray(
      Array.from({ length: N }, () => r()),
      new Float64(),
    );
  writeFileSync(join(repoDir, "data", "features.parquet"), pw.writeParquet(pw.Table.fromIPCStream(tableToIPC(new Table(vectors), "stream"))));
  writeBenchRepo(repoDir, {
    project: "benchstall",
    views: { v: FEATURES },
    configExtra: `server: { maxEntityRows: ${N}, bodyLimit: 16 * 1024 * 1024, predictionLog: false, chunkRows: Number(process.env.BENCH_CHUNK_ROWS ?? 1000) },`,
  });
}

async function startLarder(port: number, env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "--repo", repoDir, "serve", "--port", String(port)], { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((res, rej) => {
    let out = "";
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("listening on")) res();
    });
    child.on("exit", (code, signal) => rej(new Error(`larder serve exited with ${code ?? signal}: ${out}`)));
  });
  child.on("exit", (code, signal) => code !== 0 && console.error(`larder serve (chunkRows ${env.BENCH_CHUNK_ROWS}) exited with ${code ?? signal}`));
  return child;
}

const refs = FEATURES.map((f) => `v:${f}`);
const bigBody = JSON.stringify({ features: refs, entities: { customer_id: Array.from({ length: N }, (_, i) => i + 1) } });

/** The large request, on a connection of its own (not one the batch-1 client pool also uses). */
function bigRequest(port: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: "127.0.0.1", port, method: "POST", path: "/get-online-features", agent: false, headers: { "content-type": "application/json" } }, (res) => {
      let bytes = 0;
      res.on("data", (d: Buffer) => (bytes += d.length));
      res.on("end", () => (res.statusCode === 200 ? resolvePromise() : reject(new Error(`large request: ${res.statusCode} (${bytes} bytes)`))));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(bigBody);
  });
}

async function small(url: string, id: number): Promise<number> {
  const t = performance.now();
  const res = await fetch(`${url}/get-online-features`, { method: "POST", body: `{"features":${JSON.stringify(refs)},"entities":{"customer_id":[${id}]}}` });
  if (res.status !== 200) throw new Error(`batch-1 request: ${res.status} ${await res.text()}`);
  await res.arrayBuffer();
  return performance.now() - t;
}

/** Batch-1 requests back to back until `until` resolves; their latencies in ms. */
async function smallLoop(url: string, until: Promise<unknown>): Promise<number[]> {
  let done = false;
  void until.finally(() => (done = true));
  const out: number[] = [];
  for (let i = 0; !done; i++) out.push(await small(url, 1 + ((i * 7919) % N)));
  return out;
}

const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
};
const fmt = (x: number): string => x.toFixed(1);

async function measure(label: string, chunkRows: string, onlineUrl: string): Promise<void> {
  const port = await freePort();
  const child = await startLarder(port, { LARDER_ONLINE_URL: onlineUrl, BENCH_CHUNK_ROWS: chunkRows });
  const url = `http://127.0.0.1:${port}`;
  try {
    for (let i = 0; i < 200; i++) await small(url, i + 1); // warm-up
    await bigRequest(port);
    const baseline = await smallLoop(url, sleep(BASELINE_MS));
    const during: number[] = [];
    const bigMs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const t = performance.now();
      const big = bigRequest(port).then(() => bigMs.push(performance.now() - t));
      during.push(...(await smallLoop(url, big)));
      await big;
    }
    console.log(`| ${label} | ${fmt(q(bigMs, 0.5))} | ${fmt(q(baseline, 0.5))} / ${fmt(q(baseline, 0.99))} | ${during.length} | ${fmt(q(during, 0.5))} / ${fmt(q(during, 0.99))} / ${fmt(Math.max(...during))} |`);
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
}

const redis = await startRedisServer();
try {
  if (!existsSync(join(repoDir, "features.ts"))) writeRepo();
  process.env.LARDER_ONLINE_URL = redis.url;
  const store = await FeatureStore.open(repoDir);
  await store.apply();
  if (!existsSync(join(repoDir, "offline", "v"))) await store.backfill({ start: T0 - 86_400_000, end: T0 + 2 * 86_400_000 });
  await store.materialize({ start: T0 - 86_400_000, end: T0 + 2 * 86_400_000 });
  await store.close();
  console.log(
    `large-request stall: ${N.toLocaleString("en-US")} entities × ${FEATURES.length} features per large request, ${ROUNDS} rounds; ${cpus().length} CPUs (${cpus()[0]?.model}), load ${loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")}; Node ${process.version}`,
  );
  console.log(`| server | large request p50 ms | batch-1 alone p50 / p99 ms | batch-1 requests during large | batch-1 during large p50 / p99 / max ms |`);
  console.log(`|---|---|---|---|---|`);
  await measure("chunks of 1,000 rows (default)", "1000", redis.url);
  await measure("one go (chunkRows 1e9, as before)", "1000000000", redis.url);
} finally {
  await redis.stop();
}
