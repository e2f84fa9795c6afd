/**
 * API keys on the HTTP server: 401 without a key or with an unknown one, 403 with a key lacking
 * the route's scope, 200 with the right one (bearer or x-api-key); keys from config (hash or key)
 * and LARDER_API_KEYS; without keys the server refuses to bind anything but loopback.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { DEFAULT_IDEMPOTENCY_RETENTION_MS, SERVER_DEFAULTS, defineConfig, hashApiKey } from "../src/config/define-config.js";
import { ApiKeys, apiKeysFromEnv, isLoopbackHost, presentedKey } from "../src/server/auth.js";
import { buildServer, configuredApiKeys, startServer, type RunningServer } from "../src/server/app.js";
import { configSource, expectLarderError } from "./helpers/feature-repo.js";
import { createServedRepo, get, post, type ServedRepo } from "./helpers/http-server.js";

const READ = "read-key-0123456789abcdef";
const PUSH = "push-key-0123456789abcdef";
const ADMIN = "admin-key-0123456789abcdef";

let repo: ServedRepo;
let server: RunningServer;

before(async () => {
  repo = await createServedRepo({ materialize: false });
  server = await startServer(repo.served, {
    port: 0,
    apiKeys: [
      { name: "reader", keyHash: hashApiKey(READ), scopes: ["read"] },
      { name: "pusher", keyHash: hashApiKey(PUSH), scopes: ["push"] },
      { name: "ops", keyHash: hashApiKey(ADMIN), scopes: ["admin"] },
    ],
  });
});

after(async () => {
  await server?.close();
  await repo?.cleanup();
});

const online = { features: ["profile:plan"], entities: { customer_id: [1] } };
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

test("no key: 401 UNAUTHENTICATED; an unknown key: 401", async () => {
  for (const headers of [{}, bearer("not-a-key-0123456789"), { "x-api-key": "" }, { authorization: "Basic abc" }] as Record<string, string>[]) {
    const res = await post(server.url, "/get-online-features", online, headers);
    assert.deepEqual([res.status, res.json.error.code], [401, "UNAUTHENTICATED"], JSON.stringify(headers));
  }
});

test("a key without the route's scope: 403 FORBIDDEN naming the scope", async () => {
  let res = await post(server.url, "/push", { push_source_name: "p", df: { a: [1] } }, bearer(READ));
  assert.deepEqual([res.status, res.json.error.code], [403, "FORBIDDEN"]);
  assert.match(res.json.error.message, /"push" scope/);
  res = await post(server.url, "/get-online-features", online, bearer(PUSH));
  assert.deepEqual([res.status, res.json.error.code], [403, "FORBIDDEN"]);
  res = await get(server.url, "/metrics", bearer(READ));
  assert.deepEqual([res.status, res.json.error.code], [403, "FORBIDDEN"]);
});

test("the right scope: 200, by bearer token or x-api-key; admin may call everything", async () => {
  assert.equal((await post(server.url, "/get-online-features", online, bearer(READ))).status, 200);
  assert.equal((await post(server.url, "/get-online-features", online, { "x-api-key": READ })).status, 200);
  assert.equal((await post(server.url, "/get-online-features", online, { authorization: `bearer   ${ADMIN}` })).status, 200);
  assert.equal((await get(server.url, "/metrics", bearer(ADMIN))).status, 200);
  // push passes auth (its own answer is the push path's business).
  assert.notEqual((await post(server.url, "/push", { push_source_name: "p", df: { a: [1] } }, bearer(PUSH))).status, 403);
});

test("auth is checked before the body: a bad body without a key is 401", async () => {
  const res = await post(server.url, "/get-online-features", "{not json");
  assert.equal(res.status, 401);
});

test("/health, /docs and its swagger-ui need no key", async () => {
  assert.equal((await get(server.url, "/health")).status, 200);
  assert.equal((await get(server.url, "/docs")).status, 200);
  for (const path of ["/docs/ui/", "/docs/ui/json", "/docs/ui/static/swagger-ui-bundle.js"]) assert.equal((await get(server.url, path)).status, 200, path);
});

test("without API keys: a non-loopback host is refused at start; loopback is allowed and says so", async () => {
  const err = await expectLarderError(startServer(repo.served, { host: "0.0.0.0", port: 0, apiKeys: [] }), "INVALID_CONFIG");
  assert.match(err.message, /no API keys configured: binding to loopback only/);
  await expectLarderError(startServer(repo.served, { host: "::", port: 0, apiKeys: [] }), "INVALID_CONFIG");
  const lines: string[] = [];
  const s = await startServer(repo.served, { host: "127.0.0.1", port: 0, apiKeys: [], log: (l) => lines.push(l) });
  try {
    assert.deepEqual(lines, ["no API keys configured: binding to loopback only"]);
    assert.equal((await post(s.url, "/get-online-features", online)).status, 200, "no keys: no auth");
  } finally {
    await s.close();
  }
});

test("keys in larder.config.ts (key or keyHash) are kept as hashes; LARDER_API_KEYS adds keys", () => {
  const config = defineConfig({
    project: "p",
    server: {
      apiKeys: [
        { name: "a", key: READ, scopes: ["read"] },
        { name: "b", keyHash: hashApiKey(PUSH).toUpperCase(), scopes: ["push", "read"] },
      ],
      bodyLimit: 4096,
    },
  });
  assert.deepEqual(config.server, {
    apiKeys: [
      { name: "a", keyHash: hashApiKey(READ), scopes: ["read"] },
      { name: "b", keyHash: hashApiKey(PUSH), scopes: ["push", "read"] },
    ],
    ...SERVER_DEFAULTS,
    bodyLimit: 4096,
    definitionsPollInterval: null,
    idempotencyRetentionMs: DEFAULT_IDEMPOTENCY_RETENTION_MS,
  });
  assert.ok(!JSON.stringify(config).includes(READ), "the plain key is not kept");
  assert.deepEqual(defineConfig(config as never).server, config.server, "a loaded config validates again");
  assert.equal(defineConfig({ project: "p" }).server.bodyLimit, 1024 * 1024);
  for (const bad of [
    { apiKeys: [{ name: "a", key: "short", scopes: ["read"] }] },
    { apiKeys: [{ name: "a", keyHash: "abc", scopes: ["read"] }] },
    { apiKeys: [{ name: "a", key: READ, keyHash: hashApiKey(READ), scopes: ["read"] }] },
    { apiKeys: [{ name: "a", key: READ, scopes: ["write"] }] },
    { bodyLimit: -1 },
  ]) {
    assert.throws(() => defineConfig({ project: "p", server: bad as never }), { code: "INVALID_CONFIG" }, JSON.stringify(bad));
  }

  const env = apiKeysFromEnv(`ci:${PUSH}:push, dash:${READ}:read+admin`);
  assert.deepEqual(env, [
    { name: "ci", keyHash: hashApiKey(PUSH), scopes: ["push"] },
    { name: "dash", keyHash: hashApiKey(READ), scopes: ["read", "admin"] },
  ]);
  assert.deepEqual(apiKeysFromEnv(`k:${READ}:with:colons:read`)[0]!.keyHash, hashApiKey(`${READ}:with:colons`));
  assert.deepEqual(apiKeysFromEnv(""), []);
  for (const bad of ["nokey", `a:${READ}`, `a:short:read`, `a:${READ}:write`, `:${READ}:read`]) assert.throws(() => apiKeysFromEnv(bad), { code: "INVALID_CONFIG" }, bad);
  assert.deepEqual(
    configuredApiKeys(config, { LARDER_API_KEYS: `ci:${ADMIN}:admin` }).map((k) => k.name),
    ["a", "b", "ci"],
  );
  assert.throws(() => new ApiKeys([...config.server.apiKeys, { name: "a", keyHash: hashApiKey(ADMIN), scopes: ["admin"] }]), { code: "INVALID_CONFIG" });
});

test("the presented key and loopback addresses", () => {
  assert.equal(presentedKey({ authorization: "Bearer abc" }), "abc");
  assert.equal(presentedKey({ "x-api-key": " abc " }), "abc");
  assert.equal(presentedKey({ authorization: "Basic abc" }), undefined);
  assert.equal(presentedKey({}), undefined);
  for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "LOCALHOST"]) assert.ok(isLoopbackHost(h), h);
  for (const h of ["0.0.0.0", "::", "10.0.0.1", "example.com", "128.0.0.1", "::ffff:10.0.0.1"]) assert.ok(!isLoopbackHost(h), h);
});

test("buildServer takes API keys and the body limit from larder.config.ts by default", async () => {
  const config = configSource("test").replace(`offline: { path: "./data/offline" },`, `offline: { path: "./data/offline" },\n  server: { bodyLimit: 2048, apiKeys: [{ name: "cfg", key: ${JSON.stringify(READ)}, scopes: ["read"] }] },`);
  const configured = await createServedRepo({ config, materialize: false });
  const app = buildServer(configured.served);
  try {
    const inject = (payload: unknown, headers: Record<string, string> = {}) => app.inject({ method: "POST", url: "/get-online-features", payload: payload as string, headers: { "content-type": "application/json", ...headers } });
    assert.equal((await inject(online)).statusCode, 401);
    assert.equal((await inject(online, bearer(READ))).statusCode, 200);
    const big = await inject({ ...online, entities: { customer_id: Array.from({ length: 1000 }, (_, i) => i) } }, bearer(READ));
    assert.deepEqual([big.statusCode, big.json().error.code], [413, "PAYLOAD_TOO_LARGE"]);
  } finally {
    await app.close();
    await configured.cleanup();
  }
});
