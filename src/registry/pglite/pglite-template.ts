import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { larderEnvironment } from "../../environment.js";

function pgliteVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    const pkg = join(dirname(require.resolve("@electric-sql/pglite")), "..", "package.json");
    return (JSON.parse(readFileSync(pkg, "utf8")) as { version?: string }).version ?? "unknown";
  } catch {
    return "unknown";
  }
}

/**
 * Makes sure `dataDir` holds an initialised PGlite cluster. initdb takes 6–7 s in WASM, so the
 * first one on a machine is kept as a template (in LARDER_CACHE_DIR, default ~/.cache/larder) and
 * new registries start as a copy of it, which takes milliseconds. Any failure of the cache falls
 * back to a plain initdb: the cache only ever saves time.
 */
export async function ensurePgliteDataDir(dataDir: string): Promise<void> {
  if (existsSync(join(dataDir, "PG_VERSION"))) return;
  const cacheRoot = larderEnvironment().cacheDir ?? join(homedir(), ".cache", "larder");
  const template = join(cacheRoot, `pglite-${pgliteVersion()}`);
  try {
    if (!existsSync(join(template, "PG_VERSION"))) {
      mkdirSync(cacheRoot, { recursive: true });
      const building = `${template}.tmp-${process.pid}-${Date.now()}`;
      const db = await PGlite.create(building);
      await db.close();
      try {
        renameSync(building, template);
      } catch {
        rmSync(building, { recursive: true, force: true }); // another process made it first
      }
    }
    const copying = `${dataDir}.tmp-${process.pid}`;
    rmSync(copying, { recursive: true, force: true });
    cpSync(template, copying, { recursive: true });
    renameSync(copying, dataDir);
  } catch {
    // Fall through: PGlite.create(dataDir) will run initdb itself.
  }
}
