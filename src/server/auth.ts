import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import type { ApiKeyConfig, ApiKeyScope } from "../config/define-config.js";
import { LarderError } from "../errors.js";
import type { RouteScope } from "./route.js";

const SCOPES: readonly ApiKeyScope[] = ["read", "push", "admin"];

interface HeldKey {
  name: string;
  hash: Buffer;
  scopes: ReadonlySet<ApiKeyScope>;
}

/**
 * The server's API keys, held only as SHA-256 digests. A presented key is hashed and compared
 * with every held digest in constant time (no early exit), so neither the comparison nor the
 * number of keys tried leaks where a guess went wrong.
 */
export class ApiKeys {
  private readonly keys: HeldKey[];

  constructor(keys: readonly ApiKeyConfig[]) {
    this.keys = keys.map((k) => ({ name: k.name, hash: Buffer.from(k.keyHash, "hex"), scopes: new Set(k.scopes) }));
    const names = new Set<string>();
    for (const k of this.keys) {
      if (k.hash.length !== 32) throw new LarderError("INVALID_CONFIG", `API key ${JSON.stringify(k.name)}: keyHash must be a SHA-256 digest (64 hex digits)`);
      if (names.has(k.name)) throw new LarderError("INVALID_CONFIG", `two API keys are named ${JSON.stringify(k.name)}`);
      names.add(k.name);
    }
  }

  get size(): number {
    return this.keys.length;
  }

  /** The names and scopes (never the hashes), for the start-up log. */
  describe(): string[] {
    return this.keys.map((k) => `${k.name} (${[...k.scopes].join("+")})`);
  }

  /**
   * Checks a request's key against the scope a route needs. Throws UNAUTHENTICATED (no key, or
   * an unknown one) or FORBIDDEN (a known key without the scope); returns the key's name.
   */
  authorize(presented: string | undefined, scope: Exclude<RouteScope, "public">): string {
    if (presented === undefined || presented === "") {
      throw new LarderError("UNAUTHENTICATED", "this route needs an API key: send `Authorization: Bearer <key>` or `x-api-key: <key>`");
    }
    const digest = createHash("sha256").update(presented, "utf8").digest();
    let found: HeldKey | undefined;
    for (const k of this.keys) {
      if (timingSafeEqual(digest, k.hash) && found === undefined) found = k;
    }
    if (found === undefined) throw new LarderError("UNAUTHENTICATED", "unknown API key");
    if (!found.scopes.has(scope) && !found.scopes.has("admin")) {
      throw new LarderError("FORBIDDEN", `API key ${JSON.stringify(found.name)} lacks the ${JSON.stringify(scope)} scope this route needs (it has: ${[...found.scopes].join(", ")})`);
    }
    return found.name;
  }
}

/** The key a request presents: `Authorization: Bearer <key>`, else `x-api-key`. */
export function presentedKey(headers: Record<string, string | string[] | undefined>): string | undefined {
  const auth = headers.authorization;
  if (typeof auth === "string") {
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1]!.trim();
  }
  const key = headers["x-api-key"];
  return typeof key === "string" ? key.trim() : undefined;
}

/**
 * API keys from `LARDER_API_KEYS`: comma-separated `name:key:scope+scope`, e.g.
 * `ci:8f0c…:push,dashboard:1b9e…:read`. Keys are hashed at once.
 */
export function apiKeysFromEnv(value: string | undefined): ApiKeyConfig[] {
  if (value === undefined || value.trim() === "") return [];
  return value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const parts = entry.split(":");
      const name = parts[0]?.trim() ?? "";
      const scopes = (parts.at(-1) ?? "").split("+").map((s) => s.trim());
      const key = parts.slice(1, -1).join(":");
      if (parts.length < 3 || name === "" || key.length < 16 || !scopes.every((s): s is ApiKeyScope => (SCOPES as readonly string[]).includes(s))) {
        throw new LarderError("INVALID_CONFIG", `LARDER_API_KEYS entry ${i + 1}${name ? ` (${JSON.stringify(name)})` : ""}: expected name:key:scope[+scope] with a key of at least 16 characters and scopes read, push, admin`);
      }
      return { name, keyHash: createHash("sha256").update(key, "utf8").digest("hex"), scopes: scopes as ApiKeyScope[] };
    });
}

/** True for addresses only this machine can reach: 127.0.0.0/8, ::1 and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost") return true;
  if (isIP(h) === 4) return h.startsWith("127.");
  if (isIP(h) === 6) return h === "::1" || h === "0:0:0:0:0:0:0:1" || /^::ffff:127\./.test(h);
  return false;
}
