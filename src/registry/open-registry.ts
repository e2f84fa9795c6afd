import { LarderError } from "../errors.js";
import type { RegistryStore } from "./registry-store.js";

export interface OpenRegistryOptions {
  /** The feature repository; the embedded registry lives in `<repoDir>/.larder/registry`. */
  repoDir: string;
  /** Schema holding the registry tables (default "larder"). */
  schema?: string;
  /** How long to wait for locks other processes hold: the embedded registry's file lock, apply, withLock's default (60 s). */
  lockTimeoutMs?: number;
}

/**
 * Opens the registry a config's `registry` value names: "embedded" → PGlite under
 * `<repoDir>/.larder/`, "postgres://…" or "postgresql://…" → Postgres. Anything else throws
 * INVALID_CONFIG. Migrations are applied on open. Close the store when done.
 *
 * @example
 * const registry = await openRegistry(config.registry, { repoDir });
 * try { await registry.apply(config.project, records); } finally { await registry.close(); }
 */
export async function openRegistry(url: string, opts: OpenRegistryOptions): Promise<RegistryStore> {
  const common = {
    ...(opts.schema !== undefined ? { schema: opts.schema } : {}),
    ...(opts.lockTimeoutMs !== undefined ? { lockTimeoutMs: opts.lockTimeoutMs } : {}),
  };
  // Each backend is loaded when first opened: a command on the embedded registry never loads pg,
  // and one on Postgres never loads PGlite's WASM bundle.
  if (url === "embedded") {
    const { openPgliteRegistry } = await import("./pglite/pglite-registry-store.js");
    return openPgliteRegistry({ repoDir: opts.repoDir, ...common });
  }
  if (typeof url === "string" && /^postgres(ql)?:\/\//i.test(url)) {
    const { openPostgresRegistry } = await import("./postgres/postgres-registry-store.js");
    return openPostgresRegistry({ url, ...common });
  }
  throw new LarderError("INVALID_CONFIG", `registry ${JSON.stringify(redact(url))} is not supported: expected "embedded" or a postgres://user:password@host:port/database URL`, {
    field: "registry",
  });
}

/** Hides a password in a URL-like value before it is echoed in an error. */
function redact(value: unknown): string {
  const s = String(value);
  return s.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):[^@/]*@/i, "$1:***@");
}
