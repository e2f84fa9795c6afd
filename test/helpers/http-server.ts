/**
 * Helpers for tests of the HTTP server: a feature repository with plain, aggregated and on-demand
 * views and a feature service, backfilled and materialized, and a real server on a free loopback
 * port around it.
 *
 * @example
 * const repo = await createServedRepo();
 * const server = await startServer(repo.served, { port: 0 });
 * const res = await postJson(server.url, "/get-online-features", { features: ["profile:plan"], entities: { customer_id: [1] } });
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { FeatureStore } from "../../src/feature-store.js";
import { arrowTable, col, configSource, fastTempDir, parquetBytes } from "./feature-repo.js";
import { rng } from "./seeded-random.js";

export const HOUR = 3_600_000;
export const DAY = 24 * HOUR;
/** Data lies in the ten days before the current hour, so the 30-day TTL holds at read time. */
export const BASE = Math.floor(Date.now() / HOUR) * HOUR - 10 * DAY;
export const RANGE = { start: BASE - DAY, end: BASE + 9 * DAY };

export const FEATURES = `
import { entity, parquetSource, pushSource, featureView, onDemandFeatureView, requestSource, featureService, agg, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const profiles = parquetSource({ name: "profiles", path: "data/profiles.parquet", timestampField: "ts" });
const txns = parquetSource({ name: "txns", path: "data/txns.parquet", timestampField: "ts" });
export const profile = featureView({ name: "profile", entities: [customer], source: profiles, ttl: "30d",
  schema: { plan: t.string, monthly_fee: t.float64, tenure: t.int64, vip: t.bool } });
const txnPush = pushSource({ name: "txns_push", batchSource: txns });
export const spend = featureView({ name: "spend", entities: [customer], source: txnPush,
  transform: (row) => ({ ...row, amount_usd: row.amount_cents / 100 }),
  aggregations: { spend_2d: agg.sum("amount_usd", "2d"), txn_count_3d: agg.count("3d"), avg_amount_3d: agg.avg("amount_usd", "3d"), last_amount: agg.last("amount_usd") } });
const cart = requestSource({ name: "cart", schema: { cart_value: t.float64 } });
export const ratios = onDemandFeatureView({ name: "ratios", sources: [spend, profile, cart], schema: { cart_vs_avg: t.float64, fee_plus_cart: t.float64 },
  transform: (f) => ({ cart_vs_avg: f.avg_amount_3d == null ? null : f.cart_value / f.avg_amount_3d, fee_plus_cart: f.monthly_fee == null ? null : f.monthly_fee + f.cart_value }) });
export const churn = featureService({ name: "churn", features: [profile, spend.select(["spend_2d", "txn_count_3d"]), ratios] });
`;

export const ALL_FEATURES = ["profile:plan", "profile:monthly_fee", "profile:tenure", "profile:vip", "spend:spend_2d", "spend:txn_count_3d", "spend:avg_amount_3d", "spend:last_amount", "ratios:cart_vs_avg", "ratios:fee_plus_cart"];

/** Profiles and transactions of customers 1..n (some without rows, some nulls). */
export function servedData(seed: number, n = 40) {
  const r = rng(seed);
  const p = { customer_id: [] as number[], ts: [] as number[], plan: [] as (string | null)[], monthly_fee: [] as (number | null)[], tenure: [] as number[], vip: [] as (boolean | null)[] };
  const t = { customer_id: [] as number[], ts: [] as number[], amount_cents: [] as number[] };
  for (let id = 1; id <= n; id++) {
    const k = Math.floor(r() * 3);
    for (let e = 0; e < k; e++) {
      p.customer_id.push(id);
      p.ts.push(BASE + Math.floor(r() * 8 * DAY));
      p.plan.push(r() < 0.15 ? null : ["basic", "pro", "max"][Math.floor(r() * 3)]!);
      p.monthly_fee.push(r() < 0.1 ? null : Math.round(r() * 10000) / 100);
      p.tenure.push(Math.floor(r() * 60));
      p.vip.push(r() < 0.2 ? null : r() < 0.5);
    }
    const m = Math.floor(r() * 6);
    for (let e = 0; e < m; e++) {
      t.customer_id.push(id);
      t.ts.push(BASE + Math.floor(r() * 8 * DAY));
      t.amount_cents.push(Math.floor(r() * 50000));
    }
  }
  return {
    "data/profiles.parquet": arrowTable({
      customer_id: col.int64(p.customer_id),
      ts: col.timestamp(p.ts),
      plan: col.string(p.plan),
      monthly_fee: col.float64(p.monthly_fee),
      tenure: col.int64(p.tenure),
      vip: col.bool(p.vip),
    }),
    "data/txns.parquet": arrowTable({ customer_id: col.int64(t.customer_id), ts: col.timestamp(t.ts), amount_cents: col.int64(t.amount_cents) }),
  };
}

export interface ServedRepo {
  dir: string;
  /** The repository opened as commands open it. */
  store: FeatureStore;
  /** The repository opened as a server opens it (one online store connection held until close). */
  served: FeatureStore;
  /** When the materialization ran (epoch ms), around it. */
  materializedBetween: [number, number];
  cleanup(): Promise<void>;
}

/**
 * A repository applied, backfilled over RANGE and materialized. `features` replaces FEATURES,
 * `config` replaces larder.config.ts (say, to point the online store at a Redis); it is written before the
 * repository is first opened.
 */
export async function createServedRepo(options: { seed?: number; config?: string; features?: string; materialize?: boolean } = {}): Promise<ServedRepo> {
  const dir = await mkdtemp(join(fastTempDir(), "larder-server-test-"));
  const cleanupDir = () => rm(dir, { recursive: true, force: true });
  try {
    const files: Record<string, string | Uint8Array> = { "larder.config.ts": options.config ?? configSource("test"), "features.ts": options.features ?? FEATURES };
    for (const [rel, table] of Object.entries(servedData(options.seed ?? 7))) files[rel] = parquetBytes(table);
    for (const [rel, content] of Object.entries(files)) {
      await mkdir(dirname(join(dir, rel)), { recursive: true });
      await writeFile(join(dir, rel), content);
    }
    const store = await FeatureStore.open(dir);
    await store.apply();
    await store.backfill(RANGE);
    const served = await FeatureStore.open(dir, { holdOnlineStore: true });
    const t0 = Date.now();
    if (options.materialize !== false) await served.materialize(RANGE);
    const t1 = Date.now();
    return {
      dir,
      store,
      served,
      materializedBetween: [t0, t1],
      cleanup: async () => {
        await served.close();
        await cleanupDir();
      },
    };
  } catch (err) {
    await cleanupDir();
    throw err;
  }
}

export interface HttpResult {
  status: number;
  headers: Headers;
  /** Parsed JSON when the response is JSON, else the text. */
  json: any;
  text: string;
}

/** POSTs a body (an object is sent as JSON; a string as is) and reads the answer. */
export async function post(base: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
  const res = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return read(res);
}

export async function get(base: string, path: string, headers: Record<string, string> = {}): Promise<HttpResult> {
  return read(await fetch(base + path, { headers }));
}

async function read(res: Response): Promise<HttpResult> {
  const text = await res.text();
  let json: unknown;
  if ((res.headers.get("content-type") ?? "").includes("json")) json = JSON.parse(text);
  return { status: res.status, headers: res.headers, json, text };
}
