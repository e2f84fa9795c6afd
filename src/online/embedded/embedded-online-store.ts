/**
 * The embedded online store, the default: an LMDB environment under `<repoDir>/.larder/online`.
 * LMDB is safe for several processes at once (a `larder serve` and CLI materializations): readers
 * never block, writers take LMDB's process-shared write lock, and reads take about a microsecond.
 *
 * Layout: one entry per (project, view, entity), key `<prefix><project>:<view>:<entityKey>`, value
 * the packed row of ../packed-row.ts; the view's feature list is stored once under
 * `<prefix><project>:<view>:#<schemaId>`, the materialization marker under
 * `<prefix><project>:<view>:!marker`. The monotonic compare and the write happen inside one
 * LMDB write transaction, so concurrent writers (also in other processes) cannot interleave.
 *
 * `update` (rows with a state, see ../online-store.ts) keeps the state under
 * `<prefix><project>:<view>:~<entityKey>` and runs the read, the caller's `modify` and both writes
 * inside one write transaction: concurrent updaters, also in other processes, are serialized by
 * LMDB's write lock, so there is nothing to retry. A state past its `expiresAt` reads as absent.
 *
 * TTL: rows carry their expiry; a read returns null for an expired row and removes it in the
 * background (re-checked inside a write transaction so a newer row is never removed). A row already
 * expired when written is not stored.
 */
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { open, type Database, type RootDatabase } from "lmdb";
import { LarderError, isLarderError } from "../../errors.js";
import { hasExpired, rowExpiresAt } from "../../ttl.js";
import { MARKER_KEY, parseMarker, type MaterializationMarker, type OnlineRow, type OnlineStore, type OnlineUpdateResult, type OnlineValue, type OnlineWriteOptions, type OnlineWriteResult, type StateModify } from "../online-store.js";
import { featureIndex, isOlderThanStored, isValidEventTs, packRow, packedVersion, schemaIdFor, selectValues, unpackRow } from "../packed-row.js";
import { packState, storedState, unpackState } from "../packed-state.js";

export interface EmbeddedOnlineStoreOptions {
  /** Prepended to every key (test isolation). */
  keyPrefix?: string;
}

/**
 * Environments open in this process, by path, shared by every store opened on it: lmdb-js shares
 * one environment per path inside a process, and closing it under another store's pending write
 * transaction left that write hanging (two FeatureStores pushing at once did). The last close
 * closes it.
 */
const openEnvs = new Map<string, { db: RootDatabase<string, string>; refs: number }>();

/** Rows per write transaction: bounds the time the process-shared write lock is held. */
const TXN_ROWS = 5000;

export class EmbeddedOnlineStore implements OnlineStore {
  private readonly schemas = new Map<string, Map<string, number>>();
  private readonly cleanups = new Set<Promise<unknown>>();
  private closed = false;

  private constructor(
    private readonly db: RootDatabase<string, string>,
    private readonly keyPrefix: string,
    readonly path: string,
  ) {}

  /**
   * Opens (creating if needed) the store in `dir`.
   *
   * @example
   * const store = await EmbeddedOnlineStore.open(join(repoDir, ".larder", "online"));
   */
  static async open(dir: string, opts: EmbeddedOnlineStoreOptions = {}): Promise<EmbeddedOnlineStore> {
    try {
      const path = resolve(dir);
      let shared = openEnvs.get(path);
      if (shared === undefined) {
        mkdirSync(path, { recursive: true });
        shared = { db: open<string, string>({ path, encoding: "string", compression: false }), refs: 0 };
        openEnvs.set(path, shared);
      }
      shared.refs++;
      return new EmbeddedOnlineStore(shared.db, opts.keyPrefix ?? "", path);
    } catch (err) {
      throw new LarderError("INTERNAL", `cannot open the embedded online store at ${dir}: ${err instanceof Error ? err.message : String(err)}`, { path: dir }, { cause: err });
    }
  }

