/**
 * The fixed cost of a `larder` command on embedded defaults (issue 11: ≤ 0.5 s), against `node -e ''`
 * as the peer (what any Node CLI pays to start). In a repository made by `larder init` and
 * `larder apply` (plus a backfill and a materialization, so `online` reads real values), each command
 * runs BENCH_RUNS times (default 10), the commands taking turns so that load changes hit them alike.
 * Reported per command: median and p90 of wall time and of CPU time (user + system of the whole
 * process, all threads; it moves much less with the machine's load than wall time does).
 *
 *   npm run build && node --import tsx bench/cli-fixed-cost.ts
 *   LARDER_CLI=/other/build/dist/cli/main.js node --import tsx bench/cli-fixed-cost.ts   # another build
 *   LARDER_CLI_BEFORE=/old/build/dist/cli/main.js …   # also that build's commands, taking turns with these
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const cli = resolve(process.env.LARDER_CLI ?? join(root, "dist", "cli", "main.js"));
const before = process.env.LARDER_CLI_BEFORE === undefined ? undefined : resolve(process.env.LARDER_CLI_BEFORE);
const runs = Number(process.env.BENCH_RUNS ?? 10);

const work = mkdtempSync(join(tmpdir(), "larder-cli-bench-"));
const repo = join(work, "repo");
const cpuFile = join(work, "cpu");
// Preloaded into every measured process: writes its CPU time (µs, all threads) when it exits.
const preload = join(work, "report-cpu.mjs");
writeFileSync(preload, `import { writeFileSync } from "node:fs";\nprocess.on("exit", () => { const u = process.cpuUsage(); writeFileSync(${JSON.stringify(cpuFile)}, String(u.user + u.system)); });\n`);

interface Sample {
  wallMs: number;
  cpuMs: number;
}

function run(args: string[], opts: { measure?: boolean } = {}): Sample {
  rmSync(cpuFile, { force: true });
  const t = performance.now();
  const res = spawnSync(process.execPath, [...(opts.measure ? ["--import", preload] : []), ...args], { cwd: repo, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, CI: "1" } });
  const wallMs = performance.now() - t;
  if (res.status !== 0) throw new Error(`${args.join(" ")} failed with ${res.status}: ${res.stderr.toString()}`);
  return { wallMs, cpuMs: opts.measure ? Number(readFileSync(cpuFile, "utf8")) / 1000 : Number.NaN };
}

const larder = (...args: string[]): string[] => [cli, ...args];

const larderCommands: [string, string[]][] = [
  ["--version", ["--version"]],
  ["list", ["list"]],
  ["plan", ["plan"]],
  ["runs", ["runs"]],
  ["online", ["online", "--service", "driver_activity", "--entity", "driver_id=1001", "--entity", "requested_km=12"]],
];
const commands: [string, string[]][] = [
  ["node -e ''", ["-e", ""]],
  ...larderCommands.map(([name, args]): [string, string[]] => [`larder ${name}`, [cli, ...args]]),
  ...(before === undefined ? [] : larderCommands.map(([name, args]): [string, string[]] => [`before ${name}`, [before, ...args]])),
];

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

function main(): void {
  if (!existsSync(cli)) throw new Error(`${cli} not found: run \`npm run build\` first`);
  try {
    spawnSync(process.execPath, [cli, "init", repo], { stdio: "ignore" });
    run(larder("apply"));
    run(larder("backfill", "--start", "2024-01-01", "--end", "2024-03-01"));
    run(larder("materialize", "--start", "2024-01-01", "--end", "2024-03-01"));
    for (const [, args] of commands) run(args); // warm the page cache
    const samples = new Map<string, Sample[]>(commands.map(([name]) => [name, []]));
    for (let i = 0; i < runs; i++) for (const [name, args] of commands) samples.get(name)!.push(run(args, { measure: true }));
    const peer = samples.get(commands[0]![0])!;
    const peerWall = quantile(
      peer.map((s) => s.wallMs),
      0.5,
    );
    const peerCpu = quantile(
      peer.map((s) => s.cpuMs),
      0.5,
    );
    console.log(
      `CLI fixed cost, ${runs} runs each, ${cpus().length} cores, load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")} (before and during the run: see below)`,
    );
    console.log(`larder: ${cli}${before === undefined ? "" : `\nbefore: ${before}`}`);
    console.log("command            wall median   wall p90   cpu median   cpu p90   median over the peer (wall / cpu)");
    for (const [name] of commands) {
      const s = samples.get(name)!;
      const wall = s.map((x) => x.wallMs);
      const cpu = s.map((x) => x.cpuMs);
      const over = name === commands[0]![0] ? "" : `+${Math.round(quantile(wall, 0.5) - peerWall)} ms / +${Math.round(quantile(cpu, 0.5) - peerCpu)} ms`;
      console.log(`${name.padEnd(18)} ${fmt(quantile(wall, 0.5))} ${fmt(quantile(wall, 0.9))} ${fmt(quantile(cpu, 0.5))} ${fmt(quantile(cpu, 0.9))}   ${over}`);
    }
    console.log(
      `load average after: ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")}`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function fmt(ms: number): string {
  return `${Math.round(ms)} ms`.padStart(11);
}

main();
