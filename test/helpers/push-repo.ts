/**
 * The feature repository push tests share: a Parquet directory source (`cust` mapped to
 * customer_id, created timestamps), its push source, an aggregated view with a row transform and a
 * plain view; and events in the source's shape.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { arrowTable, col, createFeatureRepo, type FeatureRepo } from "./feature-repo.js";

export const PUSH_FEATURES = `
import { entity, parquetSource, pushSource, featureView, agg, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const txns = parquetSource({ name: "txns", path: "data/txns", timestampField: "ts", createdTimestampField: "created", fieldMapping: { cust: "customer_id" } });
export const txnPush = pushSource({ name: "txn_push", batchSource: txns });
export const spend = featureView({
  name: "spend", entities: [customer], source: txnPush,
  transform: (row) => ({ ...row, amount: row.amount_cents == null ? null : row.amount_cents / 100 }),
  aggregations: {
    n_1h: agg.count("1h"), sum_1h: agg.sum("amount", "1h"), avg_3h: agg.avg("amount", "3h"),
    min_3h: agg.min("amount", "3h"), max_1h: agg.max("amount", "1h"), last_1h: agg.last("amount", "1h"), last: agg.last("amount"),
  },
});
// Bounded windows only (the buffer is pruned to the longest one).
export const recent = featureView({
  name: "recent", entities: [customer], source: txnPush, transform: (row) => ({ ...row, amount: row.amount_cents == null ? null : row.amount_cents / 100 }),
  aggregations: { n_30m: agg.count("30m"), max_30m: agg.max("amount", "30m"), last_30m: agg.last("amount", "30m") },
});
export const latest = featureView({ name: "latest_txn", entities: [customer], source: txnPush, schema: { amount_cents: t.int64, note: t.string } });
`;

/** PUSH_FEATURES with the batch source a Postgres table (`schema.table`) at `url` instead of the Parquet directory. */
export function postgresPushFeatures(table: string, url: string): string {
  return PUSH_FEATURES.replace(`parquetSource({ name: "txns", path: "data/txns",`, `postgresSource({ name: "txns", table: "${table}", connection: ${JSON.stringify(url)},`).replace(
    "import { entity, parquetSource,",
    "import { entity, postgresSource,",
  );
}

export interface PushEvent {
  cust: number;
  ts: number;
  created: number;
  amount_cents: number | null;
  note: string | null;
}

/** Events as a Parquet table in the source's shape (column `cust`, mapped to customer_id). */
export function eventsTable(events: readonly PushEvent[]) {
  return arrowTable({
    cust: col.int64(events.map((e) => e.cust)),
    ts: col.timestamp(events.map((e) => e.ts)),
    created: col.timestamp(events.map((e) => e.created)),
    amount_cents: col.int64(events.map((e) => e.amount_cents)),
    note: col.string(events.map((e) => e.note)),
  });
}

/**
 * The push repository, applied, with one source event of customer 99 at `base` (so the source
 * directory exists); online store embedded, or `onlineUrl` (e.g. a Redis URL) when given.
 */
export async function createPushRepo(onlineUrl: string | null, base: number): Promise<FeatureRepo> {
  const repo = await createFeatureRepo({
    features: PUSH_FEATURES,
    project: `push_${randomBytes(4).toString("hex")}`,
    files: { "data/txns/part-0.parquet": eventsTable([{ cust: 99, ts: base, created: base, amount_cents: 1, note: null }]) },
    apply: false,
  });
  if (onlineUrl !== null) {
    const config = await readFile(repo.path("larder.config.ts"), "utf8");
    await repo.writeFile("larder.config.ts", config.replace('online: "embedded"', `online: ${JSON.stringify(onlineUrl)}`));
    await repo.reopen();
  }
  await repo.store.apply();
  return repo;
}

/** Deletes the push views' online rows (a shared Redis keeps them otherwise) and the repository. */
export async function removePushRepo(repo: FeatureRepo | undefined): Promise<void> {
  if (!repo) return;
  await repo.store
    .withOnlineStore(async (online) => {
      for (const v of ["spend", "recent", "latest_txn"]) await online.deleteView(repo.store.project, v);
    })
    .catch(() => {});
  await repo.cleanup();
}
