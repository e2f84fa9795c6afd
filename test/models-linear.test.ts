import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { loadModel, type LinearModelInput, type Model } from "../src/models/index.js";
import type { LinearModelJson } from "../src/models/training/linear-model-json.js";

/** Compile-time contract check: every model the trainer can write is a file this loader reads. */
const trainerWritesWhatLoaderReads = (json: LinearModelJson): LinearModelInput => json;
void trainerWritesWhatLoaderReads;

const churn = {
  format: "larder.linear.v1",
  objective: "logistic",
  inputs: [
    { feature: "monthly_fee", kind: "numeric", mean: 50, std: 10, fill: 40, weight: 0.5 },
    { feature: "tenure_months", kind: "numeric", mean: 24, std: 12, fill: null, weight: -0.8 },
    { feature: "plan", kind: "categorical", categories: ["basic", "pro", "1"], weights: [0.1, -0.2, 0.7], fill: "basic" },
  ],
  intercept: -1.2,
  missing: "fill",
};

const sigmoid = (m: number) => 1 / (1 + Math.exp(-m));

function withChange(change: (m: any) => void): unknown {
  const m = structuredClone(churn) as any;
  change(m);
  return m;
}

test("logistic: margin, probability and contributions equal the hand-computed values", () => {
  const model = loadModel(churn);
  assert.equal(model.kind, "logistic");
  assert.deepEqual(model.features, ["monthly_fee", "tenure_months", "plan"]);
  assert.equal(model.outputs, 1);
  const [r] = model.predict([{ monthly_fee: 65, tenure_months: 6, plan: "pro", ignored: "x" }], { contributions: true });
  // z = (65 − 50) / 10 = 1.5 → 0.5 × 1.5; z = (6 − 24) / 12 = −1.5 → −0.8 × −1.5; pro → −0.2
  const margin = -1.2 + 0.5 * 1.5 + -0.8 * -1.5 + -0.2;
  assert.equal(r!.margin, margin);
  assert.equal(r!.prediction, sigmoid(margin));
  assert.deepEqual(r!.contributions, { monthly_fee: 0.5 * 1.5, tenure_months: -0.8 * -1.5, plan: -0.2 });
  assert.equal(r!.bias, -1.2);
});

test("linear objective: the prediction is the margin; without { contributions } none are computed", () => {
  const model = loadModel(withChange((m) => (m.objective = "linear")));
  assert.equal(model.kind, "linear");
  const [r] = model.predict([{ monthly_fee: 50, tenure_months: 36, plan: "basic" }]);
  assert.deepEqual(r, { prediction: -1.2 + 0 - 0.8 + 0.1, margin: -1.2 + 0 - 0.8 + 0.1 });
});

test("std 0 contributes 0; unseen categories contribute 0; numbers and booleans match category strings and count as 1/0", () => {
  const model = loadModel(withChange((m) => (m.inputs[0].std = 0)));
  const [a, b] = model.predict(
    [
      { monthly_fee: 1e6, tenure_months: 24, plan: "enterprise" },
      { monthly_fee: 3, tenure_months: true, plan: 1 },
    ],
    { contributions: true },
  );
  assert.deepEqual(a!.contributions, { monthly_fee: 0, tenure_months: 0, plan: 0 });
  assert.equal(a!.margin, -1.2);
  assert.deepEqual(b!.contributions, { monthly_fee: 0, tenure_months: -0.8 * ((1 - 24) / 12), plan: 0.7 });
});

