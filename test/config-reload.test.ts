import { strict as assert } from "node:assert";
import { test } from "node:test";
import { loadRepo } from "../src/config/load-repo.js";
import { configSource, withFeatureRepo } from "./helpers/feature-repo.js";

const features = (name: string) => `import { entity } from "larder";
export const e = entity({ name: ${JSON.stringify(name)}, joinKeys: ["id"] });
`;

test("a long-lived process sees a rewritten larder.config.ts and features.ts at the same path (ESM and CommonJS-compiled)", async () => {
  await withFeatureRepo({ features: features("first"), project: "one", apply: false }, async (repo) => {
    for (const pkg of [null, `{"type": "module"}`]) {
      if (pkg) await repo.writeFile("package.json", pkg);
      await repo.writeFile("larder.config.ts", configSource("one"));
      await repo.writeFile("features.ts", features("first"));
      const before = await loadRepo(repo.dir);
      assert.equal(before.config.project, "one");
      assert.deepEqual([...before.definitions.entities.keys()], ["first"]);
      await repo.writeFile("larder.config.ts", configSource("two"));
      await repo.writeFile("features.ts", features("second"));
      const after = await loadRepo(repo.dir);
      assert.equal(after.config.project, "two", `config reloaded (package.json: ${pkg ?? "none"})`);
      assert.deepEqual([...after.definitions.entities.keys()], ["second"], `definitions reloaded (package.json: ${pkg ?? "none"})`);
    }
  });
});
