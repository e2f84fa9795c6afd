import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import fc from "fast-check";
import { loadModel, type Model, type Prediction } from "../src/models/index.js";

/**
 * xgboost models and outputs made by real xgboost (scripts/make-model-fixtures.py): Larder's
 * predictions, margins and TreeSHAP contributions must match xgboost's within 1e-5.
 */
const FIXTURES = new URL("./fixtures/models/", import.meta.url);
const TOLERANCE = 1e-5;

interface Expected {
  xgboost_version: string;
  objective: string;
  features: string[];
  rows: (number | null)[][];
  margin: (number | number[])[];
  prediction: (number | number[])[];
  contribs: (number[] | number[][])[];
}

function fixture(name: string): { json: any; expected: Expected; rows: Record<string, number | null>[] } {
  const json = JSON.parse(readFileSync(new URL(`${name}.model.json`, FIXTURES), "utf8"));
  const expected = JSON.parse(readFileSync(new URL(`${name}.expected.json`, FIXTURES), "utf8")) as Expected;
  const rows = expected.rows.map((r) => Object.fromEntries(expected.features.map((f, i) => [f, r[i]!])));
  return { json, expected, rows };
}

const perClass = (v: unknown): number[] => (Array.isArray(v) ? v : [v]) as number[];

/** The contribution of `feature` to output `k`. */
function contribution(p: Prediction, feature: string, k: number): number {
  const c = (p.contributions as Record<string, number | number[]>)[feature];
  assert.ok(c !== undefined, `no contribution for ${feature}`);
  return perClass(c)[k]!;
}

function close(actual: number, expected: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= TOLERANCE, `${what}: ${actual} vs xgboost ${expected} (off by ${Math.abs(actual - expected)})`);
}

/** bias + Σ contributions = margin, per output. */
function assertSumsToMargin(model: Model, p: Prediction, what: string): void {
  const margins = perClass(p.margin);
  const biases = perClass(p.bias);
  for (let k = 0; k < model.outputs; k++) {
    let sum = biases[k]!;
    for (const f of model.features) sum += contribution(p, f, k);
    assert.ok(Math.abs(sum - margins[k]!) <= TOLERANCE * Math.max(1, Math.abs(margins[k]!)), `${what} class ${k}: Σ = ${sum}, margin ${margins[k]}`);
  }
}

for (const [name, outputs] of [
  ["xgb-binary-logistic", 1],
  ["xgb-regression", 1],
  ["xgb-multiclass", 3],
] as const) {
  test(`${name}: predictions, margins and TreeSHAP contributions equal xgboost's within 1e-5; contributions sum to the margin`, () => {
    const { json, expected, rows } = fixture(name);
    const model = loadModel(json);
    assert.equal(model.kind, "xgboost");
    assert.equal(model.objective, expected.objective);
    assert.deepEqual(model.features, expected.features);
    assert.equal(model.outputs, outputs);
    const plain = model.predict(rows);
    const explained = model.predict(rows, { contributions: true });
    rows.forEach((_, i) => {
      const p = explained[i]!;
      assert.equal(plain[i]!.contributions, undefined);
      assert.deepEqual({ prediction: p.prediction, margin: p.margin }, plain[i], "explaining does not change the prediction");
      perClass(p.margin).forEach((m, k) => close(m, perClass(expected.margin[i])[k]!, `row ${i} margin[${k}]`));
      perClass(p.prediction).forEach((v, k) => close(v, perClass(expected.prediction[i])[k]!, `row ${i} prediction[${k}]`));
      const contribs = (outputs === 1 ? [expected.contribs[i]] : expected.contribs[i]) as number[][];
      for (let k = 0; k < outputs; k++) {
        model.features.forEach((f, j) => close(contribution(p, f, k), contribs[k]![j]!, `row ${i} class ${k} ${f}`));
        close(perClass(p.bias)[k]!, contribs[k]![model.features.length]!, `row ${i} class ${k} bias`);
      }
      assertSumsToMargin(model, p, `row ${i}`);
    });
  });
}

