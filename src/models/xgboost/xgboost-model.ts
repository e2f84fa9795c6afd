import { parseModelJson, invalidModel } from "../invalid-model.js";
import type { Model, ModelRow, Prediction, PredictOptions } from "../model.js";
import { readNumeric } from "../model-input.js";
import { compileForest, type CompiledForest } from "./compiled-forest.js";
import { argmax, sigmoid32, softmax32, XGBOOST_OBJECTIVES, type XgboostObjective } from "./xgboost-objectives.js";
import { xgboostModelSchema, type XgboostModelJson } from "./xgboost-schema.js";
import { TabulatedTreeShap } from "./tabulated-tree-shap.js";
import { TreeShap } from "./tree-shap.js";

/**
 * An xgboost gbtree model loaded from the JSON of `booster.save_model("model.json")`, predicting
 * what xgboost's CPU predictor predicts:
 *
 * - inputs are converted to float32 (as a DMatrix holds them) and compared with float32 thresholds;
 *   `x < threshold` goes left, a missing input (absent, null, NaN) takes the node's default branch;
 *   ±Infinity is an ordinary value (beyond every threshold);
 * - the margin of each output group starts at base_score turned into a margin by the objective
 *   (base_score is stored as a probability for logistic objectives), and adds every tree's leaf in
 *   tree order in float32;
 * - the link is applied in float32: sigmoid for binary:logistic, softmax over the classes for
 *   multi:softprob (multi:softmax gives the class index), identity for regression.
 *
 * Contributions are exact TreeSHAP over sum_hessian covers, like `pred_contribs=True` (tabulated
 * per leaf when the tables fit in 8 MB, else xgboost's recursive algorithm); the bias is base margin
 * + each tree's expected value. All trees are used (xgboost's `best_iteration`
 * attribute is not applied, as `Booster.predict` does not apply it either). Features are the file's
 * `feature_names`, or f0, f1, … when it has none (xgboost's default names). Categorical splits,
 * gblinear and dart boosters, and multi-target models are rejected as INVALID_MODEL.
 */
export class XgboostModel implements Model {
  readonly kind = "xgboost" as const;
  readonly objective: string;
  readonly features: readonly string[];
  readonly outputs: number;
  private readonly obj: XgboostObjective;
  private readonly forest: CompiledForest;
  private readonly baseMargin: Float32Array;
  /** Per group: base margin + Σ tree expected values, the bias of every explanation. */
  private readonly bias: Float64Array;
  /**
   * Tabulated TreeSHAP when its tables fit, else the recursive algorithm. Built at load (a few ms to
   * tens of ms), not on the first explained request, so a hot-swapped model serves without a stall.
   */
  private readonly shap: TabulatedTreeShap | TreeShap;
  // Scratch reused by every call (predict is synchronous): inputs, margins, contributions.
  private readonly x: Float32Array;
  private readonly margins: Float32Array;
  private phi: Float64Array | null = null;

  constructor(json: XgboostModelJson) {
    const learner = json.learner;
    const param = learner.learner_model_param;
    const objPath = ["learner", "objective", "name"];
    this.objective = learner.objective.name;
    const obj = XGBOOST_OBJECTIVES[this.objective];
    if (!obj) throw invalidModel(objPath, `objective ${JSON.stringify(this.objective)} is not supported (supported: ${Object.keys(XGBOOST_OBJECTIVES).join(", ")})`);
    this.obj = obj;
    const booster = learner.gradient_booster;
    if (booster.name !== "gbtree") throw invalidModel(["learner", "gradient_booster", "name"], `booster ${JSON.stringify(booster.name)} is not supported (only gbtree)`);
    if (!booster.model) throw invalidModel(["learner", "gradient_booster", "model"], "missing");
    const paramPath = ["learner", "learner_model_param"];
    if ((param.num_target ?? 1) > 1) throw invalidModel([...paramPath, "num_target"], "multi-target models are not supported");
    const numClass = param.num_class;
    if (!Number.isInteger(numClass) || numClass < 0) throw invalidModel([...paramPath, "num_class"], `must be a non-negative integer, got ${numClass}`);
    if (obj.multiClass && numClass < 2) throw invalidModel([...paramPath, "num_class"], `${this.objective} needs num_class ≥ 2, got ${numClass}`);
    if (!obj.multiClass && numClass > 1) throw invalidModel([...paramPath, "num_class"], `${this.objective} is not multi-class but num_class is ${numClass}`);
    this.outputs = obj.multiClass ? numClass : 1;
    const numFeature = param.num_feature;
    if (!Number.isInteger(numFeature) || numFeature < 0) throw invalidModel([...paramPath, "num_feature"], `must be a non-negative integer, got ${numFeature}`);

    const names = learner.feature_names && learner.feature_names.length > 0 ? learner.feature_names : Array.from({ length: numFeature }, (_, i) => `f${i}`);
    if (names.length !== numFeature) throw invalidModel(["learner", "feature_names"], `${names.length} names for ${numFeature} features`);
    const seen = new Set<string>();
    names.forEach((n, i) => {
      if (seen.has(n)) throw invalidModel(["learner", "feature_names", i], `duplicate feature ${JSON.stringify(n)}`);
      seen.add(n);
    });
    learner.feature_types?.forEach((t, i) => {
      if (t === "c") throw invalidModel(["learner", "feature_types", i], "categorical features are not supported");
    });
    this.features = Object.freeze([...names]);

    const base = param.base_score;
    if (base.length !== 1 && base.length !== this.outputs) throw invalidModel([...paramPath, "base_score"], `${base.length} values for ${this.outputs} outputs`);
    this.baseMargin = new Float32Array(this.outputs);
    for (let g = 0; g < this.outputs; g++) {
      const b = base[base.length === 1 ? 0 : g]!;
      if (obj.link === "sigmoid" || this.objective === "binary:logitraw") {
        if (!(b > 0 && b < 1)) throw invalidModel([...paramPath, "base_score"], `${this.objective} needs a base_score in (0, 1), got ${b}`);
      }
      this.baseMargin[g] = obj.baseMargin(b);
    }

    const modelPath = ["learner", "gradient_booster", "model"];
    const { trees, tree_info: info } = booster.model;
    if (info.length !== trees.length) throw invalidModel([...modelPath, "tree_info"], `${info.length} entries for ${trees.length} trees`);
    info.forEach((g, i) => {
      if (g < 0 || g >= this.outputs) throw invalidModel([...modelPath, "tree_info", i], `output group ${g} is not one of the model's ${this.outputs}`);
    });
    this.forest = compileForest(trees, info, numFeature, [...modelPath, "trees"]);

    this.bias = new Float64Array(this.outputs);
    for (let g = 0; g < this.outputs; g++) this.bias[g] = this.baseMargin[g]!;
    for (let t = 0; t < trees.length; t++) this.bias[this.forest.group[t]!]! += this.forest.meanValue[this.forest.root[t]!]!;
    this.x = new Float32Array(numFeature);
    this.margins = new Float32Array(this.outputs);
    this.shap = TabulatedTreeShap.build(this.forest) ?? new TreeShap(this.forest);
  }

