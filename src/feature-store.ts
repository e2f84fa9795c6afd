import { resolve as resolvePath } from "node:path";
import type { Table } from "apache-arrow";
import { loadRepo, type FeatureRepo } from "./config/load-repo.js";
import type { AnyDefinition, FeatureViewDef, ParquetSourceDef } from "./definitions/definition-types.js";
import type { CompactResult } from "./sources/compact-push-files.js";
import { definitionRecords } from "./definitions/definition-records.js";
import { definitionHash, type RepoDefinitions } from "./definitions/repo-definitions.js";
import { definitionsFingerprint, writeAppliedMarker } from "./config/definitions-watcher.js";
import { LarderError, toLarderError } from "./errors.js";
import { readEntityRows } from "./offline/entity-rows.js";
import { OfflineStore } from "./offline/offline-store.js";
import { writeArrowTableToParquet } from "./offline/parquet-io.js";
import { ParquetReadPool } from "./offline/parquet-read-pool.js";
import { buildTrainingSet, writeTrainingSetFile } from "./offline/training-set.js";
import { backfillView, type BackfillResult } from "./pipeline/view-pipeline.js";
import { startViewRun } from "./pipeline/view-run.js";
import { validateViewColumns, type ColumnCheck } from "./pipeline/validate-view-columns.js";
import { openRegistry } from "./registry/open-registry.js";
import type { PlanDiff, RegistryStore } from "./registry/registry-store.js";
import type { FeatureSelection } from "./serving/feature-refs.js";
import { materializeView, type MaterializeResult } from "./materialize/materialize-view.js";
import { firstMaterializeStart, ONLINE_REPAIR_KIND, planIncremental } from "./materialize/online-data-loss.js";
import type { OnlineStore } from "./online/online-store.js";
import { getOnlineFeatures, type OnlineFeaturesResponse } from "./serving/online-features.js";
import { toEpochMs } from "./time.js";
import { ModelCache } from "./models/model-registry-cache.js";
import { predictOnline, type PredictOptions, type PredictResponse } from "./serving/predict.js";

export interface FeatureStoreOptions {
  /** Schema of the registry tables in Postgres (default LARDER_REGISTRY_SCHEMA, then "larder"). */
  registrySchema?: string;
  /**
   * Keep one online store connection open across calls until `close()` (long-running servers).
   * By default each call opens and closes its own, so short-lived commands exit cleanly.
   */
  holdOnlineStore?: boolean;
  /**
   * How often served models re-check their stage for promotions made elsewhere, at most, in ms
   * (embedded registry: the `.larder/model-stages` marker, default 500; Postgres: a registry poll,
   * default 2000). See ModelCache.
   */
  modelRefreshMs?: number;
}

/** Where `push` writes: the online store, the offline side, or both (Feast's `to`). */
export type PushTarget = "online" | "offline" | "online_and_offline";

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
 * What one push did, per online feature view fed by the push source: entities written, rows
 * ignored as older than the stored value (plain views only: for aggregated views a late event is
 * counted in its windows), rows already past the view's TTL.
 */
export interface PushResult {
  pushSource: string;
  rows: number;
  views: { view: string; written: number; stale: number; expired?: number }[];
}

export interface BackfillOptions {
  start: Date | string | number;
  end: Date | string | number;
  /** Views to backfill; default all. */
  views?: string[];
  /**
   * Rows a view's pipeline keeps in memory before spilling to disk by entity hash (default
   * 2,000,000): memory stays bounded whatever the source's size.
   */
  memoryRows?: number;
  /** `totalRows`: the source's row count (Parquet footers) or estimate (Postgres statistics), when known. */
  onProgress?: (p: { view: string; sourceRows: number; totalRows?: number }) => void;
  /**
   * Compact the files offline pushes added to the Parquet sources the views read, before reading
   * them (default true; see `compact`).
   */
  compact?: boolean;
}

export interface TrainingSetOptions {
  /** `["view:feature", …]`, or use `service`. */
  features?: readonly string[];
  service?: string;
  fullFeatureNames?: boolean;
}

export interface MaterializeOptions {
  start: Date | string | number;
  end: Date | string | number;
  /** Views to materialize; default every view with `online` (views with `online: false` are skipped). */
  views?: string[];
  onProgress?: (p: { view: string; rows: number }) => void;
}

