import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { collectDefinitions, type RepoDefinitions } from "../definitions/repo-definitions.js";
import { LarderError, isLarderError } from "../errors.js";
import { defineConfig, type LarderConfig } from "./define-config.js";
import { importUserModule } from "./import-user-module.js";

export const CONFIG_FILES = ["larder.config.ts", "larder.config.mts", "larder.config.js", "larder.config.mjs"];

/** A loaded feature repository: its directory, configuration and definitions. */
export interface FeatureRepo {
  dir: string;
  config: LarderConfig;
  definitions: RepoDefinitions;
  /** Absolute path of the offline store root. */
  offlinePath: string;
}

/**
 * Loads `larder.config.ts` and the definition files it lists, in-process (TypeScript through tsx's loader,
 * so no build step is needed in a feature repository).
 */
export async function loadRepo(dir: string): Promise<FeatureRepo> {
  const repoDir = resolve(dir);
  const configFile = CONFIG_FILES.map((f) => join(repoDir, f)).find((f) => existsSync(f));
  if (!configFile) {
    throw new LarderError("INVALID_CONFIG", `no larder.config.ts in ${repoDir} (run \`larder init\` to create a feature repository, or pass --repo DIR)`, { dir: repoDir });
  }
  const load = async (file: string, what: string): Promise<Record<string, unknown>> => {
    try {
      return await importUserModule(file);
    } catch (err) {
      if (isLarderError(err)) throw err;
      const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
      throw new LarderError(what === "config" ? "INVALID_CONFIG" : "INVALID_DEFINITION", `cannot load ${file}: ${message}`, { file }, { cause: err });
    }
  };
  const mod = await load(configFile, "config");
  let raw = (mod.default ?? mod) as unknown;
  // A CommonJS-compiled config imported from ESM arrives as { default: { default: config } }.
  if (typeof raw === "object" && raw !== null && !("project" in raw) && "default" in raw) raw = (raw as { default: unknown }).default;
  if (typeof raw !== "object" || raw === null || !("project" in raw)) {
    throw new LarderError("INVALID_CONFIG", `${configFile}: expected \`export default defineConfig({ project: …, definitions: [...] })\``, { file: configFile });
  }
  // Re-validate here: the config may be a plain object, or made by another copy of defineConfig.
  const config = defineConfig(raw as Parameters<typeof defineConfig>[0]);
  const modules: Record<string, unknown>[] = [];
  for (const rel of config.definitions) {
    const file = resolve(repoDir, rel);
    if (!existsSync(file)) throw new LarderError("INVALID_CONFIG", `larder.config.ts definitions: file ${rel} not found (resolved to ${file})`, { file });
    const mod = await load(file, "definitions");
    modules.push(mod);
    // CommonJS-compiled files (a repository without "type": "module") export through `default`.
    if (typeof mod.default === "object" && mod.default !== null && !("kind" in mod.default)) modules.push(mod.default as Record<string, unknown>);
  }
  const definitions = collectDefinitions(modules);
  return { dir: repoDir, config, definitions, offlinePath: resolve(repoDir, config.offline.path) };
}