  /** Number of trees in the ensemble. */
  get treeCount(): number {
    return this.forest.root.length;
  }

  predict(rows: readonly ModelRow[], options?: PredictOptions): Prediction[] {
    const explain = options?.contributions === true;
    const out: Prediction[] = new Array(rows.length);
    for (let r = 0; r < rows.length; r++) {
      this.readRow(rows[r]!, r);
      this.computeMargins();
      out[r] = explain ? this.explained() : this.output();
    }
    return out;
  }

  /** Row values into the float32 input vector (NaN = missing), as a DMatrix would hold them. */
  private readRow(row: ModelRow, r: number): void {
    const names = this.features;
    const x = this.x;
    for (let j = 0; j < names.length; j++) x[j] = readNumeric(row[names[j]!], names[j]!, r);
  }

  /** xgboost's PredictByAllTrees: per tree, walk to the leaf and add its value in float32. */
  private computeMargins(): void {
    const { feature, value, left, right, defaultLeft, root, group } = this.forest;
    const x = this.x;
    const m = this.margins;
    m.set(this.baseMargin);
    for (let t = 0; t < root.length; t++) {
      let n = root[t]!;
      let f = feature[n]!;
      while (f >= 0) {
        const v = x[f]!;
        n = v !== v ? (defaultLeft[n] === 1 ? left[n]! : right[n]!) : v < value[n]! ? left[n]! : right[n]!;
        f = feature[n]!;
      }
      m[group[t]!]! += value[n]!; // Float32Array store: a float32 sum, as xgboost's
    }
  }

  private output(): Prediction {
    const m = this.margins;
    if (this.outputs === 1) {
      const margin = m[0]!;
      return { prediction: this.obj.link === "sigmoid" ? sigmoid32(margin) : margin, margin };
    }
    const margin = Array.from(m);
    if (this.obj.link === "softmax") return { prediction: argmax(m, this.outputs), margin };
    const prediction = new Array<number>(this.outputs);
    softmax32(m, this.outputs, prediction);
    return { prediction, margin };
  }

  private explained(): Prediction {
    const nf = this.features.length;
    const stride = nf + 1;
    const phi = (this.phi ??= new Float64Array(this.outputs * stride));
    phi.fill(0);
    const shap = this.shap;
    const group = this.forest.group;
    for (let t = 0; t < group.length; t++) shap.addTree(t, this.x, phi, group[t]! * stride);
    const result = this.output();
    const names = this.features;
    if (this.outputs === 1) {
      const contributions: Record<string, number> = {};
      for (let j = 0; j < nf; j++) contributions[names[j]!] = phi[j]!;
      result.contributions = contributions;
      result.bias = this.bias[0]!;
    } else {
      const contributions: Record<string, number[]> = {};
      for (let j = 0; j < nf; j++) {
        const perClass = new Array<number>(this.outputs);
        for (let g = 0; g < this.outputs; g++) perClass[g] = phi[g * stride + j]!;
        contributions[names[j]!] = perClass;
      }
      result.contributions = contributions;
      result.bias = Array.from(this.bias);
    }
    return result;
  }
}

/** Validates an xgboost JSON model (INVALID_MODEL with the JSON path on failure) and compiles it. */
export function loadXgboostModel(json: unknown): XgboostModel {
  return new XgboostModel(parseModelJson(xgboostModelSchema, json));
}
