/**
 * The online store port: the latest feature values per entity and view, for low-latency reads.
 * Implementations: `redis/` (standalone and Cluster) and `embedded/` (a local store several
 * processes share). One conformance suite (test/conformance/online-store.ts) runs against each.
 *
 * Writes are monotonic per (entity, view): a row whose event timestamp is older than the stored
 * row's never replaces it, nor one with an equal event timestamp and an older created timestamp
 * (none counts as older than any), also under concurrent writers (the compare and the write are
 * one atomic step). The same timestamps replace, so re-running a materialization is idempotent.
 */
export interface OnlineRow {
  /** The entity's normalised key, encoded by `encodeEntityKey` (src/data/entity-keys.ts). */
  entityKey: string;
  /** Event timestamp of the values, epoch ms. */
  eventTs: number;
  /**
   * Created timestamp, epoch ms, for views whose source has one: among equal event timestamps the
   * greatest wins, as in training sets. Absent or null: none (loses to any created timestamp).
   */
  createdTs?: number | null;
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
  /** Rows ignored because the store held a newer event timestamp (or an equal one created later). */
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

/** One view's part of a `readViews` call: what `read` takes for that view. */
export interface OnlineViewRead {
  view: string;
  entityKeys: readonly string[];
  features: readonly string[];
}

export interface OnlineStore {
  /** Writes rows of one view. Values are numbers, strings, booleans or null. */
  write(project: string, view: string, rows: readonly OnlineRow[], opts: OnlineWriteOptions): Promise<OnlineWriteResult>;
  /** Reads features of one view for many entities; null where the entity has no row (or it expired). */
  read(project: string, view: string, entityKeys: readonly string[], features: readonly string[]): Promise<(OnlineValue | null)[]>;
  /**
   * Optional: several views' reads at once, answering exactly what one `read` per element would
   * (in the same order). A serving request reads every view of its features; a store that can do
   * that in one round trip (Redis standalone: one MGET over all views' keys) implements this.
   * Callers use `readViews` below, which falls back to one `read` per view.
   */
  readViews?(project: string, reads: readonly OnlineViewRead[]): Promise<(OnlineValue | null)[][]>;
  /**
   * Compare-and-set of rows with their state (push and materialization of aggregated views); see
   * `OnlineStateStore.update`.
   */
  update: OnlineStateStore["update"];
  /** Removes every row (and state, and marker) of a view (when a view is removed, or its schema changes). */
  deleteView(project: string, view: string): Promise<void>;
  /**
   * Stores the view's materialization marker, replacing any (materialization writes it after its
   * rows). It lives with the view's rows, so a store that lost its data (Redis restarted empty,
   * the embedded store's directory removed) has lost the marker too: that is how the loss is
   * noticed (see src/materialize/online-data-loss.ts). `deleteView` removes it.
   */
  writeMarker(project: string, view: string, marker: MaterializationMarker): Promise<void>;
  /** The view's marker, or null when there is none (never written, deleted, or lost). */
  readMarker(project: string, view: string): Promise<MaterializationMarker | null>;
  close(): Promise<void>;
}

/** What a view's last recorded materialization left in the online store (see `OnlineStore.writeMarker`). */
export interface MaterializationMarker {
  /** The materialization run that wrote it. */
  runId: string;
  /** The view's online rows are complete up to this time (epoch ms): its watermark after that run. */
  watermark: number;
  /** When it was written, epoch ms. */
  writtenAt: number;
}

/** The marker's key suffix within a view's keys: entity keys never start with "!" (see entity-keys.ts). */
export const MARKER_KEY = "!marker";

/** A stored marker back from its JSON; null for anything that is not one (treated as no marker). */
export function parseMarker(json: string | null | undefined): MaterializationMarker | null {
  if (json === null || json === undefined) return null;
  try {
    const m = JSON.parse(json) as Partial<MaterializationMarker>;
    if (typeof m.runId === "string" && Number.isFinite(m.watermark) && Number.isFinite(m.writtenAt)) return { runId: m.runId, watermark: m.watermark!, writtenAt: m.writtenAt! };
  } catch {
    // unreadable: as good as missing
  }
  return null;
}

/** `store.readViews` when the store has it, else one `read` per view (concurrently). */
export function readViews(store: OnlineStore, project: string, reads: readonly OnlineViewRead[]): Promise<(OnlineValue | null)[][]> {
  if (store.readViews !== undefined) return store.readViews(project, reads);
  return Promise.all(reads.map((r) => store.read(project, r.view, r.entityKeys, r.features)));
}

/**
 * What `update` finds stored for an entity: the opaque state written with its row (for aggregated
 * views, the event buffer push needs), and the time the row is exact as of.
 */
export interface StoredState {
  /** Epoch ms the stored row's values are exact as of. */
  asOf: number;
  /** The row's event timestamp (null when the row itself expired or is missing). */
  eventTs: number | null;
  /** Opaque to the store (no raw newline characters). */
  state: string;
}

/** What `update`'s `modify` wants stored for an entity: a row and its state, replaced together. */
export interface StateWrite {
  /** Event timestamp and values of the row readers see (in the order of `features`). */
  eventTs: number;
  values: readonly unknown[];
  asOf: number;
  state: string;
  /** When the state may be dropped, epoch ms (null: never). The row expires by the view's TTL. */
  stateExpiresAt: number | null;
}

export interface OnlineUpdateResult {
  /** Entities whose state `modify` replaced (with their row, unless it had expired: see `expired`). */
  written: number;
  /** Entities `modify` left as they were (it returned null). */
  unchanged: number;
  /** Rows whose state was stored but whose row was already past its TTL (not stored). */
  expired: number;
  /** Attempts repeated because another writer changed the entity in between (Redis). */
  retries: number;
}

/**
 * Compare-and-set of an entity's row together with its state. `modify` is called with what is
 * stored (null: nothing) and returns the replacement, or null to leave it; it must be a pure
 * function of its input, since it runs again when another writer got in between.
 */
export type StateModify = (entityKey: string, current: StoredState | null) => StateWrite | null;

export interface OnlineStateStore {
  /**
   * Atomically, per entity: read the stored state, call `modify`, and store its result unless
   * another writer changed the entity meanwhile (then read and modify again, up to a bound, after
   * which it fails with WRITE_CONFLICT). Concurrent `update`s of one entity therefore never lose
   * one another's changes. Rows written this way are read by `read` like any other; `write` must
   * not be used on the same view (it would bypass the state).
   */
  update(project: string, view: string, entityKeys: readonly string[], modify: StateModify, opts: OnlineWriteOptions): Promise<OnlineUpdateResult>;
}
