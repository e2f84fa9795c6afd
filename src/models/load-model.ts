import { invalidModel } from "./invalid-model.js";
import { LINEAR_MODEL_FORMAT } from "./linear/linear-model-schema.js";
import { loadLinearModel } from "./linear/linear-model.js";
import type { Model } from "./model.js";
import { loadXgboostModel } from "./xgboost/xgboost-model.js";

/**
 * Validates a model file and compiles it for prediction. Accepts the parsed JSON, or its text
 * (a string, or UTF-8 bytes). The format is recognised from the content: `"format":
 * "larder.linear.v1"` is Larder's linear/logistic JSON, a top-level `learner` is xgboost's JSON
 * (`save_model("model.json")`; xgboost's binary and UBJSON formats are not read). Any problem is an
 * INVALID_MODEL LarderError whose message and `details.path` give the JSON path.
 *
 * @example
 * const model = loadModel(readFileSync("model.json", "utf8"));
 * model.kind;      // "xgboost"
 * model.features;  // ["monthly_fee", "tenure_months", …]
 * model.predict([{ monthly_fee: 42, tenure_months: 3 }], { contributions: true });
 */
export function loadModel(file: unknown): Model {
  let json = file;
  if (file instanceof Uint8Array) json = new TextDecoder().decode(file);
  if (typeof json === "string") {
    try {
      json = JSON.parse(json) as unknown;
    } catch (err) {
      throw invalidModel([], `not JSON (${(err as Error).message})`);
    }
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw invalidModel([], "a model file is a JSON object");
  const obj = json as Record<string, unknown>;
  if ("format" in obj) {
    if (obj.format === LINEAR_MODEL_FORMAT) return loadLinearModel(obj);
    throw invalidModel(["format"], `unknown model format ${JSON.stringify(obj.format)} (supported: ${JSON.stringify(LINEAR_MODEL_FORMAT)}, or xgboost's JSON)`);
  }
  if ("learner" in obj) return loadXgboostModel(obj);
  throw invalidModel([], `neither a Larder linear model ("format": ${JSON.stringify(LINEAR_MODEL_FORMAT)}) nor an xgboost JSON model ("learner")`);
}
