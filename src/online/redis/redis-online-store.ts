/**
 * The Redis online store, standalone (`redis://host:port[/db]`, `rediss://…`) or Cluster
 * (`redis-cluster://[user:pass@]h:p,h:p`). Needs Redis ≥ 6.2 (SET … PXAT).
 *
 * Key layout: one string key per (project, view, entity), `<prefix><project>:<view>:<entityKey>`,
 * holding the packed row of ../packed-row.ts (`eventTs,writtenAt,expiresAt,"schemaId",v1,…`); the
 * view's feature list is stored once under `<prefix><project>:<view>:#<schemaId>`.
 *
 * Why a packed string and not a hash with a field per feature: measured here (Redis 7.0 on
 * loopback, a loaded machine, 1k entities × 20 features: 10 floats, 5 ints, 5 short strings) against
 * raw pipelined HSET/HMGET of the same data from the same process —
 *   memory per entity (MEMORY USAGE)   392 B packed       vs 584 B hash (field names per entity)
 *   write, 1k rows per call            60–89k rows/s      vs 12–30k rows/s raw HSET (no compare!)
 *   write, 100k rows in one call       58–84k rows/s      vs 23–25k rows/s raw HSET
 *   read 1k entities, p50              3.9–5.5 ms         vs 25–36 ms pipelined HMGET
 *   read 1 entity, p50 / p99           0.025 / 0.16 ms    vs 0.033 / 0.12 ms HMGET
 * (Cluster of 3 local masters: writes 29–38k rows/s vs 11–23k; 1k read 19 ms vs 30 ms.) The packed
 * row also keeps value types (JSON) where a hash returns strings, and makes the monotonic compare
 * one GET. The cost: reading 3 of 50 features still transfers the whole row (a few hundred bytes).
 * No hash tags: a view's keys spread over all slots and masters, and one entity's read is one key.
 *
 * Writes go through one Lua script (./write-script.ts, EVALSHA, sent as EVAL once when a node
 * answers NOSCRIPT) per group of keys in one slot, at most `WRITE_CHUNK` keys per call; ioredis's
 * auto-pipelining sends all groups of a batch in one round trip per node. Reads are one MGET per
 * slot group (standalone: per chunk of keys), also auto-pipelined; `readViews` on a standalone
 * Redis reads several views in one MGET.
 *
 * `update` (rows with a state: aggregated views' event buffers, see ../online-store.ts) keeps the
 * state under `<prefix><project>:<view>:~{<tag>}<entityKey>`, where `<tag>` hashes to the row
 * key's slot (./key-slot.ts `slotTag`), so one script (./update-script.ts) compares and writes both
 * keys on a Cluster too. It is optimistic: MGET the states, let the caller compute, then the script
 * stores each entity only if its state's version is still the one read; entities another writer
 * changed in between are read and computed again (WATCH would need a connection per caller, the
 * script works on the one shared connection). On a Cluster the key prefix must not contain "{"
 * (the state key's tag must be its first).
 *
 * deleteView scans each master for the view's key prefix and UNLINKs what it finds. It does not
 * fence writes that run at the same time: a write racing a deleteView may survive it.
 *
 * Failures: while Redis is unreachable, every call fails within about `connectTimeoutMs` (at once
 * when the connection is known to be down) with ONLINE_STORE_UNAVAILABLE; ioredis reconnects in the
 * background (backoff up to 1 s) and the same instance works again once Redis is back.
 */
import { Cluster, Redis, type RedisOptions } from "ioredis";
import { LarderError, isLarderError } from "../../errors.js";
import { hasExpired, rowExpiresAt } from "../../ttl.js";
import {
  MARKER_KEY,
  parseMarker,
  type MaterializationMarker,
  type OnlineRow,
  type OnlineStore,
  type OnlineUpdateResult,
  type OnlineValue,
  type OnlineViewRead,
  type OnlineWriteOptions,
  type OnlineWriteResult,
  type StateModify,
} from "../online-store.js";
import { featureIndex, isValidEventTs, packRow, schemaIdFor, selectValues, unpackRow } from "../packed-row.js";
import { newStateVersion, packState, storedState, unpackState } from "../packed-state.js";
import { keySlot, slotTag } from "./key-slot.js";
import { UPDATE_SCRIPT, UPDATE_SCRIPT_SHA } from "./update-script.js";
import { WRITE_SCRIPT, WRITE_SCRIPT_SHA } from "./write-script.js";

