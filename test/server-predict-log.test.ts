/**
 * Prediction logs of `POST /v1/predict/:model` against a real server: every served row lands in
 * Parquet under <offline>/_prediction_logs/<model>/date=…/ with the exact served values (keys,
 * request fields, features used, predictions, version, request id, time), typed by the service's
 * schema; a log file is an `--entities` file for `larder training-set`, whose offline features
 * equal the logged ones for a plain view at the same time; /metrics counts written rows; the log
 * can be switched off; a failing disk never fails a request.
 */
import { rng } from "./helpers/seeded-random.js";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import * as arrow from "apache-arrow";
import { defineConfig } from "../src/config/define-config.js";
import { FeatureStore } from "../src/feature-store.js";
import { promoteModel, registerModel } from "../src/use-cases/model-registry.js";
import { trainModel } from "../src/use-cases/train-model.js";
import { readEntityRows } from "../src/offline/entity-rows.js";
import { startServer, type RunningServer } from "../src/server/app.js";
import { predictionLogDir } from "../src/serving/prediction-log.js";
import { assertOk, larder, plainRows, readParquetTable } from "./helpers/cli.js";
import { get, post } from "./helpers/http-server.js";
import { BACKFILL, createChurnRepo, type ChurnFixture } from "./fixtures/models-train/churn-fixture.js";

let fx: ChurnFixture;
let served: FeatureStore;

before(async () => {
  fx = await createChurnRepo({ customers: 40 });
  const store = fx.repo.store;
  const entities = await readEntityRows(fx.repo.path("data/labels.parquet"));
  const trained = await trainModel(store, { name: "churn", service: "churn", entities, label: "churned", type: "logistic" });
  await promoteModel(store, "churn", trained.registered!.version);
  const multi = JSON.parse(readFileSync(new URL("./fixtures/models/xgb-multiclass.model.json", import.meta.url), "utf8")) as unknown;
  await registerModel(store, { name: "multi", service: "churn", model: multi, type: "xgboost" });
  await promoteModel(store, "multi", 1);
  await store.materialize({ start: BACKFILL.start, end: BACKFILL.end });
  served = await FeatureStore.open(fx.repo.dir, { holdOnlineStore: true });
});
after(async () => {
  await served?.models.settled();
  await served?.close();
  await fx?.repo.cleanup();
});

function logFiles(model: string): string[] {
  const dir = predictionLogDir(join(fx.repo.dir, "data/offline"), model);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((d) => d.startsWith("date="))
    .flatMap((d) =>
      readdirSync(join(dir, d))
        .filter((f) => f.endsWith(".parquet"))
        .map((f) => join(dir, d, f)),
    );
}