export interface MaterializeIncrementalOptions {
  /** Default now. */
  end?: Date | string | number;
  views?: string[];
  onProgress?: (p: { view: string; rows: number }) => void;
  /**
   * Called when a view's online data was lost (its marker is missing from the online store, or
   * behind its watermark), before the view is refilled from `start`.
   */
  onDataLoss?: (e: OnlineDataLoss) => void;
}

/** A view whose online data `materializeIncremental` found lost, and the range it refills. */
export interface OnlineDataLoss {
  view: string;
  reason: string;
  start: number;
  end: number;
}

/** A view `materializeIncremental` did not run, and why. */
export interface MaterializeSkip {
  view: string;
  skipped: string;
}

export interface OnlineFeaturesOptions {
  /** `["view:feature", …]`, or use `service`. */
  features?: readonly string[];
  service?: string;
  fullFeatureNames?: boolean;
  /** Read time for the TTL check, epoch ms (default now). */
  now?: number;
  /** Entity rows read at a time before yielding to other work (default `server.chunkRows` of the config, 1,000). */
  chunkRows?: number;
}

/**
 * The in-process API over a feature repository: plan/apply definitions, backfill the offline
 * store, build training sets, materialize into the online store and read online feature vectors.
 * Each method opens the registry (and the online store) for just its own duration, so the
 * embedded registry (one process at a time) is never held between calls.
 * @example
 * const store = await FeatureStore.open("examples/churn");
 * await store.apply();
 * await store.backfill({ start: "2024-01-01", end: "2024-07-01" });
 * const table = await store.getTrainingSet(entities, { service: "churn_v1" });
 * await store.materialize({ start: "2024-01-01", end: "2024-07-01" });
 * const vectors = await store.getOnlineFeatures({ customer_id: [1, 2] }, { service: "churn_v1" });
 */
export class FeatureStore {
  readonly offline: OfflineStore;
  private heldOnline: Promise<OnlineStore> | undefined;
  /** Sets of names whose applied check passed (see assertAppliedCached). */
  private readonly appliedChecks = new Set<string>();
  private modelCache: ModelCache | undefined;

  #repo: FeatureRepo;

  private constructor(repo: FeatureRepo, private readonly options: FeatureStoreOptions) {
    this.#repo = repo;
    const { path: _path, ...engine } = repo.config.offline;
    if (engine.tempDirectory !== undefined) engine.tempDirectory = resolvePath(repo.dir, engine.tempDirectory);
    this.offline = new OfflineStore(repo.offlinePath, { readPool: ParquetReadPool.shared(), engine });
  }

  static async open(repoDir: string, options: FeatureStoreOptions = {}): Promise<FeatureStore> {
    const schema = options.registrySchema ?? process.env.LARDER_REGISTRY_SCHEMA;
    return new FeatureStore(await loadRepo(repoDir), schema ? { ...options, registrySchema: schema } : options);
  }

  /**
   * The repository: its directory, config and the definitions this store serves (replaced as a
   * whole by `replaceDefinitions`; read it once per operation).
   */
  get repo(): FeatureRepo {
    return this.#repo;
  }

  /**
   * Serves `definitions` from now on (a server reloading them after `apply`, see
   * DefinitionsWatcher): one assignment, so an operation that already read `repo` finishes on the
   * definitions it started with. The config stays as it was loaded.
   */
  replaceDefinitions(definitions: RepoDefinitions): void {
    this.#repo = { ...this.#repo, definitions };
    this.appliedChecks.clear();
  }

  get project(): string {
    return this.repo.config.project;
  }

  /** The lease of this store's runs (`runs.leaseMs` in larder.config.ts). */
  get runLeaseMs(): number {
    return this.repo.config.runs.leaseMs;
  }

