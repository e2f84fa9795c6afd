/**
 * Generates the churn example's data: customer profiles, transactions and labelled entity rows.
 * Deterministic: the same flags give byte-identical files (one seeded PRNG, consumed in a fixed
 * order; no wall clock anywhere).
 *
 *   node --import tsx examples/churn/generate-data.ts [--customers 5000] [--days 180] [--seed 42] [--out DIR]
 *
 * Writes DIR/profiles.parquet, DIR/labels.parquet and DIR/transactions.parquet (DIR defaults to
 * data/ next to this file). With LARDER_SOURCE_POSTGRES_URL set, transactions go to the Postgres
 * table `transactions` instead (dropped and re-created), which is where features.ts then reads them.
 *
 * The story: customers sign up, hold a plan (basic/plus/pro), and transact at a personal rate.
 * Each has a churn hazard that is higher on cheap plans, short tenure, promotional prices and low
 * engagement. In the weeks before churning, a churner's activity fades (fewer transactions) and
 * some downgrade their plan, which is the signal the churn_v1 features pick up. A label row says
 * whether the customer churned within 30 days after its event_timestamp.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as arrow from "apache-arrow";
import * as parquetWasm from "parquet-wasm";
import pg from "pg";

const DAY = 86_400_000;
const MONTH = 30.44 * DAY;
/** The data ends here; `--days` counts back from it. */
const END = Date.UTC(2024, 6, 1);
/** A label looks this far ahead: churned = churn time in (event_timestamp, event_timestamp + 30d]. */
const LABEL_HORIZON = 30 * DAY;

// ---------------------------------------------------------------------------------------------
// Seeded randomness: sfc32 seeded through cyrb128, so any string or number is a seed.

function cyrb128(text: string): [number, number, number, number] {
  let h1 = 1779033703,
    h2 = 3144134277,
    h3 = 1013904242,
    h4 = 2773480762;
  for (let i = 0; i < text.length; i++) {
    const k = text.charCodeAt(i);
    h1 = h2 ^ Math.imul(h1 ^ k, 597399067);
    h2 = h3 ^ Math.imul(h2 ^ k, 2869860233);
    h3 = h4 ^ Math.imul(h3 ^ k, 951274213);
    h4 = h1 ^ Math.imul(h4 ^ k, 2716044179);
  }
  h1 = Math.imul(h3 ^ (h1 >>> 18), 597399067);
  h2 = Math.imul(h4 ^ (h2 >>> 22), 2869860233);
  h3 = Math.imul(h1 ^ (h3 >>> 17), 951274213);
  h4 = Math.imul(h2 ^ (h4 >>> 19), 2716044179);
  return [(h1 ^ h2 ^ h3 ^ h4) >>> 0, (h2 ^ h1) >>> 0, (h3 ^ h1) >>> 0, (h4 ^ h1) >>> 0];
}

class Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: string) {
    [this.a, this.b, this.c, this.d] = cyrb128(seed);
    for (let i = 0; i < 20; i++) this.next();
  }
  /** Uniform in [0, 1). */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }
  int(lo: number, hiInclusive: number): number {
    return lo + Math.floor(this.next() * (hiInclusive - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  normal(): number {
    // Box–Muller; 1 - next() keeps the log away from 0.
    return Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next());
  }
  exponential(rate: number): number {
    return -Math.log(1 - this.next()) / rate;
  }
  pick<T>(items: readonly T[], weights?: readonly number[]): T {
    if (!weights) return items[Math.floor(this.next() * items.length)]!;
    let r = this.next() * weights.reduce((s, w) => s + w, 0);
    for (let i = 0; i < items.length; i++) {
      r -= weights[i]!;
      if (r < 0) return items[i]!;
    }
    return items[items.length - 1]!;
  }
}

// ---------------------------------------------------------------------------------------------
// The simulated world.

const PLANS = ["basic", "plus", "pro"] as const;
type Plan = (typeof PLANS)[number];
const LIST_FEE: Record<Plan, number> = { basic: 9.99, plus: 19.99, pro: 39.99 };
const PLAN_CHURN: Record<Plan, number> = { basic: 1.35, plus: 1.0, pro: 0.7 };
const PLAN_ACTIVITY: Record<Plan, number> = { basic: 0.8, plus: 1.0, pro: 1.3 };
const MERCHANTS = [
  "Acme Grocers",
  "BlueBottle Coffee",
  "City Transit",
  "CloudCinema",
  "Corner Pharmacy",
  "FreshMart",
  "GadgetHub",
  "Green Fuel",
  "HomeGoods Co",
  "Lumen Books",
  "Noodle Bar",
  "Parcel Express",
  "PetPlace",
  "QuickRide",
  "Sunrise Bakery",
  "TrailOutfitters",
] as const;

interface Profile {
  customerId: number;
  plan: Plan;
  monthlyFee: number;
  tenureMonths: number;
  updatedAt: number;
  ingestedAt: number;
}
interface Txn {
  customerId: number;
  ts: number;
  amountCents: number;
  merchant: string;
}
interface Label {
  customerId: number;
  eventTimestamp: number;
  cartValue: number;
  churned: boolean;
}

export interface GenerateOptions {
  customers: number;
  days: number;
  seed: string;
}

export interface GeneratedData {
  profiles: Profile[];
  transactions: Txn[];
  labels: Label[];
}

const cents = (x: number) => Math.round(x * 100) / 100;
const downgrade = (p: Plan): Plan => (p === "pro" ? "plus" : "basic");
const upgrade = (p: Plan): Plan => (p === "basic" ? "plus" : "pro");

/** Simulates every customer in id order, drawing from one PRNG, so the output depends only on the options. */
export function generate({ customers, days, seed }: GenerateOptions): GeneratedData {
  const rnd = new Random(`larder-churn:${seed}`);
  const start = END - days * DAY;
  // Label rows need history before them and 30 observed days after them.
  const labelFrom = start + Math.min(30, Math.floor(days / 4)) * DAY;
  const labelTo = END - LABEL_HORIZON;
  const profiles: Profile[] = [];
  const transactions: Txn[] = [];
  const labels: Label[] = [];

  for (let id = 1; id <= customers; id++) {
    // Who they are.
    const isNew = rnd.chance(0.2);
    const signup = isNew ? Math.floor(start + rnd.uniform(0, Math.max(1, days - 45)) * DAY) : Math.floor(start - (1 + rnd.next() ** 1.6 * 1400) * DAY);
    let plan = rnd.pick(PLANS, [0.5, 0.3, 0.2]);
    const promo = rnd.chance(0.15); // pays 20% less; promo customers churn more
    const engagement = Math.exp(-0.18 + 0.6 * rnd.normal()); // mean ≈ 1
    const tenureAtStart = Math.max(0, (start - signup) / MONTH);

    // When they churn (an exponential time with a personal hazard); at or after END means "not yet".
    const hazardPerDay = 0.0019 * PLAN_CHURN[plan] * (tenureAtStart < 6 ? 1.6 : tenureAtStart < 24 ? 1.0 : 0.6) * (promo ? 1.3 : 1.0) * engagement ** -0.7;
    const activeFrom = Math.max(signup, start);
    const churnAt = Math.floor(activeFrom + rnd.exponential(hazardPerDay) * DAY);
    const activeTo = Math.min(churnAt, END);
    // A churner's activity fades over the weeks before churn, down to 10% of normal.
    const fadeDays = rnd.uniform(20, 50);
    const fadeFrom = churnAt - fadeDays * DAY;
    const activity = (t: number) => (t < fadeFrom ? 1 : 0.1 + (0.9 * (churnAt - t)) / (churnAt - fadeFrom));
    const willDowngrade = plan !== "basic" && rnd.chance(0.4);

    // Profile versions: a snapshot shortly before the data starts (or at signup), then every 1–4 weeks.
    let t = Math.max(signup, start - Math.floor(rnd.uniform(0, 25) * DAY));
    const initialPlan = plan;
    let downgraded = false;
    let first = true;
    while (t < activeTo) {
      if (churnAt - t < 21 * DAY && willDowngrade && !downgraded) {
        plan = downgrade(plan);
        downgraded = true;
      } else if (!first && rnd.chance(0.05)) {
        plan = rnd.chance(0.6) ? upgrade(plan) : downgrade(plan);
      }
      const fee = cents(LIST_FEE[plan] * (promo ? 0.8 : 1));
      const updatedAt = Math.floor(t / 1000) * 1000;
      const ingestedAt = updatedAt + Math.floor(rnd.uniform(60, 6 * 3600)) * 1000;
      const tenureMonths = Math.floor((updatedAt - signup) / MONTH);
      if (rnd.chance(0.08)) {
        // A wrong fee (the list price, or a typo) ingested first, then a correction of the same version.
        const wrongFee = promo ? LIST_FEE[plan] : cents(fee * 10);
        profiles.push({ customerId: id, plan, monthlyFee: wrongFee, tenureMonths, updatedAt, ingestedAt });
        const correctedAt = ingestedAt + Math.floor(rnd.uniform(3600, 3 * 86400)) * 1000;
        profiles.push({ customerId: id, plan, monthlyFee: fee, tenureMonths, updatedAt, ingestedAt: correctedAt });
      } else {
        profiles.push({ customerId: id, plan, monthlyFee: fee, tenureMonths, updatedAt, ingestedAt });
      }
      first = false;
      t += Math.floor(rnd.uniform(7, 28) * DAY);
    }

    // Transactions: a Poisson process at the personal rate (more on weekends), thinned by the fade.
    const rate = 0.5 * engagement * PLAN_ACTIVITY[initialPlan];
    const maxRate = rate * 1.25;
    const amountMu = Math.log(2500 * (initialPlan === "pro" ? 1.5 : initialPlan === "plus" ? 1.15 : 1)) + 0.3 * rnd.normal();
    const favourites = [rnd.pick(MERCHANTS), rnd.pick(MERCHANTS), rnd.pick(MERCHANTS)];
    for (let ts = activeFrom + rnd.exponential(maxRate) * DAY; ts < activeTo; ts += rnd.exponential(maxRate) * DAY) {
      const weekday = new Date(ts).getUTCDay();
      const weekly = weekday === 0 || weekday === 6 ? 1.25 : 1;
      if (!rnd.chance((rate * weekly * activity(ts)) / maxRate)) continue;
      const amountCents = Math.max(50, Math.round(Math.exp(amountMu + 0.7 * rnd.normal())));
      const merchant = rnd.chance(0.6) ? rnd.pick(favourites) : rnd.pick(MERCHANTS);
      transactions.push({ customerId: id, ts: Math.floor(ts), amountCents, merchant });
    }

    // Label rows: 2–5 scoring moments while the customer is active, each with the cart at that moment.
    const lo = Math.max(labelFrom, signup + 14 * DAY);
    const hi = Math.min(labelTo, churnAt);
    if (lo < hi) {
      const n = rnd.int(2, 5);
      for (let k = 0; k < n; k++) {
        const eventTimestamp = Math.floor(rnd.uniform(lo, hi) / 1000) * 1000;
        const cartValue = cents(Math.exp(Math.log(45) + 0.8 * rnd.normal()));
        const churned = churnAt > eventTimestamp && churnAt <= eventTimestamp + LABEL_HORIZON;
        labels.push({ customerId: id, eventTimestamp, cartValue, churned });
      }
    }
  }

  // Files in the order their producers would write them.
  profiles.sort((a, b) => a.ingestedAt - b.ingestedAt || a.customerId - b.customerId);
  transactions.sort((a, b) => a.ts - b.ts || a.customerId - b.customerId || a.amountCents - b.amountCents);
  labels.sort((a, b) => a.eventTimestamp - b.eventTimestamp || a.customerId - b.customerId);
  return { profiles, transactions, labels };
}

// ---------------------------------------------------------------------------------------------
// Writing.

const int64 = (values: readonly number[]) => arrow.makeVector(BigInt64Array.from(values, (v) => BigInt(v)));
const float64 = (values: readonly number[]) => arrow.makeVector(Float64Array.from(values));
const utf8 = (values: readonly string[]) => arrow.vectorFromArray(values, new arrow.Utf8());
const bool = (values: readonly boolean[]) => arrow.vectorFromArray(values, new arrow.Bool());
const timestamp = (values: readonly number[]) =>
  arrow.makeVector(
    arrow.makeData({
      type: new arrow.TimestampMillisecond("UTC"),
      length: values.length,
      data: BigInt64Array.from(values, (v) => BigInt(v)),
    }),
  );

/** Writes an Arrow table as Parquet (snappy, 64k-row row groups), atomically. */
function writeParquet(path: string, table: arrow.Table): void {
  const props = new parquetWasm.WriterPropertiesBuilder().setCompression(parquetWasm.Compression.SNAPPY).setMaxRowGroupSize(65_536).build();
  const bytes = parquetWasm.writeParquet(parquetWasm.Table.fromIPCStream(arrow.tableToIPC(table, "stream")), props);
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

export function writeProfiles(path: string, rows: readonly Profile[]): void {
  writeParquet(
    path,
    new arrow.Table({
      cust: int64(rows.map((r) => r.customerId)),
      plan: utf8(rows.map((r) => r.plan)),
      monthly_fee: float64(rows.map((r) => r.monthlyFee)),
      tenure_months: int64(rows.map((r) => r.tenureMonths)),
      updated_at: timestamp(rows.map((r) => r.updatedAt)),
      ingested_at: timestamp(rows.map((r) => r.ingestedAt)),
    }),
  );
}

export function writeTransactions(path: string, rows: readonly Txn[]): void {
  writeParquet(
    path,
    new arrow.Table({
      customer_id: int64(rows.map((r) => r.customerId)),
      ts: timestamp(rows.map((r) => r.ts)),
      amount_cents: int64(rows.map((r) => r.amountCents)),
      merchant: utf8(rows.map((r) => r.merchant)),
    }),
  );
}

export function writeLabels(path: string, rows: readonly Label[]): void {
  writeParquet(
    path,
    new arrow.Table({
      customer_id: int64(rows.map((r) => r.customerId)),
      event_timestamp: timestamp(rows.map((r) => r.eventTimestamp)),
      cart_value: float64(rows.map((r) => r.cartValue)),
      churned: bool(rows.map((r) => r.churned)),
    }),
  );
}

/** Replaces table `transactions` with these rows, in one transaction. */
export async function loadTransactionsIntoPostgres(url: string, rows: readonly Txn[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("BEGIN");
    await client.query("DROP TABLE IF EXISTS transactions");
    await client.query(`CREATE TABLE transactions (
      customer_id bigint NOT NULL, ts timestamptz NOT NULL, amount_cents bigint NOT NULL, merchant text NOT NULL)`);
    const perInsert = 2000; // 4 parameters a row, well under Postgres's 65,535
    for (let i = 0; i < rows.length; i += perInsert) {
      const chunk = rows.slice(i, i + perInsert);
      const params: (string | number)[] = [];
      const tuples = chunk.map((r, j) => {
        params.push(r.customerId, new Date(r.ts).toISOString(), r.amountCents, r.merchant);
        return `($${4 * j + 1}, $${4 * j + 2}, $${4 * j + 3}, $${4 * j + 4})`;
      });
      await client.query(`INSERT INTO transactions (customer_id, ts, amount_cents, merchant) VALUES ${tuples.join(", ")}`, params);
    }
    // Backfills read by event-time range.
    await client.query("CREATE INDEX transactions_ts_idx ON transactions (ts)");
    await client.query("COMMIT");
    await client.query("ANALYZE transactions");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Command line.

function positiveInt(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new Error(`${flag} ${value}: expected a positive integer`);
  return Number(value);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      customers: { type: "string", default: "5000" },
      days: { type: "string", default: "180" },
      seed: { type: "string", default: "42" },
      out: { type: "string" },
    },
    strict: true,
  });
  const customers = positiveInt("--customers", values.customers);
  const days = positiveInt("--days", values.days);
  if (days < 45) throw new Error(`--days ${days}: expected at least 45 (labels look 30 days ahead and need history behind them)`);
  const outDir = resolve(values.out ?? join(dirname(fileURLToPath(import.meta.url)), "data"));
  const postgresUrl = process.env.LARDER_SOURCE_POSTGRES_URL;

  const data = generate({ customers, days, seed: values.seed });
  mkdirSync(outDir, { recursive: true });
  writeProfiles(join(outDir, "profiles.parquet"), data.profiles);
  writeLabels(join(outDir, "labels.parquet"), data.labels);
  let txnTarget: string;
  if (postgresUrl) {
    await loadTransactionsIntoPostgres(postgresUrl, data.transactions);
    txnTarget = "Postgres table transactions";
  } else {
    writeTransactions(join(outDir, "transactions.parquet"), data.transactions);
    txnTarget = join(outDir, "transactions.parquet");
  }

  const positives = data.labels.filter((l) => l.churned).length;
  const rate = data.labels.length === 0 ? 0 : positives / data.labels.length;
  const fmt = (n: number) => n.toLocaleString("en-US");
  console.log(`generated ${fmt(customers)} customers over ${days} days (${new Date(END - days * DAY).toISOString()} → ${new Date(END).toISOString()}), seed ${values.seed}`);
  console.log(`  ${fmt(data.profiles.length)} profile versions → ${join(outDir, "profiles.parquet")}`);
  console.log(`  ${fmt(data.transactions.length)} transactions → ${txnTarget}`);
  console.log(`  ${fmt(data.labels.length)} label rows (${(rate * 100).toFixed(1)}% churned within 30 days) → ${join(outDir, "labels.parquet")}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(`generate-data: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
