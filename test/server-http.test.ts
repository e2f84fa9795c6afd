/**
 * The HTTP server against a real repository (embedded registry and online store), backfilled and
 * materialized, on a free loopback port: Feast's request and response shapes, parity with the
 * in-process API and with training sets, Arrow training sets, validation errors with codes and
 * paths, /metrics and /docs.
 */
import { rng } from "./helpers/seeded-random.js";
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { tableFromIPC } from "apache-arrow";
import fc from "fast-check";
import { ERROR_CATALOGUE } from "../src/errors.js";
import { startServer, type RunningServer } from "../src/server/app.js";
import { builtinRoutes } from "../src/server/routes/index.js";
import { arrowTable, col, tableRows } from "./helpers/feature-repo.js";
import { ALL_FEATURES, RANGE, createServedRepo, get, post, type ServedRepo } from "./helpers/http-server.js";

let repo: ServedRepo;
let server: RunningServer;
const logs: string[] = [];

before(async () => {
  repo = await createServedRepo();
  server = await startServer(repo.served, { port: 0, apiKeys: [], bodyLimit: 64 * 1024, log: (l) => logs.push(l) });
});

after(async () => {
  await server?.close();
  await repo?.cleanup();
});

const ids = (n: number, seed: number): number[] => {
  const r = rng(seed);
  return Array.from({ length: n }, () => 1 + Math.floor(r() * 45)); // 41..45 were never seen
};

