/**
 * `POST /v1/predict/:model` against a real server on a free port: for random entities at one
 * instant the HTTP answer equals `FeatureStore.predict` and batch scoring (`larder predict`, the
 * point-in-time path) for a trained logistic model and an xgboost model; errors carry their codes
 * and paths; a promotion by `larder models promote` in another process hot-swaps the version while
 * HTTP predictions run, with no failed request. Prediction logs: test/server-predict-log.test.ts.
 */
import { rng } from "./helpers/seeded-random.js";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { FeatureStore } from "../src/feature-store.js";
import { promoteModel, registerModel } from "../src/use-cases/model-registry.js";
import { trainModel } from "../src/use-cases/train-model.js";
import { readEntityRows } from "../src/offline/entity-rows.js";
import { startServer, type RunningServer } from "../src/server/app.js";
import { assertOk, larder, larderAsync, plainRows, readParquetTable } from "./helpers/cli.js";
import { arrowTable, col } from "./helpers/feature-repo.js";
import { get, post } from "./helpers/http-server.js";
import { BACKFILL, assertClose, createChurnRepo, randomEntities, type ChurnFixture } from "./fixtures/models-train/churn-fixture.js";
import { waitFor } from "./helpers/wait-for.js";

const T = BACKFILL.end;
let fx: ChurnFixture;
let served: FeatureStore;
let server: RunningServer;

/** A linear model over `monthly_fee` of service "small" that predicts `intercept` whatever the fee. */
function constant(intercept: number): unknown {
  return { format: "larder.linear.v1", objective: "linear", inputs: [{ feature: "monthly_fee", kind: "numeric", mean: 0, std: 1, fill: 0, weight: 0 }], intercept, missing: "fill" };
}

before(async () => {
  fx = await createChurnRepo({ customers: 80 });
  const store = fx.repo.store;
  const entities = await readEntityRows(fx.repo.path("data/labels.parquet"));
  const trained = await trainModel(store, { name: "churn", service: "churn", entities, label: "churned", type: "logistic" });
  await promoteModel(store, "churn", trained.registered!.version);
  const xgb = JSON.parse(readFileSync(new URL("./fixtures/models/xgb-binary-logistic.model.json", import.meta.url), "utf8")) as unknown;
  await registerModel(store, { name: "churn", service: "churn", model: xgb, type: "xgboost" }); // version 2
  await promoteModel(store, "churn", 2, "staging");
  const strict = { format: "larder.linear.v1", objective: "logistic", inputs: [{ feature: "monthly_fee", kind: "numeric", mean: 30, std: 10, fill: 0, weight: 0.5 }], intercept: 0.1, missing: "error" };
  await registerModel(store, { name: "strict", service: "small", model: strict });
  await promoteModel(store, "strict", 1);
  await registerModel(store, { name: "swap", service: "small", model: constant(1) });
  await registerModel(store, { name: "swap", service: "small", model: constant(2) });
  await promoteModel(store, "swap", 1);
  await store.materialize({ start: BACKFILL.start, end: T });
  served = await FeatureStore.open(fx.repo.dir, { holdOnlineStore: true, modelRefreshMs: 50 });
  server = await startServer(served, { port: 0, apiKeys: [], predictionLog: false });
});
after(async () => {
  await server?.close();
  await served?.models.settled();
  await served?.close();
  await fx?.repo.cleanup();
});