test('missing policy "fill": numeric fill (null fill = the mean, contributes 0), categorical fill (null fill contributes 0)', () => {
  const model = loadModel(churn);
  const rows = [{}, { monthly_fee: null, tenure_months: NaN, plan: undefined }];
  for (const r of model.predict(rows, { contributions: true })) {
    assert.deepEqual(r.contributions, { monthly_fee: 0.5 * ((40 - 50) / 10), tenure_months: 0, plan: 0.1 });
    assert.equal(r.margin, -1.2 - 0.5 + 0 + 0.1);
  }
  const noFill = loadModel(withChange((m) => (m.inputs[2].fill = null)));
  assert.equal(noFill.predict([{ monthly_fee: 50, tenure_months: 24 }], { contributions: true })[0]!.contributions!.plan, 0);
  // fill and missing may be omitted: fill null, policy "fill"
  const defaults = loadModel(
    withChange((m) => {
      delete m.missing;
      delete m.inputs[0].fill;
    }),
  );
  assert.equal(defaults.predict([{ tenure_months: 24, plan: "basic" }])[0]!.margin, -1.2 + 0.1);
});

test('missing policy "error": MISSING_FEATURE naming the feature and the row', () => {
  const model = loadModel(withChange((m) => (m.missing = "error")));
  assert.throws(
    () =>
      model.predict([
        { monthly_fee: 1, tenure_months: 2, plan: "pro" },
        { monthly_fee: 1, plan: "pro" },
      ]),
    (err: any) => {
      assert.equal(err.code, "MISSING_FEATURE");
      assert.match(err.message, /"tenure_months"/);
      assert.deepEqual(err.details, { feature: "tenure_months", row: 1 });
      return true;
    },
  );
  assert.throws(() => model.predict([{ monthly_fee: 1, tenure_months: 2, plan: null }]), { code: "MISSING_FEATURE", details: { feature: "plan", row: 0 } });
});

test('missing policy "null": a null prediction that lists the missing inputs; complete rows still score', () => {
  const model = loadModel(withChange((m) => (m.missing = "null")));
  const [a, b] = model.predict(
    [
      { monthly_fee: NaN, tenure_months: 2 },
      { monthly_fee: 50, tenure_months: 24, plan: "zzz" },
    ],
    { contributions: true },
  );
  assert.deepEqual(a, { prediction: null, margin: null, contributions: null, bias: null, missing: ["monthly_fee", "plan"] });
  assert.equal(b!.margin, -1.2);
  assert.deepEqual(model.predict([{}])[0], { prediction: null, margin: null, missing: ["monthly_fee", "tenure_months", "plan"] });
});

test("bad input values are TYPE_MISMATCH naming the feature", () => {
  const model = loadModel(churn);
  assert.throws(() => model.predict([{ monthly_fee: "12", tenure_months: 1, plan: "pro" }]), { code: "TYPE_MISMATCH", details: { feature: "monthly_fee", row: 0 } });
  assert.throws(() => model.predict([{ monthly_fee: Infinity }]), { code: "TYPE_MISMATCH", details: { feature: "monthly_fee", row: 0 } });
  assert.throws(() => model.predict([{ monthly_fee: 1, tenure_months: 1, plan: { a: 1 } }]), { code: "TYPE_MISMATCH", details: { feature: "plan", row: 0 } });
});

test("loadModel takes the JSON text or its bytes as well as the parsed object", () => {
  const text = JSON.stringify(churn);
  const row = { monthly_fee: 61, tenure_months: 3, plan: "pro" };
  const expected = loadModel(churn).predict([row]);
  assert.deepEqual(loadModel(text).predict([row]), expected);
  assert.deepEqual(loadModel(new TextEncoder().encode(text)).predict([row]), expected);
});

