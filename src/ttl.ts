/**
 * The one TTL rule: a feature row with event time `eventTs` is served until `eventTs + ttl`
 * inclusive, then it has expired (a view without a TTL never expires). The online stores store
 * this expiry with each row, online reads and pushes check it, and point-in-time joins match only
 * rows still alive at the entity row's time; every site goes through these functions.
 * @example
 * rowExpiresAt(1_000, 500); // 1500: alive at 1500, expired at 1501
 */
export function rowExpiresAt(eventTs: number, ttlMs: number | null): number | null {
  return ttlMs === null ? null : eventTs + ttlMs;
}

/** True when an expiry (from `rowExpiresAt`; null: never) has passed at `at`, epoch ms. */
export function hasExpired(expiresAt: number | null, at: number): boolean {
  return expiresAt !== null && expiresAt < at;
}

/** True when a row with event time `eventTs` has expired at `at` under `ttlMs`. */
export function isPastTtl(eventTs: number, ttlMs: number | null, at: number): boolean {
  return hasExpired(rowExpiresAt(eventTs, ttlMs), at);
}

/** The oldest event time still alive at `at` under `ttlMs` (no TTL: every time, −∞). */
export function oldestAliveAt(at: number, ttlMs: number | null): number {
  return ttlMs === null ? Number.NEGATIVE_INFINITY : at - ttlMs;
}