export interface RedisOnlineStoreOptions {
  /** Prepended to every key (test isolation, or several deployments on one Redis). */
  keyPrefix?: string;
  /** Connect timeout, and how long a call waits for a connection in progress. Default 2000 ms. */
  connectTimeoutMs?: number;
  /** A command unanswered this long fails with ONLINE_STORE_UNAVAILABLE. Default 5000 ms. */
  commandTimeoutMs?: number;
}

/** Keys per script call or MGET: large enough to amortise round trips, small enough not to block Redis. */
const WRITE_CHUNK = 500;
const READ_CHUNK = 1000;
/** Compare-and-set rounds before `update` gives up with WRITE_CONFLICT. */
const UPDATE_ATTEMPTS = 100;

type Client = Redis | Cluster;

export class RedisOnlineStore implements OnlineStore {
  private readonly schemas = new Map<string, { index: Map<string, number> }>();
  private lastError: Error | undefined;
  private closed = false;

  private constructor(
    private readonly client: Client,
    private readonly cluster: boolean,
    /** The URL without credentials, for messages. */
    readonly displayUrl: string,
    private readonly keyPrefix: string,
    private readonly connectTimeoutMs: number,
  ) {
    // Without a listener ioredis prints every connection error; we report them from the calls.
    client.on("error", (err: Error) => {
      this.lastError = err;
    });
  }