for (const [label, select, cli] of [
  ["logistic (production)", {}, []],
  ["xgboost (version 2)", { version: 2 }, ["--version", "2"]],
  ["xgboost (staging)", { stage: "staging" }, ["--stage", "staging"]],
] as const) {
  test(`HTTP predict equals FeatureStore.predict and larder predict for random entities at one instant: ${label}`, async () => {
    const { ids, carts } = randomEntities(fx, label.length * 7, 40);
    const res = await post(server.url, "/v1/predict/churn", { entities: { customer_id: ids }, request: { cart_value: carts }, ...select, contributions: true });
    assert.equal(res.status, 200, res.text);
    const http = res.json;
    assert.match(http.request_id, /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.get("x-request-id"), http.request_id);
    assert.equal(http.version, label.startsWith("logistic") ? 1 : 2);
    assert.equal(http.stage, "version" in select ? null : "stage" in select ? "staging" : "production");

    // The in-process API on another FeatureStore (its own model cache): the same answer, to the bit.
    const inProcess = await fx.repo.store.predict("churn", { customer_id: ids }, { ...select, request: { cart_value: carts }, contributions: true });
    const { request_id: _, ...rest } = http;
    assert.deepEqual(rest, JSON.parse(JSON.stringify(inProcess)));

    // Batch scoring by the CLI: features by point-in-time join at T − 1 ms, the instant the online values hold.
    const rel = `data/score-${label.length}.parquet`;
    await fx.repo.writeFile(rel, arrowTable({ customer_id: col.int64(ids), event_timestamp: col.timestamp(ids.map(() => T - 1)), cart_value: col.float64(carts) }));
    const out = fx.repo.path(`data/scored-${label.length}.parquet`);
    assertOk(larder(fx.repo.dir, ["predict", "--model", "churn", "--entities", fx.repo.path(rel), "--out", out, "--contributions", ...cli]));
    const rows = plainRows(readParquetTable(out));
    assert.equal(rows.length, ids.length);
    let present = 0;
    http.results.forEach((r: any, i: number) => {
      const row = rows[i]!;
      assert.equal(row.customer_id, ids[i]);
      assert.equal(row.model_version, http.version);
      assertClose(r.prediction, row.prediction, `row ${i} prediction`);
      for (const f of http.feature_names as string[]) {
        assertClose(r.contributions[f], row[`contribution__${f}`], `row ${i} contribution of ${f}`);
        if (r.features[f] !== null) present++;
      }
      assertClose(r.bias, row.contribution__bias, `row ${i} bias`);
    });
    assert.ok(present > ids.length * 3, "most features are present: the comparison is not between nulls");
    assert.ok(new Set(http.results.map((r: any) => r.prediction)).size > 10, "predictions vary across entities");
  });
}

test("without contributions the answer has none; request scalars apply to every row; x-request-id is echoed", async () => {
  const ids = [fx.ids[0]!, fx.ids[1]!];
  const res = await post(server.url, "/v1/predict/churn", { entities: { customer_id: ids }, request: { cart_value: 50 } }, { "x-request-id": "req-42" });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.json.request_id, "req-42");
  assert.equal(res.headers.get("x-request-id"), "req-42");
  assert.equal(res.json.results[0].contributions, undefined);
  assert.deepEqual(Object.keys(res.json.results[0].features), res.json.feature_names);
  const columns = await post(server.url, "/v1/predict/churn", { entities: { customer_id: ids }, request: { cart_value: [50, 50] } });
  assert.deepEqual(columns.json.results, res.json.results);
});

