import type { Table } from "apache-arrow";
import { loadRepo, type FeatureRepo } from "./config/load-repo.js";
import type { RepoDefinitions } from "./definitions/repo-definitions.js";
import { larderEnvironment } from "./environment.js";
import type { MaterializeResult } from "./materialize/materialize-view.js";
import type { OfflineStore } from "./offline/offline-store.js";
import type { OnlineStore } from "./online/online-store.js";
import type { BackfillResult } from "./pipeline/view-pipeline.js";
import type { RegistryStore } from "./registry/registry-store.js";
import type { CompactResult } from "./sources/compact-push-files.js";
import type { ModelCache } from "./serving/model-cache.js";
import type { OnlineFeaturesResponse } from "./serving/online-features.js";
import type { PredictOptions, PredictResponse } from "./serving/predict.js";
import type { PushResult } from "./serving/push.js";
import { createAppContext, type AppContext } from "./use-cases/app-context.js";
import { applyDefinitions, planDefinitions, type PlanResult } from "./use-cases/apply-definitions.js";
import { backfill, compact, type BackfillOptions } from "./use-cases/backfill.js";
import { getOnlineFeatures, type OnlineFeaturesOptions } from "./use-cases/get-online-features.js";
import { getTrainingSet, writeTrainingSet, type TrainingSetOptions } from "./use-cases/get-training-set.js";
import { materialize, materializeIncremental, type MaterializeIncrementalOptions, type MaterializeOptions, type MaterializeSkip } from "./use-cases/materialize.js";
import { predictOnline } from "./use-cases/predict.js";
import { push, type PushOptions } from "./use-cases/push.js";

export type { BackfillOptions } from "./use-cases/backfill.js";
export type { OnlineFeaturesOptions } from "./use-cases/get-online-features.js";
export type { TrainingSetOptions } from "./use-cases/get-training-set.js";
export type { MaterializeIncrementalOptions, MaterializeOptions, MaterializeSkip, OnlineDataLoss } from "./use-cases/materialize.js";
export type { PushOptions } from "./use-cases/push.js";
export type { PushResult, PushTarget } from "./serving/push.js";

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

/**
 * The in-process API over a feature repository: plan/apply definitions, backfill the offline
 * store, build training sets, materialize into the online store and read online feature vectors.
 * Each method opens the registry (and the online store) for just its own duration, so the
 * embedded registry (one process at a time) is never held between calls.
 *
 * A facade: it builds the repository's context once (src/use-cases/app-context.ts) and each
 * method is one use case of src/use-cases/ run on it. Its own members are the context's, so a
 * store can be passed wherever a use case takes a context (`registerModel(store, …)`).
 * @example
 * const store = await FeatureStore.open("examples/churn");
 * await store.apply();
 * await store.backfill({ start: "2024-01-01", end: "2024-07-01" });
 * const table = await store.getTrainingSet(entities, { service: "churn_v1" });
 * await store.materialize({ start: "2024-01-01", end: "2024-07-01" });
 * const vectors = await store.getOnlineFeatures({ customer_id: [1, 2] }, { service: "churn_v1" });
 */
export class FeatureStore implements AppContext {
  /** What the use cases run on: project, definitions, registry, offline and online stores, models. */
  readonly context: AppContext;

  private constructor(repo: FeatureRepo, options: FeatureStoreOptions) {
    this.context = createAppContext(repo, options);
  }

  static async open(repoDir: string, options: FeatureStoreOptions = {}): Promise<FeatureStore> {
    const schema = options.registrySchema ?? larderEnvironment().registrySchema;
    return new FeatureStore(await loadRepo(repoDir), schema ? { ...options, registrySchema: schema } : options);
  }

  /**
   * The repository: its directory, config and the definitions this store serves (replaced as a
   * whole by `replaceDefinitions`; read it once per operation).
   */
  get repo(): FeatureRepo {
    return this.context.repo;
  }

  /**
   * Serves `definitions` from now on (a server reloading them after `apply`, see
   * DefinitionsWatcher): one assignment, so an operation that already read `repo` finishes on the
   * definitions it started with. The config stays as it was loaded.
   */
  replaceDefinitions(definitions: RepoDefinitions): void {
    this.context.replaceDefinitions(definitions);
  }

  get project(): string {
    return this.context.project;
  }

  get offline(): OfflineStore {
    return this.context.offline;
  }

  /** The lease of this store's runs (`runs.leaseMs` in larder.config.ts). */
  get runLeaseMs(): number {
    return this.context.runLeaseMs;
  }

