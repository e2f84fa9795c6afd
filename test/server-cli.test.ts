/**
 * `larder serve` as a user runs it, in a child process: it logs one line with its address,
 * answers /health and feature requests, takes API keys from LARDER_API_KEYS, refuses a
 * non-loopback host without keys, and exits 0 on SIGTERM or SIGINT after closing everything.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertCliError, larder, larderServe, type ServedCli } from "./helpers/cli.js";
import { createServedRepo, get, post, type ServedRepo } from "./helpers/http-server.js";

let repo: ServedRepo;

before(async () => {
  repo = await createServedRepo();
  await repo.served.close();
});

after(async () => {
  await repo?.cleanup();
});

/** Starts `larder serve --port 0 …` on the test repository and waits for its address line. */
function serve(args: string[] = [], env: Record<string, string | undefined> = {}): Promise<ServedCli> {
  return larderServe(repo.dir, args, { env });
}

test("larder serve answers /health and features, and exits 0 on SIGTERM", async () => {
  const s = await serve();
  try {
    assert.match(s.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(s.stdout(), /no API keys configured: binding to loopback only/);
    assert.match(s.stdout(), new RegExp(`larder serve: project test listening on ${s.url.replaceAll(".", "\\.")}`));
    const health = await get(s.url, "/health");
    assert.deepEqual([health.status, health.json], [200, { status: "ok", project: "test" }]);
    const res = await post(s.url, "/get-online-features", { feature_service: "churn", entities: { customer_id: [1, 2], cart_value: [1, 2] } });
    assert.equal(res.status, 200, res.text);
    const direct = await repo.store.getOnlineFeatures({ customer_id: [1, 2], cart_value: [1, 2] }, { service: "churn" });
    assert.deepEqual(res.json.results, direct.results);
    // The registry is not held between requests: a command can open it while the server runs.
    assert.equal((await post(s.url, "/v1/training-sets", { features: ["profile:plan"], entities: { customer_id: [1], event_timestamp: [Date.now()] } })).status, 200);
    assert.equal(await repo.store.withRegistry(async () => "opened"), "opened");
  } finally {
    s.child.kill("SIGTERM");
  }
  const { code, signal } = await s.exit;
  assert.deepEqual({ code, signal }, { code: 0, signal: null }, `stdout:\n${s.stdout()}\nstderr:\n${s.stderr()}`);
  assert.match(s.stdout(), /SIGTERM, shutting down\n.*stopped\n$/s);
  assert.equal(s.stderr(), "");
  await assert.rejects(fetch(`${s.url}/health`), "the port is closed");
});

test("larder serve exits 0 on SIGINT too", async () => {
  const s = await serve();
  s.child.kill("SIGINT");
  assert.deepEqual(await s.exit, { code: 0, signal: null });
  assert.match(s.stdout(), /SIGINT, shutting down/);
});

test("LARDER_API_KEYS turns auth on (and the loopback notice off)", async () => {
  const key = "cli-test-key-0123456789";
  const s = await serve([], { LARDER_API_KEYS: `t:${key}:read` });
  try {
    assert.doesNotMatch(s.stdout(), /no API keys configured/);
    const body = { features: ["profile:plan"], entities: { customer_id: [1] } };
    assert.equal((await post(s.url, "/get-online-features", body)).status, 401);
    assert.equal((await post(s.url, "/get-online-features", body, { authorization: `Bearer ${key}` })).status, 200);
  } finally {
    s.child.kill("SIGTERM");
  }
  assert.equal((await s.exit).code, 0);
});

test("without API keys a non-loopback --host is refused; a bad --port or LARDER_API_KEYS too", () => {
  assertCliError(larder(repo.dir, ["serve", "--host", "0.0.0.0", "--port", "0"]), "INVALID_CONFIG", /no API keys configured: binding to loopback only/);
  assertCliError(larder(repo.dir, ["serve", "--port", "http"]), "INVALID_ARGUMENT", /--port/);
  assertCliError(larder(repo.dir, ["serve", "--port", "70000"]), "INVALID_ARGUMENT", /--port/);
  assertCliError(larder(repo.dir, ["serve", "--port", "0"], { env: { LARDER_API_KEYS: "broken" } }), "INVALID_CONFIG", /LARDER_API_KEYS/);
});
