import { LarderError } from "../../errors.js";
import type { LinearInput } from "./linear-model-json.js";

/** One feature's training values: numbers (bools as 0/1) or strings, null where missing. */
export type FeatureValues = { feature: string; kind: "numeric"; values: (number | null)[] } | { feature: string; kind: "categorical"; values: (string | null)[] };

/**
 * How features become model columns, learned from the training rows only: a numeric feature is
 * standardized with its mean and (population) standard deviation and a missing value filled with
 * the mean; a string feature is one-hot over the categories seen, sorted, and a missing value
 * filled with the most frequent one (ties: the first in sort order). A constant feature gets std 1,
 * so it standardizes to 0 instead of dividing by zero.
 */
export interface Encoding {
  inputs: LinearInput[];
  /** Model columns, the intercept not included. */
  width: number;
}

export function learnEncoding(features: readonly FeatureValues[], rows: readonly number[]): Encoding {
  const inputs: LinearInput[] = [];
  let width = 0;
  for (const f of features) {
    if (f.kind === "numeric") {
      let n = 0;
      let sum = 0;
      for (const i of rows) {
        const v = f.values[i];
        if (v !== null && v !== undefined) {
          n++;
          sum += v;
        }
      }
      const mean = n === 0 ? 0 : sum / n;
      let ss = 0;
      for (const i of rows) {
        const v = f.values[i];
        if (v !== null && v !== undefined) ss += (v - mean) * (v - mean);
      }
      const sd = n === 0 ? 0 : Math.sqrt(ss / n);
      const std = sd > 1e-12 * Math.max(1, Math.abs(mean)) && Number.isFinite(sd) ? sd : 1;
      inputs.push({ feature: f.feature, kind: "numeric", mean, std, fill: mean, weight: 0 });
      width += 1;
    } else {
      const counts = new Map<string, number>();
      for (const i of rows) {
        const v = f.values[i];
        if (v !== null && v !== undefined) counts.set(v, (counts.get(v) ?? 0) + 1);
      }
      const categories = [...counts.keys()].sort();
      let fill: string | null = null;
      let best = 0;
      for (const c of categories) {
        const k = counts.get(c)!;
        if (k > best) {
          best = k;
          fill = c;
        }
      }
      inputs.push({ feature: f.feature, kind: "categorical", categories, weights: categories.map(() => 0), fill });
      width += categories.length;
    }
  }
  return { inputs, width };
}

/**
 * The design matrix of `rows`, row-major, with a leading 1 for the intercept (so `d = width + 1`
 * columns). Missing values take the input's fill; an unseen category is all zeros.
 */
export function encodeRows(enc: Encoding, features: readonly FeatureValues[], rows: readonly number[]): Float64Array {
  const d = enc.width + 1;
  const x = new Float64Array(rows.length * d);
  const catIndex = enc.inputs.map((inp) => (inp.kind === "categorical" ? new Map(inp.categories.map((c, k) => [c, k])) : null));
  rows.forEach((row, r) => {
    const base = r * d;
    x[base] = 1;
    let col = 1;
    enc.inputs.forEach((inp, j) => {
      const f = features[j]!;
      if (inp.kind === "numeric") {
        const raw = f.values[row] as number | null | undefined;
        const v = raw === null || raw === undefined ? (inp.fill ?? inp.mean) : raw;
        x[base + col] = (v - inp.mean) / inp.std;
        col += 1;
      } else {
        const raw = f.values[row] as string | null | undefined;
        const v = raw === null || raw === undefined ? inp.fill : raw;
        const k = v === null ? undefined : catIndex[j]!.get(v);
        if (k !== undefined) x[base + col + k] = 1;
        col += inp.categories.length;
      }
    });
  });
  return x;
}

/** Writes fitted coefficients (intercept first, then columns in encoding order) into the inputs. */
export function withWeights(enc: Encoding, beta: Float64Array): { inputs: LinearInput[]; intercept: number } {
  let col = 1;
  const inputs = enc.inputs.map((inp): LinearInput => {
    if (inp.kind === "numeric") return { ...inp, weight: beta[col++]! };
    const weights = inp.categories.map(() => beta[col++]!);
    return { ...inp, weights };
  });
  if (col !== beta.length) throw new LarderError("INTERNAL", `coefficient count ${beta.length} does not match the encoding (${col})`);
  return { inputs, intercept: beta[0]! };
}