  /** The Postgres connection of postgres sources without their own. */
  get sourcePostgresUrl(): string | undefined {
    return this.context.sourcePostgresUrl;
  }

  /** Loaded model versions for serving, shared by every predict on this store (see ModelCache: hot swap on promotion). */
  get models(): ModelCache {
    return this.context.models;
  }

  /**
   * Opens the registry for `fn`'s duration. `lockTimeoutMs` bounds the wait for locks held
   * elsewhere (the embedded registry's file lock above all; default 60 s).
   */
  withRegistry<T>(fn: (registry: RegistryStore) => Promise<T>, options: { lockTimeoutMs?: number } = {}): Promise<T> {
    return this.context.withRegistry(fn, options);
  }

  /**
   * Opens the online store `larder.config.ts` names for `fn`'s duration; with `holdOnlineStore`
   * one store is opened on first use and shared by every call until `close()` (a failed open is
   * retried by the next call).
   */
  withOnlineStore<T>(fn: (store: OnlineStore) => Promise<T>): Promise<T> {
    return this.context.withOnlineStore(fn);
  }

  /** Closes a held online store (see `holdOnlineStore`); the store stays usable (it reopens). */
  close(): Promise<void> {
    return this.context.close();
  }

  /** Validates the definitions (columns against their sources) and diffs them with the registry. */
  plan(): Promise<PlanResult> {
    return planDefinitions(this.context);
  }

  /** Validates and stores the definitions; objects deleted from the repository are removed. */
  apply(): Promise<PlanResult> {
    return applyDefinitions(this.context);
  }

  /**
   * Runs each view's batch pipeline over [start, end) into the offline store. Each view's range is
   * replaced atomically; a failing view leaves its data as it was, and the run is recorded.
   */
  backfill(options: BackfillOptions): Promise<BackfillResult[]> {
    return backfill(this.context, options);
  }

  /**
   * Merges the files offline pushes added to Parquet directory or glob sources into one per source
   * (all push-fed Parquet sources, or those named), crash-safely; see src/sources/compact-push-files.ts.
   * Backfills do this for the sources they read.
   * @example
   * const [r] = await store.compact({ sources: ["transactions"] });  // r.merged files → r.file
   */
  compact(options: { sources?: string[] } = {}): Promise<CompactResult[]> {
    return compact(this.context, options);
  }

  /**
   * A point-in-time-correct training set for the entity rows (join keys and `event_timestamp`;
   * other columns pass through unchanged, in order).
   */
  getTrainingSet(entities: Table, options: TrainingSetOptions): Promise<Table> {
    return getTrainingSet(this.context, entities, options);
  }

  /**
   * `getTrainingSet` from an entity file (Parquet or CSV) to a Parquet file, written whole or not
   * at all; DuckDB reads, joins and writes by itself when no on-demand feature is requested.
   */
  writeTrainingSet(entitiesPath: string, outPath: string, options: TrainingSetOptions): Promise<{ rows: number }> {
    return writeTrainingSet(this.context, entitiesPath, outPath, options);
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
  push(pushSource: string, df: Record<string, readonly unknown[]>, options: PushOptions = {}): Promise<PushResult> {
    return push(this.context, pushSource, df, options);
  }

  /**
   * Materializes each view's latest offline row per entity with an event timestamp in [start, end)
   * into the online store, and advances the view's watermark to `end` once its run succeeded. Reruns
   * are idempotent and an older range never overwrites newer values (writes are monotonic).
   * Views with `online: false` are skipped.
   */
  materialize(options: MaterializeOptions): Promise<MaterializeResult[]> {
    return materialize(this.context, options);
  }

  /**
   * Materializes each view from its watermark to `end` (default now), refilling views whose online
   * data was lost (see src/use-cases/materialize.ts).
   */
  materializeIncremental(options: MaterializeIncrementalOptions = {}): Promise<(MaterializeResult | MaterializeSkip)[]> {
    return materializeIncremental(this.context, options);
  }

  /**
   * The online feature vectors of entity rows (columnar, join keys and request fields), in Feast's
   * response shape with a status per value; on-demand views run on the same input rows as in
   * training sets.
   * @example
   * const res = await store.getOnlineFeatures({ customer_id: [1, 2] }, { service: "churn_v1" });
   */
  getOnlineFeatures(entities: Record<string, readonly unknown[]>, options: OnlineFeaturesOptions): Promise<OnlineFeaturesResponse> {
    return getOnlineFeatures(this.context, entities, options);
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
  predict(model: string, entities: Record<string, readonly unknown[]>, options: PredictOptions = {}): Promise<PredictResponse> {
    return predictOnline(this.context, model, entities, options);
  }
}
