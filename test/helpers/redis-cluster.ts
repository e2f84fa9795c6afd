/**
 * Starts throwaway redis-server processes on free loopback ports: a single server (for fault tests
 * that kill and restart it) and a three-master Cluster. Nothing is persisted; `stop()` kills the
 * processes and removes their directory.
 *
 * @example
 * const cluster = await startRedisCluster();
 * try { … cluster.url … } finally { await cluster.stop(); }
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { redisAvailable } from "./services.js";

/** True if the redis-server and redis-cli binaries are on PATH. */
export function redisBinariesAvailable(): boolean {
  return ["redis-server", "redis-cli"].every((bin) => spawnSync(bin, ["--version"], { stdio: "ignore" }).status === 0);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
  });
}

/** A free port P in 20000–45000 whose cluster bus port P+10000 is free too. */
export async function freeRedisPort(taken: ReadonlySet<number> = new Set()): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20000 + Math.floor(Math.random() * 25000);
    if (!taken.has(port) && (await portFree(port)) && (await portFree(port + 10000))) return port;
  }
  throw new Error("no free port pair for redis-server");
}

export interface RedisServer {
  port: number;
  url: string;
  /** Kills the server (SIGKILL: like a crash). */
  kill(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that accepts connections but never answers. */
  pause(): void;
  resume(): void;
  /** Starts the server again on the same port (empty: nothing is persisted). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function launch(port: number, dir: string, extra: string[] = []): ChildProcess {
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", ...extra], { stdio: "ignore" });
  child.on("error", () => {});
  return child;
}

async function killChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGCONT");
  child.kill("SIGKILL");
  await exited;
}

/** One standalone redis-server on a free port. */
export async function startRedisServer(): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), "larder-redis-"));
  const port = await freeRedisPort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = launch(port, dir);
    await waitFor(`redis-server on ${port}`, () => redisAvailable("127.0.0.1", port, 500));
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill: () => killChild(child),
    pause: () => void child?.kill("SIGSTOP"),
    resume: () => void child?.kill("SIGCONT"),
    restart: start,
    async stop() {
      await killChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface RedisCluster {
  ports: number[];
  /** redis-cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3 */
  url: string;
  stop(): Promise<void>;
}

/** Three masters, no replicas, on free loopback ports; resolves once cluster_state is ok on all. */
export async function startRedisCluster(): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), "larder-redis-cluster-"));
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) ports.push(await freeRedisPort(new Set(ports.flatMap((p) => [p, p + 10000, p - 10000]))));
  const children = ports.map((p) => launch(p, dir, ["--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${p}.conf`)]));
  const stop = async (): Promise<void> => {
    await Promise.all(children.map(killChild));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const p of ports) await waitFor(`redis-server on ${p}`, () => redisAvailable("127.0.0.1", p, 500));
    const create = spawnSync("redis-cli", ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", "0", "--cluster-yes"], { encoding: "utf8", timeout: 30_000 });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
    for (const p of ports) {
      await waitFor(`cluster_state:ok on ${p}`, () => spawnSync("redis-cli", ["-p", String(p), "cluster", "info"], { encoding: "utf8" }).stdout.includes("cluster_state:ok"), 20_000);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { ports, url: `redis-cluster://${ports.map((p) => `127.0.0.1:${p}`).join(",")}`, stop };
}
