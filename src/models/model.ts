/**
 * The one interface every embedded model format implements (Larder's linear/logistic JSON and
 * xgboost's JSON), so the registry, the HTTP server and batch scoring handle models alike.
 * `loadModel` in `load-model.ts` validates a model file and returns one of these.
 *
 * @example
 * const model = loadModel(JSON.parse(readFileSync("churn.json", "utf8")));
 * const [r] = model.predict([{ monthly_fee: 42, plan: "pro" }], { contributions: true });
 * // r.prediction: 0.27, r.margin: -0.99, r.contributions: { monthly_fee: -0.21, plan: -0.2 }, r.bias: -1.2
 */

/** `linear` and `logistic` are Larder's own JSON (larder.linear.v1); `xgboost` is xgboost's JSON. */
export type ModelKind = "linear" | "logistic" | "xgboost";

/** A feature row as it reaches a model: feature name → value. Absent, null and NaN are missing. */
export type ModelRow = Readonly<Record<string, unknown>>;

export interface PredictOptions {
  /**
   * Also explain each prediction: per-feature contributions and a bias that sum to the margin.
   * Linear models: weight × standardized value. Trees: exact path-dependent TreeSHAP, which costs
   * far more than the prediction itself, hence opt-in (default false).
   */
  contributions?: boolean;
}

/**
 * One row's output. Single-output models give numbers; multi-class models give one number per
 * class (in class order), and their contributions map each feature to one number per class.
 */
export interface Prediction {
  /**
   * The model's output: a probability (logistic, binary:logistic), a value (linear, regression),
   * per-class probabilities (multi:softprob) or the class index (multi:softmax); null when an input
   * was missing and the model's missing-value policy is "null".
   */
  prediction: number | number[] | null;
  /** The raw score before the link function (log-odds for logistic); equals the value for linear models. */
  margin: number | number[] | null;
  /** With `{ contributions: true }`: each input feature's share of the margin (null when the prediction is null). */
  contributions?: Record<string, number> | Record<string, number[]> | null;
  /** With `{ contributions: true }`: the margin of an "average" row; bias + Σ contributions = margin. */
  bias?: number | number[] | null;
  /** The inputs that were missing when the "null" policy made the prediction null. */
  missing?: string[];
}

export interface Model {
  readonly kind: ModelKind;
  /** The objective as the file names it: "logistic", "linear", "binary:logistic", "multi:softprob", … */
  readonly objective: string;
  /** The input features the model reads from each row, in the model's order. */
  readonly features: readonly string[];
  /** 1, or the number of classes of a multi-class model. */
  readonly outputs: number;
  /**
   * Scores rows synchronously. Bad input values are LarderErrors (TYPE_MISMATCH; MISSING_FEATURE
   * under the "error" policy) whose details name the feature and the row index.
   */
  predict(rows: readonly ModelRow[], options?: PredictOptions): Prediction[];
}
