/**
 * Server limits: request and headers timeouts close connections that send a partial request, the
 * entity-row limit answers 413 ENTITY_ROWS_LIMIT on every route that takes entity rows, and a
 * request processed in chunks answers exactly what one processed in one go does, and the response of
 * a request of more than server.chunkRows rows is streamed with exactly the bytes of one
 * JSON.stringify, on both entity-row routes.
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import { defineConfig } from "../src/config/define-config.js";
import { promoteModel, registerModel } from "../src/use-cases/model-registry.js";
import { startServer, buildServer, type RunningServer } from "../src/server/app.js";
import { ALL_FEATURES, createServedRepo, post, type ServedRepo } from "./helpers/http-server.js";
import { rng } from "./helpers/seeded-random.js";

let repo: ServedRepo;

before(async () => {
  repo = await createServedRepo({ seed: 3 });
});

after(async () => {
  await repo?.cleanup();
});

/** Opens a connection, writes `text`, and resolves once the server has closed it (or rejects at the deadline). */
function partialRequest(port: number, text: string, deadlineMs: number): { closed: Promise<{ answer: string }>; socket: Socket } {
  const socket = connect({ host: "127.0.0.1", port });
  let answer = "";
  const closed = new Promise<{ answer: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server kept a partial request open for ${deadlineMs} ms (wrote ${JSON.stringify(text.slice(0, 60))}…)`));
    }, deadlineMs);
    socket.on("connect", () => socket.write(text));
    socket.on("data", (d) => (answer += d.toString("latin1")));
    socket.on("error", () => {}); // a reset is a close too
    socket.on("close", () => {
      clearTimeout(timer);
      resolve({ answer });
    });
  });
  return { closed, socket };
}

describe("timeouts", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer(repo.served, { port: 0, apiKeys: [], requestTimeout: 600, headersTimeout: 300, keepAliveTimeout: 200 });
  });
  after(async () => {
    await server?.close();
  });

  test("50 connections that send headers and half a body, or half the headers, are closed after the timeouts", async () => {
    const body = JSON.stringify({ features: ["profile:plan"], entities: { customer_id: [1, 2, 3] } });
    const halfBody = `POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, body.length >> 1)}`;
    const halfHeaders = `POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Ty`;
    // Far longer than the timeouts (a loaded machine), far shorter than forever.
    const deadline = 20_000;
    const conns = Array.from({ length: 50 }, (_, i) => partialRequest(server.port, i % 5 === 4 ? halfHeaders : halfBody, deadline));
    const answers = await Promise.all(conns.map((c) => c.closed));
    // Node answers 408 Request Timeout before closing (when the socket is still writable).
    for (const { answer } of answers) assert.ok(answer === "" || /^HTTP\/1\.1 408/.test(answer), answer.slice(0, 200));
    // The server still serves complete requests.
    const ok = await post(server.url, "/get-online-features", JSON.parse(body));
    assert.equal(ok.status, 200, ok.text);
  });

  test("an idle keep-alive connection is closed after keepAliveTimeout", async () => {
    const body = JSON.stringify({ features: ["profile:plan"], entities: { customer_id: [1] } });
    const request = `POST /get-online-features HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const { answer } = await partialRequest(server.port, request, 20_000).closed;
    assert.match(answer, /^HTTP\/1\.1 200/);
  });

  test("config: defaults, and headersTimeout may not exceed requestTimeout", () => {
    const s = defineConfig({ project: "p" }).server;
    assert.deepEqual([s.requestTimeout, s.headersTimeout, s.keepAliveTimeout, s.maxEntityRows, s.chunkRows], [30_000, 10_000, 72_000, 10_000, 1_000]);
    assert.throws(() => defineConfig({ project: "p", server: { requestTimeout: 1000, headersTimeout: 2000 } }), { code: "INVALID_CONFIG", message: /headersTimeout/ });
    assert.throws(() => defineConfig({ project: "p", server: { maxEntityRows: 0 } }), { code: "INVALID_CONFIG", message: /maxEntityRows/ });
    assert.equal(defineConfig({ project: "p", server: { requestTimeout: 0, headersTimeout: 60_000 } }).server.requestTimeout, 0);
  });
});

