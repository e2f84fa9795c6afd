/**
 * Features for predicting customer churn: who the customer is (profile), how they spend
 * (windowed aggregations of transactions), and how today's cart compares (on-demand).
 * `churn_v1` is the feature service a churn model trains and serves on.
 */
import { entity, parquetSource, postgresSource, pushSource, requestSource, featureView, onDemandFeatureView, featureService, agg, types as t } from "larder-feature-store";

export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });

// Profile snapshots. A customer has many versions over time; a correction re-sends a version with the
// same updated_at and a later ingested_at, and the later ingestion wins.
const profiles = parquetSource({ name: "profiles", path: "data/profiles.parquet", timestampField: "updated_at", createdTimestampField: "ingested_at", fieldMapping: { cust: "customer_id" } });

export const profile = featureView({
  name: "customer_profile",
  entities: [customer],
  source: profiles,
  ttl: "30d",
  schema: { plan: t.string, monthly_fee: t.float64, tenure_months: t.int64 },
});

// Transactions live in Postgres when LARDER_SOURCE_POSTGRES_URL is set (generate-data.ts loads the
// table), otherwise in a Parquet file: same columns either way.
const txns = process.env.LARDER_SOURCE_POSTGRES_URL ? postgresSource({ name: "transactions", table: "transactions", timestampField: "ts" }) : parquetSource({ name: "transactions", path: "data/transactions.parquet", timestampField: "ts" });
// rows pushed over HTTP (POST /push) arrive in the batch source's shape
const txnPush = pushSource({ name: "transactions_push", batchSource: txns });

export const spend = featureView({
  name: "customer_spend",
  entities: [customer],
  source: txnPush,
  transform: (row) => ({ ...row, amount_usd: row.amount_cents / 100 }), // row level: batch and push
  aggregations: {
    spend_7d: agg.sum("amount_usd", "7d"),
    txn_count_30d: agg.count("30d"),
    avg_amount_30d: agg.avg("amount_usd", "30d"),
    max_amount_30d: agg.max("amount_usd", "30d"),
    last_amount: agg.last("amount_usd"),
  },
  schedule: "@hourly",
});

// Values that come with the request online, or as extra columns of the entity rows in training sets.
const cart = requestSource({ name: "cart", schema: { cart_value: t.float64 } });

export const ratios = onDemandFeatureView({
  name: "spend_ratios",
  sources: [spend, cart],
  schema: { cart_vs_avg: t.float64 },
  transform: (f) => ({ cart_vs_avg: f.avg_amount_30d == null ? null : f.cart_value / f.avg_amount_30d }),
});

export const churnV1 = featureService({ name: "churn_v1", features: [profile, spend, ratios] });
