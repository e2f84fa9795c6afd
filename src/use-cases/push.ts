import type { OnlineStore } from "../online/online-store.js";
import type { RegistryStore } from "../registry/registry-store.js";
import type { PushResult, PushTarget } from "../serving/push.js";
import type { AppContext } from "./app-context.js";
import { assertAppliedCached } from "./applied-check.js";

export interface PushOptions {
  /** Default "online". */
  to?: PushTarget;
  /**
   * Makes the push idempotent: the same key within the retention (`server.idempotencyRetention`,
   * default 24 h) answers as the first push did and writes nothing again; after a partial failure
   * it writes only what is missing. See src/serving/push-idempotency.ts.
   */
  idempotencyKey?: string;
}

/**
 * Pushes rows (columnar, in the push source's batch-source shape, source column names) through the
 * row transform of every view fed by the push source, into the online store (`to: "online"`, the
 * default), appended to the batch source for the next backfill (`"offline"`: Postgres tables and
 * Parquet directories or globs), or both. See src/serving/push.ts.
 */
export async function push(ctx: AppContext, pushSource: string, df: Record<string, readonly unknown[]>, options: PushOptions = {}): Promise<PushResult> {
  // Loaded on first use: commands that never push do not load the push and append code.
  const { pushRows, resolvePushSource, viewsOfPushSource } = await import("../serving/push.js");
  const { definitions, dir, config } = ctx.repo;
  const source = resolvePushSource(definitions, pushSource);
  await assertAppliedCached(ctx, [source.name, ...viewsOfPushSource(definitions, source).map((v) => v.name)]);
  const pushCtx = { project: ctx.project, repoDir: dir, definitions, postgresUrl: ctx.sourcePostgresUrl, withOnlineStore: <T>(fn: (store: OnlineStore) => Promise<T>) => ctx.withOnlineStore(fn) };
  if (options.idempotencyKey !== undefined) {
    const { pushIdempotent } = await import("../serving/push-idempotency.js");
    const idempotent = { ...pushCtx, withRegistry: <T>(fn: (r: RegistryStore) => Promise<T>) => ctx.withRegistry(fn), retentionMs: config.server.idempotencyRetentionMs };
    return pushIdempotent(idempotent, options.idempotencyKey, pushSource, df, options.to ?? "online");
  }
  return pushRows(pushCtx, pushSource, df, options.to ?? "online");
}
