import type { Table } from "apache-arrow";
import { loadRepo, type FeatureRepo } from "./config/load-repo.js";
import type { AnyDefinition, FeatureViewDef } from "./definitions/definition-types.js";
import { definitionRecords } from "./definitions/definition-records.js";
import { definitionHash } from "./definitions/repo-definitions.js";
import { LarderError, toLarderError } from "./errors.js";
import { OfflineStore } from "./offline/offline-store.js";
import { ParquetReadPool } from "./offline/parquet-read-pool.js";
import { buildTrainingSet } from "./offline/training-set.js";
import { backfillView, type BackfillResult } from "./pipeline/view-pipeline.js";
import { startViewRun } from "./pipeline/view-run.js";
import { validateViewColumns, type ColumnCheck } from "./pipeline/validate-view-columns.js";
import { openRegistry } from "./registry/open-registry.js";
import type { PlanDiff, RegistryStore } from "./registry/registry-store.js";
import type { FeatureSelection } from "./serving/feature-refs.js";
import { materializeView, MATERIALIZE_KIND, type MaterializeResult } from "./materialize/materialize-view.js";
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

  private constructor(readonly repo: FeatureRepo, private readonly options: FeatureStoreOptions) {
    this.offline = new OfflineStore(repo.offlinePath, { readPool: ParquetReadPool.shared() });
  }

  static async open(repoDir: string, options: FeatureStoreOptions = {}): Promise<FeatureStore> {
    const schema = options.registrySchema ?? process.env.LARDER_REGISTRY_SCHEMA;
    return new FeatureStore(await loadRepo(repoDir), schema ? { ...options, registrySchema: schema } : options);
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
    const diff = await this.withRegistry((r) => r.apply(this.project, definitionRecords(this.repo.definitions)));
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
    return pushRows(
      { project: this.project, repoDir: this.repo.dir, definitions: this.repo.definitions, postgresUrl: this.sourcePostgresUrl, withOnlineStore: (fn) => this.withOnlineStore(fn) },
      pushSource,
      df,
      options.to ?? "online",
    );
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
        for (const view of views) results.push(await materializeView(ctx, view, { start, end }));
        return results;
      });
    });
  }

  /**
   * Materializes each view from its watermark to `end` (default now). A view never materialized
   * starts at `end − ttl`, or without a TTL at the start of its offline data; a view with neither a
   * watermark nor offline data, or whose watermark is already at `end`, is skipped.
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
          const watermark = await registry.getWatermark(this.project, view.name, MATERIALIZE_KIND);
          let start: number | undefined = watermark?.getTime();
          if (start === undefined && view.ttlMs !== null) start = end - view.ttlMs;
          if (start === undefined) start = (await this.offline.snapshot(view.name))?.segments[0]?.start;
          if (start === undefined) {
            results.push({ view: view.name, skipped: "no offline data and no watermark (run `larder backfill` first)" });
          } else if (start >= end) {
            results.push({ view: view.name, skipped: `up to date (watermark ${new Date(start).toISOString()})` });
          } else {
            results.push(await materializeView(ctx, view, { start, end }));
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