describe("entity-row limit", () => {
  test("more rows than server.maxEntityRows is 413 ENTITY_ROWS_LIMIT naming the limit, on every entity route; the limit itself passes", async () => {
    const app = buildServer(repo.served, { apiKeys: [], maxEntityRows: 5, predictionLog: false });
    try {
      const ids = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
      const bodies = (n: number): [string, unknown][] => [
        ["/get-online-features", { features: ["profile:plan"], entities: { customer_id: ids(n) } }],
        ["/get-online-features", { features: ["ratios:cart_vs_avg"], entities: { customer_id: [1] }, request_context: { cart_value: ids(n) } }],
        ["/v1/predict/churn_model", { entities: { customer_id: ids(n) } }],
        ["/v1/training-sets", { features: ["profile:plan"], entities: { customer_id: ids(n), event_timestamp: ids(n).map(() => "2024-06-01T00:00:00Z") } }],
      ];
      for (const [url, payload] of bodies(6)) {
        const res = await app.inject({ method: "POST", url, payload: payload as object });
        assert.equal(res.statusCode, 413, `${url}: ${res.body}`);
        const { error } = res.json() as { error: { code: string; message: string; path: string } };
        assert.equal(error.code, "ENTITY_ROWS_LIMIT");
        assert.equal(error.path, "entities");
        assert.match(error.message, /6 entity rows.*at most 5.*server\.maxEntityRows/);
      }
      for (const [url, payload] of bodies(5).filter(([, p]) => !("request_context" in (p as object)))) {
        const res = await app.inject({ method: "POST", url, payload: payload as object });
        assert.notEqual(res.statusCode, 413, `${url}: ${res.body}`);
      }
    } finally {
      await app.close();
    }
  });

  test("the limit comes from larder.config.ts by default (10,000)", async () => {
    const app = buildServer(repo.served, { apiKeys: [], predictionLog: false });
    try {
      const customer_id = Array.from({ length: 10_001 }, (_, i) => i);
      const res = await app.inject({ method: "POST", url: "/get-online-features", payload: { features: ["profile:plan"], entities: { customer_id } } });
      assert.equal(res.statusCode, 413, res.body.slice(0, 300));
      assert.match(res.body, /at most 10000/);
      const fits = await app.inject({ method: "POST", url: "/get-online-features", payload: { features: ["profile:plan"], entities: { customer_id: customer_id.slice(1) } } });
      assert.equal(fits.statusCode, 200, fits.body.slice(0, 300));
    } finally {
      await app.close();
    }
  });
});

describe("chunked processing", () => {
  test("a request read in chunks answers exactly what one read in one go does, errors included", async () => {
    const r = rng(5);
    const customer_id = Array.from({ length: 257 }, () => 1 + Math.floor(r() * 45));
    const cart_value = customer_id.map((_, i) => (i % 11 === 0 ? null : i * 0.75));
    const now = Date.now();
    for (const selection of [{ features: ALL_FEATURES }, { service: "churn" }]) {
      const whole = await repo.served.getOnlineFeatures({ customer_id, cart_value }, { ...selection, now, chunkRows: 100_000 });
      for (const chunkRows of [1, 7, 100, 256]) {
        const chunked = await repo.served.getOnlineFeatures({ customer_id, cart_value }, { ...selection, now, chunkRows });
        assert.deepEqual(chunked, whole, `chunkRows ${chunkRows}`);
      }
    }
    // A bad request value in row 200 is reported as row 200 whatever the chunk size.
    const bad = cart_value.map((v, i) => (i === 200 ? "lots" : v));
    const errors = await Promise.all(
      [7, 100_000].map((chunkRows) =>
        repo.served.getOnlineFeatures({ customer_id, cart_value: bad }, { features: ["ratios:cart_vs_avg"], chunkRows }).then(
          () => assert.fail("expected an error"),
          (e: { code: string; message: string; details: unknown }) => ({ code: e.code, message: e.message, details: e.details }),
        ),
      ),
    );
    assert.equal(errors[0]!.code, "TYPE_MISMATCH");
    assert.match(errors[0]!.message, /row 200\b/);
    assert.deepEqual(errors[0], errors[1]);
  });
});