describe("POST /get-online-features", () => {
  test("equals the in-process getOnlineFeatures, for features and for a feature service", async () => {
    const customer_id = ids(25, 1);
    const cart_value = customer_id.map((_, i) => i * 1.5);
    for (const selection of [{ features: ALL_FEATURES }, { feature_service: "churn" }] as const) {
      for (const full of [false, true]) {
        const res = await post(server.url, "/get-online-features", { ...selection, entities: { customer_id, cart_value }, full_feature_names: full });
        assert.equal(res.status, 200, res.text);
        const direct = await repo.served.getOnlineFeatures(
          { customer_id, cart_value },
          {
            ...("features" in selection ? { features: selection.features } : { service: selection.feature_service }),
            fullFeatureNames: full,
          },
        );
        assert.deepEqual(res.json, JSON.parse(JSON.stringify(direct)));
      }
    }
  });

  test("the JSON a Feast client sends round-trips into the columnar response", async () => {
    // Exactly what Feast's Python remote online store posts (and its docs' curl examples: no content type).
    const bodies = [
      `{"feature_service": "churn", "entities": {"customer_id": [1, 2, 44], "cart_value": [10.0, 20.5, 3]}, "full_feature_names": false}`,
      `{"features": ["profile:plan", "spend:txn_count_3d", "ratios:cart_vs_avg"], "entities": {"customer_id": [1, 2, 44], "cart_value": [10.0, 20.5, 3]}, "full_feature_names": true}`,
    ];
    for (const body of bodies) {
      const res = await fetch(`${server.url}/get-online-features`, { method: "POST", body });
      assert.equal(res.status, 200);
      const json = (await res.json()) as { metadata: { feature_names: string[]; as_of: Record<string, unknown[]> }; results: { values: unknown[]; statuses: string[]; event_timestamps: string[] }[] };
      const names = json.metadata.feature_names;
      assert.equal(names[0], "customer_id", "join keys first");
      assert.equal(json.results.length, names.length, "one result per feature name");
      assert.deepEqual(json.results[0]!.values, [1, 2, 44]);
      assert.deepEqual(json.results[0]!.statuses, ["PRESENT", "PRESENT", "PRESENT"]);
      for (const r of json.results) {
        assert.equal(r.values.length, 3);
        assert.equal(r.statuses.length, 3);
        assert.equal(r.event_timestamps.length, 3);
        for (const s of r.statuses) assert.ok(["PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"].includes(s), s);
        for (const t of r.event_timestamps) assert.match(t, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      }
      if (body.includes('full_feature_names": true')) assert.deepEqual(names, ["customer_id", "profile__plan", "spend__txn_count_3d", "ratios__cart_vs_avg"]);
      else assert.deepEqual(names, ["customer_id", "plan", "monthly_fee", "tenure", "vip", "spend_2d", "txn_count_3d", "cart_vs_avg", "fee_plus_cart"]);
      // Never-seen customer 44: count 0, the rest NOT_FOUND.
      const count = json.results[names.findIndex((n) => n.endsWith("txn_count_3d"))]!;
      assert.equal(count.values[2], 0);
      assert.equal(count.statuses[2], "NOT_FOUND");
    }
  });

  test("metadata.as_of says when each view's row was written; null without a row", async () => {
    const res = await post(server.url, "/get-online-features", { features: ["profile:plan", "spend:txn_count_3d"], entities: { customer_id: [1, 2, 3, 44] } });
    assert.equal(res.status, 200);
    const [t0, t1] = repo.materializedBetween;
    for (const view of ["profile", "spend"]) {
      const asOf = res.json.metadata.as_of[view] as (string | null)[];
      assert.equal(asOf.length, 4);
      assert.equal(asOf[3], null, `${view}: never-seen customer`);
      const found = res.json.results[view === "profile" ? 1 : 2].statuses as string[];
      asOf.forEach((t, i) => {
        if (found[i] === "NOT_FOUND") return assert.equal(t, null);
        const ms = Date.parse(t!);
        assert.ok(ms >= t0 && ms <= t1, `${view}[${i}] written at ${t} during the materialization`);
      });
    }
  });

  test("parity: for random entities the online vector at materialization time equals the training-set row", async () => {
    for (const seed of [11, 12, 13]) {
      const r = rng(seed);
      const customer_id = ids(30, seed);
      const cart_value = customer_id.map(() => Math.round(r() * 10000) / 100);
      const res = await post(server.url, "/get-online-features", { features: ALL_FEATURES, entities: { customer_id, cart_value } });
      assert.equal(res.status, 200, res.text);
      const training = tableRows(
        await repo.served.getTrainingSet(arrowTable({ customer_id: col.int64(customer_id), event_timestamp: col.timestamp(customer_id.map(() => RANGE.end - 1)), cart_value: col.float64(cart_value) }), { features: ALL_FEATURES }),
      );
      const names = res.json.metadata.feature_names as string[];
      for (let i = 0; i < customer_id.length; i++) {
        const online: Record<string, unknown> = {};
        names.forEach((name, k) => {
          if (k > 0) online[name] = res.json.results[k].values[i];
        });
        const { customer_id: _c, event_timestamp: _t, cart_value: _v, ...want } = training[i]!;
        assert.deepEqual(online, want, `customer ${customer_id[i]} (seed ${seed})`);
      }
    }
  });
});

describe("POST /v1/training-sets", () => {
  test("answers an Arrow IPC stream equal to store.getTrainingSet", async () => {
    const customer_id = ids(20, 5);
    const ts = customer_id.map((_, i) => RANGE.start + i * 11 * 3_600_000);
    const label = customer_id.map((_, i) => i % 2 === 0);
    const cart_value = customer_id.map((_, i) => i + 0.5);
    for (const [selection, full] of [
      [{ features: ALL_FEATURES }, false],
      [{ feature_service: "churn" }, true],
    ] as const) {
      const res = await fetch(`${server.url}/v1/training-sets`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...selection, full_feature_names: full, entities: { customer_id, event_timestamp: ts.map((t, i) => (i % 2 ? new Date(t).toISOString() : t)), label, cart_value } }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(res.headers.get("content-type"), "application/vnd.apache.arrow.stream");
      const got = tableFromIPC(new Uint8Array(await res.arrayBuffer()));
      const want = await repo.served.getTrainingSet(arrowTable({ customer_id: col.int64(customer_id), event_timestamp: col.timestamp(ts), label: col.bool(label), cart_value: col.float64(cart_value) }), {
        ...("features" in selection ? { features: selection.features } : { service: selection.feature_service }),
        fullFeatureNames: full,
      });
      assert.deepEqual(
        got.schema.fields.map((f) => [f.name, String(f.type)]),
        want.schema.fields.map((f) => [f.name, String(f.type)]),
      );
      assert.deepEqual(tableRows(got), tableRows(want));
      assert.equal(got.numRows, customer_id.length);
    }
  });

  test("errors: no event_timestamp, unknown service, bad timestamp", async () => {
    let res = await post(server.url, "/v1/training-sets", { features: ["profile:plan"], entities: { customer_id: [1] } });
    assert.equal(res.status, 400);
    assert.deepEqual([res.json.error.code, res.json.error.path], ["INVALID_ARGUMENT", "entities.event_timestamp"]);
    res = await post(server.url, "/v1/training-sets", { feature_service: "nope", entities: { customer_id: [1], event_timestamp: [0] } });
    assert.deepEqual([res.status, res.json.error.code, res.json.error.path], [404, "UNKNOWN_FEATURE_SERVICE", "feature_service"]);
    res = await post(server.url, "/v1/training-sets", { features: ["profile:plan"], entities: { customer_id: [1], event_timestamp: ["yesterday"] } });
    assert.deepEqual([res.status, res.json.error.code, res.json.error.path], [400, "INVALID_TIMESTAMP", "entities.event_timestamp"]);
    res = await post(server.url, "/v1/training-sets", { features: ["profile:plan"], entities: { customer_id: ["x"], event_timestamp: [0] } });
    assert.deepEqual([res.status, res.json.error.code, res.json.error.path], [400, "TYPE_MISMATCH", "entities.customer_id"]);
  });
});

describe("bad requests: 4xx with a code and the offending field's path, never a 500", () => {
  const cases: [string, string, unknown, number, string, string | null][] = [
    ["missing entities", "/get-online-features", { features: ["profile:plan"] }, 400, "INVALID_ARGUMENT", "entities"],
    ["entities not an object", "/get-online-features", { features: ["profile:plan"], entities: [1, 2] }, 400, "INVALID_ARGUMENT", "entities"],
    ["a column not an array", "/get-online-features", { features: ["profile:plan"], entities: { customer_id: 1 } }, 400, "INVALID_ARGUMENT", "entities.customer_id"],
    ["a value of the wrong JSON type", "/get-online-features", { features: ["profile:plan"], entities: { customer_id: [1, { a: 1 }] } }, 400, "INVALID_ARGUMENT", "entities.customer_id[1]"],
    ["a key of the wrong type", "/get-online-features", { features: ["profile:plan"], entities: { customer_id: ["abc"] } }, 400, "TYPE_MISMATCH", "entities.customer_id"],
    ["features not a list", "/get-online-features", { features: "profile:plan", entities: { customer_id: [1] } }, 400, "INVALID_ARGUMENT", "features"],
    ["no features and no service", "/get-online-features", { entities: { customer_id: [1] } }, 400, "INVALID_ARGUMENT", "features"],
    ["features and a service", "/get-online-features", { features: ["profile:plan"], feature_service: "churn", entities: { customer_id: [1] } }, 400, "INVALID_ARGUMENT", "feature_service"],
    ["an unknown feature", "/get-online-features", { features: ["profile:plan", "profile:nope"], entities: { customer_id: [1] } }, 404, "UNKNOWN_FEATURE", "features[1]"],
    ["an unknown view", "/get-online-features", { features: ["nope:plan"], entities: { customer_id: [1] } }, 404, "UNKNOWN_FEATURE", "features[0]"],
    ["an unknown service", "/get-online-features", { feature_service: "nope", entities: { customer_id: [1] } }, 404, "UNKNOWN_FEATURE_SERVICE", "feature_service"],
    ["a missing join key", "/get-online-features", { features: ["profile:plan"], entities: { cust: [1] } }, 400, "MISSING_JOIN_KEY", "entities.customer_id"],
    ["a missing request field", "/get-online-features", { features: ["ratios:cart_vs_avg"], entities: { customer_id: [1] } }, 400, "INVALID_ENTITIES", "entities.cart_value"],
    ["columns of unequal length", "/get-online-features", { features: ["ratios:cart_vs_avg"], entities: { customer_id: [1, 2], cart_value: [1] } }, 400, "INVALID_ARGUMENT", "entities.cart_value"],
    ["an unknown field", "/get-online-features", { features: ["profile:plan"], entities: { customer_id: [1] }, extra: 1 }, 400, "INVALID_ARGUMENT", ""],
    ["full_feature_names not a bool", "/get-online-features", { features: ["profile:plan"], entities: { customer_id: [1] }, full_feature_names: "yes" }, 400, "INVALID_ARGUMENT", "full_feature_names"],
    ["a body that is not an object", "/get-online-features", [], 400, "INVALID_ARGUMENT", ""],
    ["a request field of the wrong type", "/get-online-features", { features: ["ratios:cart_vs_avg"], entities: { customer_id: [1] }, request_context: { cart_value: ["lots"] } }, 400, "TYPE_MISMATCH", "request_context.cart_value"],
    [
      "a request field in entities and request_context",
      "/get-online-features",
      { features: ["ratios:cart_vs_avg"], entities: { customer_id: [1], cart_value: [1] }, request_context: { cart_value: [2] } },
      400,
      "INVALID_ARGUMENT",
      "request_context.cart_value",
    ],
    ["training set: a pass-through column of mixed types", "/v1/training-sets", { features: ["profile:plan"], entities: { customer_id: [1, 2], event_timestamp: [0, 0], note: [1, "a"] } }, 400, "TYPE_MISMATCH", "entities.note"],
    ["push: no source name", "/push", { df: { customer_id: [1] } }, 400, "INVALID_ARGUMENT", "push_source_name"],
    ["push: a bad target", "/push", { push_source_name: "p", df: { customer_id: [1] }, to: "elsewhere" }, 400, "INVALID_ARGUMENT", "to"],
    ["push: df columns of unequal length", "/push", { push_source_name: "p", df: { a: [1, 2], b: [1] } }, 400, "INVALID_ARGUMENT", "df.b"],
  ];
  for (const [what, path, body, status, code, field] of cases) {
    test(what, async () => {
      const res = await post(server.url, path, body);
      assert.equal(res.status, status, res.text);
      assert.equal(res.json.error.code, code, res.text);
      assert.equal(res.json.error.path, field, res.text);
      assert.equal(typeof res.json.error.message, "string");
    });
  }

  test("a body that is not JSON is 400 INVALID_JSON; an empty one too", async () => {
    for (const body of ['{"features": [', "features=profile:plan", '{"__proto__": {"x": 1}}']) {
      const res = await post(server.url, "/get-online-features", body);
      assert.deepEqual([res.status, res.json.error.code], [400, "INVALID_JSON"], body);
    }
    const res = await fetch(`${server.url}/get-online-features`, { method: "POST" });
    assert.deepEqual([res.status, ((await res.json()) as { error: { code: string } }).error.code], [400, "INVALID_JSON"]);
  });

  test("a body over the limit is 413 PAYLOAD_TOO_LARGE", async () => {
    const customer_id = Array.from({ length: 20_000 }, (_, i) => i);
    const res = await post(server.url, "/get-online-features", { features: ["profile:plan"], entities: { customer_id } });
    assert.deepEqual([res.status, res.json.error.code], [413, "PAYLOAD_TOO_LARGE"]);
  });

  test("an unknown route is 404 ROUTE_NOT_FOUND; a wrong method too", async () => {
    let res = await get(server.url, "/nope");
    assert.deepEqual([res.status, res.json.error.code], [404, "ROUTE_NOT_FOUND"]);
    res = await get(server.url, "/get-online-features");
    assert.deepEqual([res.status, res.json.error.code], [404, "ROUTE_NOT_FOUND"]);
  });

  test("random JSON bodies never get a 5xx", async () => {
    const entities = fc.dictionary(fc.constantFrom("customer_id", "cart_value", "x"), fc.oneof(fc.array(fc.jsonValue(), { maxLength: 3 }), fc.jsonValue()));
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record({ features: fc.oneof(fc.array(fc.constantFrom(...ALL_FEATURES, "a:b", "x", "")), fc.jsonValue()), entities }, { requiredKeys: [] }),
      fc.record({ feature_service: fc.oneof(fc.constantFrom("churn", "nope"), fc.jsonValue()), entities, full_feature_names: fc.jsonValue() }, { requiredKeys: [] }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("/get-online-features", "/v1/training-sets", "/push"), body, async (path, b) => {
        const res = await post(server.url, path, b);
        assert.ok(res.status < 500, `${path} ${JSON.stringify(b)} → ${res.status} ${res.text}`);
        if (res.status >= 400) assert.ok(res.json.error.code in ERROR_CATALOGUE);
      }),
      { numRuns: 150 },
    );
  });
});

