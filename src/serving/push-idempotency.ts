/**
 * Idempotent pushes (`Idempotency-Key` on POST /push, `idempotencyKey` in the SDK and
 * `FeatureStore.push`): the same key within the retention (`server.idempotencyRetention`, default
 * 24 h) answers as the first push did and writes nothing again; a retry after a partial failure
 * writes only what is missing, once.
 *
 * The record of a key lives in the registry (table push_idempotency, migrations/0004): the
 * request's fingerprint (SHA-256 of push source, target and columns), which halves are done, the
 * offline append's commit token, and the answer once complete. One attempt:
 *   1. claim the key (RegistryStore.claimPushKey, atomic). A key used with another body:
 *      IDEMPOTENCY_KEY_REUSED (422). A completed key: its stored answer, nothing written. A key
 *      another request is working on (its lease runs): IDEMPOTENCY_KEY_IN_USE (409) — the client
 *      retries later and then gets the answer. A key whose last attempt failed, or whose owner
 *      crashed (lease of LEASE_MS run out), is taken over and resumed.
 *   2. offline (unless done): the append hands its commit token (Postgres transaction id, or the
 *      Parquet file name) to the registry before it commits; after a crash between the commit and
 *      the record "offline done", the next attempt asks the source (txid_status / the file exists)
 *      and never appends twice.
 *   3. online (unless done): plain views rewrite the same rows (monotonic writes with the same
 *      timestamps are idempotent); aggregated views mark each entity's event buffer with the push's
 *      id as they merge its events, so an entity written before a failure is skipped by the retry.
 *   4. store the answer (status 200 and the body) and release the key.
 * A push refused before it wrote anything (a 4xx: bad input, data Postgres refused) forgets the key,
 * so the same key may carry a corrected request; any other failure keeps what is done and releases
 * the key for a retry.
 *
 * Limits: a Parquet file merged away by `larder compact` between a crash and the retry that checks
 * it cannot be found (the retry then appends again); a process stalled longer than the lease between
 * recording its commit token and committing may race the attempt that took over.
 */
import { createHash, randomUUID } from "node:crypto";
import { LarderError, httpStatusFor, isLarderError } from "../errors.js";
import type { RegistryStore } from "../registry/registry-store.js";
import { appendCommitted } from "../sources/append-rows.js";
import { pushRows, resolvePushSource, type PushContext, type PushResult, type PushTarget } from "./push.js";

export interface IdempotentPushContext extends PushContext {
  /** Runs `fn` with the registry open (held for the whole push). */
  withRegistry<T>(fn: (registry: RegistryStore) => Promise<T>): Promise<T>;
  /** How long a key is kept, ms. */
  retentionMs: number;
}

/** How long an attempt owns its key before a retry may take over (a crashed server's attempt). */
export const LEASE_MS = 120_000;

/** Printable ASCII without spaces, 1–255 characters (as IETF's Idempotency-Key draft suggests keys be). */
const KEY_RE = /^[\x21-\x7e]{1,255}$/;

/** SHA-256 of the request: push source, target and the columns (column order ignored). */
export function pushFingerprint(pushSource: string, to: PushTarget, df: Record<string, readonly unknown[]>): string {
  const columns = Object.keys(df)
    .sort()
    .map((c) => [c, df[c]]);
  return createHash("sha256")
    .update(JSON.stringify([pushSource, to, columns]))
    .digest("hex");
}

/** `pushRows` once per key (see the module comment). */
export async function pushIdempotent(ctx: IdempotentPushContext, key: string, pushSourceName: string, df: Record<string, readonly unknown[]>, to: PushTarget): Promise<PushResult> {
  if (typeof key !== "string" || !KEY_RE.test(key)) {
    throw new LarderError("INVALID_ARGUMENT", `Idempotency-Key must be 1 to 255 printable ASCII characters without spaces, got ${JSON.stringify(String(key)).slice(0, 80)}`, { field: "Idempotency-Key" });
  }
  const source = resolvePushSource(ctx.definitions, pushSourceName).batchSource;
  const fingerprint = pushFingerprint(pushSourceName, to, df);
  const owner = randomUUID();
  return ctx.withRegistry(async (registry) => {
    const { claimed, record } = await registry.claimPushKey(ctx.project, key, { fingerprint, owner, leaseMs: LEASE_MS, retentionMs: ctx.retentionMs });
    if (record.fingerprint !== fingerprint) {
      throw new LarderError("IDEMPOTENCY_KEY_REUSED", `Idempotency-Key ${JSON.stringify(key)} was used for a different push (another body) within the retention; use a new key for a new push`, { field: "Idempotency-Key", key });
    }
    if (!claimed) {
      if (record.status !== null) return record.response as PushResult;
      throw inUse(key);
    }
    const update = async (patch: Parameters<RegistryStore["updatePushKey"]>[3]): Promise<void> => {
      if (!(await registry.updatePushKey(ctx.project, key, owner, patch))) throw lostLease(key);
    };
    let offlineDone = record.offlineDone || to === "online";
    if (!offlineDone && record.offlineToken !== null) {
      const committed = await appendCommitted(source, record.offlineToken, ctx);
      if (committed === null) {
        await registry.updatePushKey(ctx.project, key, owner, { release: true });
        throw inUse(key);
      }
      if (committed) {
        await update({ offlineDone: true });
        offlineDone = true;
      }
    }
    let progressed = record.offlineDone || record.onlineDone || record.offlineToken !== null;
    try {
      const result = await pushRows(ctx, pushSourceName, df, to, {
        skipOffline: offlineDone,
        skipOnline: record.onlineDone,
        appendHooks: {
          beforeCommit: async (token) => {
            progressed = true;
            await update({ offlineToken: token });
          },
        },
        afterOffline: () => update({ offlineDone: true }),
        // The id names this key and body, so a key reused for another body after it expired is another push.
        pushId: createHash("sha256").update(`${ctx.project}\n${key}\n${fingerprint}`).digest("base64url").slice(0, 16),
        pushMarkRetentionMs: ctx.retentionMs,
      });
      await update({ onlineDone: true, result: { status: 200, response: result } });
      return result;
    } catch (err) {
      const refusedUpFront = isLarderError(err) && httpStatusFor(err.code) < 500 && err.code !== "IDEMPOTENCY_KEY_IN_USE" && !progressed;
      await (refusedUpFront ? registry.deletePushKey(ctx.project, key, owner) : registry.updatePushKey(ctx.project, key, owner, { release: true })).catch(() => {});
      throw err;
    }
  });
}

function inUse(key: string): LarderError {
  return new LarderError("IDEMPOTENCY_KEY_IN_USE", `a push with Idempotency-Key ${JSON.stringify(key)} is still in progress; retry later to get its answer`, { field: "Idempotency-Key", key });
}

function lostLease(key: string): LarderError {
  return new LarderError("IDEMPOTENCY_KEY_IN_USE", `the push with Idempotency-Key ${JSON.stringify(key)} ran longer than its lease (${LEASE_MS / 1000} s) and another attempt took over; retry to get its answer`, {
    field: "Idempotency-Key",
    key,
  });
}