  async write(project: string, view: string, rows: readonly OnlineRow[], opts: OnlineWriteOptions): Promise<OnlineWriteResult> {
    this.checkOpen();
    const result = { written: 0, stale: 0, expired: 0 };
    if (rows.length === 0) return result;
    const prefix = this.viewPrefix(project, view);
    const schemaId = schemaIdFor(opts.features);
    const now = Date.now();
    const packed: { key: string; ts: number; created: number | null; expiresAt: number | null; value: string }[] = rows.map((row) => {
      if (!isValidEventTs(row.eventTs)) {
        throw new LarderError("INVALID_ARGUMENT", `online row ${row.entityKey}: event timestamp must be an integer epoch ms, got ${row.eventTs}`);
      }
      const created = row.createdTs ?? null;
      if (created !== null && !isValidEventTs(created)) {
        throw new LarderError("INVALID_ARGUMENT", `online row ${row.entityKey}: created timestamp must be an integer epoch ms, got ${created}`);
      }
      if (row.values.length !== opts.features.length) {
        throw new LarderError("INVALID_ARGUMENT", `online row ${row.entityKey}: ${row.values.length} values for ${opts.features.length} features`);
      }
      const expiresAt = rowExpiresAt(row.eventTs, opts.ttlMs);
      return { key: prefix + row.entityKey, ts: row.eventTs, created, expiresAt, value: packRow(row.eventTs, now, expiresAt, schemaId, row.values, created) };
    });
    const db = this.db;
    for (let start = 0; start < packed.length; start += TXN_ROWS) {
      const chunk = packed.slice(start, start + TXN_ROWS);
      await this.guard(
        db.transaction(() => {
          db.put(`${prefix}#${schemaId}`, JSON.stringify(opts.features));
          for (const r of chunk) {
            const cur = db.get(r.key);
            // A stored event time no Date can hold counts as no row, so a valid write repairs it.
            const stored = cur === undefined ? undefined : packedVersion(cur);
            if (stored !== undefined && isValidEventTs(stored.eventTs) && isOlderThanStored(stored, r.ts, r.created)) result.stale++;
            else if (hasExpired(r.expiresAt, now)) result.expired++;
            else {
              db.put(r.key, r.value);
              result.written++;
            }
          }
        }),
      );
    }
    return result;
  }

  async update(project: string, view: string, entityKeys: readonly string[], modify: StateModify, opts: OnlineWriteOptions): Promise<OnlineUpdateResult> {
    this.checkOpen();
    const result: OnlineUpdateResult = { written: 0, unchanged: 0, expired: 0, retries: 0 };
    const keys = [...new Set(entityKeys)];
    if (keys.length === 0) return result;
    const prefix = this.viewPrefix(project, view);
    const schemaId = schemaIdFor(opts.features);
    const db = this.db;
    for (let start = 0; start < keys.length; start += TXN_ROWS) {
      const chunk = keys.slice(start, start + TXN_ROWS);
      // Counted per transaction and added only when it commits.
      const counts = { written: 0, unchanged: 0, expired: 0 };
      await this.guardAll(
        db.transaction(() => {
          counts.written = counts.unchanged = counts.expired = 0;
          const now = Date.now();
          db.put(`${prefix}#${schemaId}`, JSON.stringify(opts.features));
          for (const entityKey of chunk) {
            const packed = db.get(`${prefix}~${entityKey}`);
            const cur = packed === undefined ? null : unpackState(packed);
            const live = cur !== null && !hasExpired(cur.expiresAt, now) ? cur : null;
            const next = modify(entityKey, live === null ? null : storedState(live));
            if (next === null) {
              counts.unchanged++;
              continue;
            }
            if (!isValidEventTs(next.eventTs)) {
              throw new LarderError("INVALID_ARGUMENT", `online row ${entityKey}: event timestamp must be an integer epoch ms, got ${next.eventTs}`);
            }
            if (next.values.length !== opts.features.length) {
              throw new LarderError("INVALID_ARGUMENT", `online row ${entityKey}: ${next.values.length} values for ${opts.features.length} features`);
            }
            db.put(`${prefix}~${entityKey}`, packState("", next.asOf, next.eventTs, next.stateExpiresAt, next.state));
            const rowExpires = rowExpiresAt(next.eventTs, opts.ttlMs);
            if (hasExpired(rowExpires, now)) {
              db.remove(prefix + entityKey);
              counts.expired++;
            } else {
              db.put(prefix + entityKey, packRow(next.eventTs, now, rowExpires, schemaId, next.values));
            }
            counts.written++;
          }
        }),
      );
      result.written += counts.written;
      result.unchanged += counts.unchanged;
      result.expired += counts.expired;
    }
    return result;
  }

