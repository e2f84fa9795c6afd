import { createHash } from "node:crypto";

/**
 * The bigint key of a Postgres advisory lock, as a decimal string for a `$1::bigint` parameter.
 * Advisory locks are database-wide, so the key hashes in the schema too: two registries in different
 * schemas of one database (e.g. two test files) never block each other.
 */
export function advisoryLockKey(schema: string, project: string, lockName: string): string {
  const digest = createHash("sha256").update(`larder\u0000${schema}\u0000${project}\u0000${lockName}`).digest();
  return digest.readBigInt64BE(0).toString();
}
