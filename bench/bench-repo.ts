/**
 * The feature repository the single-source benchmarks generate: one Parquet source
 * (`data/features.parquet`: customer_id, ts and float64 features, written by the caller) and
 * plain views of float64 features on it, embedded registry, online store from LARDER_ONLINE_URL.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export interface BenchRepoOptions {
  project: string;
  /** View name → its float64 features. */
  views: Record<string, readonly string[]>;
  /** Extra top-level config text, e.g. `server: { maxEntityRows: 100000 },`. */
  configExtra?: string;
}

/** Writes package.json, larder.config.ts and features.ts into `repoDir` (which holds data/features.parquet). */
export function writeBenchRepo(repoDir: string, options: BenchRepoOptions): void {
  // Its own package.json: without one the repository would inherit Larder's `"type": "module"`, and
  // the loader hook that maps `import "larder"` to src/index.ts does not apply to ESM feature files
  // inside this package when run from source (CommonJS ones resolve through the patched require).
  writeFileSync(join(repoDir, "package.json"), `{ "private": true }\n`);
  writeFileSync(
    join(repoDir, "larder.config.ts"),
    [
      `export default {`,
      `  project: ${JSON.stringify(options.project)},`,
      `  definitions: ["./features.ts"],`,
      `  registry: "embedded",`,
      `  online: process.env.LARDER_ONLINE_URL ?? "embedded",`,
      `  offline: { path: "./offline" },`,
      ...(options.configExtra !== undefined ? [`  ${options.configExtra}`] : []),
      `};`,
      ``,
    ].join("\n"),
  );
  writeFileSync(
    join(repoDir, "features.ts"),
    [
      `import { entity, featureView, parquetSource, types as t } from "larder";`,
      `export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });`,
      `const src = parquetSource({ name: "src", path: "data/features.parquet", timestampField: "ts" });`,
      ...Object.entries(options.views).map(([name, features]) => `export const ${name} = featureView({ name: "${name}", entities: [customer], source: src, schema: { ${features.map((f) => `${f}: t.float64`).join(", ")} } });`),
      ``,
    ].join("\n"),
  );
}