  /**
   * Connects to `url`. Waits up to `connectTimeoutMs` for the first connection but does not fail
   * when Redis is down: the store keeps reconnecting, and calls fail with ONLINE_STORE_UNAVAILABLE
   * until it is back.
   *
   * @example
   * const store = await RedisOnlineStore.open("redis://127.0.0.1:6379/0", { keyPrefix: "larder:" });
   */
  static async open(url: string, opts: RedisOnlineStoreOptions = {}): Promise<RedisOnlineStore> {
    const connectTimeout = opts.connectTimeoutMs ?? 2000;
    const common: RedisOptions = {
      connectTimeout,
      commandTimeout: opts.commandTimeoutMs ?? 5000,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: (times: number) => Math.min(times * 50, 1000),
    };
    let client: Client;
    let cluster = false;
    let displayUrl: string;
    if (url.startsWith("redis-cluster://")) {
      const parsed = parseClusterUrl(url);
      displayUrl = `redis-cluster://${parsed.nodes.map((n) => `${n.host}:${n.port}`).join(",")}`;
      const redisOptions: RedisOptions = { ...common };
      if (parsed.username !== undefined) redisOptions.username = parsed.username;
      if (parsed.password !== undefined) redisOptions.password = parsed.password;
      client = new Cluster(parsed.nodes, {
        redisOptions,
        enableOfflineQueue: false,
        enableAutoPipelining: true,
        clusterRetryStrategy: (times: number) => Math.min(times * 100, 1000),
        slotsRefreshTimeout: connectTimeout,
      });
      cluster = true;
    } else {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new LarderError("INVALID_CONFIG", `online store URL is not a valid Redis URL: ${redactUrl(url)}`);
      }
      displayUrl = `${parsed.protocol}//${parsed.host}${parsed.pathname === "/" ? "" : parsed.pathname}`;
      // No auto-pipelining here: a batch is a few large commands (MGET of up to 1000 keys, scripts of
      // 500), and auto-pipelining's per-tick batching costs single-entity reads up to ~1 ms at p99.
      client = new Redis(url, common);
    }
    const store = new RedisOnlineStore(client, cluster, displayUrl, opts.keyPrefix ?? "", connectTimeout);
    // Wait for the first connection, but not past its first failure: a Redis that is down makes
    // the calls fail fast, not the open slow.
    await store.waitReady(connectTimeout).catch(() => {});
    return store;
  }

  async write(project: string, view: string, rows: readonly OnlineRow[], opts: OnlineWriteOptions): Promise<OnlineWriteResult> {
    const result: OnlineWriteResult = { written: 0, stale: 0, expired: 0 };
    if (rows.length === 0) return result;
    const prefix = this.viewPrefix(project, view);
    const schemaId = schemaIdFor(opts.features);
    const now = Date.now();
    // Per slot (standalone: one group): keys and the script's ARGV.
    const groups = new Map<number, { keys: string[]; args: string[] }>();
    for (const row of rows) {
      checkRow(row, opts.features.length);
      const expiresAt = rowExpiresAt(row.eventTs, opts.ttlMs);
      const key = prefix + row.entityKey;
      const slot = this.cluster ? keySlot(key) : 0;
      let g = groups.get(slot);
      if (g === undefined) groups.set(slot, (g = { keys: [], args: [] }));
      g.keys.push(key);
      const created = row.createdTs ?? null;
      g.args.push(String(row.eventTs), created === null ? "" : String(created), expiresAt === null ? "" : String(expiresAt), packRow(row.eventTs, now, expiresAt, schemaId, row.values, created));
    }
    await this.run(async () => {
      // The schema first, so no reader sees a row it cannot decode. Written on every call (one
      // small SET) rather than remembered, so a deleteView elsewhere cannot leave rows without it.
      // Standalone: one connection runs commands in order, so the SET need not be awaited first.
      const schemaSet = this.client.set(`${prefix}#${schemaId}`, JSON.stringify(opts.features));
      if (this.cluster) await schemaSet;
      const calls: Promise<number[]>[] = [];
      for (const g of groups.values()) {
        for (let i = 0; i < g.keys.length; i += WRITE_CHUNK) {
          const keys = g.keys.slice(i, i + WRITE_CHUNK);
          const args = g.args.slice(i * 4, (i + WRITE_CHUNK) * 4);
          calls.push(this.evalWrite(keys, [String(now), ...args]));
        }
      }
      const [, counts] = await Promise.all([schemaSet, Promise.all(calls)]);
      for (const [w, s, e] of counts) {
        result.written += w ?? 0;
        result.stale += s ?? 0;
        result.expired = (result.expired ?? 0) + (e ?? 0);
      }
    });
    return result;
  }

  async update(project: string, view: string, entityKeys: readonly string[], modify: StateModify, opts: OnlineWriteOptions): Promise<OnlineUpdateResult> {
    const result: OnlineUpdateResult = { written: 0, unchanged: 0, expired: 0, retries: 0 };
    let pending = [...new Set(entityKeys)];
    if (pending.length === 0) return result;
    const prefix = this.viewPrefix(project, view);
    const schemaId = schemaIdFor(opts.features);
    const keysOf = (entityKey: string): { row: string; state: string; slot: number } => {
      const row = prefix + entityKey;
      const slot = this.cluster ? keySlot(row) : 0;
      return { row, state: `${prefix}~{${slotTag(slot)}}${entityKey}`, slot };
    };
    await this.run(async () => {
      await this.client.set(`${prefix}#${schemaId}`, JSON.stringify(opts.features));
    });
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 0) {
        if (attempt >= UPDATE_ATTEMPTS) {
          throw new LarderError("WRITE_CONFLICT", `online store ${this.displayUrl}: ${pending.length} entities of view ${JSON.stringify(view)} kept changing under ${UPDATE_ATTEMPTS} attempts (e.g. ${pending[0]})`, { view });
        }
        result.retries += pending.length;
        // Jittered backoff, so writers that collided do not collide again in lockstep.
        await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * attempt)));
      }
      const keys = pending.map(keysOf);
      const stored = new Array<string | null>(pending.length).fill(null);
      const groups = new Map<number, number[]>();
      keys.forEach((k, i) => {
        const g = groups.get(k.slot);
        if (g === undefined) groups.set(k.slot, [i]);
        else g.push(i);
      });
      const chunks: number[][] = [];
      for (const g of groups.values()) for (let i = 0; i < g.length; i += WRITE_CHUNK) chunks.push(g.slice(i, i + WRITE_CHUNK));
      await this.run(async () => {
        await Promise.all(
          chunks.map(async (c) => {
            const values = await this.client.mget(c.map((i) => keys[i]!.state));
            c.forEach((idx, j) => {
              stored[idx] = values[j] ?? null;
            });
          }),
        );
      });
      const now = Date.now();
      const calls: { entities: number[]; keys: string[]; args: string[] }[] = [];
      for (const c of chunks) {
        const call = { entities: [] as number[], keys: [] as string[], args: [String(now)] };
        for (const i of c) {
          const packed = stored[i] ?? null;
          const cur = packed === null ? null : unpackState(packed);
          const next = modify(pending[i]!, cur === null ? null : storedState(cur));
          if (next === null) {
            result.unchanged++;
            continue;
          }
          checkRow({ entityKey: pending[i]!, eventTs: next.eventTs, values: next.values }, opts.features.length);
          const rowExpires = rowExpiresAt(next.eventTs, opts.ttlMs);
          call.entities.push(i);
          call.keys.push(keys[i]!.row, keys[i]!.state);
          call.args.push(
            cur === null ? "" : cur.version,
            packState(newStateVersion(), next.asOf, next.eventTs, next.stateExpiresAt, next.state),
            next.stateExpiresAt === null ? "" : String(next.stateExpiresAt),
            packRow(next.eventTs, now, rowExpires, schemaId, next.values),
            rowExpires === null ? "" : String(rowExpires),
          );
        }
        if (call.entities.length > 0) calls.push(call);
      }
      const conflicted: string[] = [];
      await this.run(async () => {
        const answers = await Promise.all(calls.map((c) => this.evalScript(UPDATE_SCRIPT_SHA, UPDATE_SCRIPT, c.keys, c.args)));
        answers.forEach((codes, k) => {
          calls[k]!.entities.forEach((i, j) => {
            const code = codes[j];
            if (code === 0) conflicted.push(pending[i]!);
            else {
              result.written++;
              if (code === 2) result.expired++;
            }
          });
        });
      });
      pending = conflicted;
    }
    return result;
  }

  async read(project: string, view: string, entityKeys: readonly string[], features: readonly string[]): Promise<(OnlineValue | null)[]> {
    if (entityKeys.length === 0) return [];
    const prefix = this.viewPrefix(project, view);
    const packed = new Array<string | null>(entityKeys.length).fill(null);
    await this.run(async () => {
      const groups: number[][] = [];
      if (this.cluster) {
        const bySlot = new Map<number, number[]>();
        entityKeys.forEach((k, i) => {
          const slot = keySlot(prefix + k);
          const g = bySlot.get(slot);
          if (g === undefined) bySlot.set(slot, [i]);
          else g.push(i);
        });
        for (const g of bySlot.values()) for (let i = 0; i < g.length; i += READ_CHUNK) groups.push(g.slice(i, i + READ_CHUNK));
      } else {
        for (let i = 0; i < entityKeys.length; i += READ_CHUNK) {
          groups.push(Array.from({ length: Math.min(READ_CHUNK, entityKeys.length - i) }, (_, j) => i + j));
        }
      }
      await Promise.all(
        groups.map(async (g) => {
          const values = await this.client.mget(g.map((i) => prefix + (entityKeys[i] as string)));
          g.forEach((idx, j) => {
            packed[idx] = values[j] ?? null;
          });
        }),
      );
    });
    return this.decode(prefix, packed, features, Date.now());
  }

  /**
   * Standalone: every view's keys in one MGET (chunked at READ_CHUNK keys), so a serving request
   * is one round trip instead of one per view (measured at batch 1, 5 views: see BENCHMARKS.md).
   * Cluster: one `read` per view; their per-slot MGETs are auto-pipelined per node.
   */
  async readViews(project: string, reads: readonly OnlineViewRead[]): Promise<(OnlineValue | null)[][]> {
    if (this.cluster || reads.length === 1) return Promise.all(reads.map((r) => this.read(project, r.view, r.entityKeys, r.features)));
    const prefixes = reads.map((r) => this.viewPrefix(project, r.view));
    const keys: string[] = [];
    for (let v = 0; v < reads.length; v++) for (const k of reads[v]!.entityKeys) keys.push(prefixes[v]! + k);
    let packed: (string | null)[] = [];
    if (keys.length > 0) {
      await this.run(async () => {
        if (keys.length <= READ_CHUNK) {
          packed = await this.client.mget(keys);
          return;
        }
        const chunks: Promise<(string | null)[]>[] = [];
        for (let i = 0; i < keys.length; i += READ_CHUNK) chunks.push(this.client.mget(keys.slice(i, i + READ_CHUNK)));
        packed = (await Promise.all(chunks)).flat();
      });
    }
    const now = Date.now();
    let at = 0;
    return Promise.all(
      reads.map((r, v) => {
        const part = packed.slice(at, (at += r.entityKeys.length));
        return this.decode(prefixes[v]!, part, r.features, now);
      }),
    );
  }

  /** Rows of one view from their packed strings: null where missing, expired (by `now`) or undecodable. */
  private async decode(prefix: string, packed: readonly (string | null)[], features: readonly string[], now: number): Promise<(OnlineValue | null)[]> {
    const out: (OnlineValue | null)[] = new Array<OnlineValue | null>(packed.length).fill(null);
    const rows = packed.map((p) => (p === null ? null : unpackRow(p)));
    await this.loadSchemas(prefix, rows);
    rows.forEach((row, i) => {
      if (row === null || hasExpired(row.expiresAt, now)) return;
      const schema = this.schemas.get(`${prefix}#${row.schemaId}`);
      if (schema === undefined) return; // the view was deleted while we read
      out[i] = { eventTs: row.eventTs, writtenAt: row.writtenAt, values: selectValues(row, schema.index, features) };
    });
    return out;
  }

  async deleteView(project: string, view: string): Promise<void> {
    const match = `${escapeGlob(this.viewPrefix(project, view))}*`;
    await this.run(async () => {
      const nodes: Redis[] = this.client instanceof Cluster ? this.client.nodes("master") : [this.client];
      await Promise.all(
        nodes.map(async (node) => {
          let cursor = "0";
          do {
            const [next, keys] = await node.scan(cursor, "MATCH", match, "COUNT", 1000);
            cursor = next;
            if (keys.length === 0) continue;
            if (this.cluster) {
              // Keys of different slots cannot share one UNLINK, even on one node.
              const p = node.pipeline();
              for (const k of keys) p.unlink(k);
              const res = await p.exec();
              const failed = res?.find(([err]) => err !== null);
              if (failed) throw failed[0];
            } else {
              await node.unlink(...keys);
            }
          } while (cursor !== "0");
        }),
      );
    });
    for (const k of this.schemas.keys()) if (k.startsWith(this.viewPrefix(project, view))) this.schemas.delete(k);
  }

  async writeMarker(project: string, view: string, marker: MaterializationMarker): Promise<void> {
    await this.run(async () => {
      await this.client.set(this.viewPrefix(project, view) + MARKER_KEY, JSON.stringify(marker));
    });
  }

  async readMarker(project: string, view: string): Promise<MaterializationMarker | null> {
    let json: string | null = null;
    await this.run(async () => {
      json = await this.client.get(this.viewPrefix(project, view) + MARKER_KEY);
    });
    return parseMarker(json);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect();
    }
  }

  private viewPrefix(project: string, view: string): string {
    return `${this.keyPrefix}${escapeName(project)}:${escapeName(view)}:`;
  }

  private evalWrite(keys: string[], args: string[]): Promise<number[]> {
    return this.evalScript(WRITE_SCRIPT_SHA, WRITE_SCRIPT, keys, args);
  }

  private async evalScript(sha: string, script: string, keys: string[], args: string[]): Promise<number[]> {
    try {
      return (await this.client.evalsha(sha, keys.length, ...keys, ...args)) as number[];
    } catch (err) {
      // First use on this node, or after SCRIPT FLUSH / a restart: EVAL sends and caches the script.
      if (err instanceof Error && err.message.startsWith("NOSCRIPT")) {
        return (await this.client.eval(script, keys.length, ...keys, ...args)) as number[];
      }
      throw err;
    }
  }

  /** Fetches the feature lists of schemas not seen yet (content-addressed, so cached for good). */
  private async loadSchemas(prefix: string, rows: readonly ({ schemaId: string } | null)[]): Promise<void> {
    const missing = new Set<string>();
    for (const r of rows) if (r !== null && !this.schemas.has(`${prefix}#${r.schemaId}`)) missing.add(`${prefix}#${r.schemaId}`);
    if (missing.size === 0) return;
    await this.run(async () => {
      await Promise.all(
        [...missing].map(async (key) => {
          const json = await this.client.get(key);
          if (json !== null) this.schemas.set(key, { index: featureIndex(JSON.parse(json) as string[]) });
        }),
      );
    });
  }

  /** Runs Redis calls once the connection is ready, mapping connection failures to ONLINE_STORE_UNAVAILABLE. */
  private async run(fn: () => Promise<void>): Promise<void> {
    if (this.closed) throw new LarderError("INTERNAL", "the online store is closed");
    try {
      if (this.client.status !== "ready") {
        // A connection attempt in progress may finish soon; one known to be down fails at once.
        const connecting = ["wait", "connecting", "connect"].includes(this.client.status);
        if (!connecting) throw new Error(`connection is ${this.client.status}`);
        await this.waitReady(this.connectTimeoutMs);
      }
      await fn();
    } catch (err) {
      throw this.toLarderError(err);
    }
  }

  /** Resolves when the connection is ready; rejects when the attempt fails or after `timeoutMs`. */
  private waitReady(timeoutMs: number): Promise<void> {
    if (this.client.status === "ready") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.client.off("ready", onReady);
        this.client.off("end", onEnd);
        this.client.off("error", onError);
        this.client.off("close", onEnd);
        if (err) reject(err);
        else resolve();
      };
      const onReady = (): void => done();
      const onEnd = (): void => done(new Error("connection closed"));
      const onError = (err: Error): void => done(err);
      const timer = setTimeout(() => done(new Error(`not connected after ${timeoutMs} ms`)), timeoutMs);
      this.client.on("ready", onReady);
      this.client.on("end", onEnd);
      this.client.on("error", onError);
      this.client.on("close", onEnd);
    });
  }

  private toLarderError(err: unknown): LarderError {
    if (isLarderError(err)) return err;
    const message = err instanceof Error ? err.message : String(err);
    const isReply = err instanceof Error && err.name === "ReplyError";
    if (isReply && !/^(CLUSTERDOWN|TRYAGAIN|LOADING|MASTERDOWN|READONLY|BUSY)/.test(message)) {
      return new LarderError("INTERNAL", `online store ${this.displayUrl}: ${message}`, {}, { cause: err });
    }
    const last = this.lastError && this.lastError.message !== message ? ` (last connection error: ${this.lastError.message})` : "";
    return new LarderError("ONLINE_STORE_UNAVAILABLE", `the online store at ${this.displayUrl} is unavailable: ${message}${last}`, { url: this.displayUrl }, { cause: err });
  }
}