  async read(project: string, view: string, entityKeys: readonly string[], features: readonly string[]): Promise<(OnlineValue | null)[]> {
    this.checkOpen();
    const prefix = this.viewPrefix(project, view);
    const now = Date.now();
    const expired: string[] = [];
    const out = entityKeys.map((k): OnlineValue | null => {
      const packed = this.db.get(prefix + k);
      if (packed === undefined) return null;
      const row = unpackRow(packed);
      if (hasExpired(row.expiresAt, now)) {
        expired.push(prefix + k);
        return null;
      }
      const index = this.schemaIndex(prefix, row.schemaId);
      if (index === undefined) return null;
      return { eventTs: row.eventTs, writtenAt: row.writtenAt, values: selectValues(row, index, features) };
    });
    if (expired.length > 0) this.removeExpired(expired);
    return out;
  }

  async deleteView(project: string, view: string): Promise<void> {
    this.checkOpen();
    const prefix = this.viewPrefix(project, view);
    const db = this.db;
    // Entity keys and "#schema" keys start with an ASCII character, so "\x7f" bounds the range.
    await this.guard(
      db.transaction(() => {
        for (const key of db.getKeys({ start: prefix, end: `${prefix}\x7f` })) {
          if (key.startsWith(prefix)) db.remove(key);
        }
      }),
    );
    for (const k of this.schemas.keys()) if (k.startsWith(prefix)) this.schemas.delete(k);
  }

  async writeMarker(project: string, view: string, marker: MaterializationMarker): Promise<void> {
    this.checkOpen();
    await this.guard(this.db.put(this.viewPrefix(project, view) + MARKER_KEY, JSON.stringify(marker)));
  }

  async readMarker(project: string, view: string): Promise<MaterializationMarker | null> {
    this.checkOpen();
    return parseMarker(this.db.get(this.viewPrefix(project, view) + MARKER_KEY));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.cleanups]);
    const shared = openEnvs.get(this.path);
    if (shared !== undefined && shared.db === this.db && --shared.refs > 0) return;
    openEnvs.delete(this.path);
    await this.db.close();
  }

  private viewPrefix(project: string, view: string): string {
    return `${this.keyPrefix}${escapeName(project)}:${escapeName(view)}:`;
  }

  private schemaIndex(prefix: string, schemaId: string): Map<string, number> | undefined {
    const key = `${prefix}#${schemaId}`;
    let index = this.schemas.get(key);
    if (index === undefined) {
      const json = this.db.get(key);
      if (json === undefined) return undefined;
      index = featureIndex(JSON.parse(json) as string[]);
      this.schemas.set(key, index);
    }
    return index;
  }

  /** Deletes rows a read found expired, unless a newer row replaced them meanwhile. */
  private removeExpired(keys: readonly string[]): void {
    const db: Database<string, string> = this.db;
    const p = db
      .transaction(() => {
        const now = Date.now();
        for (const key of keys) {
          const cur = db.get(key);
          if (cur === undefined) continue;
          const { expiresAt } = unpackRow(cur);
          if (hasExpired(expiresAt, now)) db.remove(key);
        }
      })
      .catch(() => {}); // best effort: the read-time check already hides expired rows
    this.cleanups.add(p);
    void p.finally(() => this.cleanups.delete(p));
  }

  /** Like `guard`, but LarderErrors thrown inside a transaction (by a caller's callback) pass through. */
  private async guardAll<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      if (isLarderError(err)) throw err;
      return this.guard(Promise.reject(err));
    }
  }

  private async guard<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      throw new LarderError("INTERNAL", `embedded online store at ${this.path}: ${err instanceof Error ? err.message : String(err)}`, { path: this.path }, { cause: err });
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new LarderError("INTERNAL", "the online store is closed");
  }
}

function escapeName(name: string): string {
  return name.replace(/%/g, "%25").replace(/:/g, "%3A");
}