test("bad model files are INVALID_MODEL with the JSON path of the problem", () => {
  const cases: [unknown, string, RegExp?][] = [
    [withChange((m) => (m.format = "larder.linear.v2")), "format", /unknown model format/],
    [withChange((m) => (m.objective = "poisson")), "objective"],
    [withChange((m) => (m.inputs[0].weight = NaN)), "inputs[0].weight", /finite/],
    [withChange((m) => (m.inputs[1].mean = Infinity)), "inputs[1].mean", /finite/],
    [withChange((m) => (m.inputs[2].weights[1] = -Infinity)), "inputs[2].weights[1]", /finite/],
    [withChange((m) => (m.intercept = NaN)), "intercept", /finite/],
    [withChange((m) => (m.inputs[0].std = -1)), "inputs[0].std", /≥ 0/],
    [withChange((m) => (m.inputs[1].feature = "monthly_fee")), "inputs[1].feature", /duplicate feature "monthly_fee"/],
    [withChange((m) => m.inputs[2].weights.pop()), "inputs[2].weights", /2 weights for 3 categories/],
    [withChange((m) => (m.inputs[2].categories[2] = "basic")), "inputs[2].categories[2]", /duplicate category/],
    [withChange((m) => (m.inputs[0].kind = "ordinal")), "inputs[0].kind"],
    [withChange((m) => delete m.inputs[0].weight), "inputs[0].weight", /required/],
    [withChange((m) => (m.inputs[0].feature = "")), "inputs[0].feature"],
    [withChange((m) => (m.missing = "drop")), "missing"],
    [withChange((m) => delete m.intercept), "intercept"],
    [withChange((m) => (m.inputs = "all")), "inputs"],
    ["{not json", "", /not JSON/],
    [[1, 2], ""],
    [{ weights: [1] }, "", /neither/],
  ];
  for (const [json, path, message] of cases) {
    assert.throws(
      () => loadModel(json),
      (err: any) => {
        assert.equal(err.code, "INVALID_MODEL", `${path}: ${err.message}`);
        assert.equal(err.details.path, path, err.message);
        if (path) assert.ok(err.message.includes(path), err.message);
        if (message) assert.match(err.message, message);
        return true;
      },
      `expected INVALID_MODEL at ${JSON.stringify(path)}`,
    );
  }
});

test("property: contributions + bias = margin, and prediction = sigmoid(margin), for random models and rows", () => {
  const finite = fc.double({ min: -100, max: 100, noNaN: true });
  const input = fc.oneof(
    fc.record({ kind: fc.constant("numeric"), mean: finite, std: fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 50, noNaN: true })), fill: fc.option(finite), weight: finite }),
    fc.integer({ min: 0, max: 4 }).chain((n) =>
      fc.record({
        kind: fc.constant("categorical"),
        categories: fc.constant(Array.from({ length: n }, (_, i) => `c${i}`)),
        weights: fc.array(finite, { minLength: n, maxLength: n }),
        fill: fc.option(fc.constantFrom("c0", "c1", "other")),
      }),
    ),
  );
  const value = fc.oneof(finite, fc.constantFrom(null, undefined, NaN, "c0", "c1", "c3", "nope"));
  fc.assert(
    fc.property(fc.array(input, { maxLength: 6 }), finite, fc.array(fc.array(value, { minLength: 6, maxLength: 6 }), { minLength: 1, maxLength: 5 }), (inputs, intercept, rawRows) => {
      const spec = { format: "larder.linear.v1", objective: "logistic", missing: "fill", intercept, inputs: inputs.map((inp, i) => ({ ...inp, feature: `f${i}` })) };
      const model: Model = loadModel(spec);
      // give each input a value of its kind (strings to categorical inputs, numbers to numeric)
      const rows = rawRows.map((vals) =>
        Object.fromEntries(
          spec.inputs.map((inp, i) => {
            const v = vals[i];
            const ok = inp.kind === "numeric" ? typeof v !== "string" : typeof v !== "number" || Number.isNaN(v);
            return [inp.feature, ok ? v : null];
          }),
        ),
      );
      for (const r of model.predict(rows, { contributions: true })) {
        const contributions = Object.values(r.contributions as Record<string, number>);
        const sum = contributions.reduce((s, c) => s + c, r.bias as number);
        assert.ok(Math.abs(sum - (r.margin as number)) <= 1e-9 * Math.max(1, Math.abs(r.margin as number)), `${sum} vs ${r.margin}`);
        assert.equal(r.prediction, 1 / (1 + Math.exp(-(r.margin as number))));
      }
    }),
    { numRuns: 500 },
  );
});
