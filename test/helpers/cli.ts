/**
 * Helpers for tests that run the real `larder` command in a child process, as a user would:
 * `node --import tsx src/cli/main.ts --repo DIR …` from the repository root (where tsx and the
 * packages resolve), with an environment that names no external registry or store unless a test
 * asks for one.
 *
 * @example
 * const res = larder(dir, ["apply"]);
 * assertOk(res);
 * const msg = assertCliError(larder(dir, ["backfill", "--start", "2024-02-01", "--end", "2024-01-01"]), "INVALID_ARGUMENT");
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as arrow from "apache-arrow";
import { readParquet } from "parquet-wasm";

/** The repository root: the child's working directory unless a test gives another. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const CLI = join(ROOT, "src/cli/main.ts");
/** tsx's loader by URL, so the child finds it from any working directory. */
const TSX = import.meta.resolve("tsx");

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** The command line, for assertion messages. */
  command: string;
}

export interface CliOptions {
  /** Extra environment variables (undefined deletes one). */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** The child's working directory (default ROOT): relative --entities/--out paths start there. */
  cwd?: string;
}

/** The caller's environment without variables that would point a feature repository at services. */
export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ["LARDER_SOURCE_POSTGRES_URL", "LARDER_REGISTRY_URL", "LARDER_ONLINE_URL", "LARDER_REGISTRY_SCHEMA", "LARDER_DEBUG", "CI"]) delete env[name];
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function argv(repo: string | null, args: readonly string[]): string[] {
  return ["--import", TSX, CLI, ...(repo === null ? [] : ["--repo", repo]), ...args];
}

function describeCommand(repo: string | null, args: readonly string[]): string {
  return `larder ${repo === null ? "" : `--repo ${repo} `}${args.join(" ")}`;
}

/** Runs `larder [--repo repo] …args` and waits for it. `repo` null leaves --repo out. */
export function larder(repo: string | null, args: readonly string[], options: CliOptions = {}): CliResult {
  const res = spawnSync(process.execPath, argv(repo, args), {
    cwd: options.cwd ?? ROOT,
    env: cliEnv(options.env),
    encoding: "utf8",
    timeout: options.timeoutMs ?? 120_000,
  });
  if (res.error) throw res.error;
  return { status: res.status, stdout: res.stdout, stderr: res.stderr, command: describeCommand(repo, args) };
}

/** Like `larder`, but without blocking: for commands that must run at the same time. */
export function larderAsync(repo: string | null, args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, argv(repo, args), { cwd: options.cwd ?? ROOT, env: cliEnv(options.env), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (status) => {
      clearTimeout(timer);
      resolvePromise({ status, stdout, stderr, command: describeCommand(repo, args) });
    });
  });
}

/** A `larder serve` child process, once it printed its address. */
export interface ServedCli {
  child: ChildProcess;
  /** http://host:port from its "listening on" line. */
  url: string;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `larder --repo repo serve --port 0 …args` and waits (up to timeoutMs, 120 s) for its address line. */
export async function larderServe(repo: string, args: readonly string[] = [], options: CliOptions = {}): Promise<ServedCli> {
  const child = spawn(process.execPath, argv(repo, ["serve", "--port", "0", ...args]), {
    cwd: options.cwd ?? ROOT,
    env: cliEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (s: string) => (stdout += s));
  child.stderr.setEncoding("utf8").on("data", (s: string) => (stderr += s));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolvePromise) => child.on("exit", (code, signal) => resolvePromise({ code, signal })));
  const url = await new Promise<string>((resolvePromise, reject) => {
    const limitMs = options.timeoutMs ?? 120_000;
    // A server that never says where it listens is killed, so it cannot keep the test file alive.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`no address line within ${limitMs / 1000} s:\n${stdout}\n${stderr}`));
    }, limitMs);
    const check = () => {
      const m = /listening on (http:\/\/\S+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolvePromise(m[1]!);
      }
    };
    child.stdout.on("data", check);
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`larder serve exited early:\n${stdout}\n${stderr}`));
    });
  });
  return { child, url, stdout: () => stdout, stderr: () => stderr, exit };
}

function show(res: CliResult): string {
  return `${res.command}\n  exit status: ${res.status}\n  stdout: ${res.stdout.trimEnd() || "(empty)"}\n  stderr: ${res.stderr.trimEnd() || "(empty)"}`;
}

/** Asserts exit status 0; returns stdout. */
export function assertOk(res: CliResult): string {
  assert.equal(res.status, 0, `expected success:\n${show(res)}`);
  return res.stdout;
}

/**
 * Asserts the failure contract: a non-zero status and exactly one stderr line,
 * `error [CODE]: message`, with the expected code. Returns the message.
 */
export function assertCliError(res: CliResult, code: string, ...patterns: RegExp[]): string {
  assert.notEqual(res.status, 0, `expected a failure with ${code}:\n${show(res)}`);
  assert.notEqual(res.status, null, `killed by a signal or timeout:\n${show(res)}`);
  const lines = res.stderr.split("\n").filter((l, i, all) => !(l === "" && i === all.length - 1));
  assert.equal(lines.length, 1, `expected exactly one stderr line:\n${show(res)}`);
  assert.ok(res.stderr.endsWith("\n"), `the error line should end with a newline:\n${show(res)}`);
  const m = /^error \[([A-Z_]+)\]: (.+)$/.exec(lines[0]!);
  assert.ok(m, `stderr is not "error [CODE]: message":\n${show(res)}`);
  assert.equal(m[1], code, `wrong error code:\n${show(res)}`);
  for (const p of patterns) assert.match(m[2]!, p, `error message does not match ${p}:\n${show(res)}`);
  return m[2]!;
}

/**
 * Every path under `dir` (directories included) with its size, mtime and a SHA-256 of the
 * content, sorted by path; `exclude` skips top-level entries by name. Compare two snapshots with
 * deepEqual to show nothing was written, created or removed.
 */
export function snapshotTree(dir: string, exclude: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const rel = relative(dir, p);
      if (d === dir && exclude.includes(name)) continue;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out[`${rel}/`] = "dir";
        walk(p);
      } else {
        const hash = createHash("sha256").update(readFileSync(p)).digest("hex").slice(0, 16);
        out[rel] = `${st.size} bytes, mtime ${st.mtimeMs}, sha256 ${hash}`;
      }
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

/** A Parquet file as an Arrow table (read with parquet-wasm, not Larder's reader). */
export function readParquetTable(path: string): arrow.Table {
  return arrow.tableFromIPC(readParquet(readFileSync(path)).intoIPCStream());
}

/** A table's rows as plain objects (bigints as numbers, dates as epoch ms), for deepEqual. */
export function plainRows(table: arrow.Table): Record<string, unknown>[] {
  const names = table.schema.fields.map((f) => f.name);
  return Array.from({ length: table.numRows }, (_, i) => {
    const row: Record<string, unknown> = {};
    for (const name of names) {
      const v: unknown = table.getChild(name)!.get(i);
      row[name] = v === undefined || v === null ? null : typeof v === "bigint" ? Number(v) : v instanceof Date ? v.getTime() : v;
    }
    return row;
  });
}
