/**
 * Names that are built-in properties of JavaScript objects (constructor, toString, valueOf,
 * hasOwnProperty, __proto__) are unknown names like any other on every route and in the CLI; and
 * non-finite request values ("Infinity", "NaN", 1e400) are one 400 TYPE_MISMATCH on both
 * /get-online-features and /v1/predict.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertCliError, assertOk, larder } from "./helpers/cli.js";
import { BASE, post } from "./helpers/http-server.js";
import { createServedRedisRepo, TEST_REDIS_URL, type ServedRedisRepo } from "./helpers/served-redis-repo.js";
import { redisAvailable, requireServices } from "./helpers/services.js";

const up = await redisAvailable(new URL(TEST_REDIS_URL).hostname, Number(new URL(TEST_REDIS_URL).port || 6379));
if (!up && requireServices()) throw new Error(`Redis is unavailable at ${TEST_REDIS_URL}`);
const skip = up ? false : `Redis is unavailable at ${TEST_REDIS_URL}`;
const NAMES = ["constructor", "toString", "valueOf", "hasOwnProperty", "__proto__", "isPrototypeOf"];

let fx: ServedRedisRepo;
before(async () => {
  if (up) fx = await createServedRedisRepo(13);
});
after(() => fx?.cleanup());

test("built-in property names are 404 UNKNOWN_* on every route", { skip }, async () => {
  const url = fx.server.url;
  const entities = { customer_id: [1], cart_value: [2] };
  for (const name of NAMES) {
    const cases: [string, unknown, number, string, string | null][] = [
      ["/get-online-features", { features: [`spend:${name}`], entities }, 404, "UNKNOWN_FEATURE", "features[0]"],
      ["/get-online-features", { features: [`ratios:${name}`], entities }, 404, "UNKNOWN_FEATURE", "features[0]"],
      ["/get-online-features", { features: [`${name}:plan`], entities }, 404, "UNKNOWN_FEATURE", "features[0]"],
      ["/get-online-features", { feature_service: name, entities }, 404, "UNKNOWN_FEATURE_SERVICE", "feature_service"],
      ["/v1/training-sets", { features: [`spend:${name}`], entities: { customer_id: [1], event_timestamp: [BASE] } }, 404, "UNKNOWN_FEATURE", "features[0]"],
      ["/v1/training-sets", { features: [`profile:${name}`], entities: { customer_id: [1], event_timestamp: [BASE] } }, 404, "UNKNOWN_FEATURE", "features[0]"],
      ["/v1/training-sets", { feature_service: name, entities: { customer_id: [1], event_timestamp: [BASE] } }, 404, "UNKNOWN_FEATURE_SERVICE", "feature_service"],
      ["/push", { push_source_name: name, df: { ts: [BASE] } }, 404, "UNKNOWN_PUSH_SOURCE", "push_source_name"],
      // A model name must start with a letter or digit: "__proto__" is not a name at all (400).
      [`/v1/predict/${name}`, { entities: { customer_id: [1] } }, name === "__proto__" ? 400 : 404, name === "__proto__" ? "INVALID_ARGUMENT" : "UNKNOWN_MODEL", null],
    ];
    for (const [path, body, status, code, errorPath] of cases) {
      const res = await post(url, path, body);
      assert.deepEqual([res.status, res.json?.error?.code, res.json?.error?.path], [status, code, errorPath], `${path} ${JSON.stringify(body)}: ${res.text}`);
    }
    // As a column name it is a column like any other: extra entity columns are ignored, a df
    // column the source lacks is refused, a request field not needed is ignored.
    const extra = await post(url, "/get-online-features", { features: ["profile:plan"], entities: { customer_id: [1] }, request_context: { [name]: [1] } });
    assert.equal(extra.status, name === "__proto__" ? 400 : 200, extra.text); // fastify's JSON parser refuses __proto__ keys
    const pushed = await post(url, "/push", { push_source_name: "txns_push", df: { customer_id: [1], ts: [BASE], amount_cents: [1], [name]: [1] } });
    assert.equal(pushed.status, 400, pushed.text);
    const predicted = await post(url, "/v1/predict/fee", { entities: { customer_id: [1] }, request: { cart_value: 1, [name]: 1 } });
    assert.equal(predicted.status, name === "__proto__" ? 400 : 200, predicted.text);
  }
});

test("built-in property names in the CLI: unknown features and services, plain entity columns", { skip }, () => {
  for (const name of ["constructor", "__proto__"]) {
    assertCliError(larder(fx.repo.dir, ["online", "--entity", "customer_id=1", "--features", `spend:${name}`]), "UNKNOWN_FEATURE", new RegExp(`spend:${name}`));
    assertCliError(larder(fx.repo.dir, ["online", "--entity", "customer_id=1", "--service", name]), "UNKNOWN_FEATURE_SERVICE");
    const out = JSON.parse(assertOk(larder(fx.repo.dir, ["online", "--entity", "customer_id=1", `--entity`, `${name}=x`, "--features", "profile:plan"]))) as { metadata: { feature_names: string[] } };
    assert.deepEqual(out.metadata.feature_names, ["customer_id", "plan"]);
  }
});

test("non-finite request values are 400 TYPE_MISMATCH on /get-online-features and /v1/predict alike", { skip }, async () => {
  const url = fx.server.url;
  for (const raw of ['"Infinity"', '"-Infinity"', '"NaN"', '" nan "', '"1e400"', "1e400", "-1e400"]) {
    const online = await post(url, "/get-online-features", `{"features":["ratios:fee_plus_cart"],"entities":{"customer_id":[1,2],"cart_value":[1,${raw}]}}`);
    const predict = await post(url, "/v1/predict/fee", `{"entities":{"customer_id":[1,2]},"request":{"cart_value":[1,${raw}]}}`);
    for (const [label, res, path] of [
      ["get-online-features", online, "entities.cart_value"],
      ["predict", predict, "request.cart_value"],
    ] as const) {
      assert.equal(res.status, 400, `${label} ${raw}: ${res.text}`);
      // A bare 1e400 is Infinity once parsed: the body schema refuses it (a request field must be a finite number).
      if (!raw.startsWith('"')) continue;
      assert.deepEqual([res.json.error.code, res.json.error.path], ["TYPE_MISMATCH", path], `${label} ${raw}`);
      assert.match(res.json.error.message, /request field "cart_value" row 2: .* is not a finite number \(expected float64\)/);
    }
  }
  const fine = await post(url, "/get-online-features", { features: ["ratios:fee_plus_cart"], entities: { customer_id: [1], cart_value: ["2.5"] } });
  assert.equal(fine.status, 200, fine.text);
});
