/**
 * The embedded (LMDB) online store: the conformance suite, persistence across reopen, and two
 * processes sharing one store (a child writing while the parent reads and writes).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import { encodeEntityKey } from "../src/data/entity-keys.js";
import { openOnlineStore } from "../src/online/open-online-store.js";
import { runOnlineStoreConformance } from "./conformance/online-store.js";

const repoDir = mkdtempSync(join(tmpdir(), "larder-online-embedded-"));
after(() => rmSync(repoDir, { recursive: true, force: true }));

runOnlineStoreConformance("embedded (LMDB)", () => openOnlineStore("embedded", { repoDir }));

describe("embedded online store", () => {
  test("rows persist under <repoDir>/.larder/online across close and reopen", async () => {
    const dir = mkdtempSync(join(tmpdir(), "larder-online-persist-"));
    try {
      const a = await openOnlineStore("embedded", { repoDir: dir });
      await a.write("p", "v", [{ entityKey: encodeEntityKey([1]), eventTs: 5, values: ["kept"] }], { features: ["f"], ttlMs: null });
      await a.close();
      const b = await openOnlineStore("embedded", { repoDir: dir });
      assert.deepEqual((await b.read("p", "v", [encodeEntityKey([1])], ["f"]))[0]?.values, ["kept"]);
      await b.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("two processes: a child writes while the parent reads and writes; reads never go back in time and the max timestamp wins", async () => {
    const dir = mkdtempSync(join(tmpdir(), "larder-online-2proc-"));
    const script = join(dir, "child.mts");
    const moduleUrl = pathToFileURL(resolve("src/online/open-online-store.ts")).href;
    // The child writes even timestamps 2..400 for 20 keys, one write call per timestamp.
    writeFileSync(
      script,
      `import { openOnlineStore } from ${JSON.stringify(moduleUrl)};
const store = await openOnlineStore("embedded", { repoDir: ${JSON.stringify(dir)} });
const keys = Array.from({ length: 20 }, (_, i) => String(i));
for (let ts = 2; ts <= 400; ts += 2) {
  await store.write("p", "v", keys.map((k) => ({ entityKey: k, eventTs: ts, values: [ts, "child"] })), { features: ["ts", "who"], ttlMs: null });
}
await store.close();
`,
    );
    const store = await openOnlineStore("embedded", { repoDir: dir });
    try {
      const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "inherit", "inherit"] });
      const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
      let running = true;
      void exited.then(() => (running = false));
      const keys = Array.from({ length: 20 }, (_, i) => String(i));
      const lastSeen = new Map<string, number>();
      let sawChild = false;
      let ts = 1;
      while (running || ts <= 399) {
        if (ts <= 399) {
          await store.write(
            "p",
            "v",
            keys.map((k) => ({ entityKey: k, eventTs: ts, values: [ts, "parent"] })),
            { features: ["ts", "who"], ttlMs: null },
          );
          ts += 2;
        }
        const got = await store.read("p", "v", keys, ["ts", "who"]);
        got.forEach((g, i) => {
          if (g === null) return;
          const k = keys[i] as string;
          assert.ok(g.eventTs >= (lastSeen.get(k) ?? 0), "a read never sees an older row than an earlier read");
          assert.equal(g.values[0], g.eventTs);
          if (g.values[1] === "child") sawChild = true;
          lastSeen.set(k, g.eventTs);
        });
        if (!running && ts > 399) break;
        await new Promise((r) => setImmediate(r));
      }
      assert.equal(await exited, 0);
      assert.ok(sawChild, "the parent saw the child's writes while it ran");
      const final = await store.read("p", "v", keys, ["ts", "who"]);
      for (const g of final) assert.deepEqual(g?.values, [400, "child"]);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