test("GET /health answers 200 when the online store is reachable", async () => {
  const res = await get(server.url, "/health");
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { status: "ok", project: "test" });
});

test("GET /metrics: latency histograms per route, online-store errors, materialization lag per view", async () => {
  await post(server.url, "/get-online-features", { features: ["profile:plan"], entities: { customer_id: [1] } });
  await post(server.url, "/get-online-features", { features: ["profile:nope"], entities: { customer_id: [1] } });
  const before = Date.now();
  const res = await get(server.url, "/metrics");
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
  const text = res.text;
  assert.match(text, /# TYPE larder_http_request_duration_seconds histogram/);
  assert.match(text, /larder_http_request_duration_seconds_bucket\{le="0\.005",method="POST",route="\/get-online-features",status="200"\} \d+/);
  assert.match(text, /larder_http_request_duration_seconds_count\{method="POST",route="\/get-online-features",status="404"\} [1-9]/);
  assert.match(text, /# TYPE larder_online_store_errors_total counter/);
  assert.match(text, /larder_registry_up 1/);
  for (const view of ["profile", "spend"]) {
    const m = new RegExp(`larder_materialization_lag_seconds\\{view="${view}"\\} ([0-9.e+]+)`).exec(text);
    assert.ok(
      m,
      `lag of ${view} in:\n${text
        .split("\n")
        .filter((l) => l.includes("materialization"))
        .join("\n")}`,
    );
    const lag = Number(m[1]);
    assert.ok(Math.abs(lag - (before - RANGE.end) / 1000) < 60, `lag ${lag} s is now − watermark`);
    assert.match(text, new RegExp(`larder_materialization_watermark_seconds\\{view="${view}"\\} ${RANGE.end / 1000}`));
  }
  assert.match(text, /process_cpu_seconds_total/);
});

test("GET /metrics while another holder keeps the registry: answers with the last watermarks and larder_registry_up 0", async () => {
  await get(server.url, "/metrics"); // a successful read first
  const text = await repo.store.withRegistry(async () => (await get(server.url, "/metrics")).text);
  assert.match(text, /larder_registry_up 0/);
  assert.match(text, /larder_materialization_lag_seconds\{view="profile"\} \d/);
  assert.match(text, /larder_online_store_errors_total\{route="\/get-online-features"\} 0/);
  assert.ok(
    logs.some((l) => /metrics: cannot read watermarks from the registry: the registry did not open within/.test(l)),
    logs.join("\n"),
  );
  assert.match((await get(server.url, "/metrics")).text, /larder_registry_up 1/, "up again once the registry is free");
});

test("GET /docs: a browser is sent to swagger-ui, served with its assets by this server and loading the same document; clients get the JSON", async () => {
  const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
  const json = await get(server.url, "/docs");
  for (const [path, headers] of [
    ["/docs?format=json", { accept: browser }],
    ["/docs", { accept: "application/json" }],
    ["/docs", {}],
  ] as const) {
    const res = await get(server.url, path, headers);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/, `${path} ${JSON.stringify(headers)}`);
    assert.equal(res.json.openapi, "3.1.0");
    assert.deepEqual(res.json, json.json);
  }
  const redirect = await fetch(`${server.url}/docs`, { headers: { accept: browser }, redirect: "manual" });
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.get("location"), "/docs/ui/");
  const followed = await fetch(`${server.url}/docs`, { headers: { accept: browser } });
  assert.equal(followed.status, 200);
  assert.equal(followed.url, `${server.url}/docs/ui/`);
  assert.match(followed.headers.get("content-type") ?? "", /^text\/html/);
  const page = await followed.text();
  assert.match(page, /<div id="swagger-ui">/);
  // Every script and stylesheet is a relative URL served by this server (none from a CDN: works offline).
  const assets = [...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(assets.includes("./static/swagger-ui-bundle.js"), assets.join(" "));
  for (const asset of assets) {
    assert.doesNotMatch(asset, /^(https?:)?\/\//, asset);
    const res = await fetch(new URL(asset, followed.url));
    assert.equal(res.status, 200, asset);
    if (asset.endsWith("swagger-ui-bundle.js")) assert.match(await res.text(), /SwaggerUIBundle/);
    else await res.arrayBuffer();
  }
  // The UI's initializer loads the document from ./json, relative to the page: the same document as /docs.
  const init = await (await fetch(new URL("./static/swagger-initializer.js", followed.url))).text();
  assert.match(init, /url: resolveUrl\('\.\/json'\)/);
  const uiDoc = await get(server.url, "/docs/ui/json");
  assert.equal(uiDoc.status, 200);
  assert.deepEqual(uiDoc.json, json.json);
});

test("GET /docs is an OpenAPI 3.1 document of every route, its schemas and refs intact", async () => {
  const res = await get(server.url, "/docs");
  assert.equal(res.status, 200);
  const doc = res.json;
  assert.equal(doc.openapi, "3.1.0");
  assert.equal(typeof doc.info.title, "string");
  assert.equal(typeof doc.info.version, "string");
  const operationIds = new Set<string>();
  for (const route of builtinRoutes) {
    const op = doc.paths[route.url.replace(/:(\w+)/g, "{$1}")]?.[route.method.toLowerCase()];
    assert.ok(op, `${route.method} ${route.url} is documented`);
    assert.ok(!operationIds.has(op.operationId), `operationId ${op.operationId} is unique`);
    operationIds.add(op.operationId);
    assert.ok(Object.keys(op.responses).length > 0);
    for (const [status, r] of Object.entries(op.responses as Record<string, { description?: unknown }>)) {
      assert.match(status, /^[1-5]\d\d$/);
      assert.equal(typeof r.description, "string");
    }
    if (route.body) {
      const schema = op.requestBody.content["application/json"].schema;
      assert.equal(schema.type, "object");
      // The documented examples are valid requests.
      for (const example of schema.examples ?? []) assert.ok(route.body.safeParse(example).success, `${route.url} example ${JSON.stringify(example)}`);
    }
    if (route.scope === "public") assert.deepEqual(op.security, []);
    else assert.ok(op.responses["401"] && op.responses["403"]);
  }
  for (const path of ["/get-online-features", "/push", "/health", "/v1/training-sets", "/metrics", "/docs"]) assert.ok(doc.paths[path], path);
  const onlineBody = doc.paths["/get-online-features"].post.requestBody.content["application/json"].schema;
  assert.deepEqual(Object.keys(onlineBody.properties).sort(), ["entities", "feature_service", "features", "full_feature_names", "request_context"]);
  assert.deepEqual(onlineBody.required, ["entities"]);
  // Every $ref resolves inside the document; every security scheme used is declared.
  const refs: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === "object" && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k === "$ref" && typeof x === "string") refs.push(x);
        else walk(x);
      }
    }
  };
  walk(doc);
  assert.ok(refs.length > 0);
  for (const ref of refs) {
    const target = ref
      .replace(/^#\//, "")
      .split("/")
      .reduce<any>((o, k) => o?.[k], doc);
    assert.ok(target, `${ref} resolves`);
  }
  for (const op of Object.values(doc.paths).flatMap((p) => Object.values(p as object))) {
    for (const req of (op as { security: Record<string, unknown>[] }).security) for (const name of Object.keys(req)) assert.ok(doc.components.securitySchemes[name], name);
  }
});

