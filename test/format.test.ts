import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { test } from "node:test";

// The tree is formatted by prettier (.prettierrc.json; `npm run format`). This runs the same check
// as `npm run format:check`, so CI fails on unformatted code and names the files.
const ROOT = resolve(import.meta.dirname, "..");

test("the tree is formatted (npm run format:check)", () => {
  const res = spawnSync("npm", ["run", "--silent", "format:check"], { cwd: ROOT, encoding: "utf8" });
  assert.equal(res.status, 0, `unformatted files (run \`npm run format\`):\n${res.stdout}${res.stderr}`);
});
