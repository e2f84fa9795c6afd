import { invalidModel } from "../invalid-model.js";
import type { XgboostTreeJson } from "./xgboost-schema.js";

/**
 * An xgboost tree ensemble compiled into flat typed arrays, one slot per node across all trees,
 * nodes of a tree in depth-first order. Evaluation then walks integer indices with no objects,
 * closures or allocation. Thresholds and leaf values live in a Float32Array: xgboost stores them as
 * float32 and compares float32 inputs with them, so reading them back as doubles keeps the exact
 * float32 semantics of `x < threshold`.
 */
export interface CompiledForest {
  /** Split feature of each node; -1 for leaves. */
  feature: Int32Array;
  /** Split threshold, or leaf value for leaves (float32, as in xgboost). */
  value: Float32Array;
  left: Int32Array;
  right: Int32Array;
  /** 1 when a missing value goes left. */
  defaultLeft: Uint8Array;
  /** sum_hessian: the training weight that reached the node (TreeSHAP's cover). */
  cover: Float64Array;
  /** Cover-weighted mean of the leaf values under each node (TreeSHAP's expected value). */
  meanValue: Float64Array;
  /** Root node of each tree, and the output group (class) it adds to. */
  root: Int32Array;
  group: Int32Array;
  /** Greatest depth (edges from the root to a leaf) over all trees. */
  maxDepth: number;
}

/**
 * Checks that each tree is a well-formed binary tree (equal array lengths, children in range, every
 * node reached once from the root, splits on known numerical features) and compiles the forest.
 * Errors are INVALID_MODEL with the JSON path of the offending node under `treesPath`.
 */
export function compileForest(trees: readonly XgboostTreeJson[], treeGroups: readonly number[], numFeature: number, treesPath: readonly (string | number)[]): CompiledForest {
  let total = 0;
  trees.forEach((t, ti) => {
    const n = t.left_children.length;
    if (n === 0) throw invalidModel([...treesPath, ti, "left_children"], "a tree has no nodes");
    for (const key of ["right_children", "split_indices", "split_conditions", "default_left", "sum_hessian", "split_type"] as const) {
      const arr = t[key];
      if (arr !== undefined && arr.length !== n) throw invalidModel([...treesPath, ti, key], `has ${arr.length} entries for ${n} nodes`);
    }
    total += n;
  });
  const forest: CompiledForest = {
    feature: new Int32Array(total),
    value: new Float32Array(total),
    left: new Int32Array(total),
    right: new Int32Array(total),
    defaultLeft: new Uint8Array(total),
    cover: new Float64Array(total),
    meanValue: new Float64Array(total),
    root: new Int32Array(trees.length),
    group: Int32Array.from(treeGroups),
    maxDepth: 0,
  };
  let next = 0;
  trees.forEach((t, ti) => {
    const n = t.left_children.length;
    const at = (key: string, node: number) => [...treesPath, ti, key, node];
    /** json node → compiled slot, -1 while unvisited */
    const slot = new Int32Array(n).fill(-1);
    const base = next;
    // Iterative depth-first walk from the root: [json node, depth]; children are linked on visit.
    const stack: number[] = [0, 0];
    while (stack.length > 0) {
      const depth = stack.pop()!;
      const j = stack.pop()!;
      const s = next++;
      slot[j] = s;
      const l = t.left_children[j]!;
      const r = t.right_children[j]!;
      forest.cover[s] = t.sum_hessian[j]!;
      forest.value[s] = t.split_conditions[j]!;
      if (l === -1 && r === -1) {
        forest.feature[s] = -1;
        forest.left[s] = forest.right[s] = -1;
        if (depth > forest.maxDepth) forest.maxDepth = depth;
        continue;
      }
      for (const [key, c] of [
        ["left_children", l],
        ["right_children", r],
      ] as const) {
        if (c < 0 || c >= n) throw invalidModel(at(key, j), `child ${c} is not a node of this tree (0..${n - 1})`);
        if (slot[c] !== -1 || c === 0) throw invalidModel(at(key, j), `node ${c} is reached twice: not a tree`);
      }
      if (l === r) throw invalidModel(at("right_children", j), `both children are node ${l}`);
      if ((t.split_type?.[j] ?? 0) !== 0) throw invalidModel(at("split_type", j), "categorical splits are not supported");
      const f = t.split_indices[j]!;
      if (f < 0 || f >= numFeature) throw invalidModel(at("split_indices", j), `feature ${f} is not one of the model's ${numFeature} features`);
      forest.feature[s] = f;
      forest.defaultLeft[s] = t.default_left[j] ? 1 : 0;
      // Mark both children now so a node listed twice is caught; push right first so left is laid out next.
      slot[l] = slot[r] = -2;
      stack.push(r, depth + 1, l, depth + 1);
    }
    // Link children (slots are only known once visited); unreached nodes are ignored (xgboost's deleted nodes).
    for (let j = 0; j < n; j++) {
      const s = slot[j]!;
      if (s < 0) continue;
      if (forest.feature[s] !== -1) {
        forest.left[s] = slot[t.left_children[j]!]!;
        forest.right[s] = slot[t.right_children[j]!]!;
      }
    }
    forest.root[ti] = base;
    fillMeanValues(forest, base, next);
  });
  return forest;
}

/**
 * xgboost's FillNodeMeanValues: a leaf's mean is its value; an internal node's is the cover-weighted
 * mean of its children's. Children follow their parent in the depth-first layout, so one backward
 * pass over the tree's slots [root, end) sees children first. A node with cover 0 takes the plain mean of its
 * children instead of dividing by zero.
 */
function fillMeanValues(forest: CompiledForest, root: number, end: number): void {
  for (let s = end - 1; s >= root; s--) {
    if (forest.feature[s] === -1) {
      forest.meanValue[s] = forest.value[s]!;
      continue;
    }
    const l = forest.left[s]!;
    const r = forest.right[s]!;
    const w = forest.cover[s]!;
    forest.meanValue[s] = w > 0 ? (forest.meanValue[l]! * forest.cover[l]! + forest.meanValue[r]! * forest.cover[r]!) / w : (forest.meanValue[l]! + forest.meanValue[r]!) / 2;
  }
}