describe("streamed large responses", () => {
  let server: RunningServer;
  const r = rng(9);
  // More rows than server.chunkRows (default 1,000): streamed in three slices per column.
  const customer_id = Array.from({ length: 2_500 }, () => 1 + Math.floor(r() * 45));
  const cart_value = customer_id.map((_, i) => (i % 13 === 0 ? null : i * 0.25));
  before(async () => {
    const model = {
      format: "larder.linear.v1",
      objective: "logistic",
      inputs: [
        { feature: "monthly_fee", kind: "numeric", mean: 30, std: 10, fill: 0, weight: 0.5 },
        { feature: "fee_plus_cart", kind: "numeric", mean: 100, std: 50, fill: 0, weight: -0.25 },
      ],
      intercept: 0.1,
      missing: "fill",
    };
    await registerModel(repo.store, { name: "stream_fee", service: "churn", model });
    await promoteModel(repo.store, "stream_fee", 1);
    server = await startServer(repo.served, { port: 0, apiKeys: [], predictionLog: false });
  });
  after(async () => {
    await server?.close();
  });

  test("/get-online-features: a large response is streamed, byte for byte JSON.stringify of the in-process answer; a small one is not", async () => {
    for (const selection of [{ features: ALL_FEATURES }, { feature_service: "churn" }] as const) {
      for (const full of [false, true]) {
        const res = await post(server.url, "/get-online-features", { ...selection, entities: { customer_id, cart_value }, full_feature_names: full });
        assert.equal(res.status, 200, res.text.slice(0, 300));
        assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
        assert.equal(res.headers.get("content-length"), null, "streamed (chunked transfer encoding), not one buffered body");
        const direct = await repo.served.getOnlineFeatures(
          { customer_id, cart_value },
          {
            ...("features" in selection ? { features: selection.features } : { service: selection.feature_service }),
            fullFeatureNames: full,
          },
        );
        assert.equal(res.text, JSON.stringify(direct), `${JSON.stringify(selection)}, full_feature_names ${full}`);
        const statuses = new Set(res.json.results.flatMap((x: { statuses: string[] }) => x.statuses));
        assert.ok(statuses.has("PRESENT") && statuses.has("NOT_FOUND") && statuses.has("NULL_VALUE"), [...statuses].join());
      }
    }
    const small = await post(server.url, "/get-online-features", { features: ALL_FEATURES, entities: { customer_id: customer_id.slice(0, 1000), cart_value: cart_value.slice(0, 1000) } });
    assert.equal(small.status, 200);
    assert.equal(small.headers.get("content-length"), String(Buffer.byteLength(small.text)), "up to chunkRows rows: one buffered body");
  });

  test("/v1/predict: a large response is streamed, byte for byte JSON.stringify of the in-process answer", async () => {
    for (const contributions of [false, true]) {
      const res = await post(server.url, "/v1/predict/stream_fee", { entities: { customer_id }, request: { cart_value }, contributions }, { "x-request-id": "stream-test" });
      assert.equal(res.status, 200, res.text.slice(0, 300));
      assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
      assert.equal(res.headers.get("x-request-id"), "stream-test");
      assert.equal(res.headers.get("content-length"), null, "streamed (chunked transfer encoding), not one buffered body");
      const direct = await repo.served.predict("stream_fee", { customer_id }, { request: { cart_value }, contributions });
      assert.equal(res.text, JSON.stringify({ request_id: "stream-test", ...direct }), `contributions ${contributions}`);
      assert.equal(res.json.results.length, customer_id.length);
    }
  });

  test("errors of a large request come before the first byte: a 4xx JSON error, as for a small one", async () => {
    const bad = cart_value.map((v, i) => (i === 2_000 ? "lots" : v));
    const read = await post(server.url, "/get-online-features", { features: ["ratios:cart_vs_avg"], entities: { customer_id, cart_value: bad } });
    assert.equal(read.status, 400, read.text.slice(0, 300));
    assert.equal(read.headers.get("content-type"), "application/json; charset=utf-8");
    assert.equal(read.json.error.code, "TYPE_MISMATCH");
    assert.match(read.json.error.message, /row 2000\b/);
    const scored = await post(server.url, "/v1/predict/stream_fee", { entities: { customer_id }, request: { cart_value: bad } });
    assert.equal(scored.status, 400, scored.text.slice(0, 300));
    assert.equal(scored.json.error.code, "TYPE_MISMATCH");
    const unknown = await post(server.url, "/v1/predict/no_such_model", { entities: { customer_id } });
    assert.equal(unknown.status, 404, unknown.text.slice(0, 300));
    assert.equal(unknown.json.error.code, "UNKNOWN_MODEL");
  });
});
