import type { CompiledForest } from "./compiled-forest.js";

/**
 * Exact path-dependent TreeSHAP (Lundberg, Erion & Lee 2018, Algorithm 2), as xgboost implements it
 * for `pred_contribs=True` (RegTree::TreeShap in src/tree/tree_model.cc): covers are the nodes'
 * sum_hessian, a missing value follows the default branch, and `x < threshold` in float32 picks the
 * "hot" branch. Arithmetic is float64 (xgboost's is float32), which agrees with it far within 1e-5.
 *
 * The path of unique features is kept in four typed arrays sized once per forest; each recursion
 * level copies its parent's path to the next free block, as xgboost does, so a call allocates
 * nothing.
 */
export class TreeShap {
  private readonly pathFeature: Int32Array;
  private readonly pathZero: Float64Array;
  private readonly pathOne: Float64Array;
  private readonly pathWeight: Float64Array;

  constructor(private readonly forest: CompiledForest) {
    const maxd = forest.maxDepth + 2;
    const size = (maxd * (maxd + 1)) / 2 + maxd;
    this.pathFeature = new Int32Array(size);
    this.pathZero = new Float64Array(size);
    this.pathOne = new Float64Array(size);
    this.pathWeight = new Float64Array(size);
  }

  /**
   * Adds tree `tree`'s SHAP values for row `x` (float32 values, NaN = missing) to
   * phi[offset + feature]. The tree's expected value (its bias share) is not added here.
   */
  addTree(tree: number, x: Float32Array, phi: Float64Array, offset: number): void {
    this.recurse(this.forest.root[tree]!, x, phi, offset, 0, 0, 1, 1, -1);
  }

  private recurse(node: number, x: Float32Array, phi: Float64Array, offset: number, depth: number, parentPath: number, zeroFraction: number, oneFraction: number, featureIndex: number): void {
    const f = this.forest;
    const pf = this.pathFeature;
    const pz = this.pathZero;
    const po = this.pathOne;
    const pw = this.pathWeight;
    // copy the parent's path (depth + 1 elements) to a fresh block, then extend it
    const path = parentPath + depth + 1;
    for (let i = 0; i <= depth; i++) {
      pf[path + i] = pf[parentPath + i]!;
      pz[path + i] = pz[parentPath + i]!;
      po[path + i] = po[parentPath + i]!;
      pw[path + i] = pw[parentPath + i]!;
    }
    this.extend(path, depth, zeroFraction, oneFraction, featureIndex);

    const split = f.feature[node]!;
    if (split < 0) {
      const leaf = f.value[node]!;
      for (let i = 1; i <= depth; i++) {
        const w = this.unwoundSum(path, depth, i);
        phi[offset + pf[path + i]!]! += w * (po[path + i]! - pz[path + i]!) * leaf;
      }
      return;
    }

    const v = x[split]!;
    const hot = v !== v ? (f.defaultLeft[node] ? f.left[node]! : f.right[node]!) : v < f.value[node]! ? f.left[node]! : f.right[node]!;
    const cold = hot === f.left[node] ? f.right[node]! : f.left[node]!;
    const w = f.cover[node]!;
    const hotZero = f.cover[hot]! / w;
    const coldZero = f.cover[cold]! / w;
    let incomingZero = 1;
    let incomingOne = 1;
    // a feature already on the path: undo that split so this node redoes it
    let k = 0;
    for (; k <= depth; k++) if (pf[path + k] === split) break;
    if (k !== depth + 1) {
      incomingZero = pz[path + k]!;
      incomingOne = po[path + k]!;
      this.unwind(path, depth, k);
      depth -= 1;
    }
    this.recurse(hot, x, phi, offset, depth + 1, path, hotZero * incomingZero, incomingOne, split);
    this.recurse(cold, x, phi, offset, depth + 1, path, coldZero * incomingZero, 0, split);
  }

  private extend(path: number, depth: number, zeroFraction: number, oneFraction: number, featureIndex: number): void {
    const pw = this.pathWeight;
    this.pathFeature[path + depth] = featureIndex;
    this.pathZero[path + depth] = zeroFraction;
    this.pathOne[path + depth] = oneFraction;
    pw[path + depth] = depth === 0 ? 1 : 0;
    for (let i = depth - 1; i >= 0; i--) {
      pw[path + i + 1]! += (oneFraction * pw[path + i]! * (i + 1)) / (depth + 1);
      pw[path + i] = (zeroFraction * pw[path + i]! * (depth - i)) / (depth + 1);
    }
  }

  private unwind(path: number, depth: number, index: number): void {
    const pw = this.pathWeight;
    const one = this.pathOne[path + index]!;
    const zero = this.pathZero[path + index]!;
    let nextOne = pw[path + depth]!;
    for (let i = depth - 1; i >= 0; i--) {
      if (one !== 0) {
        const tmp = pw[path + i]!;
        pw[path + i] = (nextOne * (depth + 1)) / ((i + 1) * one);
        nextOne = tmp - (pw[path + i]! * zero * (depth - i)) / (depth + 1);
      } else {
        pw[path + i] = (pw[path + i]! * (depth + 1)) / (zero * (depth - i));
      }
    }
    for (let i = index; i < depth; i++) {
      this.pathFeature[path + i] = this.pathFeature[path + i + 1]!;
      this.pathZero[path + i] = this.pathZero[path + i + 1]!;
      this.pathOne[path + i] = this.pathOne[path + i + 1]!;
    }
  }

  /** The total permutation weight of the path with element `index` unwound (without modifying it). */
  private unwoundSum(path: number, depth: number, index: number): number {
    const pw = this.pathWeight;
    const one = this.pathOne[path + index]!;
    const zero = this.pathZero[path + index]!;
    const d1 = depth + 1;
    let total = 0;
    if (one !== 0) {
      // divisions hoisted: (i + 1) · one is the only divisor that varies
      const zeroOverD1 = zero / d1;
      const d1OverOne = d1 / one;
      let nextOne = pw[path + depth]!;
      for (let i = depth - 1; i >= 0; i--) {
        const tmp = (nextOne * d1OverOne) / (i + 1);
        total += tmp;
        nextOne = pw[path + i]! - tmp * zeroOverD1 * (depth - i);
      }
    } else {
      const d1OverZero = d1 / zero;
      for (let i = depth - 1; i >= 0; i--) total += (pw[path + i]! * d1OverZero) / (depth - i);
    }
    return total;
  }
}
