/**
 * Hostile requests against a real server (Redis online store): a deterministic table of field
 * mutations × routes (/get-online-features, /push, /v1/predict/:model, /v1/training-sets) — wrong
 * types, out-of-range numbers and times, built-in property names, huge and empty values — plus raw
 * bodies (broken JSON and UTF-8, odd content types, deep nesting, oversized bodies, huge numbers),
 * odd methods and paths, and slow bodies on raw sockets. Then every entity the test touched is read
 * again: no 5xx anywhere, every answer came back, every read equals what it was before.
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { tableFromIPC } from "apache-arrow";
import { ALL_FEATURES, BASE, DAY, post } from "./helpers/http-server.js";
import { createServedRedisRepo, TEST_REDIS_URL, type ServedRedisRepo } from "./helpers/served-redis-repo.js";
import { redisAvailable, requireServices } from "./helpers/services.js";

const up = await redisAvailable(new URL(TEST_REDIS_URL).hostname, Number(new URL(TEST_REDIS_URL).port || 6379));
if (!up && requireServices()) throw new Error(`Redis is unavailable at ${TEST_REDIS_URL}`);

/** Customers the reads check: fixture customers and customers only pushed to. */
const READ_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 101, 102, 103];
const CARTS = READ_IDS.map((id) => id * 1.5);
/** Where mutated pushes write when a mutation happens to be valid: never read for comparison. */
const SCRATCH_ID = 999;

/** Values a field is replaced by (never one of READ_IDS). */
const HOSTILE_VALUES: unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  1e308,
  -1e308,
  2 ** 53 + 2,
  8640000000000001,
  -8640000000000001,
  "",
  " ",
  "abc",
  "Infinity",
  "-Infinity",
  "NaN",
  "[1]",
  "{}",
  "\u0000",
  "\ud800",
  "é\u202e",
  "x".repeat(5000),
  "constructor",
  "toString",
  "hasOwnProperty",
  "spend:__proto__",
  "view:feature:extra",
  "2024-06-30T12:00:00+99:99",
  "0000-00-00",
  "9999-12-31T23:59:60Z",
  [],
  [null],
  [[1]],
  [{}],
  {},
  { a: 1 },
  { length: 3 },
];

interface Template {
  route: string;
  body: Record<string, unknown>;
  /** Dotted paths (numeric parts index arrays) whose value is replaced, plus keys added. */
  paths: string[];
}

const TEMPLATES: Template[] = [
  {
    route: "/get-online-features",
    body: { features: ALL_FEATURES, entities: { customer_id: [1, 2], cart_value: [1, 2] }, full_feature_names: false },
    paths: ["features", "features.0", "entities", "entities.customer_id", "entities.customer_id.1", "entities.cart_value.0", "full_feature_names", "feature_service", "request_context", "bogus"],
  },
  {
    route: "/push",
    body: { push_source_name: "txns_push", df: { customer_id: [SCRATCH_ID], ts: [BASE + 9 * DAY], amount_cents: [100] }, to: "online" },
    paths: ["push_source_name", "df", "df.ts", "df.ts.0", "df.customer_id.0", "df.amount_cents.0", "to", "allow_registry_cache", "bogus"],
  },
  {
    route: "/v1/predict/fee",
    body: { entities: { customer_id: [1, 2] }, request: { cart_value: [1, 2] }, contributions: false },
    paths: ["entities", "entities.customer_id", "entities.customer_id.0", "request", "request.cart_value", "request.cart_value.1", "version", "stage", "contributions", "bogus"],
  },
  {
    route: "/v1/training-sets",
    body: { features: ["spend:spend_2d", "profile:plan", "ratios:cart_vs_avg"], entities: { customer_id: [1, 2], event_timestamp: [BASE + DAY, BASE + 2 * DAY], cart_value: [1, 2] } },
    paths: ["features", "features.1", "entities", "entities.event_timestamp", "entities.event_timestamp.0", "entities.customer_id.1", "entities.cart_value.0", "full_feature_names", "feature_service"],
  },
];

function mutate(body: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(body);
  const parts = path.split(".");
  let node = copy as Record<string, unknown>;
  for (const p of parts.slice(0, -1)) node = node[p] as Record<string, unknown>;
  node[parts.at(-1)!] = value;
  return copy;
}

interface Sent {
  label: string;
  status: number;
  text: string;
}

let fx: ServedRedisRepo;
let url: string;
let port: number;
before(async () => {
  if (!up) return;
  fx = await createServedRedisRepo(17);
  url = fx.server.url;
  port = Number(new URL(url).port);
});
after(() => fx?.cleanup());

