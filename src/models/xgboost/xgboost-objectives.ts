/**
 * The xgboost objectives Larder can serve: how base_score (stored in the file as a prediction, e.g.
 * a probability) becomes a margin, and how a margin becomes a prediction. Each transform computes
 * in float32 as xgboost's CPU predictor does, so outputs match it to float32 precision.
 */
export interface XgboostObjective {
  /** base_score → margin (xgboost's ProbToMargin). */
  baseMargin(baseScore: number): number;
  /** "sigmoid" | "identity" | "softprob" | "softmax" */
  link: "sigmoid" | "identity" | "softprob" | "softmax";
  multiClass: boolean;
}

const f = Math.fround;

const logistic: XgboostObjective = {
  baseMargin: (p) => f(-Math.log(f(f(1 / p) - 1))) + 0, // + 0: logit(0.5) is 0, not −0
  link: "sigmoid",
  multiClass: false,
};
const identity: XgboostObjective = { baseMargin: (b) => f(b), link: "identity", multiClass: false };

export const XGBOOST_OBJECTIVES: Readonly<Record<string, XgboostObjective>> = {
  "binary:logistic": logistic,
  "reg:logistic": logistic,
  // margins out, but base_score is still a probability
  "binary:logitraw": { ...logistic, link: "identity" },
  "reg:squarederror": identity,
  "reg:linear": identity,
  "reg:pseudohubererror": identity,
  "reg:absoluteerror": identity,
  "multi:softprob": { baseMargin: (b) => f(b), link: "softprob", multiClass: true },
  "multi:softmax": { baseMargin: (b) => f(b), link: "softmax", multiClass: true },
};

/** xgboost's common::Sigmoid in float32. */
export function sigmoid32(x: number): number {
  return f(1 / f(f(Math.exp(-x)) + 1));
}

/** Softmax of margins[0..n) into out (float32 results, double sum as in xgboost's common::Softmax). */
export function softmax32(margins: ArrayLike<number>, n: number, out: number[]): void {
  let max = margins[0]!;
  for (let k = 1; k < n; k++) if (margins[k]! > max) max = margins[k]!;
  let sum = 0;
  for (let k = 0; k < n; k++) {
    const e = f(Math.exp(margins[k]! - max));
    out[k] = e;
    sum += e;
  }
  const s = f(sum);
  for (let k = 0; k < n; k++) out[k] = f(out[k]! / s);
}

/** Index of the largest margin (the first on ties), as multi:softmax predicts. */
export function argmax(margins: ArrayLike<number>, n: number): number {
  let best = 0;
  for (let k = 1; k < n; k++) if (margins[k]! > margins[best]!) best = k;
  return best;
}
