import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { openRegistry } from "../src/registry/open-registry.js";
import { runRegistryConformance } from "./conformance/registry-store.js";

// One repository for the whole file: creating a PGlite database costs seconds, reopening it doesn't.
const repoDir = mkdtempSync(join(tmpdir(), "larder-registry-"));
const lockFile = join(repoDir, ".larder", "registry.lock");
after(() => rmSync(repoDir, { recursive: true, force: true }));

runRegistryConformance("pglite", () => openRegistry("embedded", { repoDir }));

const openRegistryUrl = pathToFileURL(resolve("src/registry/open-registry.ts")).href;

/** Runs a script in a separate Node process (through tsx) with the registry module's URL and the repo dir in env. */
function spawnScript(script: string): { child: ReturnType<typeof spawn>; lines: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    env: { ...process.env, REGISTRY_MODULE: openRegistryUrl, REPO_DIR: repoDir },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => lines.push(...chunk.split("\n").filter(Boolean)));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((res) =>
    child.on("exit", (code) => {
      if (code !== 0 && code !== null) process.stderr.write(`child stderr: ${stderr}\n`);
      res(code);
    }),
  );
  return { child, lines, exited };
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The pid of a process that has certainly exited. */
function deadPid(): number {
  const res = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
  return Number(res.stdout);
}

describe("embedded registry: one process at a time", () => {
  test("a second process waits on the file lock and gets in after the first closes", async () => {
    const first = await openRegistry("embedded", { repoDir });
    await first.apply("lockproj", [{ kind: "entity", name: "customer", spec: { k: 1 }, hash: "h1" }]);
    const { lines, exited } = spawnScript(`
      const { openRegistry } = await import(process.env.REGISTRY_MODULE);
      console.log(JSON.stringify({ event: "opening", at: Date.now() }));
      const store = await openRegistry("embedded", { repoDir: process.env.REPO_DIR, lockTimeoutMs: 20000 });
      console.log(JSON.stringify({ event: "opened", at: Date.now() }));
      const defs = await store.listDefinitions("lockproj");
      console.log(JSON.stringify({ event: "read", names: defs.map((d) => d.name) }));
      await store.close();
    `);
    await until(() => lines.some((l) => l.includes('"opening"')), 15_000, "the child to start opening");
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(!lines.some((l) => l.includes('"opened"')), "the child cannot open while we hold the registry");
    const closedAt = Date.now();
    await first.close();
    assert.equal(await exited, 0);
    const events = lines.map((l) => JSON.parse(l) as { event: string; at?: number; names?: string[] });
    const opened = events.find((e) => e.event === "opened");
    assert.ok(opened?.at !== undefined && opened.at >= closedAt, "the child opened after we closed");
    assert.deepEqual(events.find((e) => e.event === "read")?.names, ["customer"]);
    assert.equal(existsSync(lockFile), false, "the child released the lock");
  });

  test("a stale lock whose process is dead is broken", async () => {
    const pid = deadPid();
    writeFileSync(lockFile, `${pid}\n`);
    const store = await openRegistry("embedded", { repoDir, lockTimeoutMs: 5000 });
    try {
      assert.equal(readFileSync(lockFile, "utf8").trim(), String(process.pid));
      assert.equal((await store.getDefinition("lockproj", "entity", "customer"))?.hash, "h1");
    } finally {
      await store.close();
    }
    assert.equal(existsSync(lockFile), false);
  });

  test("a lock held by a live process is REGISTRY_LOCKED after the timeout, naming the holder", async () => {
    const { child, lines, exited } = spawnScript(`console.log("up"); setTimeout(() => {}, 30000);`);
    try {
      await until(() => lines.includes("up"), 15_000, "the holder process");
      writeFileSync(lockFile, `${child.pid}\n`);
      await assert.rejects(openRegistry("embedded", { repoDir, lockTimeoutMs: 300 }), (err: Error & { code?: string }) => {
        assert.equal(err.code, "REGISTRY_LOCKED");
        assert.match(err.message, new RegExp(`in use by process ${child.pid} \\(lock file .*registry\\.lock\\)`));
        return true;
      });
    } finally {
      child.kill();
      await exited;
      rmSync(lockFile, { force: true });
    }
  });

  test("opening twice in one process waits for the first (and says so)", async () => {
    const store = await openRegistry("embedded", { repoDir });
    try {
      await assert.rejects(openRegistry("embedded", { repoDir, lockTimeoutMs: 200 }), /in use by this process/);
    } finally {
      await store.close();
    }
  });

  test("a process that exits without close() leaves no lock behind", async () => {
    const { exited } = spawnScript(`
      const { openRegistry } = await import(process.env.REGISTRY_MODULE);
      await openRegistry("embedded", { repoDir: process.env.REPO_DIR, lockTimeoutMs: 20000 });
      process.exit(0);
    `);
    assert.equal(await exited, 0);
    assert.equal(existsSync(lockFile), false);
    const store = await openRegistry("embedded", { repoDir, lockTimeoutMs: 2000 });
    await store.close();
  });
});