test("the fixtures exercise what they claim: missing values, values on float32 thresholds, multi-class output", () => {
  const { expected } = fixture("xgb-binary-logistic");
  assert.ok(
    expected.rows.some((r) => r.every((v) => v === null)),
    "a row with every value missing",
  );
  // a float64 value below its float32 rounding (it must be compared as float32)
  assert.ok(expected.rows.some((r) => r.some((v) => v !== null && Math.fround(v) !== v && Math.fround(v) > v)));
  assert.ok(Array.isArray(fixture("xgb-multiclass").expected.prediction[0]));
});

/** A one-split model: f0 < threshold → left leaf, else right leaf; missing goes `defaultLeft`. */
function stump(threshold: number, defaultLeft: boolean, extra: { objective?: string; baseScore?: string; names?: string[] | null } = {}): any {
  return {
    version: [1, 7, 4],
    learner: {
      attributes: {},
      feature_names: extra.names === null ? [] : (extra.names ?? ["x", "y"]),
      feature_types: [],
      learner_model_param: { base_score: extra.baseScore ?? "5E-1", boost_from_average: "1", num_class: "0", num_feature: "2", num_target: "1" },
      objective: { name: extra.objective ?? "reg:squarederror", reg_loss_param: { scale_pos_weight: "1" } },
      gradient_booster: {
        name: "gbtree",
        model: {
          gbtree_model_param: { num_parallel_tree: "1", num_trees: "1", size_leaf_vector: "0" },
          tree_info: [0],
          trees: [
            {
              base_weights: [0, -1, 1],
              categories: [],
              categories_nodes: [],
              categories_segments: [],
              categories_sizes: [],
              default_left: [defaultLeft ? 1 : 0, 0, 0],
              id: 0,
              left_children: [1, -1, -1],
              loss_changes: [1, 0, 0],
              parents: [2147483647, 0, 0],
              right_children: [2, -1, -1],
              split_conditions: [threshold, -1, 1],
              split_indices: [0, 0, 0],
              split_type: [0, 0, 0],
              sum_hessian: [4, 3, 1],
              tree_param: { num_deleted: "0", num_feature: "2", num_nodes: "3", size_leaf_vector: "0" },
            },
          ],
        },
      },
    },
  };
}

test("inputs are compared with thresholds as float32: 0.1 is not < float32(0.1), so it goes right", () => {
  const model = loadModel(stump(0.1, true));
  const margin = (x: unknown) => model.predict([{ x }])[0]!.margin;
  assert.equal(margin(0.1), 0.5 + 1); // float32(0.1) = 0.100000001490116…, which float64 0.1 is below
  assert.equal(margin(0.09999999), 0.5 - 1);
  assert.equal(margin(Math.fround(0.1)), 0.5 + 1);
  assert.equal(margin(Infinity), 0.5 + 1);
  assert.equal(margin(-Infinity), 0.5 - 1);
  assert.equal(margin(true), 0.5 + 1); // booleans are 1/0
});

test("missing values (absent, null, undefined, NaN) take the default branch", () => {
  for (const defaultLeft of [true, false]) {
    const model = loadModel(stump(0.1, defaultLeft));
    for (const row of [{}, { x: null }, { x: undefined }, { x: NaN }]) {
      const [p] = model.predict([row], { contributions: true });
      assert.equal(p!.margin, defaultLeft ? -0.5 : 1.5);
      // TreeSHAP: expected value (3·(−1) + 1·1) / 4 = −0.5 in the bias; the rest is x's
      assert.equal(p!.bias, 0.5 - 0.5);
      assert.equal(p!.contributions!.x, defaultLeft ? -0.5 : 1.5);
      assert.equal(p!.contributions!.y, 0);
    }
  }
});

