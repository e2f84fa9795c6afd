/**
 * README promise of `POST /v1/predict/:model` that no other test held (issue 15 item 6): the
 * request id is the caller's `x-request-id` when it is 1 to 128 printable characters, else a new
 * UUID (a fresh one per request), and the response carries it in the body and the header.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { promoteModel, registerModel } from "../src/use-cases/model-registry.js";
import { startServer, type RunningServer } from "../src/server/app.js";
import { createServedRepo, post, type ServedRepo } from "./helpers/http-server.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
let repo: ServedRepo;
let server: RunningServer;

before(async () => {
  repo = await createServedRepo();
  const model = { format: "larder.linear.v1", objective: "linear", inputs: [{ feature: "monthly_fee", kind: "numeric", mean: 0, std: 1, fill: 0, weight: 1 }], intercept: 0, missing: "fill" };
  const registered = await registerModel(repo.store, { name: "fee", service: "churn", model });
  await promoteModel(repo.store, "fee", registered.version);
  server = await startServer(repo.served, { port: 0, apiKeys: [], predictionLog: false });
});
after(async () => {
  await server?.close();
  await repo?.cleanup();
});

async function requestId(header: string | undefined): Promise<string> {
  const res = await post(server.url, "/v1/predict/fee", { entities: { customer_id: [1] }, request: { cart_value: 10 } }, header === undefined ? {} : { "x-request-id": header });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers.get("x-request-id"), res.json.request_id, "the header and the body carry the same id");
  return res.json.request_id as string;
}

test("x-request-id: up to 128 printable characters are echoed; longer, blank or with spaces get a fresh UUID", async () => {
  const printable = Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i)).join(""); // "!" … "~"
  const longest = (printable + printable).slice(0, 128);
  assert.equal(await requestId(longest), longest);
  assert.equal(await requestId("a"), "a");
  assert.equal(await requestId("req-42"), "req-42");

  const replaced = [longest + "x", "", "a b", "tab\there"];
  const ids = new Set<string>();
  for (const header of [...replaced, undefined, undefined]) {
    const id = await requestId(header);
    assert.match(id, UUID, `header ${JSON.stringify(header)} → ${id}`);
    ids.add(id);
  }
  assert.equal(ids.size, replaced.length + 2, "a new UUID per request");
});

test("bodies are JSON whatever the content type says, or without one", async () => {
  const body = JSON.stringify({ features: ["profile:plan", "spend:spend_2d"], entities: { customer_id: [1, 2, 3] } });
  const answers = [];
  for (const contentType of ["application/json", "text/plain", "application/x-www-form-urlencoded", null]) {
    const res = await fetch(`${server.url}/get-online-features`, { method: "POST", body, headers: contentType === null ? {} : { "content-type": contentType } });
    const text = await res.text();
    assert.equal(res.status, 200, `${contentType}: ${text}`);
    answers.push(JSON.parse(text).results);
  }
  for (const a of answers.slice(1)) assert.deepEqual(a, answers[0]);
});
