/**
 * Larder's public API. Everything a feature repository or an application may import is named
 * here; modules not exported here are internal and may change.
 */
export { defineConfig, hashApiKey, type LarderConfig, type LarderConfigInput, type ApiKeyScope, type ApiKeyInput } from "./config/define-config.js";
export { entity, type EntityOptions } from "./definitions/entity.js";
export { parquetSource, csvSource, postgresSource, pushSource, requestSource, type ParquetSourceOptions, type CsvSourceOptions, type PostgresSourceOptions, type PushSourceOptions, type RequestSourceOptions } from "./definitions/sources.js";
export { featureView, type FeatureViewOptions } from "./definitions/feature-view.js";
export { onDemandFeatureView, type OnDemandFeatureViewOptions } from "./definitions/on-demand-feature-view.js";
export { featureService, type FeatureServiceOptions } from "./definitions/feature-service.js";
export { agg } from "./definitions/aggregations.js";
export type {
  EntityDef,
  FeatureViewDef,
  OnDemandFeatureViewDef,
  FeatureServiceDef,
  SourceDef,
  BatchSourceDef,
  PushSourceDef,
  RequestSourceDef,
  AggregationDef,
  FeatureRow,
  FeatureViewProjection,
  RowOf,
  ValueOf,
} from "./definitions/definition-types.js";
export { types, type ValueType } from "./types.js";
export {
  FeatureStore,
  type FeatureStoreOptions,
  type BackfillOptions,
  type TrainingSetOptions,
  type PushOptions,
  type PushResult,
  type PushTarget,
  type MaterializeOptions,
  type MaterializeIncrementalOptions,
  type MaterializeSkip,
  type OnlineFeaturesOptions,
} from "./feature-store.js";
export type { MaterializeResult } from "./materialize/materialize-view.js";
export type { BackfillResult } from "./pipeline/view-pipeline.js";
export type { OnlineFeaturesResponse, OnlineFeatureValue, FieldStatus } from "./serving/online-features.js";
export { LarderError, ERROR_CATALOGUE, httpStatusFor, isLarderError, type ErrorCode } from "./errors.js";
export { readEntityRows } from "./offline/entity-rows.js";
export { startScheduler, type Scheduler, type SchedulerOptions } from "./use-cases/scheduler.js";
export type { ScheduledRunResult } from "./use-cases/scheduled-run.js";
export { materializationLag, type MaterializationLag, type MaterializationLagOptions } from "./materialize/materialization-lag.js";
export { loadModel, type Model, type ModelKind, type ModelRow, type Prediction, type PredictOptions } from "./models/index.js";
export { trainModel, type TrainOptions, type TrainResult, type TrainMetrics } from "./use-cases/train-model.js";
export { registerModel, listModels, promoteModel, type RegisterModelInput } from "./use-cases/model-registry.js";
export { ModelCache, type ServedModel, type ModelSelector, type ModelCacheOptions } from "./serving/model-cache.js";
export { predictOnline, predictBatch } from "./use-cases/predict.js";
export type { PredictOptions as FeatureStorePredictOptions, PredictResponse, PredictResult, BatchPredictOptions } from "./serving/predict.js";
export type { ModelStage, ModelVersionSummary, ModelVersionRecord } from "./registry/registry-store.js";