// Last: it changes what the online store holds.
test("POST /push: rows reach the online store through the view's transform; errors name the field", async () => {
  const before = await post(server.url, "/get-online-features", { features: ["spend:last_amount"], entities: { customer_id: [1] } });
  const t0 = Date.now();
  const res = await post(server.url, "/push", { push_source_name: "txns_push", df: { customer_id: [1], ts: [new Date(RANGE.end + 60_000).toISOString()], amount_cents: [12345] }, to: "online" });
  assert.equal(res.status, 200, res.text);
  assert.deepEqual(res.json, { pushSource: "txns_push", rows: 1, views: [{ view: "spend", written: 1, stale: 0, expired: 0 }] });
  const after = await post(server.url, "/get-online-features", { features: ["spend:last_amount"], entities: { customer_id: [1] } });
  assert.equal(after.json.results[1].values[0], 123.45, "the row transform ran (amount_cents / 100)");
  assert.notDeepEqual(after.json.results[1], before.json.results[1]);
  assert.ok(Date.parse(after.json.metadata.as_of.spend[0]) >= t0, "as_of is the push's time");

  const errors: [unknown, number, string, string | null][] = [
    [{ push_source_name: "nope", df: { customer_id: [1] } }, 404, "UNKNOWN_PUSH_SOURCE", "push_source_name"],
    [{ push_source_name: "txns_push", df: { customer_id: [1], amount_cents: [1] } }, 400, "INVALID_ENTITIES", "df.ts"],
    [{ push_source_name: "txns_push", df: { customer_id: [1, 2], ts: [0, "soon"], amount_cents: [1, 2] } }, 400, "INVALID_TIMESTAMP", "df.ts[1]"],
  ];
  for (const [body, status, code, path] of errors) {
    const r = await post(server.url, "/push", body);
    assert.deepEqual([r.status, r.json.error.code, r.json.error.path], [status, code, path], r.text);
  }
});