async function send(label: string, path: string, init: { method?: string; body?: string | Uint8Array; contentType?: string | null }): Promise<Sent> {
  const headers: Record<string, string> = {};
  if (init.contentType !== null) headers["content-type"] = init.contentType ?? "application/json";
  const res = await fetch(url + path, { method: init.method ?? "POST", headers, ...(init.body !== undefined ? { body: init.body } : {}) });
  return { label, status: res.status, text: await res.text() };
}

async function reads() {
  const online = await post(url, "/get-online-features", { features: ALL_FEATURES, entities: { customer_id: READ_IDS, cart_value: CARTS } });
  const predict = await post(url, "/v1/predict/fee", { entities: { customer_id: READ_IDS }, request: { cart_value: CARTS }, contributions: true });
  const training = await fetch(`${url}/v1/training-sets`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ features: ALL_FEATURES, entities: { customer_id: READ_IDS, event_timestamp: READ_IDS.map(() => BASE + 9 * DAY), cart_value: CARTS } }),
  });
  assert.equal(online.status, 200, online.text);
  assert.equal(predict.status, 200, predict.text);
  assert.equal(training.status, 200);
  const rows = tableFromIPC(new Uint8Array(await training.arrayBuffer()))
    .toArray()
    .map((r) => JSON.stringify(r.toJSON(), (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v)));
  const { as_of: _asOf, ...metadata } = online.json.metadata;
  return { metadata, results: online.json.results, predictions: predict.json.results, rows };
}

/** A socket that sends `head` and then stalls until destroyed. */
function stalled(head: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: "127.0.0.1", port }, () => {
      s.write(head);
      resolve(s);
    });
    s.on("error", reject);
  });
}

