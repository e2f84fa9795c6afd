/**
 * The offline engine's config keys (offline.memoryLimit, offline.threads, offline.tempDirectory):
 * bad values are INVALID_CONFIG naming the key, good ones reach the config as written.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { defineConfig } from "../src/config/define-config.js";
import { OfflineEngine } from "../src/offline/duckdb-engine.js";
import { LarderError } from "../src/errors.js";

function configError(offline: Record<string, unknown>): LarderError {
  try {
    defineConfig({ project: "p", offline } as Parameters<typeof defineConfig>[0]);
  } catch (err) {
    assert.ok(err instanceof LarderError, `expected a LarderError, got ${String(err)}`);
    return err;
  }
  assert.fail(`offline ${JSON.stringify(offline)} was accepted`);
}

test("offline engine keys: bad values are INVALID_CONFIG naming the key", () => {
  for (const [offline, path] of [
    [{ memoryLimit: "lots" }, "offline.memoryLimit"],
    [{ memoryLimit: "1 GBs" }, "offline.memoryLimit"],
    [{ threads: 0 }, "offline.threads"],
    [{ threads: 1.5 }, "offline.threads"],
    [{ tempDirectory: "" }, "offline.tempDirectory"],
    [{ memorylimit: "1GB" }, "offline"],
  ] as const) {
    const err = configError(offline);
    assert.equal(err.code, "INVALID_CONFIG");
    assert.equal(err.details?.["path"], path, err.message);
    assert.match(err.message, new RegExp(path.replace(".", "\\.")));
  }
});

test("offline engine keys: good values reach the config; absent ones stay absent (engine defaults)", () => {
  const c = defineConfig({ project: "p", offline: { path: "./o", memoryLimit: "512MB", threads: 2, tempDirectory: "./spill" } });
  assert.deepEqual(c.offline, { path: "./o", memoryLimit: "512MB", threads: 2, tempDirectory: "./spill" });
  assert.deepEqual(defineConfig({ project: "p" }).offline, { path: "./data/offline" });
});

test("OfflineEngine.open refuses a memory limit DuckDB would not understand, before opening anything", async () => {
  await assert.rejects(OfflineEngine.open({ memoryLimit: "a lot" }), (err: unknown) => err instanceof LarderError && err.code === "INVALID_CONFIG" && /offline\.memoryLimit/.test(err.message));
  const engine = await OfflineEngine.open({ memoryLimit: "256MB", threads: 1 });
  try {
    const [row] = await engine.rows("SELECT current_setting('threads') AS t");
    assert.equal(Number(row!["t"]), 1);
  } finally {
    engine.close();
  }
});