  /** The Postgres connection of postgres sources without their own. */
  get sourcePostgresUrl(): string | undefined {
    const c = this.repo.config;
    return c.sources.postgres ?? (/^postgres(ql)?:\/\//.test(c.registry) ? c.registry : undefined);
  }

  /**
   * Opens the registry for `fn`'s duration. `lockTimeoutMs` bounds the wait for locks held
   * elsewhere (the embedded registry's file lock above all; default 60 s).
   */
  async withRegistry<T>(fn: (registry: RegistryStore) => Promise<T>, options: { lockTimeoutMs?: number } = {}): Promise<T> {
    const registry = await openRegistry(this.repo.config.registry, {
      repoDir: this.repo.dir,
      ...(this.options.registrySchema ? { schema: this.options.registrySchema } : {}),
      ...(options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {}),
    });
    try {
      return await fn(registry);
    } finally {
      await registry.close();
    }
  }

  /** Validates the definitions (columns against their sources) and diffs them with the registry. */
  async plan(): Promise<{ diff: PlanDiff; checks: ColumnCheck[] }> {
    const checks = await this.checkColumns();
    const diff = await this.withRegistry((r) => r.plan(this.project, definitionRecords(this.repo.definitions)));
    return { diff, checks };
  }

  /** Validates and stores the definitions; objects deleted from the repository are removed. */
  async apply(): Promise<{ diff: PlanDiff; checks: ColumnCheck[] }> {
    const checks = await this.checkColumns();
    const records = definitionRecords(this.repo.definitions);
    const diff = await this.withRegistry((r) => r.apply(this.project, records));
    // Tells servers on the embedded registry (which they do not poll) that the definitions changed.
    writeAppliedMarker(this.repo.dir, definitionsFingerprint(records));
    return { diff, checks };
  }

  private async checkColumns(): Promise<ColumnCheck[]> {
    const checks: ColumnCheck[] = [];
    for (const view of this.repo.definitions.featureViews.values()) {
      checks.push(await validateViewColumns(view, { repoDir: this.repo.dir, postgresUrl: this.sourcePostgresUrl }));
    }
    return checks;
  }

  /**
   * Throws NOT_APPLIED unless each view (or source), and everything it is built from (entities, sources, the
   * inputs of on-demand views), is applied exactly as the repository defines it.
   */
  private async assertApplied(registry: RegistryStore, names: string[]): Promise<void> {
    const defs = this.repo.definitions;
    const needed = new Map<string, AnyDefinition>();
    const visit = (def: AnyDefinition): void => {
      const id = `${def.kind}:${def.name}`;
      if (needed.has(id)) return;
      needed.set(id, def);
      if (def.kind === "feature_view") {
        def.entities.forEach(visit);
        visit(def.source);
      } else if (def.kind === "source" && def.type === "push") visit(def.batchSource);
      else if (def.kind === "on_demand_feature_view") def.sources.forEach(visit);
    };
    for (const name of names) {
      const def = defs.featureViews.get(name) ?? defs.onDemandFeatureViews.get(name) ?? defs.sources.get(name);
      if (def) visit(def);
    }
    for (const def of needed.values()) {
      const what = `${def.kind.replaceAll("_", " ")} ${JSON.stringify(def.name)}`;
      const applied = await registry.getDefinition(this.project, def.kind, def.name);
      if (!applied) throw new LarderError("NOT_APPLIED", `${what} is not applied; run \`larder apply\` first`, { kind: def.kind, name: def.name });
      if (applied.hash !== definitionHash(def)) {
        throw new LarderError("NOT_APPLIED", `${what} changed since the last apply; run \`larder plan\` and \`larder apply\``, { kind: def.kind, name: def.name });
      }
    }
  }

  private viewsNamed(names: string[] | undefined): FeatureViewDef[] {
    const all = this.repo.definitions.featureViews;
    if (!names || names.length === 0) return [...all.values()];
    return names.map((n) => {
      const v = all.get(n);
      if (!v) throw new LarderError("UNKNOWN_FEATURE_VIEW", `unknown feature view ${JSON.stringify(n)} (known: ${[...all.keys()].join(", ") || "none"})`, { view: n });
      return v;
    });
  }

  /**
   * Runs each view's batch pipeline over [start, end) into the offline store. Each view's range is
   * replaced atomically; a failing view leaves its data as it was, and the run is recorded.
   */
  async backfill(options: BackfillOptions): Promise<BackfillResult[]> {
    const start = toEpochMs(options.start, "--start");
    const end = toEpochMs(options.end, "--end");
    if (!(start < end)) throw new LarderError("INVALID_ARGUMENT", `--start (${new Date(start).toISOString()}) must be before --end (${new Date(end).toISOString()})`);
    const views = this.viewsNamed(options.views);
    return this.withRegistry(async (registry) => {
      await this.assertApplied(registry, views.map((v) => v.name));
      // Push files first, so the pipelines read one file instead of one per push.
      if (options.compact !== false) await this.compactSources(registry, this.pushedSourcesOf(views));
      const results: BackfillResult[] = [];
      for (const view of views) {
        const { id: runId, lease } = await startViewRun(registry, this.project, { kind: "backfill", view: view.name, rangeStart: new Date(start), rangeEnd: new Date(end) }, this.runLeaseMs);
        try {
          const result = await backfillView(
            {
              repoDir: this.repo.dir,
              offline: this.offline,
              postgresUrl: this.sourcePostgresUrl,
              runId,
              ...(options.memoryRows !== undefined ? { memoryRows: options.memoryRows } : {}),
              onProgress: (p) => options.onProgress?.({ view: view.name, sourceRows: p.sourceRows, ...(p.totalRows !== undefined ? { totalRows: p.totalRows } : {}) }),
            },
            view,
            { start, end },
          );
          lease.stop();
          await registry.finishRun(runId, { status: "succeeded", rows: result.rowsWritten });
          results.push(result);
        } catch (err) {
          lease.stop();
          const e = toLarderError(err);
          await registry.finishRun(runId, { status: "failed", error: `[${e.code}] ${e.message}` });
          throw e;
        }
      }
      return results;
    });
  }

  /**
   * Merges the files offline pushes added to Parquet directory or glob sources into one per source
   * (all push-fed Parquet sources, or those named), crash-safely; see src/sources/compact-push-files.ts.
   * Backfills do this for the sources they read.
   * @example
   * const [r] = await store.compact({ sources: ["transactions"] });  // r.merged files → r.file
   */
  async compact(options: { sources?: string[] } = {}): Promise<CompactResult[]> {
    const pushed: ParquetSourceDef[] = [];
    for (const ps of this.repo.definitions.sources.values()) if (ps.type === "push" && ps.batchSource.type === "parquet" && !pushed.includes(ps.batchSource)) pushed.push(ps.batchSource);
    let sources = pushed;
    if (options.sources !== undefined && options.sources.length > 0) {
      sources = options.sources.map((name) => {
        const found = pushed.find((s) => s.name === name);
        if (found !== undefined) return found;
        const def = this.repo.definitions.sources.get(name);
        if (def === undefined) throw new LarderError("SOURCE_NOT_FOUND", `unknown source ${JSON.stringify(name)} (known: ${[...this.repo.definitions.sources.keys()].join(", ") || "none"})`, { source: name });
        throw new LarderError("INVALID_ARGUMENT", `source ${JSON.stringify(name)} takes no offline pushes to Parquet, so it has nothing to compact (compactable: ${pushed.map((p) => p.name).join(", ") || "none"})`, { source: name });
      });
    }
    return this.withRegistry((registry) => this.compactSources(registry, sources));
  }

  /** The Parquet batch sources of push sources that feed `views` (each once). */
  private pushedSourcesOf(views: readonly FeatureViewDef[]): ParquetSourceDef[] {
    const out: ParquetSourceDef[] = [];
    for (const v of views) {
      const src = v.source.type === "push" ? v.source.batchSource : v.source;
      const pushed = src.type === "parquet" && [...this.repo.definitions.sources.values()].some((s) => s.type === "push" && s.batchSource.name === src.name);
      if (pushed && src.type === "parquet" && !out.includes(src)) out.push(src);
    }
    return out;
  }

  private async compactSources(registry: RegistryStore, sources: readonly ParquetSourceDef[]): Promise<CompactResult[]> {
    if (sources.length === 0) return [];
    const { compactPushFiles } = await import("./sources/compact-push-files.js");
    const results: CompactResult[] = [];
    for (const source of sources) {
      // A single Parquet file takes no pushes: nothing to compact.
      if (!(await isPushTarget(source, this.repo.dir))) continue;
      results.push(await registry.withLock(this.project, `compact:${source.name}`, () => compactPushFiles(source, { repoDir: this.repo.dir, postgresUrl: this.sourcePostgresUrl })));
    }
    return results;
  }

  /**
   * A point-in-time-correct training set for the entity rows (join keys and `event_timestamp`;
   * other columns pass through unchanged, in order).
   */
  async getTrainingSet(entities: Table, options: TrainingSetOptions): Promise<Table> {
    const selection = selectionOf(options);
    const views = selection.service !== undefined ? this.serviceViews(selection.service) : selection.features.map((r) => r.split(":")[0] ?? "");
    // The registry check overlaps the join (opening the embedded registry costs most of a second);
    // its error, if any, wins, and nothing has been written either way.
    const check = this.withRegistry((r) => this.assertApplied(r, views));
    check.catch(() => {});
    let table: Table;
    try {
      table = await buildTrainingSet(this.repo.definitions, this.offline, entities, { selection, fullFeatureNames: options.fullFeatureNames ?? false });
    } catch (err) {
      await check;
      throw err;
    }
    await check;
    return table;
  }

  /**
   * `getTrainingSet` from an entity file to a Parquet file. When no on-demand feature is requested
   * and the entities are Parquet, DuckDB reads, joins and writes without the rows passing through
   * JS; otherwise the file is read, `getTrainingSet` runs and the table is written. Either way the
   * output appears whole (written aside, renamed) and only if everything succeeded.
   */
  async writeTrainingSet(entitiesPath: string, outPath: string, options: TrainingSetOptions): Promise<{ rows: number }> {
    const selection = selectionOf(options);
    const views = selection.service !== undefined ? this.serviceViews(selection.service) : selection.features.map((r) => r.split(":")[0] ?? "");
    const check = this.withRegistry((r) => this.assertApplied(r, views));
    check.catch(() => {});
    let written: { rows: number } | undefined;
    try {
      written = await writeTrainingSetFile(this.repo.definitions, this.offline, entitiesPath, outPath, { selection, fullFeatureNames: options.fullFeatureNames ?? false, beforeCommit: () => check });
    } catch (err) {
      await check;
      throw err;
    }
    if (written !== undefined) return written;
    const table = await this.getTrainingSet(await readEntityRows(entitiesPath), options);
    await writeArrowTableToParquet(outPath, table);
    return { rows: table.numRows };
  }

  /**
   * Opens the online store `larder.config.ts` names for `fn`'s duration; with `holdOnlineStore`
   * one store is opened on first use and shared by every call until `close()` (a failed open is
   * retried by the next call).
   */
  async withOnlineStore<T>(fn: (store: OnlineStore) => Promise<T>): Promise<T> {
    if (this.options.holdOnlineStore) {
      this.heldOnline ??= this.openOnline().catch((err: unknown) => {
        this.heldOnline = undefined;
        throw err;
      });
      return fn(await this.heldOnline);
    }
    const store = await this.openOnline();
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  private async openOnline(): Promise<OnlineStore> {
    // Loaded on first use: commands that never touch the online store do not load its drivers.
    const { openOnlineStore } = await import("./online/open-online-store.js");
    return openOnlineStore(this.repo.config.online, { repoDir: this.repo.dir });
  }

  /** Closes a held online store (see `holdOnlineStore`); the store stays usable (it reopens). */
  async close(): Promise<void> {
    const held = this.heldOnline;
    this.heldOnline = undefined;
    if (held) await (await held.catch(() => undefined))?.close();
  }

  /**
   * Pushes rows (columnar, in the push source's batch-source shape, source column names) through the
   * row transform of every view fed by the push source, into the online store (`to: "online"`, the
   * default), appended to the batch source for the next backfill (`"offline"`: Postgres tables and
   * Parquet directories or globs), or both. Aggregated views update their windows exactly as a
   * backfill would (late events included). Nothing is written when any row is invalid. See
   * src/serving/push.ts.
   * @example
   * await store.push("transactions_push", { customer_id: [1], ts: ["2024-05-01T10:00:00Z"], amount_cents: [1250] });
   */
  async push(pushSource: string, df: Record<string, readonly unknown[]>, options: PushOptions = {}): Promise<PushResult> {
    const { pushRows, resolvePushSource, viewsOfPushSource } = await import("./serving/push.js");
    const source = resolvePushSource(this.repo.definitions, pushSource);
    await this.assertAppliedCached([source.name, ...viewsOfPushSource(this.repo.definitions, source).map((v) => v.name)]);
    const ctx = { project: this.project, repoDir: this.repo.dir, definitions: this.repo.definitions, postgresUrl: this.sourcePostgresUrl, withOnlineStore: <T>(fn: (store: OnlineStore) => Promise<T>) => this.withOnlineStore(fn) };
    if (options.idempotencyKey !== undefined) {
      const { pushIdempotent } = await import("./serving/push-idempotency.js");
      const idempotent = { ...ctx, withRegistry: <T>(fn: (r: RegistryStore) => Promise<T>) => this.withRegistry(fn), retentionMs: this.repo.config.server.idempotencyRetentionMs };
      return pushIdempotent(idempotent, options.idempotencyKey, pushSource, df, options.to ?? "online");
    }
    return pushRows(ctx, pushSource, df, options.to ?? "online");
  }

  /**
   * `assertApplied`, remembered once it passed: a store's definitions are loaded once, at open, so
   * a passed check stays true for them unless someone applies other definitions meanwhile, and a
   * push (a server's hot path) should not open the registry each time (the embedded one costs most
   * of a second). The price: after another process applies changed definitions, this store keeps
   * pushing with the definitions it was opened with until it is reopened — as it serves them anyway.
   */
  private async assertAppliedCached(names: string[]): Promise<void> {
    const key = JSON.stringify(names);
    if (this.appliedChecks.has(key)) return;
    await this.withRegistry((r) => this.assertApplied(r, names));
    this.appliedChecks.add(key);
  }


  /**
   * Materializes each view's latest offline row per entity with an event timestamp in [start, end)
   * into the online store, and advances the view's watermark to `end` once its run succeeded. Reruns
   * are idempotent and an older range never overwrites newer values (writes are monotonic).
   * Views with `online: false` are skipped.
   */
  async materialize(options: MaterializeOptions): Promise<MaterializeResult[]> {
    const start = toEpochMs(options.start, "--start");
    const end = toEpochMs(options.end, "--end");
    if (!(start < end)) throw new LarderError("INVALID_ARGUMENT", `--start (${new Date(start).toISOString()}) must be before --end (${new Date(end).toISOString()})`);
    const views = this.onlineViews(options.views);
    return this.withRegistry(async (registry) => {
      await this.assertApplied(registry, views.map((v) => v.name));
      return this.withOnlineStore(async (online) => {
        const ctx = { project: this.project, registry, leaseMs: this.runLeaseMs, offline: this.offline, online, source: { repoDir: this.repo.dir, postgresUrl: this.sourcePostgresUrl }, ...(options.onProgress ? { onProgress: options.onProgress } : {}) };
        const results: MaterializeResult[] = [];
        for (const view of views) {
          // A range from where a first run starts refills the whole view (see MaterializeRange.complete).
          const first = await firstMaterializeStart(this.offline, view, end);
          results.push(await materializeView(ctx, view, { start, end, complete: first !== undefined && start <= first }));
        }
        return results;
      });
    });
  }

  /**
   * Materializes each view from its watermark to `end` (default now). A view never materialized
   * starts at `end − ttl`, or without a TTL at the start of its offline data; a view with neither a
   * watermark nor offline data, or whose watermark is already at `end`, is skipped.
   *
   * Online data loss: a view whose marker is missing from the online store (Redis restarted empty)
   * is refilled as a first run would fill it, one whose marker is behind its watermark from the
   * marker's watermark; `onDataLoss` is told first, and the repair is recorded as a run of kind
   * `online_repair` (see src/materialize/online-data-loss.ts).
   */
  async materializeIncremental(options: MaterializeIncrementalOptions = {}): Promise<(MaterializeResult | MaterializeSkip)[]> {
    const end = options.end === undefined ? Date.now() : toEpochMs(options.end, "--end");
    const views = this.onlineViews(options.views);
    return this.withRegistry(async (registry) => {
      await this.assertApplied(registry, views.map((v) => v.name));
      return this.withOnlineStore(async (online) => {
        const ctx = { project: this.project, registry, leaseMs: this.runLeaseMs, offline: this.offline, online, source: { repoDir: this.repo.dir, postgresUrl: this.sourcePostgresUrl }, ...(options.onProgress ? { onProgress: options.onProgress } : {}) };
        const results: (MaterializeResult | MaterializeSkip)[] = [];
        for (const view of views) {
          const plan = await planIncremental(ctx, view, end);
          if ("skip" in plan) {
            results.push({ view: view.name, skipped: plan.skip });
            continue;
          }
          if (plan.loss === undefined) {
            results.push(await materializeView(ctx, view, { start: plan.start, end, complete: plan.complete }));
            continue;
          }
          // Recorded as a run of its own, so the loss is counted (larder_online_data_loss_total)
          // and shown by `larder runs` whichever process noticed it.
          const repairId = await registry.startRun(this.project, { kind: ONLINE_REPAIR_KIND, view: view.name, rangeStart: new Date(plan.start), rangeEnd: new Date(end) });
          options.onDataLoss?.({ view: view.name, reason: plan.loss, start: plan.start, end });
          try {
            const result = await materializeView(ctx, view, { start: plan.start, end, complete: plan.complete });
            await registry.finishRun(repairId, { status: "succeeded", rows: result.rows });
            results.push({ ...result, repaired: plan.loss });
          } catch (err) {
            const e = toLarderError(err);
            await registry.finishRun(repairId, { status: "failed", error: `[${e.code}] ${e.message}` }).catch(() => {});
            throw e;
          }
        }
        return results;
      });
    });
  }

  /**
   * The online feature vectors of entity rows (columnar, join keys and request fields), in Feast's
   * response shape with a status per value; on-demand views run on the same input rows as in
   * training sets.
   * @example
   * const res = await store.getOnlineFeatures({ customer_id: [1, 2] }, { service: "churn_v1" });
   */
  async getOnlineFeatures(entities: Record<string, readonly unknown[]>, options: OnlineFeaturesOptions): Promise<OnlineFeaturesResponse> {
    const selection = selectionOf(options);
    return this.withOnlineStore((online) =>
      getOnlineFeatures(this.repo.definitions, online, this.project, {
        selection,
        entities,
        fullFeatureNames: options.fullFeatureNames ?? false,
        ...(options.now !== undefined ? { now: options.now } : {}),
        chunkRows: options.chunkRows ?? this.repo.config.server.chunkRows,
      }),
    );
  }

  /** Loaded model versions for serving, shared by every predict on this store (see ModelCache: hot swap on promotion). */
  get models(): ModelCache {
    this.modelCache ??= new ModelCache(this, this.options.modelRefreshMs !== undefined ? { refreshMs: this.options.modelRefreshMs } : {});
    return this.modelCache;
  }

  /**
   * Predictions of a registered model (its production version by default) for entity rows: the
   * model's feature service read online (on-demand transforms included), the model run on those
   * values. Returns a prediction per row with the model version, the feature values used and, with
   * `contributions`, per-feature contributions. UNKNOWN_MODEL for an unknown model or empty stage.
   * @example
   * const res = await store.predict("churn", { customer_id: [1, 2] }, { request: { cart_value: [10, 25] }, contributions: true });
   * console.log(res.version, res.results[0].prediction);
   */
  async predict(model: string, entities: Record<string, readonly unknown[]>, options: PredictOptions = {}): Promise<PredictResponse> {
    return predictOnline(this, model, entities, options);
  }

  /** The named views, or all; views with `online: false` are left out (naming one is an error). */
  private onlineViews(names: string[] | undefined): FeatureViewDef[] {
    const views = this.viewsNamed(names);
    if (names && names.length > 0) {
      const offlineOnly = views.find((v) => !v.online);
      if (offlineOnly) throw new LarderError("INVALID_ARGUMENT", `feature view ${JSON.stringify(offlineOnly.name)} has online: false; it is not materialized`, { view: offlineOnly.name });
    }
    return views.filter((v) => v.online);
  }

  private serviceViews(service: string): string[] {
    const svc = this.repo.definitions.featureServices.get(service);
    return svc ? svc.features.map((p) => p.view.name) : [];
  }
}

export function selectionOf(options: { features?: readonly string[] | undefined; service?: string | undefined }): FeatureSelection {
  if (options.service !== undefined && options.features !== undefined) throw new LarderError("INVALID_ARGUMENT", "give either features or a feature service, not both");
  if (options.service !== undefined) return { service: options.service };
  if (options.features !== undefined) return { features: options.features };
  throw new LarderError("INVALID_ARGUMENT", "give features (view:feature, …) or a feature service");
}


/** True when offline pushes to `source` add files (a directory or a glob; not a single file). */
async function isPushTarget(source: ParquetSourceDef, repoDir: string): Promise<boolean> {
  const { checkAppendable } = await import("./sources/append-rows.js");
  try {
    await checkAppendable(source, { repoDir, postgresUrl: undefined });
    return true;
  } catch {
    return false;
  }
}
