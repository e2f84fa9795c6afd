/**
 * Where a server's CPU time goes: sums a V8 .cpuprofile (from `BENCH_CPU_PROF=1 node --import tsx
 * bench/serving.ts`) by component, attributing each sample to the innermost frame that belongs to a
 * known component (so JSON.stringify inside fastify's reply counts as fastify's serialization).
 *
 *   node --import tsx bench/serving-profile.ts bench/out/serving-larder/*.cpuprofile
 */
import { readFileSync } from "node:fs";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const REDIS = (url: string): boolean => url.includes("/ioredis/") || url.includes("redis-parser") || url.includes("denque");

/** First match wins, tried from the innermost frame outwards. */
const COMPONENTS: [string, (fn: string, url: string) => boolean][] = [
  ["idle", (fn) => fn === "(idle)"],
  ["garbage collection", (fn) => fn === "(garbage collector)"],
  ["response JSON serialization (fastify reply)", (fn, url) => fn === "serialize" && url.includes("fastify/lib/reply")],
  ["request JSON parsing", (_fn, url) => url.includes("secure-json-parse")],
  ["body validation (zod)", (_fn, url) => url.includes("/zod/")],
  ["metrics (prom-client)", (_fn, url) => url.includes("prom-client")],
  ["Larder online store (src/online)", (_fn, url) => url.includes("/online/")],
  ["Larder read path (src/serving)", (_fn, url) => url.includes("/serving/")],
  ["Larder definitions", (_fn, url) => url.includes("/definitions/") || url.includes("/materialize/")],
  ["Larder server (routes, auth, errors)", (_fn, url) => url.includes("/server/")],
  ["naive server handler", (_fn, url) => url.includes("naive-server")],
  ["fastify", (_fn, url) => url.includes("/fastify/") || url.includes("find-my-way") || url.includes("avvio")],
  ["HTTP and sockets (node core)", (fn, url) => /^node:(_http|net|internal\/stream|internal\/streams|events)/.test(url) || ["writev", "writeUtf8String", "writeBuffer"].includes(fn)],
  ["module loading, startup", (_fn, url) => url.startsWith("node:internal/modules") || url.includes("tsx/dist") || url.includes("cjs/loader")],
];

function summarize(file: string): void {
  const p = JSON.parse(readFileSync(file, "utf8")) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const totals = new Map<string, number>();
  let all = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    all += dt;
    let name = "other";
    // Socket writes and parsing done for Redis count as the Redis client's, not HTTP's.
    const leaf = byId.get(id)!.callFrame.functionName;
    if (leaf !== "(idle)" && leaf !== "(garbage collector)") {
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        if (REDIS(byId.get(cur)!.callFrame.url)) {
          name = "Redis client (ioredis, with its socket I/O)";
          break;
        }
      }
    }
    if (name === "other")
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const f = byId.get(cur)!.callFrame;
        const hit = COMPONENTS.find(([, test]) => test(f.functionName, f.url));
        if (hit) {
          name = hit[0];
          break;
        }
      }
    totals.set(name, (totals.get(name) ?? 0) + dt);
  });
  const busy = all - (totals.get("idle") ?? 0);
  console.log(`\n${file}: ${(all / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy`);
  for (const [name, t] of [...totals].sort((a, b) => b[1] - a[1])) {
    if (name === "idle") continue;
    console.log(`${((100 * t) / busy).toFixed(1).padStart(5)}%  ${name}`);
  }
}

for (const file of process.argv.slice(2)) summarize(file);
