import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createJiti } from "jiti";
import { collectDefinitions, type RepoDefinitions } from "../definitions/repo-definitions.js";
import { LarderError, isLarderError } from "../errors.js";
import { defineConfig, type LarderConfig } from "./define-config.js";

export const CONFIG_FILES = ["larder.config.ts", "larder.config.mts", "larder.config.js", "larder.config.mjs"];

/** A loaded feature repository: its directory, configuration and definitions. */
export interface FeatureRepo {
  dir: string;
  config: LarderConfig;
  definitions: RepoDefinitions;
  /** Absolute path of the offline store root. */
  offlinePath: string;
}

// Feature files import "larder"; point that at this very package, built (dist/) or run from src/.
function larderEntry(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const js = resolve(here, "../index.js");
  return existsSync(js) ? js : resolve(here, "../index.ts");
}

/**
 * Loads `larder.config.ts` and the definition files it lists, in-process (TypeScript through jiti,
 * so no build step is needed in a feature repository).
 */
export async function loadRepo(dir: string): Promise<FeatureRepo> {
  const repoDir = resolve(dir);
  const configFile = CONFIG_FILES.map((f) => join(repoDir, f)).find((f) => existsSync(f));
  if (!configFile) {
    throw new LarderError("INVALID_CONFIG", `no larder.config.ts in ${repoDir} (run \`larder init\` to create a feature repository, or pass --repo DIR)`, { dir: repoDir });
  }
  const jiti = createJiti(configFile, { alias: { larder: larderEntry() }, tryNative: false, moduleCache: false, fsCache: false, interopDefault: true });
  const load = async (file: string, what: string): Promise<Record<string, unknown>> => {
    try {
      return (await jiti.import(file)) as Record<string, unknown>;
    } catch (err) {
      if (isLarderError(err)) throw err;
      const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
      throw new LarderError(what === "config" ? "INVALID_CONFIG" : "INVALID_DEFINITION", `cannot load ${file}: ${message}`, { file }, { cause: err });
    }
  };
  const mod = await load(configFile, "config");
  const raw = (mod.default ?? mod) as unknown;
  if (typeof raw !== "object" || raw === null || !("project" in raw)) {
    throw new LarderError("INVALID_CONFIG", `${configFile}: expected \`export default defineConfig({ project: …, definitions: [...] })\``, { file: configFile });
  }
  // Re-validate here: the config may be a plain object, or made by another copy of defineConfig.
  const config = defineConfig(raw as Parameters<typeof defineConfig>[0]);
  const modules: Record<string, unknown>[] = [];
  for (const rel of config.definitions) {
    const file = resolve(repoDir, rel);
    if (!existsSync(file)) throw new LarderError("INVALID_CONFIG", `larder.config.ts definitions: file ${rel} not found (resolved to ${file})`, { file });
    modules.push(await load(file, "definitions"));
  }
  const definitions = collectDefinitions(modules);
  return { dir: repoDir, config, definitions, offlinePath: resolve(repoDir, config.offline.path) };
}
