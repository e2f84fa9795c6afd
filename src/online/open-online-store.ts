/**
 * Opens the online store a config's `online` URL names.
 *
 * @example
 * const store = await openOnlineStore(config.online, { repoDir });   // "embedded" | "redis://…"
 * await store.write("churn", "profile", rows, { features: ["plan"], ttlMs: null });
 */
import { join } from "node:path";
import { LarderError } from "../errors.js";
import { EmbeddedOnlineStore } from "./embedded/embedded-online-store.js";
import type { OnlineStore } from "./online-store.js";
import { RedisOnlineStore } from "./redis/redis-online-store.js";

export interface OpenOnlineStoreOptions {
  /** The feature repository; the embedded store lives in `<repoDir>/.larder/online`. */
  repoDir: string;
  /** Prepended to every key (test isolation, several deployments sharing one Redis). */
  keyPrefix?: string;
  /** Redis only: connect timeout (default 2000 ms) and command timeout (default 5000 ms). */
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

/**
 * "embedded" (the default), "redis://host:port[/db]", "rediss://…" (TLS) or
 * "redis-cluster://[user:pass@]host:port,host:port". Anything else is INVALID_CONFIG.
 * A Redis that is down does not fail the open: calls fail with ONLINE_STORE_UNAVAILABLE until it is
 * back, and the store reconnects by itself.
 */
export async function openOnlineStore(url: string, opts: OpenOnlineStoreOptions): Promise<OnlineStore> {
  const keyPrefix = opts.keyPrefix === undefined ? {} : { keyPrefix: opts.keyPrefix };
  if (url === "embedded") return EmbeddedOnlineStore.open(join(opts.repoDir, ".larder", "online"), keyPrefix);
  if (/^(redis|rediss|redis-cluster):\/\//.test(url)) {
    const { connectTimeoutMs, commandTimeoutMs } = opts;
    return RedisOnlineStore.open(url, {
      ...keyPrefix,
      ...(connectTimeoutMs === undefined ? {} : { connectTimeoutMs }),
      ...(commandTimeoutMs === undefined ? {} : { commandTimeoutMs }),
    });
  }
  throw new LarderError("INVALID_CONFIG", `online store URL must be "embedded", "redis://…", "rediss://…" or "redis-cluster://host:port,…", got ${JSON.stringify(url.replace(/\/\/[^@/]*@/, "//"))}`, {
    online: url.replace(/\/\/[^@/]*@/, "//"),
  });
}