test("errors: unknown model 404, bad bodies 400 with the field's path, missing features 422 under the model's error policy", async () => {
  const call = (model: string, body: unknown) => post(server.url, `/v1/predict/${model}`, body);
  const expectError = async (model: string, body: unknown, status: number, code: string, path: string | null) => {
    const res = await call(model, body);
    assert.equal(res.status, status, `${JSON.stringify(body)}: ${res.text}`);
    assert.equal(res.json.error.code, code, res.text);
    assert.equal(res.json.error.path, path, res.text);
    return res.json.error.message as string;
  };
  const ok = { entities: { customer_id: [1] }, request: { cart_value: [1] } };
  assert.match(await expectError("nope", ok, 404, "UNKNOWN_MODEL", null), /unknown model "nope"/);
  assert.match(await expectError("churn", { ...ok, version: 9 }, 404, "UNKNOWN_MODEL", "version"), /no version 9/);
  await expectError("swap", { ...ok, stage: "staging" }, 404, "UNKNOWN_MODEL", "stage");
  await expectError("churn", { request: { cart_value: [1] } }, 400, "INVALID_ARGUMENT", "entities");
  await expectError("churn", { entities: {} }, 400, "INVALID_ARGUMENT", "entities");
  await expectError("churn", { entities: { customer_id: 1 } }, 400, "INVALID_ARGUMENT", "entities.customer_id");
  await expectError("churn", { entities: { customer_id: null } }, 400, "INVALID_ARGUMENT", "entities.customer_id");
  await expectError("churn", { entities: { customer_id: [1, 2], other: [1] } }, 400, "INVALID_ARGUMENT", "entities.other");
  await expectError("churn", { entities: { customer_id: [1, { id: 2 }] } }, 400, "INVALID_ARGUMENT", "entities.customer_id[1]");
  await expectError("churn", { entities: { customer_id: [1] }, request: { cart_value: { v: 1 } } }, 400, "INVALID_ARGUMENT", "request.cart_value");
  await expectError("churn", { entities: { customer_id: [1] }, request: { cart_value: [[1]] } }, 400, "INVALID_ARGUMENT", "request.cart_value[0]");
  await expectError("churn", { ...ok, contributions: "yes" }, 400, "INVALID_ARGUMENT", "contributions");
  await expectError("churn", { ...ok, stage: "prod" }, 400, "INVALID_ARGUMENT", "stage");
  await expectError("churn", { ...ok, version: 0 }, 400, "INVALID_ARGUMENT", "version");
  await expectError("churn", { ...ok, version: 1, stage: "staging" }, 400, "INVALID_ARGUMENT", "stage");
  await expectError("churn", { ...ok, extra: 1 }, 400, "INVALID_ARGUMENT", "");
  await expectError("churn", { entities: { customer_id: [1] }, request: { cart_value: [1, 2] } }, 400, "INVALID_ARGUMENT", "request.cart_value");
  await expectError("churn", { entities: { customer_id: [1], cart_value: [1] }, request: { cart_value: 1 } }, 400, "INVALID_ARGUMENT", "request.cart_value");
  await expectError("churn", { entities: { customer: [1] }, request: { cart_value: [1] } }, 400, "MISSING_JOIN_KEY", "entities.customer_id");
  await expectError("churn", { entities: { customer_id: [1] } }, 400, "INVALID_ENTITIES", "request.cart_value");
  await expectError("churn", { entities: { customer_id: ["x"] }, request: { cart_value: [1] } }, 400, "TYPE_MISMATCH", "entities.customer_id");
  assert.equal((await call("churn", "{not json")).json.error.code, "INVALID_JSON");
  // The "error" policy: a customer never seen has no monthly_fee.
  assert.match(await expectError("strict", { entities: { customer_id: [fx.ids[0]!, 99_999] } }, 422, "MISSING_FEATURE", null), /monthly_fee/);
  assert.equal((await call("strict", { entities: { customer_id: [fx.ids[0]!] } })).status, 200);
});

test("the route is in the OpenAPI document with scope read", async () => {
  const doc = (await get(server.url, "/docs")).json;
  const op = doc.paths["/v1/predict/{model}"]?.post ?? doc.paths["/v1/predict/:model"]?.post;
  assert.ok(op, `paths: ${Object.keys(doc.paths).join(", ")}`);
  assert.equal(op.operationId, "predict");
  assert.equal(op["x-larder-scope"], "read");
  assert.deepEqual(
    op.parameters.map((p: any) => p.name),
    ["model"],
  );
  assert.ok(op.responses["200"] && op.responses["400"]);
});

describe("hot swap over HTTP", () => {
  test("larder models promote in another process while HTTP predictions run: no failed request, then the new version answers", async () => {
    const body = { entities: { customer_id: [fx.ids[0]!, 77_777] } };
    assert.equal((await post(server.url, "/v1/predict/swap", body)).json.version, 1);
    let promoted = false;
    const failures: string[] = [];
    let answered = 0;
    const worker = async () => {
      const seen: number[] = [];
      let afterPromotion = 0;
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline && afterPromotion < 20) {
        const res = await post(server.url, "/v1/predict/swap", body);
        if (res.status !== 200) {
          failures.push(res.text);
          continue;
        }
        const v = res.json.version as number;
        seen.push(v);
        answered++;
        assert.equal(res.json.results[0].prediction, v, "each answer is its version's model");
        if (promoted && v === 2) afterPromotion++;
      }
      return seen;
    };
    const workers = [worker(), worker(), worker()];
    await waitFor(() => answered >= 10 || failures.length > 0, "the workers got 10 answers");
    const beforePromotion = answered;
    const cli = await larderAsync(fx.repo.dir, ["models", "promote", "--name", "swap", "--version", "2"]);
    const duringPromotion = answered - beforePromotion;
    assertOk(cli);
    promoted = true;
    const seen = await Promise.all(workers);
    assert.deepEqual(failures, [], "no request failed");
    for (const s of seen) {
      assert.equal(s[0], 1, "the old version answered first");
      const first = s.indexOf(2);
      assert.ok(first > 0, "then the new one");
      assert.ok(
        s.slice(first).every((v) => v === 2),
        "once swapped, never back",
      );
    }
    assert.ok(duringPromotion > 0, "requests kept being served during the promotion");
    assert.equal(served.models.lastRefreshError, null);
  });
});
