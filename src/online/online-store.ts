/**
 * The online store port: the latest feature values per entity and view, for low-latency reads.
 * Implementations: `redis/` (standalone and Cluster) and `embedded/` (a local store several
 * processes share). One conformance suite (test/conformance/online-store.ts) runs against each.
 *
 * Writes are monotonic per (entity, view): a row whose event timestamp is older than the stored
 * row's never replaces it, also under concurrent writers (the compare and the write are one atomic
 * step). An equal timestamp replaces, so re-running a materialization is idempotent.
 */
export interface OnlineRow {
  /** The entity's normalised key, encoded by `encodeEntityKey` (src/online/entity-key-codec.ts). */
  entityKey: string;
  /** Event timestamp of the values, epoch ms. */
  eventTs: number;
  /** Feature values in the order of the view's feature list given to `write`. */
  values: readonly unknown[];
}

export interface OnlineWriteOptions {
  /** The view's features, in the order of `OnlineRow.values`. */
  features: readonly string[];
  /** The view's TTL: stored rows expire this long after their event timestamp (null: never). */
  ttlMs: number | null;
}

export interface OnlineWriteResult {
  /** Rows stored (new, newer or equal event timestamp). */
  written: number;
  /** Rows ignored because the store held a newer event timestamp. */
  stale: number;
  /**
   * Rows not stored because their TTL had already passed (event timestamp + ttl < now). Optional
   * so other implementations stay valid; the Redis and embedded stores always set it, and then
   * written + stale + expired = rows.
   */
  expired?: number;
}

export interface OnlineValue {
  eventTs: number;
  /** When the row was written, epoch ms (for "as of" in responses and lag metrics). */
  writtenAt: number;
  /** Values of the requested features, in request order; a feature the row lacks is undefined. */
  values: unknown[];
}

export interface OnlineStore {
  /** Writes rows of one view. Values are numbers, strings, booleans or null. */
  write(project: string, view: string, rows: readonly OnlineRow[], opts: OnlineWriteOptions): Promise<OnlineWriteResult>;
  /** Reads features of one view for many entities; null where the entity has no row (or it expired). */
  read(project: string, view: string, entityKeys: readonly string[], features: readonly string[]): Promise<(OnlineValue | null)[]>;
  /** Removes every row of a view (when a view is removed, or its schema changes). */
  deleteView(project: string, view: string): Promise<void>;
  close(): Promise<void>;
}
