/**
 * The trainer: the optimizer against scikit-learn's fits (fixtures made by
 * test/fixtures/models-train/make-sklearn-fixture.py), metrics against hand-computed values, and
 * `trainModel` / `larder models train` end to end on a small repository: the time-based split,
 * the stored standardization, lineage and metrics, and a model file the loader reads and scores
 * exactly as the trainer evaluated it.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { loadModel } from "../src/models/load-model.js";
import { encodeRows, learnEncoding, type FeatureValues } from "../src/models/training/design-matrix.js";
import { fitLogistic, fitRidge, logisticGradient } from "../src/models/training/fit-glm.js";
import { auc, classificationMetrics, regressionMetrics } from "../src/models/training/metrics.js";
import { trainModel } from "../src/use-cases/train-model.js";
import { readEntityRows } from "../src/offline/entity-rows.js";
import { assertCliError, assertOk, larder } from "./helpers/cli.js";
import { arrowTable, col, columnValues, expectLarderError } from "./helpers/feature-repo.js";
import { createChurnRepo, type ChurnFixture } from "./fixtures/models-train/churn-fixture.js";

interface SklearnFixture {
  rows: { x1: (number | null)[]; x2: number[]; plan: (string | null)[]; y_class: number[]; y_value: number[] };
  fits: { type: "logistic" | "linear"; l2: number; intercept: number; coef: number[] }[];
}
const fixture = JSON.parse(readFileSync(new URL("./fixtures/models-train/sklearn-fits.json", import.meta.url), "utf8")) as SklearnFixture;

describe("optimizer and metrics", () => {
  const features: FeatureValues[] = [
    { feature: "x1", kind: "numeric", values: fixture.rows.x1 },
    { feature: "x2", kind: "numeric", values: fixture.rows.x2 },
    { feature: "plan", kind: "categorical", values: fixture.rows.plan },
  ];
  const rows = fixture.rows.x2.map((_, i) => i);
  const enc = learnEncoding(features, rows);
  const x = encodeRows(enc, features, rows);
  const d = enc.width + 1;

  for (const ref of fixture.fits) {
    test(`${ref.type} with l2 ${ref.l2} equals scikit-learn's fit within 1e-6`, () => {
      const y = Float64Array.from(ref.type === "logistic" ? fixture.rows.y_class : fixture.rows.y_value);
      const fit = ref.type === "logistic" ? fitLogistic(x, y, d, { l2: ref.l2 }) : fitRidge(x, y, d, { l2: ref.l2 });
      assert.ok(fit.converged);
      const got = [...fit.beta];
      const want = [ref.intercept, ...ref.coef];
      assert.equal(got.length, want.length);
      got.forEach((g, j) => assert.ok(Math.abs(g - want[j]!) < 1e-6, `coefficient ${j}: ${g} vs scikit-learn ${want[j]}`));
    });
  }

  test("the logistic fit is a stationary point of the penalised objective and deterministic", () => {
    const y = Float64Array.from(fixture.rows.y_class);
    const a = fitLogistic(x, y, d, { l2: 0.5 });
    const b = fitLogistic(x, y, d, { l2: 0.5 });
    assert.deepEqual([...a.beta], [...b.beta]);
    const g = logisticGradient(x, y, d, a.beta, 0.5);
    for (const v of g) assert.ok(Math.abs(v) < 1e-6, `gradient ${v}`);
    assert.ok(a.iterations < 20, `Newton converges in a few steps (${a.iterations})`);
  });

  test("the encoding: mean and population std from the given rows, mean fill, sorted one-hot, most frequent fill", () => {
    const enc2 = learnEncoding(
      [
        { feature: "a", kind: "numeric", values: [1, 3, null, 100] },
        { feature: "c", kind: "numeric", values: [5, 5, 5, 5] },
        { feature: "s", kind: "categorical", values: ["y", "x", "y", null] },
      ],
      [0, 1, 2],
    );
    assert.deepEqual(enc2.inputs, [
      { feature: "a", kind: "numeric", mean: 2, std: 1, fill: 2, weight: 0 },
      { feature: "c", kind: "numeric", mean: 5, std: 1, fill: 5, weight: 0 },
      { feature: "s", kind: "categorical", categories: ["x", "y"], weights: [0, 0], fill: "y" },
    ]);
  });

  test("AUC counts ties as half; log-loss, accuracy, RMSE, R²", () => {
    assert.equal(auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
    assert.equal(auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1]), 0.5);
    assert.equal(auc([0.2, 0.3], [1, 1]), null);
    const m = classificationMetrics([0.9, 0.2], [1, 0]);
    assert.ok(Math.abs(m.logLoss! - -(Math.log(0.9) + Math.log(0.8)) / 2) < 1e-12);
    assert.equal(m.accuracy, 1);
    const r = regressionMetrics([1, 2, 3], [1, 2, 5]);
    assert.ok(Math.abs(r.rmse! - Math.sqrt(4 / 3)) < 1e-12);
    assert.ok(Math.abs(r.r2! - (1 - 4 / (26 / 3))) < 1e-12);
  });
});

describe("trainModel on a feature repository", () => {
  let fx: ChurnFixture;
  before(async () => {
    fx = await createChurnRepo({ customers: 150 });
  });
  after(async () => {
    await fx?.repo.cleanup();
  });

  test("logistic: time-based holdout, stored standardization, lineage, metrics, a registered version the loader scores identically", async () => {
    const { repo } = fx;
    const entities = await readEntityRows(repo.path("data/labels.parquet"));
    const r = await trainModel(repo.store, { name: "churn", service: "churn", entities, label: "churned", type: "logistic", l2: 1, holdout: 0.25 });
    assert.equal(r.registered?.version, 1);
    assert.equal(r.model.format, "larder.linear.v1");
    assert.equal(r.model.objective, "logistic");
    assert.deepEqual(
      r.model.inputs.map((i) => [i.feature, i.kind]),
      [
        ["plan", "categorical"],
        ["monthly_fee", "numeric"],
        ["tenure_months", "numeric"],
        ["spend_7d", "numeric"],
        ["txn_count_30d", "numeric"],
        ["avg_amount_30d", "numeric"],
        ["cart_vs_avg", "numeric"],
      ],
    );

    // The split: the latest 25% of rows by event_timestamp are held out, none earlier than a training row.
    const ts = (columnValues(entities, "event_timestamp") as number[]).slice().sort((a, b) => a - b);
    const split = r.lineage.split as { trainRows: number; holdoutRows: number; trainEnd: string; holdoutStart: string };
    assert.equal(split.trainRows + split.holdoutRows, ts.length);
    assert.equal(split.holdoutRows, Math.round(ts.length * 0.25));
    assert.ok(Date.parse(split.trainEnd) < Date.parse(split.holdoutStart));
    assert.equal(split.holdoutStart, new Date(ts[split.trainRows]!).toISOString());

    // Standardization is learned from the training rows only.
    const table = await repo.store.getTrainingSet(entities, { service: "churn" });
    const fees = columnValues(table, "monthly_fee") as (number | null)[];
    const times = columnValues(table, "event_timestamp") as number[];
    const cutoff = Date.parse(split.holdoutStart);
    const trainFees = fees.filter((f, i) => f !== null && times[i]! < cutoff) as number[];
    const mean = trainFees.reduce((a, b) => a + b, 0) / trainFees.length;
    const fee = r.model.inputs.find((i) => i.feature === "monthly_fee")!;
    assert.ok(fee.kind === "numeric" && Math.abs(fee.mean - mean) < 1e-9 && fee.fill === fee.mean);

    // Metrics: the holdout AUC is what the loader's predictions give on the holdout rows.
    const holdout = r.metrics.holdout as { rows: number; auc: number; logLoss: number };
    assert.equal(holdout.rows, split.holdoutRows);
    assert.ok(holdout.auc > 0.6, `the plan/fee signal is learned (holdout AUC ${holdout.auc})`);
    const model = loadModel(r.model);
    const labels = columnValues(table, "churned") as boolean[];
    const holdIdx = times
      .map((t, i) => [t, i] as const)
      .filter(([t]) => t >= cutoff)
      .map(([, i]) => i);
    const rows = holdIdx.map((i) => Object.fromEntries(model.features.map((f) => [f, columnValues(table, f)[i]])));
    const p = model.predict(rows).map((x) => x.prediction as number);
    const recomputed = classificationMetrics(
      p,
      holdIdx.map((i) => (labels[i] ? 1 : 0)),
    );
    assert.ok(Math.abs(recomputed.auc! - holdout.auc) < 1e-12);
    assert.ok(Math.abs(recomputed.logLoss! - holdout.logLoss) < 1e-9);

    // What the registry holds.
    const [stored] = await repo.store.withRegistry((reg) => reg.listModelVersions(repo.store.project, { name: "churn" }));
    const lineage = stored!.lineage as Record<string, unknown>;
    assert.equal(lineage.service, "churn");
    assert.equal(lineage.serviceVersion, 1);
    assert.match(String(lineage.serviceHash), /^[0-9a-f]{16}$/);
    assert.deepEqual(lineage.entities, { rows: ts.length, labeledRows: ts.length, start: new Date(ts[0]!).toISOString(), end: new Date(ts[ts.length - 1]!).toISOString() });
    assert.deepEqual(stored!.metrics, r.metrics);
    assert.equal(stored!.stage, null);
    const again = await repo.store.withRegistry((reg) => reg.getModelVersion(repo.store.project, "churn", { version: 1 }));
    assert.deepEqual(again?.model, r.model);
  });

  test("linear: ridge regression with RMSE; a second training is version 2", async () => {
    const { repo } = fx;
    const entities = await readEntityRows(repo.path("data/labels.parquet"));
    const r = await trainModel(repo.store, { name: "ltv", service: "small", entities, label: "ltv", type: "linear", holdout: 0.2 });
    assert.equal(r.model.objective, "linear");
    const holdout = r.metrics.holdout as { rmse: number; r2: number };
    assert.ok(holdout.rmse < 20 && holdout.r2 > 0.8, JSON.stringify(holdout));
    const r2 = await trainModel(repo.store, { name: "ltv", service: "small", entities, label: "ltv", type: "linear", holdout: 0 });
    assert.equal(r2.registered?.version, 2);
    assert.equal(r2.metrics.holdout, null);
    assert.equal((r2.lineage.split as { trainRows: number }).trainRows, entities.numRows);
  });

  test("bad input: missing label column, one class only, label that is a feature, bad options", async () => {
    const { repo } = fx;
    const entities = await readEntityRows(repo.path("data/labels.parquet"));
    await expectLarderError(trainModel(repo.store, { name: "m", service: "churn", entities, label: "nope", type: "logistic" }), "INVALID_ENTITIES");
    const oneClass = arrowTable({ customer_id: col.int64([1, 2, 3]), event_timestamp: col.timestamp([Date.now() - 5 * 86400000, Date.now() - 4 * 86400000, Date.now() - 3 * 86400000]), y: col.bool([true, true, true]) });
    const e = await expectLarderError(trainModel(repo.store, { name: "m", service: "small", entities: oneClass, label: "y", type: "logistic", holdout: 0 }), "INVALID_ENTITIES");
    assert.match(e.message, /only positive labels/);
    const withFeature = arrowTable({ customer_id: col.int64([1]), event_timestamp: col.timestamp([Date.now()]), plan: col.string(["x"]) });
    await expectLarderError(trainModel(repo.store, { name: "m", service: "small", entities: withFeature, label: "plan", type: "logistic" }), "INVALID_ARGUMENT");
    await expectLarderError(trainModel(repo.store, { name: "m", service: "churn", entities, label: "churned", type: "logistic", holdout: 1 }), "INVALID_ARGUMENT");
    await expectLarderError(trainModel(repo.store, { name: "bad name!", service: "churn", entities, label: "churned", type: "logistic" }), "INVALID_ARGUMENT");
    await expectLarderError(trainModel(repo.store, { name: "m", service: "nope", entities, label: "churned", type: "logistic" }), "UNKNOWN_FEATURE_SERVICE");
    const listed = await repo.store.withRegistry((reg) => reg.listModelVersions(repo.store.project, { name: "m" }));
    assert.deepEqual(listed, [], "failed trainings register nothing");
  });

  test("larder models train prints metrics and registers; bad flags are one error line", async () => {
    const { repo } = fx;
    const out = assertOk(larder(repo.dir, ["models", "train", "--name", "cli", "--service", "churn", "--entities", repo.path("data/labels.parquet"), "--label", "churned", "--l2", "2", "--out", repo.path("model.json")]));
    assert.match(out, /trained logistic model on \d+ rows \(\d+ held out/);
    assert.match(out, /holdout: rows \d+, positiveRate [\d.]+, auc [\d.]+, logLoss [\d.]+/);
    assert.match(out, /registered cli version 1 \(service churn version 1\)/);
    const written = JSON.parse(readFileSync(repo.path("model.json"), "utf8")) as { format: string };
    assert.equal(written.format, "larder.linear.v1");
    assertCliError(larder(repo.dir, ["models", "train", "--name", "cli", "--service", "churn", "--entities", repo.path("data/labels.parquet"), "--label", "churned", "--type", "xgboost"]), "INVALID_ARGUMENT", /--type xgboost/);
    assertCliError(larder(repo.dir, ["models", "train", "--name", "cli", "--service", "churn", "--entities", repo.path("data/labels.parquet"), "--label", "churned", "--l2", "abc"]), "INVALID_ARGUMENT", /--l2/);
  });
});
