/**
 * Online serving: Larder's `/get-online-features` (`larder serve`, from dist/) against two peers
 * over the same Redis data, in the same run, with autocannon in this process and each server in
 * its own process: the naive server (bench/naive-server.ts: fastify + one ioredis HMGET per view
 * and entity, no validation) and the same server with all of a request's HMGETs in one pipeline
 * (one round trip per request, as Larder's one MGET). Both peers are compiled to plain JavaScript
 * first (bench/out/naive-server.mjs), as Larder runs compiled from dist/.
 *
 *   npm run build && node --import tsx bench/serving.ts
 *
 * Setup: 100k entities (BENCH_SERVE_ENTITIES) × 5 views × 10 float64 features, generated into
 * bench/data/serving-<N>/ (gitignored), backfilled and materialized by Larder into a dedicated
 * redis-server (free loopback port, nothing persisted) and written there as hashes for the peers.
 * Each request asks for all 50 features of 1, 10 or 100 random entities (request bodies are made
 * up front and cycled). Per server and batch size: 2 s warm-up, then BENCH_SERVE_SECONDS (10) with
 * 50 connections; req/s, p50 and p99 latency. Per batch size the servers run twice, in one order
 * and then in the reverse (Larder first, then last), and each figure is the mean of its two runs,
 * so machine load drifting during a batch hits every server alike. Also each server process's CPU
 * time per request (from /proc): on a shared, loaded machine req/s and latency move with the load,
 * CPU per request much less.
 *
 * BENCH_SERVE_CONNECTIONS=1 measures latency without queueing (the issue's 50 is the default).
 * BENCH_CPU_PROF=1 starts the servers with --cpu-prof (profiles in bench/out/serving-<server>/;
 * bench/profile-buckets.ts sums one by component).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import autocannon from "autocannon";
import { Float64, Int64, Table, TimestampMillisecond, tableFromIPC, tableToIPC, vectorFromArray, type Vector } from "apache-arrow";
import { Redis } from "ioredis";
import * as pw from "parquet-wasm";
import { FeatureStore } from "../src/feature-store.js";
import { startRedisServer } from "../test/helpers/redis-cluster.js";
import ts from "typescript";
import { writeNaiveHashes } from "./naive-server.js";
import { rng } from "../test/helpers/seeded-random.js";
import { writeBenchRepo } from "./bench-repo.js";
import { cpuMs, freePort } from "./process-support.js";

const root = resolve(import.meta.dirname, "..");
const N = Number(process.env.BENCH_SERVE_ENTITIES ?? 100_000);
const SECONDS = Number(process.env.BENCH_SERVE_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_SERVE_CONNECTIONS ?? 50);
const BATCHES = (process.env.BENCH_SERVE_BATCHES ?? "1,10,100").split(",").map(Number);
const VIEWS = 5;
const PER_VIEW = 10;
const dataDir = join(root, "bench", "data", `serving-${N}`);
const repoDir = join(dataDir, "repo");
const srcFile = join(repoDir, "data", "features.parquet");
const cli = join(root, "dist", "cli", "main.js");
const DAY = 86_400_000;
const T0 = Date.UTC(2024, 0, 1);
const viewNames = Array.from({ length: VIEWS }, (_, v) => `v${v}`);
const featuresOf = (v: number) => Array.from({ length: PER_VIEW }, (_, k) => `f${v * PER_VIEW + k}`);
const allFeatures = viewNames.flatMap((_, v) => featuresOf(v));
const refs = viewNames.flatMap((name, v) => featuresOf(v).map((f) => `${name}:${f}`));

function writeRepo(): void {
  const r = rng(11);
  mkdirSync(join(repoDir, "data"), { recursive: true });
  const vectors: Record<string, Vector> = {
    customer_id: vectorFromArray(
      Array.from({ length: N }, (_, i) => BigInt(i + 1)),
      new Int64(),
    ),
    ts: vectorFromArray(
      Array.from({ length: N }, () => T0 + Math.floor(r() * DAY)),
      new TimestampMillisecond("UTC"),
    ),
  };
  for (const f of allFeatures)
    vectors[f] = vectorFromArray(
      Array.from({ length: N }, () => Math.round(r() * 1e8) / 1e4),
      new Float64(),
    );
  writeFileSync(srcFile, pw.writeParquet(pw.Table.fromIPCStream(tableToIPC(new Table(vectors), "stream"))));
  writeBenchRepo(repoDir, { project: "benchserve", views: Object.fromEntries(viewNames.map((name, v) => [name, featuresOf(v)])) });
}

/** bench/naive-server.ts as plain JavaScript in bench/out/ (types stripped, as tsc emits dist/). */
function compileNaiveServer(): string {
  const source = readFileSync(join(root, "bench", "naive-server.ts"), "utf8");
  const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
  const out = join(root, "bench", "out", "naive-server.mjs");
  mkdirSync(join(root, "bench", "out"), { recursive: true });
  writeFileSync(out, outputText);
  return out;
}

