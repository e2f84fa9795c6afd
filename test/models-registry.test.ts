/**
 * The model registry as users meet it: `larder models register|list|promote` and the API behind
 * them, on the embedded registry and on Postgres. Bad model files are rejected at register time
 * with a clear error and nothing stored; promotion moves a stage atomically and touches the marker
 * file servers watch; an unknown model is UNKNOWN_MODEL (HTTP 404).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { httpStatusFor, type ErrorCode } from "../src/errors.js";
import { FeatureStore } from "../src/feature-store.js";
import { listModels, promoteModel, registerModel } from "../src/use-cases/model-registry.js";
import { stageMarkerPath } from "../src/serving/model-cache.js";
import { assertCliError, assertOk, larder } from "./helpers/cli.js";
import { expectLarderError } from "./helpers/feature-repo.js";
import { postgresAvailable, requireServices, testPostgresUrl } from "./helpers/services.js";
import { copyWithRegistry, createChurnRepo, type ChurnFixture } from "./fixtures/models-train/churn-fixture.js";

const xgbPath = new URL("./fixtures/models/xgb-binary-logistic.model.json", import.meta.url);
const xgboost = JSON.parse(readFileSync(xgbPath, "utf8")) as unknown;

const logistic = {
  format: "larder.linear.v1",
  objective: "logistic",
  inputs: [
    { feature: "monthly_fee", kind: "numeric", mean: 30, std: 10, fill: 30, weight: 0.4 },
    { feature: "plan", kind: "categorical", categories: ["basic", "plus", "pro"], weights: [0.5, 0, -0.5], fill: "basic" },
  ],
  intercept: -1,
  missing: "fill",
};

function withChange(change: (m: Record<string, any>) => void): Record<string, unknown> {
  const m = structuredClone(logistic) as Record<string, any>;
  change(m);
  return m;
}

describe("models on the embedded registry", () => {
  let fx: ChurnFixture;
  const file = (name: string, content: unknown) => {
    const path = fx.repo.path(name);
    writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
    return path;
  };
  before(async () => {
    fx = await createChurnRepo({ customers: 20 });
  });
  after(async () => {
    await fx?.repo.cleanup();
  });

  test("register, list, promote through the CLI", () => {
    const dir = fx.repo.dir;
    assert.match(assertOk(larder(dir, ["models", "list"])), /no models registered/);
    assert.match(assertOk(larder(dir, ["models", "register", "--name", "churn", "--service", "small", "--file", file("lin.json", logistic)])), /registered churn version 1 \(logistic, service small\)/);
    assert.match(assertOk(larder(dir, ["models", "register", "--name", "churn", "--service", "churn", "--file", xgbPath.pathname, "--type", "xgboost"])), /registered churn version 2 \(xgboost, service churn\)/);
    assert.match(assertOk(larder(dir, ["models", "promote", "--name", "churn", "--version", "1"])), /promoted churn version 1 to production$/m);
    const marker = readFileSync(stageMarkerPath(dir), "utf8");
    assert.match(marker, /churn 1 production/);
    assert.match(assertOk(larder(dir, ["models", "promote", "--name", "churn", "--version", "2"])), /promoted churn version 2 to production \(replacing version 1\)/);
    assert.notEqual(readFileSync(stageMarkerPath(dir), "utf8"), marker, "every promotion changes the marker");
    assert.match(assertOk(larder(dir, ["models", "promote", "--name", "churn", "--version", "1", "--stage", "staging"])), /promoted churn version 1 to staging/);
    const table = assertOk(larder(dir, ["models", "list"]));
    assert.match(table, /^MODEL\s+VERSION\s+FORMAT\s+SERVICE\s+STAGE\s+CREATED\s+METRICS$/m);
    assert.match(table, /^churn\s+1\s+logistic\s+small\s+staging\s/m);
    assert.match(table, /^churn\s+2\s+xgboost\s+churn\s+production\s/m);
    const json = JSON.parse(assertOk(larder(dir, ["models", "list", "--name", "churn", "--json"]))) as { version: number; stage: string; lineage: Record<string, unknown> }[];
    assert.deepEqual(
      json.map((v) => [v.version, v.stage]),
      [
        [1, "staging"],
        [2, "production"],
      ],
    );
    assert.equal(json[0]!.lineage.service, "small");
    assert.equal(json[0]!.lineage.serviceVersion, 1);
    assert.deepEqual(json[0]!.lineage.features, ["monthly_fee", "plan"]);
    assertCliError(larder(dir, ["models", "promote", "--name", "nope", "--version", "1"]), "UNKNOWN_MODEL", /unknown model "nope" \(known: churn\)/);
    assertCliError(larder(dir, ["models", "promote", "--name", "churn", "--version", "7"]), "UNKNOWN_MODEL", /no version 7/);
    assertCliError(larder(dir, ["models", "promote", "--name", "churn", "--version", "1", "--stage", "archive"]), "INVALID_ARGUMENT", /stage/);
    assertCliError(larder(dir, ["models", "promote", "--name", "churn", "--version", "x"]), "INVALID_ARGUMENT", /--version x/);
    assert.match(assertOk(larder(dir, ["models", "promote", "--name", "churn", "--version", "latest"])), /churn version 2 is already in production/);
  });

  test("bad model files are rejected at register time with a clear error, and nothing is stored", async () => {
    const dir = fx.repo.dir;
    const reject = (name: string, content: unknown, code: ErrorCode, pattern: RegExp, extra: string[] = []) =>
      assertCliError(larder(dir, ["models", "register", "--name", "bad", "--service", "churn", "--file", file(name, content), ...extra]), code, pattern);
    reject(
      "format.json",
      withChange((m) => (m.format = "larder.linear.v9")),
      "INVALID_MODEL",
      /format/,
    );
    reject("nan.json", JSON.stringify(logistic).replace('"weight":0.4', '"weight":NaN'), "INVALID_MODEL", /not JSON/);
    reject("notjson.json", "{", "INVALID_MODEL", /not JSON/);
    reject(
      "lacks.json",
      withChange((m) => m.inputs.push({ feature: "credit_score", kind: "numeric", mean: 0, std: 1, fill: 0, weight: 1 })),
      "INVALID_MODEL",
      /reads feature "credit_score" that feature service "churn" does not have/,
    );
    reject("type.json", logistic, "INVALID_MODEL", /--type xgboost was given, but the file is a logistic model/, ["--type", "xgboost"]);
    assertCliError(larder(dir, ["models", "register", "--name", "bad", "--service", "nope", "--file", file("ok.json", logistic)]), "UNKNOWN_FEATURE_SERVICE", /unknown feature service "nope"/);
    assertCliError(larder(dir, ["models", "register", "--name", "bad", "--service", "churn", "--file", fx.repo.path("missing.json")]), "SOURCE_NOT_FOUND");
    // Through the API a NaN weight reaches the loader, which names its place in the file.
    const e = await expectLarderError(registerModel(fx.repo.store, { name: "bad", service: "churn", model: withChange((m) => (m.inputs[0].weight = Number.NaN)) }), "INVALID_MODEL");
    assert.match(e.message, /inputs\[0\]\.weight/);
    // The xgboost fixture reads txn_count_30d…; the "small" service has only plan and monthly_fee.
    const lacks = await expectLarderError(registerModel(fx.repo.store, { name: "bad", service: "small", model: xgboost }), "INVALID_MODEL");
    assert.match(lacks.message, /"tenure_months", "spend_7d"/);
    assert.deepEqual(await listModels(fx.repo.store, { name: "bad" }), []);
  });

  test("predicting with an unknown model, version or empty stage is UNKNOWN_MODEL, a 404", async () => {
    const store = fx.repo.store;
    const unknown = await expectLarderError(store.predict("nope", { customer_id: [1] }), "UNKNOWN_MODEL");
    assert.equal(httpStatusFor(unknown.code as ErrorCode), 404);
    assert.match(unknown.message, /unknown model "nope"/);
    await registerModel(store, { name: "fresh", service: "small", model: logistic });
    const empty = await expectLarderError(store.predict("fresh", { customer_id: [1] }), "UNKNOWN_MODEL");
    assert.match(empty.message, /no production version; promote one with `larder models promote --name fresh --version N`/);
    await expectLarderError(store.predict("fresh", { customer_id: [1] }, { version: 9 }), "UNKNOWN_MODEL");
    const v1 = await store.predict("fresh", { customer_id: [1] }, { version: 1 });
    assert.equal(v1.version, 1);
    assert.equal(v1.stage, null);
    assertCliError(larder(fx.repo.dir, ["predict", "--model", "nope", "--entities", fx.repo.path("data/labels.parquet"), "--out", fx.repo.path("p.parquet")]), "UNKNOWN_MODEL");
    assert.equal(existsSync(fx.repo.path("p.parquet")), false);
  });
});

const url = testPostgresUrl();
const pgUp = await postgresAvailable(url);
if (!pgUp) {
  const message = `Postgres is unavailable at ${url}`;
  if (requireServices()) test("Postgres is required (LARDER_REQUIRE_SERVICES=1)", () => assert.fail(message));
  else test("models on a Postgres registry", { skip: message }, () => {});
} else {
  describe("models on a Postgres registry", () => {
    const schema = `larder_test_models_${process.pid}_${randomBytes(3).toString("hex")}`;
    let fx: ChurnFixture;
    let pgRepo: { dir: string; cleanup: () => void };
    let store: FeatureStore;
    before(async () => {
      fx = await createChurnRepo({ customers: 20 });
      pgRepo = copyWithRegistry(fx.repo.dir, url);
      store = await FeatureStore.open(pgRepo.dir, { registrySchema: schema });
      assert.equal(store.repo.config.registry, url);
      await store.apply();
    });
    after(async () => {
      await fx?.repo.cleanup();
      pgRepo?.cleanup();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`drop schema if exists "${schema}" cascade`);
      await client.end();
    });

    test("register, promote and list; concurrent promotions leave one production version", async () => {
      const versions = await Promise.all([1, 2, 3, 4].map((w) => registerModel(store, { name: "churn", service: "small", model: withChange((m) => (m.intercept = w)) })));
      assert.deepEqual(versions.map((v) => v.version).sort(), [1, 2, 3, 4]);
      await Promise.all([1, 2, 3, 4, 2].map((v) => promoteModel(store, "churn", v)));
      const listed = await listModels(store, { name: "churn" });
      assert.equal(listed.filter((v) => v.stage === "production").length, 1);
      const prod = listed.find((v) => v.stage === "production")!;
      const res = await store.predict("churn", { customer_id: [1] });
      assert.equal(res.version, prod.version);
      await expectLarderError(promoteModel(store, "nope", 1), "UNKNOWN_MODEL");
      await expectLarderError(registerModel(store, { name: "churn", service: "churn", model: withChange((m) => (m.format = "x")) }), "INVALID_MODEL");
      assert.equal((await listModels(store)).length, 4);
      // It really is Postgres: the versions are rows of the test schema.
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const { rows } = await client.query(`select count(*)::int as n from "${schema}".model_versions where name = 'churn'`);
        assert.equal(rows[0].n, 4);
      } finally {
        await client.end();
      }
    });
  });
}