test("base_score is a probability for binary:logistic (turned into log-odds), a value for regression, and may be a [vector]", () => {
  const logistic = loadModel(stump(0.1, true, { objective: "binary:logistic", baseScore: "2.5E-1" }));
  const [p] = logistic.predict([{ x: 5 }]);
  const margin = Math.fround(Math.fround(Math.log(0.25 / 0.75)) + 1);
  assert.ok(Math.abs((p!.margin as number) - margin) < 1e-6);
  assert.ok(Math.abs((p!.prediction as number) - 1 / (1 + Math.exp(-margin))) < 1e-6);
  const { json, rows } = fixture("xgb-binary-logistic");
  const vector = structuredClone(json);
  vector.learner.learner_model_param.base_score = "[3E-1]"; // xgboost 2.x+ style
  assert.deepEqual(loadModel(vector).predict(rows.slice(0, 10)), loadModel(json).predict(rows.slice(0, 10)));
});

test("binary:logitraw predicts the margin; multi:softmax predicts the class index", () => {
  const { json, rows } = fixture("xgb-binary-logistic");
  const raw = structuredClone(json);
  raw.learner.objective.name = "binary:logitraw";
  const a = loadModel(json).predict(rows);
  loadModel(raw)
    .predict(rows)
    .forEach((p, i) => {
      assert.equal(p.margin, a[i]!.margin);
      assert.equal(p.prediction, p.margin);
    });
  const multi = fixture("xgb-multiclass");
  const softmax = structuredClone(multi.json);
  softmax.learner.objective.name = "multi:softmax";
  multi.expected.prediction.forEach((probs, i) => {
    const p = loadModel(softmax).predict([multi.rows[i]!])[0]!;
    const best = (probs as number[]).indexOf(Math.max(...(probs as number[])));
    assert.equal(p.prediction, best);
  });
});

test("a model without feature_names reads f0, f1, … (xgboost's default names)", () => {
  const model = loadModel(stump(0.1, true, { names: null }));
  assert.deepEqual(model.features, ["f0", "f1"]);
  assert.equal(model.predict([{ f0: 3 }])[0]!.margin, 1.5);
});

test("input values that are not numbers are TYPE_MISMATCH naming the feature and row", () => {
  const model = loadModel(stump(0.1, true));
  assert.throws(() => model.predict([{ x: 1 }, { x: "0.5" }]), { code: "TYPE_MISMATCH", details: { feature: "x", row: 1 } });
  assert.throws(() => model.predict([{ x: 1, y: [1] }]), { code: "TYPE_MISMATCH", details: { feature: "y", row: 0 } });
});

