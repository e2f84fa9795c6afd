import { LarderError } from "../../errors.js";
import { parseModelJson } from "../invalid-model.js";
import type { Model, ModelRow, Prediction, PredictOptions } from "../model.js";
import { readCategory, readNumeric, typeMismatch } from "../model-input.js";
import { linearModelSchema, type LinearModelSpec } from "./linear-model-schema.js";

/**
 * Larder's linear and logistic models.
 *
 * margin = intercept + Σ contribution, over the inputs in file order, where a numeric input
 * contributes weight × (x − mean) / std (0 when std is 0) and a categorical input contributes the
 * weight of its category (0 for a category the model never saw). prediction = margin (linear) or
 * sigmoid(margin) (logistic). Contributions are exactly these terms and the bias is the intercept,
 * so bias + Σ contributions = margin.
 *
 * Missing inputs (absent, null, NaN) follow the model's `missing` policy: "fill" uses the input's
 * fill (numeric: null fill means the mean, so it contributes 0; categorical: null fill contributes
 * 0, like an unseen category); "error" throws MISSING_FEATURE naming the feature; "null" gives a
 * null prediction and lists the missing inputs. Numeric inputs must be finite numbers (booleans
 * count as 1/0); categorical inputs are strings (numbers match their string form).
 */
export class LinearModel implements Model {
  readonly kind: "linear" | "logistic";
  readonly objective: "linear" | "logistic";
  readonly features: readonly string[];
  readonly outputs = 1;
  readonly spec: LinearModelSpec;

  // Precompiled per input (i in file order); categorical inputs keep a Map category → weight.
  private readonly numeric: Uint8Array;
  private readonly mean: Float64Array;
  private readonly std: Float64Array;
  private readonly weight: Float64Array;
  /** The contribution of a missing input under the "fill" policy. */
  private readonly fillContribution: Float64Array;
  private readonly categories: (Map<string, number> | null)[];
  private readonly intercept: number;
  private readonly policy: "fill" | "error" | "null";
  private readonly logistic: boolean;
  /** Reused per row: one contribution per input (predict is synchronous, so sharing is safe). */
  private readonly scratch: Float64Array;

  constructor(spec: LinearModelSpec) {
    this.spec = spec;
    this.kind = spec.objective;
    this.objective = spec.objective;
    this.logistic = spec.objective === "logistic";
    this.intercept = spec.intercept;
    this.policy = spec.missing;
    const n = spec.inputs.length;
    this.features = Object.freeze(spec.inputs.map((i) => i.feature));
    this.numeric = new Uint8Array(n);
    this.mean = new Float64Array(n);
    this.std = new Float64Array(n);
    this.weight = new Float64Array(n);
    this.fillContribution = new Float64Array(n);
    this.categories = [];
    this.scratch = new Float64Array(n);
    spec.inputs.forEach((input, i) => {
      if (input.kind === "numeric") {
        this.numeric[i] = 1;
        this.mean[i] = input.mean;
        this.std[i] = input.std;
        this.weight[i] = input.weight;
        this.fillContribution[i] = input.fill === null ? 0 : this.numericContribution(i, input.fill);
        this.categories.push(null);
      } else {
        const m = new Map<string, number>();
        input.categories.forEach((c, k) => m.set(c, input.weights[k]!));
        this.categories.push(m);
        this.fillContribution[i] = input.fill === null ? 0 : (m.get(input.fill) ?? 0);
      }
    });
  }

  /** weight × z with z = (x − mean) / std, and 0 for a constant input (std 0). `+ 0` turns −0 into 0. */
  private numericContribution(i: number, x: number): number {
    const std = this.std[i]!;
    return std === 0 ? 0 : this.weight[i]! * ((x - this.mean[i]!) / std) + 0;
  }

  predict(rows: readonly ModelRow[], options?: PredictOptions): Prediction[] {
    const explain = options?.contributions === true;
    const out: Prediction[] = new Array(rows.length);
    for (let r = 0; r < rows.length; r++) out[r] = this.predictRow(rows[r]!, r, explain);
    return out;
  }

  private predictRow(row: ModelRow, r: number, explain: boolean): Prediction {
    const features = this.features;
    const c = this.scratch;
    let missing: string[] | undefined;
    let margin = this.intercept;
    for (let i = 0; i < features.length; i++) {
      const feature = features[i]!;
      const value = row[feature];
      let contribution: number;
      const cats = this.categories[i];
      if (cats === null || cats === undefined) {
        const x = readNumeric(value, feature, r);
        if (x === x) {
          if (x === Infinity || x === -Infinity) throw typeMismatch(feature, r, "a finite number", value);
          contribution = this.numericContribution(i, x);
        } else contribution = this.onMissing(feature, r);
      } else {
        const cat = readCategory(value, feature, r);
        if (cat !== null) contribution = cats.get(cat) ?? 0;
        else contribution = this.onMissing(feature, r);
      }
      if (this.policy === "null" && contribution !== contribution) (missing ??= []).push(feature);
      c[i] = contribution === contribution ? contribution : this.fillContribution[i]!;
      margin += c[i]!;
    }
    if (missing) return explain ? { prediction: null, margin: null, contributions: null, bias: null, missing } : { prediction: null, margin: null, missing };
    const prediction = this.logistic ? 1 / (1 + Math.exp(-margin)) : margin;
    if (!explain) return { prediction, margin };
    const contributions: Record<string, number> = {};
    for (let i = 0; i < features.length; i++) contributions[features[i]!] = c[i]!;
    return { prediction, margin, contributions, bias: this.intercept };
  }

  /** The fill contribution is applied by the caller; NaN marks "missing under the null policy". */
  private onMissing(feature: string, r: number): number {
    if (this.policy === "error") {
      throw new LarderError("MISSING_FEATURE", `model input ${JSON.stringify(feature)} is missing (row ${r}) and the model's missing policy is "error"`, { feature, row: r });
    }
    return NaN;
  }
}

/** Validates a larder.linear.v1 model (INVALID_MODEL with the JSON path on failure) and compiles it. */
export function loadLinearModel(json: unknown): LinearModel {
  return new LinearModel(parseModelJson(linearModelSchema, json));
}
