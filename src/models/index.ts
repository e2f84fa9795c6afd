/** Embedded model formats: loading, prediction and explanations (see load-model.ts and model.ts). */
export { loadModel } from "./load-model.js";
export type { Model, ModelKind, ModelRow, Prediction, PredictOptions } from "./model.js";
export { LinearModel, loadLinearModel } from "./linear/linear-model.js";
export { LINEAR_MODEL_FORMAT, linearModelSchema, type LinearModelSpec, type LinearModelInput } from "./linear/linear-model-schema.js";
export { XgboostModel, loadXgboostModel } from "./xgboost/xgboost-model.js";
