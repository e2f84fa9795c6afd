/**
 * Online predict equals batch predict: for random entities (and some never seen) at one instant,
 * `FeatureStore.predict` (online features, on-demand transform, model) and `larder predict` /
 * `predictBatch` (training-set features at event_timestamp, same model) give the same predictions
 * and contributions, for a trained logistic model and for an xgboost model.
 *
 * The instant: materialize [start, T), then read online at T − 1 ms and score entity rows with
 * event_timestamp T − 1 ms — README, "Materialization and online reads": an aggregated view's online
 * values equal a training set at end − 1 ms.
 */
import { rng } from "./helpers/seeded-random.js";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import { registerModel, promoteModel } from "../src/use-cases/model-registry.js";
import { trainModel } from "../src/use-cases/train-model.js";
import { readEntityRows } from "../src/offline/entity-rows.js";
import { predictBatch } from "../src/use-cases/predict.js";
import { assertCliError, assertOk, larder, plainRows, readParquetTable } from "./helpers/cli.js";
import { arrowTable, col, tableRows } from "./helpers/feature-repo.js";
import { BACKFILL, assertClose, createChurnRepo, randomEntities, type ChurnFixture } from "./fixtures/models-train/churn-fixture.js";

const T = BACKFILL.end;
let fx: ChurnFixture;

before(async () => {
  fx = await createChurnRepo({ customers: 80 });
  const entities = await readEntityRows(fx.repo.path("data/labels.parquet"));
  const trained = await trainModel(fx.repo.store, { name: "churn", service: "churn", entities, label: "churned", type: "logistic" });
  await promoteModel(fx.repo.store, "churn", trained.registered!.version);
  const xgb = JSON.parse(readFileSync(new URL("./fixtures/models/xgb-binary-logistic.model.json", import.meta.url), "utf8")) as unknown;
  await registerModel(fx.repo.store, { name: "churn", service: "churn", model: xgb, type: "xgboost" });
  await fx.repo.store.materialize({ start: BACKFILL.start, end: T });
});
after(async () => {
  await fx?.repo.cleanup();
});

for (const [label, options] of [
  ["logistic (production)", {}],
  ["xgboost (version 2)", { version: 2 }],
] as const) {
  test(`online predict equals batch predict for random entities at one instant: ${label}`, async () => {
    const { ids, carts } = randomEntities(fx, label.length, 60);
    const online = await fx.repo.store.predict("churn", { customer_id: ids }, { ...options, request: { cart_value: carts }, contributions: true, now: T - 1 });
    const entities = arrowTable({ customer_id: col.int64(ids), event_timestamp: col.timestamp(ids.map(() => T - 1)), cart_value: col.float64(carts) });
    const { table, model } = await predictBatch(fx.repo.store, "churn", entities, { ...options, contributions: true });
    assert.equal(model.version, online.version);
    const rows = tableRows(table);
    assert.equal(rows.length, ids.length);
    let nonNullFeatures = 0;
    online.results.forEach((res, i) => {
      const row = rows[i]!;
      assert.equal(row.customer_id, ids[i]);
      assert.equal(row.model_version, online.version);
      assertClose(res.prediction, row.prediction, `row ${i} prediction`);
      for (const f of online.feature_names) {
        assertClose((res.contributions as Record<string, number>)[f], row[`contribution__${f}`], `row ${i} contribution of ${f}`);
        if (res.features[f] !== null) nonNullFeatures++;
      }
      assertClose(res.bias, row.contribution__bias, `row ${i} bias`);
    });
    assert.ok(nonNullFeatures > ids.length * 3, "most features are present: the comparison is not between nulls");
    assert.ok(new Set(online.results.map((r) => r.prediction)).size > 10, "predictions vary across entities");
  });
}