interface Server {
  name: string;
  url: string;
  child: ChildProcess;
}

async function startServer(name: string, args: string[], port: number, env: NodeJS.ProcessEnv): Promise<Server> {
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (d: Buffer) => (log += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (log += d.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${log}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok || res.status === 404) break; // the naive server has no /health
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} did not start:\n${log}`);
    await sleep(200);
  }
  return { name, url, child };
}

async function stopServer(s: Server): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise((r) => s.child.once("exit", r));
  s.child.kill("SIGINT");
  const timer = setTimeout(() => s.child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

function bodies(batch: number, count: number): string[] {
  const r = rng(batch);
  return Array.from({ length: count }, () => JSON.stringify({ features: refs, entities: { customer_id: Array.from({ length: batch }, () => 1 + Math.floor(r() * N)) } }));
}

interface Result {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  /** The server process's CPU time (user + system) per request, µs; NaN where /proc is missing. */
  cpuUsPerReq: number;
}

/** CPU time of a process so far, ms (Linux /proc; NaN elsewhere). Robust to machine load, unlike req/s. */

async function load(url: string, batch: number, seconds: number, pid?: number): Promise<Result> {
  const pool = bodies(batch, 1000);
  let next = 0;
  const cpu0 = cpuMs(pid);
  const res = await autocannon({
    url: `${url}/get-online-features`,
    connections: CONNECTIONS,
    duration: seconds,
    requests: [
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        setupRequest: (req) => ({ ...req, body: pool[next++ % pool.length]! }),
      },
    ],
  });
  const cpuUsPerReq = ((cpuMs(pid) - cpu0) * 1000) / Math.max(1, res.requests.total);
  return { rps: res.requests.average, p50: res.latency.p50, p99: res.latency.p99, errors: res.errors + res.timeouts, non2xx: res.non2xx, cpuUsPerReq };
}

/** Every server answers the same request with the same values (the benchmark compares equal work). */
async function checkSameAnswers(servers: readonly Server[]): Promise<void> {
  const body = bodies(7, 1)[0]!;
  const get = async (s: Server) => {
    const res = await fetch(`${s.url}/get-online-features`, { method: "POST", headers: { "content-type": "application/json" }, body });
    if (!res.ok) throw new Error(`${s.name}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { metadata: { feature_names: string[] }; results: { values: unknown[] }[] };
  };
  const [first, ...rest] = await Promise.all(servers.map(get));
  for (const [k, other] of rest.entries()) {
    const name = servers[k + 1]!.name;
    if (JSON.stringify(first!.metadata.feature_names) !== JSON.stringify(other.metadata.feature_names)) throw new Error(`${servers[0]!.name} and ${name} answer different feature names`);
    if (JSON.stringify(first!.results.map((r) => r.values)) !== JSON.stringify(other.results.map((r) => r.values))) throw new Error(`${servers[0]!.name} and ${name} answer different values`);
  }
}

/** The mean of two runs of one server (req/s, latency and CPU per request). */
function mean(a: Result, b: Result): Result {
  const avg = (x: number, y: number) => (x + y) / 2;
  return { rps: avg(a.rps, b.rps), p50: avg(a.p50, b.p50), p99: avg(a.p99, b.p99), errors: a.errors + b.errors, non2xx: a.non2xx + b.non2xx, cpuUsPerReq: avg(a.cpuUsPerReq, b.cpuUsPerReq) };
}