function checkRow(row: OnlineRow, featureCount: number): void {
  if (!isValidEventTs(row.eventTs)) {
    throw new LarderError("INVALID_ARGUMENT", `online row ${row.entityKey}: event timestamp must be an integer epoch ms, got ${row.eventTs}`);
  }
  if (row.createdTs !== undefined && row.createdTs !== null && !isValidEventTs(row.createdTs)) {
    throw new LarderError("INVALID_ARGUMENT", `online row ${row.entityKey}: created timestamp must be an integer epoch ms, got ${row.createdTs}`);
  }
  if (row.values.length !== featureCount) {
    throw new LarderError("INVALID_ARGUMENT", `online row ${row.entityKey}: ${row.values.length} values for ${featureCount} features`);
  }
}

/** Project and view names go into keys; ":" separates them, so it (and the escape) are escaped. */
function escapeName(name: string): string {
  return name.replace(/%/g, "%25").replace(/:/g, "%3A");
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//");
}

function parseClusterUrl(url: string): { nodes: { host: string; port: number }[]; username?: string; password?: string } {
  let rest = url.slice("redis-cluster://".length).replace(/\/$/, "");
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at !== -1) {
    const userinfo = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = userinfo.indexOf(":");
    const user = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon));
    if (user !== "") username = user;
    if (colon !== -1) password = decodeURIComponent(userinfo.slice(colon + 1));
  }
  const nodes: { host: string; port: number }[] = [];
  for (const part of rest.split(",")) {
    const m = /^([^:,]+):(\d+)$/.exec(part.trim());
    if (!m) throw new LarderError("INVALID_CONFIG", `online store URL ${redactUrl(url)}: expected redis-cluster://host:port,host:port, got node ${JSON.stringify(part)}`);
    nodes.push({ host: m[1] as string, port: Number(m[2]) });
  }
  const out: { nodes: { host: string; port: number }[]; username?: string; password?: string } = { nodes };
  if (username !== undefined) out.username = username;
  if (password !== undefined) out.password = password;
  return out;
}
