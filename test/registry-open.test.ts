import assert from "node:assert/strict";
import { test } from "node:test";
import { openRegistry } from "../src/registry/open-registry.js";

test("openRegistry rejects anything but embedded or a postgres URL with INVALID_CONFIG, hiding passwords", async () => {
  for (const value of ["mysql://root:hunter2@db/x", "", "Embedded", "redis://localhost"]) {
    await assert.rejects(openRegistry(value, { repoDir: "." }), (err: Error & { code?: string }) => {
      assert.equal(err.code, "INVALID_CONFIG");
      assert.match(err.message, /expected "embedded" or a postgres:\/\//);
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    });
  }
});

test("a schema that is not a plain identifier is INVALID_CONFIG", async () => {
  await assert.rejects(openRegistry("embedded", { repoDir: ".", schema: 'x"; drop table y' }), { code: "INVALID_CONFIG" });
  await assert.rejects(openRegistry("postgres://127.0.0.1:1/x", { repoDir: ".", schema: "1abc" }), { code: "INVALID_CONFIG" });
});