test("bad xgboost files are INVALID_MODEL with the JSON path of the problem", () => {
  const tree = "learner.gradient_booster.model.trees[0]";
  const cases: [(m: any) => void, string, RegExp?][] = [
    [(m) => (m.learner.objective.name = "rank:pairwise"), "learner.objective.name", /not supported/],
    [(m) => (m.learner.gradient_booster.name = "dart"), "learner.gradient_booster.name", /only gbtree/],
    [(m) => (m.learner.gradient_booster.name = "gblinear"), "learner.gradient_booster.name"],
    [(m) => (m.learner.gradient_booster.model.trees[0].split_conditions[0] = NaN), `${tree}.split_conditions[0]`, /finite/],
    [(m) => (m.learner.gradient_booster.model.trees[0].split_conditions[2] = "1"), `${tree}.split_conditions[2]`],
    [(m) => (m.learner.gradient_booster.model.trees[0].sum_hessian[1] = -1), `${tree}.sum_hessian[1]`],
    [(m) => (m.learner.gradient_booster.model.trees[0].split_type[0] = 1), `${tree}.split_type[0]`, /categorical/],
    [(m) => (m.learner.gradient_booster.model.trees[0].left_children[0] = 7), `${tree}.left_children[0]`, /not a node/],
    [(m) => (m.learner.gradient_booster.model.trees[0].right_children[0] = 0), `${tree}.right_children[0]`, /twice/],
    [(m) => (m.learner.gradient_booster.model.trees[0].right_children[0] = 1), `${tree}.right_children[0]`],
    [(m) => (m.learner.gradient_booster.model.trees[0].right_children[0] = -1), `${tree}.right_children[0]`],
    [(m) => m.learner.gradient_booster.model.trees[0].default_left.pop(), `${tree}.default_left`, /2 entries for 3 nodes/],
    [(m) => (m.learner.gradient_booster.model.trees[0].split_indices[0] = 2), `${tree}.split_indices[0]`, /not one of the model's 2 features/],
    [(m) => (m.learner.gradient_booster.model.tree_info = [0, 0]), "learner.gradient_booster.model.tree_info", /2 entries for 1 trees/],
    [(m) => (m.learner.gradient_booster.model.tree_info = [1]), "learner.gradient_booster.model.tree_info[0]"],
    [(m) => delete m.learner.gradient_booster.model.trees, "learner.gradient_booster.model.trees"],
    [(m) => (m.learner.feature_names = ["x", "x"]), "learner.feature_names[1]", /duplicate/],
    [(m) => (m.learner.feature_names = ["x"]), "learner.feature_names", /1 names for 2 features/],
    [(m) => (m.learner.feature_types = ["float", "c"]), "learner.feature_types[1]", /categorical/],
    [(m) => (m.learner.learner_model_param.base_score = "abc"), "learner.learner_model_param.base_score"],
    [(m) => (m.learner.learner_model_param.num_feature = "two"), "learner.learner_model_param.num_feature"],
    [(m) => (m.learner.learner_model_param.num_class = "3"), "learner.learner_model_param.num_class", /not multi-class/],
    [(m) => (m.learner.learner_model_param.num_target = "2"), "learner.learner_model_param.num_target"],
    [(m) => (m.learner.objective.name = "multi:softprob"), "learner.learner_model_param.num_class", /num_class ≥ 2/],
    [
      (m) => {
        m.learner.objective.name = "binary:logistic";
        m.learner.learner_model_param.base_score = "1.5";
      },
      "learner.learner_model_param.base_score",
      /\(0, 1\)/,
    ],
    [(m) => delete m.learner.objective, "learner.objective"],
  ];
  for (const [change, path, message] of cases) {
    const json = stump(0.1, true);
    change(json);
    assert.throws(
      () => loadModel(json),
      (err: any) => {
        assert.equal(err.code, "INVALID_MODEL", `${path}: ${err.message}`);
        assert.equal(err.details.path, path, err.message);
        assert.ok(err.message.includes(path), err.message);
        if (message) assert.match(err.message, message);
        return true;
      },
      `expected INVALID_MODEL at ${path}`,
    );
  }
});

test("property: contributions + bias = margin for random rows (with missing values) on every fixture model", () => {
  for (const name of ["xgb-binary-logistic", "xgb-regression", "xgb-multiclass"]) {
    const { json, expected } = fixture(name);
    const model = loadModel(json);
    // values spread over each feature's observed range, plus missing ones and extremes
    const ranges = expected.features.map((_, j) => {
      const vs = expected.rows.map((r) => r[j]).filter((v): v is number => v !== null);
      return { min: Math.min(...vs), max: Math.max(...vs) };
    });
    const row = fc.tuple(
      ...ranges.map((r) =>
        fc.oneof({ weight: 6, arbitrary: fc.double({ min: r.min - 1, max: r.max + 1, noNaN: true }) }, { weight: 2, arbitrary: fc.constantFrom(null, NaN, undefined) }, { weight: 1, arbitrary: fc.constantFrom(-1e30, 1e30, 0) }),
      ),
    );
    fc.assert(
      fc.property(fc.array(row, { minLength: 1, maxLength: 4 }), (values) => {
        const rows = values.map((vs) => Object.fromEntries(model.features.map((f, j) => [f, vs[j]])));
        const plain = model.predict(rows);
        model.predict(rows, { contributions: true }).forEach((p, i) => {
          assert.deepEqual(p.margin, plain[i]!.margin);
          assertSumsToMargin(model, p, `${name} row ${JSON.stringify(rows[i])}`);
        });
      }),
      { numRuns: 300 },
    );
  }
});

test("edge shapes: no trees (the base margin), a tree that is a single leaf (all bias), a failed row does not leak into the next call", () => {
  const empty = stump(0.1, true, { objective: "binary:logistic", baseScore: "5E-1" });
  empty.learner.gradient_booster.model.trees = [];
  empty.learner.gradient_booster.model.tree_info = [];
  const [e] = loadModel(empty).predict([{ x: 1 }], { contributions: true });
  assert.deepEqual(e, { prediction: 0.5, margin: 0, contributions: { x: 0, y: 0 }, bias: 0 });

  const leaf = stump(0.1, true);
  const t = leaf.learner.gradient_booster.model.trees[0];
  Object.assign(t, { left_children: [-1], right_children: [-1], split_conditions: [0.25], split_indices: [0], default_left: [0], sum_hessian: [4], split_type: [0] });
  const [l] = loadModel(leaf).predict([{ x: 1, y: 2 }], { contributions: true });
  assert.deepEqual(l, { prediction: 0.75, margin: 0.75, contributions: { x: 0, y: 0 }, bias: 0.75 });

  const { json, rows } = fixture("xgb-multiclass");
  const model = loadModel(json);
  const before = model.predict(rows.slice(0, 3), { contributions: true });
  assert.throws(() => model.predict([rows[5]!, { ...rows[6], cart_vs_avg: "x" }], { contributions: true }), { code: "TYPE_MISMATCH" });
  assert.deepEqual(model.predict(rows.slice(0, 3), { contributions: true }), before);
});

test("tabulated TreeSHAP equals the recursive algorithm (xgboost's), on fixture rows and random rows", async () => {
  const { compileForest } = await import("../src/models/xgboost/compiled-forest.js");
  const { TabulatedTreeShap } = await import("../src/models/xgboost/tabulated-tree-shap.js");
  const { TreeShap } = await import("../src/models/xgboost/tree-shap.js");
  for (const name of ["xgb-binary-logistic", "xgb-regression", "xgb-multiclass"]) {
    const { json, expected } = fixture(name);
    const model = json.learner.gradient_booster.model;
    const forest = compileForest(model.trees, model.tree_info, expected.features.length, []);
    const tabulated = TabulatedTreeShap.build(forest);
    assert.ok(tabulated, `${name}: tables fit`);
    assert.equal(TabulatedTreeShap.build(forest, 100), null, "past the budget: null, so the caller falls back");
    const recursive = new TreeShap(forest);
    const nf = expected.features.length;
    const check = (values: (number | null | undefined)[]) => {
      const x = Float32Array.from(values, (v) => (v === null || v === undefined ? NaN : v));
      const a = new Float64Array(3 * nf);
      const b = new Float64Array(3 * nf);
      for (let t = 0; t < forest.root.length; t++) {
        tabulated!.addTree(t, x, a, forest.group[t]! * nf);
        recursive.addTree(t, x, b, forest.group[t]! * nf);
      }
      a.forEach((v, i) => assert.ok(Math.abs(v - b[i]!) <= 1e-9 * Math.max(1, Math.abs(b[i]!)), `${name} ${values}: [${i}] ${v} vs ${b[i]}`));
    };
    expected.rows.forEach(check);
    fc.assert(fc.property(fc.array(fc.oneof(fc.double({ min: -50, max: 150, noNaN: true }), fc.constant(null)), { minLength: nf, maxLength: nf }), check), { numRuns: 200 });
  }
});