test("hundreds of malformed requests: never a 5xx or a hang, and every touched entity reads as before", { skip: up ? false : `Redis is unavailable at ${TEST_REDIS_URL}` }, async () => {
  // Customers only pushed to, pushed validly before the attack.
  const seeded = await post(url, "/push", { push_source_name: "txns_push", df: { customer_id: [101, 102, 103, 101], ts: [BASE + 8 * DAY, BASE + 8 * DAY + 1, BASE + 8 * DAY + 2, BASE + 8 * DAY + 3], amount_cents: [1200, 3400, 560, 780] } });
  assert.equal(seeded.status, 200, seeded.text);
  const before = await reads();
  assert.ok(
    before.results.slice(1).some((r: { statuses: string[] }) => r.statuses.slice(-3).includes("PRESENT")),
    "the pushed customers have values",
  );

  const sent: Sent[] = [];
  const requests: (() => Promise<Sent>)[] = [];
  for (const t of TEMPLATES) {
    for (const path of t.paths) {
      HOSTILE_VALUES.forEach((value, k) => {
        const body = mutate(t.body, path, value);
        requests.push(() => send(`${t.route} ${path}=#${k}`, t.route, { body: JSON.stringify(body) }));
      });
    }
  }
  // Raw bodies: encodings, content types, nesting, sizes, numbers.
  const raw: [string, string | Uint8Array, string | null][] = [
    ["empty", "", null],
    ["truncated", '{"features": ["profile:plan"], "entities": {"customer_id": [1', "application/json"],
    ["not an object", "[]", "application/json"],
    ["null", "null", "application/json"],
    ["number", "1", "application/json"],
    ["string", '"x"', "application/json"],
    ["bad utf-8", new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), "application/json"],
    ["bad utf-8 in a value", new Uint8Array([...Buffer.from('{"features":["profile:plan"],"entities":{"customer_id":["'), 0xc3, 0x28, ...Buffer.from('"]}}')]), "application/json"],
    ["utf-16 body", Buffer.from('{"features":["profile:plan"],"entities":{"customer_id":[1]}}', "utf16le"), "application/json; charset=utf-16"],
    ["text/plain", '{"features":["profile:plan"],"entities":{"customer_id":[1]}}', "text/plain"],
    ["form", "features=profile:plan&customer_id=1", "application/x-www-form-urlencoded"],
    ["multipart", "--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--", "multipart/form-data; boundary=x"],
    ["deep arrays", `${"[".repeat(20000)}${"]".repeat(20000)}`, "application/json"],
    ["deep objects", `${'{"a":'.repeat(5000)}1${"}".repeat(5000)}`, "application/json"],
    ["deep entity value", `{"features":["profile:plan"],"entities":{"customer_id":[${"[".repeat(3000)}1${"]".repeat(3000)}]}}`, "application/json"],
    ["huge exponent", '{"features":["profile:plan"],"entities":{"customer_id":[1e999999]}}', "application/json"],
    ["long digits", `{"features":["profile:plan"],"entities":{"customer_id":[${"9".repeat(100000)}]}}`, "application/json"],
    ["proto key", '{"features":["profile:plan"],"entities":{"customer_id":[1]},"__proto__":{"x":1}}', "application/json"],
    ["constructor.prototype", '{"features":["profile:plan"],"entities":{"customer_id":[1]},"constructor":{"prototype":{"x":1}}}', "application/json"],
    ["over the body limit", `{"features":["profile:plan"],"entities":{"customer_id":[${"1,".repeat(700_000)}1]}}`, "application/json"],
    ["many features", JSON.stringify({ features: Array.from({ length: 20000 }, (_, i) => `spend:f${i}`), entities: { customer_id: [1] } }), "application/json"],
    ["many entity columns", JSON.stringify({ features: ["profile:plan"], entities: Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`c${i}`, [1]])) }), "application/json"],
    ["duplicate keys", '{"features":["profile:plan"],"features":5,"entities":{"customer_id":[1]}}', "application/json"],
    ["nul bytes", '{"features":["profile:plan\\u0000"],"entities":{"customer_id":[1]}}', "application/json"],
  ];
  for (const route of ["/get-online-features", "/push", "/v1/predict/fee", "/v1/training-sets"]) {
    for (const [label, body, type] of raw) requests.push(() => send(`${route} raw ${label}`, route, { body, contentType: type }));
    requests.push(() => send(`GET ${route}`, route, { method: "GET", contentType: null }));
    requests.push(() => send(`PUT ${route}`, route, { method: "PUT", body: "{}" }));
  }
  for (const path of [
    "/v1/predict/",
    "/v1/predict/%2e%2e%2fpush",
    `/v1/predict/${"m".repeat(10000)}`,
    "/v1/predict/fee%00",
    "/v1/predict/%zz",
    "/push%",
    "/v1/predict/..%2F..%2Fetc%2Fpasswd",
    "/v1/training-sets/x",
    "/push?to=offline",
    "/get-online-features/../push",
  ]) {
    requests.push(() => send(`path ${path.slice(0, 40)}`, path, { body: JSON.stringify({ entities: { customer_id: [1] } }) }));
  }

  // Eight at a time: concurrent, but every answer is awaited (a hang fails the test by its timeout).
  for (let i = 0; i < requests.length; i += 8) sent.push(...(await Promise.all(requests.slice(i, i + 8).map((r) => r()))));

  // Slow bodies and headers: the server keeps answering others while they stall.
  const sockets = await Promise.all([
    ...Array.from({ length: 10 }, () => stalled(`POST /push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"push_source_name":"txns_push","df":{"customer_id":[1`)),
    ...Array.from({ length: 10 }, () => stalled(`POST /get-online-features HTTP/1.1\r\nHost: x\r\nContent-Le`)),
  ]);
  try {
    for (let i = 0; i < 5; i++) {
      const res = await send(`during slow bodies ${i}`, "/get-online-features", { body: JSON.stringify({ features: ["profile:plan"], entities: { customer_id: [1] } }) });
      assert.equal(res.status, 200, res.text);
      sent.push(res);
    }
  } finally {
    for (const s of sockets) s.destroy();
  }

  assert.ok(sent.length >= 300, `${sent.length} requests`);
  const failures = sent.filter((s) => s.status >= 500);
  assert.deepEqual(
    failures.map((f) => `${f.label}: ${f.status} ${f.text.slice(0, 200)}`),
    [],
  );
  for (const s of sent.filter((x) => x.status >= 400)) {
    const body = JSON.parse(s.text) as { error?: { code?: unknown } };
    assert.equal(typeof body.error?.code, "string", `${s.label}: ${s.text.slice(0, 200)}`);
  }
  // Values a push must refuse, whatever else: a sample of the table's rows.
  const refused = (label: string) => sent.find((s) => s.label === label)!.status;
  for (const k of [1, 5, 11, 13, 14, 15, 16, 17, 18, 19]) assert.equal(refused(`/push df.amount_cents.0=#${k}`), 400, `amount_cents=${JSON.stringify(HOSTILE_VALUES[k])}`);
  for (const k of [9, 10, 13, 28, 29]) assert.equal(refused(`/push df.ts.0=#${k}`), 400, `ts=${JSON.stringify(HOSTILE_VALUES[k])}`);

  // Every touched entity reads exactly as before: online values, predictions, training rows.
  const afterwards = await reads();
  assert.deepEqual(afterwards.results, before.results);
  assert.deepEqual(afterwards.metadata, before.metadata);
  assert.deepEqual(afterwards.predictions, before.predictions);
  assert.deepEqual(afterwards.rows, before.rows);
});