function metric(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

async function serve(options: { predictionLog?: boolean } = {}): Promise<RunningServer> {
  return startServer(served, { port: 0, apiKeys: [], ...options });
}

/** Random known and unknown customers with cart values. */
function randomRequest(seed: number, n: number): { customer_id: number[]; cart_value: number[] } {
  const r = rng(seed);
  const ids: number[] = [];
  const carts: number[] = [];
  for (let i = 0; i < n; i++) {
    ids.push(r() < 0.15 ? 5_000 + i : fx.ids[Math.floor(r() * fx.ids.length)]!);
    carts.push(Math.round(r() * 20000) / 100);
  }
  return { customer_id: ids, cart_value: carts };
}

test("served predictions appear in Parquet with the exact served values, typed by the service; counted in /metrics", async () => {
  const server = await serve();
  const responses: { body: any; before: number; after: number; carts: number[]; ids: number[] }[] = [];
  let rows = 0;
  try {
    for (let k = 0; k < 12; k++) {
      const { customer_id, cart_value } = randomRequest(k + 1, 1 + (k % 4));
      const scalarCart = k % 3 === 0;
      const before = Date.now();
      const res = await post(
        server.url,
        "/v1/predict/churn",
        {
          entities: { customer_id },
          request: { cart_value: scalarCart ? cart_value[0]! : cart_value },
          contributions: k % 2 === 0,
        },
        k === 5 ? { "x-request-id": "from-the-client" } : {},
      );
      assert.equal(res.status, 200, res.text);
      responses.push({ body: res.json, before, after: Date.now(), ids: customer_id, carts: scalarCart ? customer_id.map(() => cart_value[0]!) : cart_value });
      rows += customer_id.length;
    }
    // Written by the background flush (about a second later): poll /metrics until it says so.
    let written = 0;
    for (let i = 0; i < 100 && written < rows; i++) {
      await new Promise((r) => setTimeout(r, 100));
      written = metric((await get(server.url, "/metrics")).text, "larder_prediction_log_rows_written_total") ?? 0;
    }
    assert.equal(written, rows, "every served row is written, and counted");
    const text = (await get(server.url, "/metrics")).text;
    assert.equal(metric(text, "larder_prediction_log_rows_dropped_total"), 0);
    assert.equal(metric(text, "larder_prediction_log_rows_buffered"), 0);
  } finally {
    await server.close();
  }

  const files = logFiles("churn");
  assert.ok(files.length >= 1);
  const logged = files.flatMap((f) => plainRows(readParquetTable(f)));
  assert.equal(logged.length, rows);
  const schema = readParquetTable(files[0]!).schema;
  const features = responses[0]!.body.feature_names as string[];
  assert.deepEqual(
    schema.fields.map((f) => f.name),
    ["event_timestamp", "model", "model_version", "request_id", "customer_id", "cart_value", ...features.filter((f) => f !== "cart_value"), "prediction"],
  );
  const typeOf = (name: string) => schema.fields.find((f) => f.name === name)!.type;
  assert.ok(arrow.DataType.isTimestamp(typeOf("event_timestamp")));
  assert.ok(arrow.DataType.isInt(typeOf("customer_id")) && (typeOf("customer_id") as arrow.Int).bitWidth === 64, "join key typed by its entity (int64)");
  assert.ok(arrow.DataType.isInt(typeOf("tenure_months")), "int64 feature stays int64");
  assert.ok(arrow.DataType.isFloat(typeOf("cart_value")) && arrow.DataType.isFloat(typeOf("monthly_fee")) && arrow.DataType.isFloat(typeOf("prediction")));
  if (features.includes("plan")) assert.ok(arrow.DataType.isUtf8(typeOf("plan")) || arrow.DataType.isLargeUtf8(typeOf("plan")));

  for (const { body, before, after, ids, carts } of responses) {
    const mine = logged.filter((r) => r.request_id === body.request_id);
    assert.equal(mine.length, ids.length, `request ${body.request_id}: one log row per entity row`);
    body.results.forEach((res: any, i: number) => {
      const row = mine[i]!;
      assert.equal(row.model, "churn");
      assert.equal(row.model_version, body.version);
      assert.equal(row.customer_id, ids[i]);
      assert.equal(row.cart_value, carts[i]);
      assert.ok((row.event_timestamp as number) >= before && (row.event_timestamp as number) <= after, "logged at serve time");
      for (const f of features) assert.equal(row[f], res.features[f], `${f}: the exact served value`);
      assert.equal(row.prediction, res.prediction, "the exact served prediction");
    });
  }
  assert.equal(responses[5]!.body.request_id, "from-the-client");

  // The log as --entities for a training set: offline features of the plain view equal the logged ones.
  const file = files.find((f) => readParquetTable(f).numRows > 0)!;
  const out = fx.repo.path("data/from-log.parquet");
  assertOk(larder(fx.repo.dir, ["training-set", "--entities", file, "--service", "churn", "--out", out, "--full-feature-names"]));
  const ts = plainRows(readParquetTable(out));
  const fromLog = plainRows(readParquetTable(file));
  assert.equal(ts.length, fromLog.length);
  let compared = 0;
  ts.forEach((row, i) => {
    assert.equal(row.request_id, fromLog[i]!.request_id, "entity rows pass through in order");
    for (const f of ["plan", "monthly_fee", "tenure_months"]) {
      if (!(f in fromLog[i]!)) continue;
      assert.equal(row[`profile__${f}`], fromLog[i]![f], `row ${i} ${f}`);
      if (row[`profile__${f}`] !== null) compared++;
    }
  });
  assert.ok(compared > ts.length, "non-null values were compared");
});

test("multi-class predictions are logged as prediction_0 … prediction_<k-1>", async () => {
  const server = await serve();
  let body: any;
  try {
    const res = await post(server.url, "/v1/predict/multi", { entities: { customer_id: [fx.ids[0]!, fx.ids[1]!] }, request: { cart_value: 20 } });
    assert.equal(res.status, 200, res.text);
    body = res.json;
  } finally {
    await server.close(); // flushes
  }
  const rows = logFiles("multi")
    .flatMap((f) => plainRows(readParquetTable(f)))
    .filter((r) => r.request_id === body.request_id);
  assert.equal(rows.length, 2);
  rows.forEach((row, i) => {
    assert.deepEqual([row.prediction_0, row.prediction_1, row.prediction_2], body.results[i].prediction);
    assert.equal("prediction" in row, false);
  });
});

test("server.predictionLog: false (or the option) logs nothing and exposes no log metrics; the config defaults to true", async () => {
  assert.equal(defineConfig({ project: "p" }).server.predictionLog, true);
  assert.equal(defineConfig({ project: "p", server: { predictionLog: false } }).server.predictionLog, false);
  assert.throws(() => defineConfig({ project: "p", server: { predictionLog: "no" as never } }), { code: "INVALID_CONFIG" });
  const before = logFiles("churn").length;
  const server = await serve({ predictionLog: false });
  try {
    const res = await post(server.url, "/v1/predict/churn", { entities: { customer_id: [fx.ids[0]!] }, request: { cart_value: 1 } });
    assert.equal(res.status, 200, res.text);
    assert.equal(metric((await get(server.url, "/metrics")).text, "larder_prediction_log_rows_written_total"), undefined);
  } finally {
    await server.close();
  }
  assert.equal(logFiles("churn").length, before);
});

test("a log that cannot be written never fails a request: failures are counted, rows kept, the server closes", async () => {
  const offline = join(fx.repo.dir, "data/offline");
  renameSync(join(offline, "_prediction_logs"), join(offline, "_prediction_logs.bak"));
  writeFileSync(join(offline, "_prediction_logs"), "not a directory");
  const server = await serve();
  try {
    for (let k = 0; k < 5; k++) {
      const res = await post(server.url, "/v1/predict/churn", { entities: { customer_id: [fx.ids[k]!] }, request: { cart_value: k } });
      assert.equal(res.status, 200, res.text);
    }
    let failures = 0;
    for (let i = 0; i < 100 && failures === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      failures = metric((await get(server.url, "/metrics")).text, "larder_prediction_log_write_failures_total") ?? 0;
    }
    assert.ok(failures >= 1, "the failed write is counted");
    const text = (await get(server.url, "/metrics")).text;
    assert.equal(metric(text, "larder_prediction_log_rows_buffered"), 5, "the rows are kept for a retry");
    assert.equal(metric(text, "larder_prediction_log_rows_written_total"), 0);
    const again = await post(server.url, "/v1/predict/churn", { entities: { customer_id: [fx.ids[0]!] }, request: { cart_value: 1 } });
    assert.equal(again.status, 200);
  } finally {
    await server.close();
  }
});