async function main(): Promise<void> {
  if (!existsSync(cli)) throw new Error("run `npm run build` first (Larder's server runs from dist/)");
  if (!existsSync(srcFile)) {
    console.log(`generating ${N.toLocaleString()} entities × ${allFeatures.length} features into ${dataDir}…`);
    writeRepo();
  }
  const redisServer = await startRedisServer();
  const env = { ...process.env, LARDER_ONLINE_URL: redisServer.url, CI: "1" };
  process.env.LARDER_ONLINE_URL = redisServer.url;
  const servers: Server[] = [];
  try {
    const store = await FeatureStore.open(repoDir);
    const range = { start: T0 - DAY, end: T0 + 2 * DAY };
    await store.apply();
    if (!existsSync(join(repoDir, "offline", "v0"))) {
      console.log("backfill (once)…");
      await store.backfill(range);
    }
    console.log("materialize into Redis, and the same data as hashes for the naive server…");
    await store.materialize(range);
    const t = tableFromIPC(pw.readParquet(readFileSync(srcFile)).intoIPCStream());
    const ids = Float64Array.from(t.getChild("customer_id")!.toArray() as BigInt64Array, Number);
    const tsVec = t.getChild("ts")!;
    const ts = Float64Array.from({ length: t.numRows }, (_, i) => Number(tsVec.get(i)));
    const redis = new Redis(redisServer.url);
    for (let v = 0; v < VIEWS; v++) {
      const fs = featuresOf(v);
      await writeNaiveHashes(
        redis,
        viewNames[v]!,
        fs,
        ids,
        ts,
        fs.map((f) => t.getChild(f)!.toArray() as Float64Array),
      );
    }
    const info = await redis.info("memory");
    redis.disconnect();
    console.log(`redis used_memory: ${/used_memory_human:(\S+)/.exec(info)?.[1]}`);

    const profile = (name: string) => (process.env.BENCH_CPU_PROF === "1" ? ["--cpu-prof", "--cpu-prof-dir", join(root, "bench", "out", `serving-${name}`)] : []);
    const larderPort = await freePort();
    const larder = await startServer("larder", [...profile("larder"), cli, "--repo", repoDir, "serve", "--host", "127.0.0.1", "--port", String(larderPort)], larderPort, env);
    servers.push(larder);
    const naiveJs = compileNaiveServer();
    for (const [name, extra] of [
      ["naive", []],
      ["pipelined", ["--pipeline"]],
    ] as const) {
      const port = await freePort();
      servers.push(await startServer(name, [...profile(name), naiveJs, "--port", String(port), "--redis", redisServer.url, ...extra], port, env));
    }
    await checkSameAnswers(servers);

    const load1 = loadavg()
      .map((x) => x.toFixed(2))
      .join(" ");
    const rows: string[] = [];
    for (const batch of BATCHES) {
      const runs = new Map<string, Result[]>();
      // One order, then the reverse: Larder runs first, then last.
      for (const order of [servers, [...servers].reverse()]) {
        for (const s of order) {
          await load(s.url, batch, 2);
          console.log(`${s.name}, batch ${batch}: ${SECONDS} s…`);
          const r = await load(s.url, batch, SECONDS, s.child.pid);
          runs.set(s.name, [...(runs.get(s.name) ?? []), r]);
        }
      }
      const [l, n, p] = ["larder", "naive", "pipelined"].map((name) => mean(runs.get(name)![0]!, runs.get(name)![1]!)) as [Result, Result, Result];
      const fmt = (r: Result) => `${Math.round(r.rps).toLocaleString("en-US")} | ${r.p99} | ${Math.round(r.cpuUsPerReq)}${r.errors + r.non2xx > 0 ? ` (${r.errors} errors, ${r.non2xx} non-2xx)` : ""}`;
      const ratios = (peer: Result) => `${(l.rps / peer.rps).toFixed(2)}× | ${(l.p99 / peer.p99).toFixed(2)}× | ${(l.cpuUsPerReq / peer.cpuUsPerReq).toFixed(2)}×`;
      rows.push(`| ${batch} | ${fmt(l)} | ${fmt(n)} | ${fmt(p)} | ${ratios(n)} | ${ratios(p)} |`);
      console.log(rows.at(-1));
    }
    const load2 = loadavg()
      .map((x) => x.toFixed(2))
      .join(" ");
    console.log(`\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, Node ${process.version}; load average ${load1} before, ${load2} after`);
    console.log(`data: ${N.toLocaleString()} entities, ${VIEWS} views × ${PER_VIEW} float64 features; ${CONNECTIONS} connections, ${SECONDS} s per run, two runs per server and batch (orders reversed), means\n`);
    console.log("| batch | Larder req/s | p99 ms | CPU µs/req | naive req/s | p99 ms | CPU µs/req | pipelined naive req/s | p99 ms | CPU µs/req | req/s Larder/naive | p99 | CPU/req | req/s Larder/pipelined | p99 | CPU/req |");
    console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for (const r of rows) console.log(r);
  } finally {
    for (const s of servers) await stopServer(s);
    await redisServer.stop();
  }
}

await main();
