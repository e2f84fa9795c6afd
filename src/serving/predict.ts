import { LarderError } from "../errors.js";
import type { ModelStage } from "../registry/registry-store.js";
import type { ModelSelector } from "./model-cache.js";
import type { OnlineFeatureValue } from "./online-features.js";

/** What predictions look like, online and in batch (the use cases are in src/use-cases/predict.ts). */

export interface PredictOptions {
  /** The stage whose version answers (default "production"); ignored when `version` is given. */
  stage?: ModelStage;
  /** A specific version instead of a stage's. */
  version?: number;
  /** Per-feature contributions and the bias (they sum to the margin). Default false. */
  contributions?: boolean;
  /**
   * Request-source fields for on-demand features: a column per field (one value per entity row) or
   * one value for every row. They may also come as columns of `entities`, as in getOnlineFeatures.
   */
  request?: Record<string, unknown>;
  /** Read time for the online TTL check, epoch ms (default now). */
  now?: number;
}

/** One entity row's prediction. */
export interface PredictResult {
  /** A probability (logistic), a value (linear, regression), per-class values, or null (missing inputs under the "null" policy). */
  prediction: number | number[] | null;
  /** The score before the link function (log-odds for logistic models). */
  margin: number | number[] | null;
  /** The value of each model input feature that was used, as the online read returned it. */
  features: Record<string, OnlineFeatureValue>;
  /** With `contributions`: each feature's share of the margin. */
  contributions?: Record<string, number> | Record<string, number[]> | null;
  /** With `contributions`: bias + Σ contributions = margin. */
  bias?: number | number[] | null;
  /** The inputs that were missing when the "null" policy made the prediction null. */
  missing?: string[];
}

export interface PredictResponse {
  model: string;
  version: number;
  /** The stage the version was chosen by, or null when a version was asked for. */
  stage: ModelStage | null;
  /** The feature service the features came from. */
  service: string;
  /** The model's input features, in the model's order. */
  feature_names: string[];
  /** One per entity row, in order. */
  results: PredictResult[];
}

/** Which version a request selects: `version` wins over `stage`; default production. */
export function modelSelector(options: { stage?: ModelStage | undefined; version?: number | undefined }): ModelSelector {
  if (options.version !== undefined) {
    // At most a Postgres integer: the registry's version column.
    if (!(Number.isSafeInteger(options.version) && options.version >= 1 && options.version <= 2_147_483_647)) {
      throw new LarderError("INVALID_ARGUMENT", `version must be a positive integer (at most 2147483647), got ${String(options.version)}`, { field: "version" });
    }
    return { version: options.version };
  }
  const stage = options.stage ?? "production";
  if (stage !== "production" && stage !== "staging") throw new LarderError("INVALID_ARGUMENT", `stage must be production or staging, got ${JSON.stringify(stage)}`, { field: "stage" });
  return { stage };
}

export interface BatchPredictOptions {
  stage?: ModelStage;
  version?: number;
  /** Add a `contribution__<feature>` column per input and `contribution__bias`. Default false. */
  contributions?: boolean;
}

/** The output columns batch scoring adds to the entity rows. */
export const PREDICTION_COLUMN = "prediction";
export const VERSION_COLUMN = "model_version";