test("larder predict writes the entity rows with prediction and model_version; the same numbers as predictBatch", async () => {
  const { ids, carts } = randomEntities(fx, 99, 25);
  const entities = arrowTable({ customer_id: col.int64(ids), event_timestamp: col.timestamp(ids.map((_, i) => T - 1 - i * 3_600_000)), cart_value: col.float64(carts), note: col.string(ids.map((id) => `c${id}`)) });
  await fx.repo.writeFile("data/score.parquet", entities);
  const out = fx.repo.path("data/scored.parquet");
  assert.match(assertOk(larder(fx.repo.dir, ["predict", "--model", "churn", "--entities", fx.repo.path("data/score.parquet"), "--out", out])), /churn version 1/);
  const written = plainRows(readParquetTable(out));
  const { table } = await predictBatch(fx.repo.store, "churn", entities);
  assert.deepEqual(Object.keys(written[0]!), ["customer_id", "event_timestamp", "cart_value", "note", "prediction", "model_version"]);
  assert.deepEqual(written, plainRows(table));
  assert.deepEqual(
    written.map((r) => r.note),
    ids.map((id) => `c${id}`),
    "entity rows pass through in order",
  );
  assertCliError(larder(fx.repo.dir, ["predict", "--model", "churn", "--entities", fx.repo.path("data/score.parquet"), "--out", fx.repo.path("x.csv")]), "INVALID_ARGUMENT", /\.parquet/);
});

test("online predict: request scalars broadcast, the feature values used are returned, entity errors keep their codes", async () => {
  const store = fx.repo.store;
  const res = await store.predict("churn", { customer_id: [fx.ids[0]!, fx.ids[1]!] }, { request: { cart_value: 50 }, now: T - 1 });
  assert.equal(res.model, "churn");
  assert.equal(res.stage, "production");
  assert.equal(res.service, "churn");
  assert.deepEqual(Object.keys(res.results[0]!.features), res.feature_names);
  assert.equal(res.results[0]!.contributions, undefined, "contributions only on request");
  const same = await store.predict("churn", { customer_id: [fx.ids[0]!], cart_value: [50] }, { now: T - 1 });
  assert.equal(same.results[0]!.prediction, res.results[0]!.prediction, "request fields may come as entity columns too");
  const { expectLarderError } = await import("./helpers/feature-repo.js");
  await expectLarderError(store.predict("churn", { customer: [1] }, { request: { cart_value: 1 } }), "MISSING_JOIN_KEY");
  await expectLarderError(store.predict("churn", { customer_id: [1] }), "INVALID_ENTITIES");
  await expectLarderError(store.predict("churn", { customer_id: [1], cart_value: [2] }, { request: { cart_value: 1 } }), "INVALID_ENTITIES");
  await expectLarderError(store.predict("churn", { customer_id: [1] }, { version: 0 }), "INVALID_ARGUMENT");
});

test("a multi-class xgboost model: online per-class predictions equal batch prediction_<k> columns", async () => {
  const mc = JSON.parse(readFileSync(new URL("./fixtures/models/xgb-multiclass.model.json", import.meta.url), "utf8")) as unknown;
  const v = await registerModel(fx.repo.store, { name: "tier", service: "churn", model: mc });
  await promoteModel(fx.repo.store, "tier", v.version);
  const { ids, carts } = randomEntities(fx, 7, 30);
  const online = await fx.repo.store.predict("tier", { customer_id: ids }, { request: { cart_value: carts }, now: T - 1 });
  const entities = arrowTable({ customer_id: col.int64(ids), event_timestamp: col.timestamp(ids.map(() => T - 1)), cart_value: col.float64(carts) });
  const { table } = await predictBatch(fx.repo.store, "tier", entities);
  const rows = tableRows(table);
  online.results.forEach((res, i) => {
    const probs = res.prediction as number[];
    assert.equal(probs.length, 3);
    probs.forEach((p, k) => assertClose(p, rows[i]![`prediction_${k}`], `row ${i} class ${k}`));
  });
  const { expectLarderError } = await import("./helpers/feature-repo.js");
  await expectLarderError(predictBatch(fx.repo.store, "tier", entities, { contributions: true }), "INVALID_ARGUMENT");
});
