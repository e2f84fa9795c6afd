/**
 * The churn example (examples/churn), the quickstart's feature repository: its generator is
 * deterministic, and the whole flow — apply, backfill, training-set — gives one training row per
 * label row with the churn_v1 features, whose values match a brute-force recomputation from the
 * generated files.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import * as arrow from "apache-arrow";
import { readParquet } from "parquet-wasm";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const exampleDir = join(root, "examples/churn");
const generator = join(exampleDir, "generate-data.ts");
const cli = join(root, "src/cli/main.ts");
const DAY = 86_400_000;

// Embedded backends and Parquet transactions, whatever the caller's environment says.
const env: NodeJS.ProcessEnv = { ...process.env };
for (const name of ["LARDER_SOURCE_POSTGRES_URL", "LARDER_REGISTRY_URL", "LARDER_ONLINE_URL"]) delete env[name];

const temps: string[] = [];
after(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

/** A copy of examples/churn without its generated data and embedded registry. */
function copyExample(): string {
  const dir = mkdtempSync(join(tmpdir(), "larder-churn-"));
  temps.push(dir);
  cpSync(exampleDir, dir, {
    recursive: true,
    filter: (src) => src === exampleDir || !["data", ".larder"].includes(basename(src)) || dirname(src) !== exampleDir,
  });
  return dir;
}

/** Runs node with these arguments from the repository root (where tsx and the packages resolve). */
function node(args: string[]): string {
  const res = spawnSync(process.execPath, args, { cwd: root, env, encoding: "utf8" });
  assert.equal(res.status, 0, `node ${args.join(" ")} exited with ${res.status}\n${res.stdout}\n${res.stderr}`);
  return res.stdout;
}

const generate = (outDir: string, ...flags: string[]) => node(["--import", "tsx", generator, "--out", outDir, ...flags]);
const larder = (repo: string, ...args: string[]) => node(["--import", "tsx", cli, "--repo", repo, ...args]);

function readTable(path: string): arrow.Table {
  return arrow.tableFromIPC(readParquet(readFileSync(path)).intoIPCStream());
}

function columnValues(table: arrow.Table, name: string): unknown[] {
  const col = table.getChild(name);
  assert.ok(col, `column ${name} missing (has: ${table.schema.fields.map((f) => f.name).join(", ")})`);
  return Array.from({ length: table.numRows }, (_, i) => {
    const v: unknown = col.get(i);
    return typeof v === "bigint" ? Number(v) : v;
  });
}

const FILES = ["profiles.parquet", "transactions.parquet", "labels.parquet"];

test("the generator is deterministic: the same flags give byte-identical files", () => {
  const [a, b, c] = [copyExample(), copyExample(), copyExample()];
  const flags = ["--customers", "150", "--days", "60", "--seed", "11"];
  generate(join(a, "data"), ...flags);
  generate(join(b, "data"), ...flags);
  generate(join(c, "data"), "--customers", "150", "--days", "60", "--seed", "12");
  for (const f of FILES) {
    const bytesA = readFileSync(join(a, "data", f));
    assert.ok(bytesA.length > 0, `${f} is empty`);
    assert.ok(bytesA.equals(readFileSync(join(b, "data", f))), `${f} differs between two runs with the same seed`);
    assert.ok(!bytesA.equals(readFileSync(join(c, "data", f))), `${f} is the same for seeds 11 and 12`);
  }
  const labels = readTable(join(a, "data", "labels.parquet"));
  assert.deepEqual(
    labels.schema.fields.map((f) => `${f.name}:${f.type}`),
    ["customer_id:Int64", "event_timestamp:Timestamp<MILLISECOND, UTC>", "cart_value:Float64", "churned:Bool"],
  );
  assert.ok(labels.numRows > 150, `expected several label rows per customer, got ${labels.numRows}`);
});

test("apply, backfill and training-set give one churn_v1 row per label row, point-in-time correct", { timeout: 120_000 }, () => {
  const repo = copyExample();
  const data = join(repo, "data");
  generate(data, "--customers", "300", "--days", "90");
  larder(repo, "apply");
  larder(repo, "backfill", "--start", "2024-01-01T00:00:00Z", "--end", "2024-07-01T00:00:00Z");
  const out = join(data, "training_set.parquet");
  larder(repo, "training-set", "--entities", join(data, "labels.parquet"), "--service", "churn_v1", "--out", out);

  const labels = readTable(join(data, "labels.parquet"));
  const ts = readTable(out);
  assert.equal(ts.numRows, labels.numRows, "one training row per label row");
  const features = ["plan", "monthly_fee", "tenure_months", "spend_7d", "txn_count_30d", "avg_amount_30d", "max_amount_30d", "last_amount", "cart_vs_avg"];
  const names = ts.schema.fields.map((f) => f.name);
  for (const f of [...features, "customer_id", "event_timestamp", "cart_value", "churned"]) assert.ok(names.includes(f), `column ${f} missing (has: ${names.join(", ")})`);

  // Entity rows come back in order, with their other columns unchanged.
  for (const c of ["customer_id", "event_timestamp", "cart_value", "churned"]) {
    assert.deepEqual(columnValues(ts, c), columnValues(labels, c), `column ${c} differs from the entity rows`);
  }
  const count30 = columnValues(ts, "txn_count_30d");
  assert.ok(
    count30.every((v) => typeof v === "number"),
    "txn_count_30d is never null",
  );

  // Recompute every feature by brute force from the generated files and compare.
  const keys = columnValues(labels, "customer_id") as number[];
  const times = columnValues(labels, "event_timestamp") as number[];
  const carts = columnValues(labels, "cart_value") as number[];
  const txns = readTable(join(data, "transactions.parquet"));
  const txnByCustomer = groupBy(columnValues(txns, "customer_id") as number[], {
    ts: columnValues(txns, "ts") as number[],
    usd: (columnValues(txns, "amount_cents") as number[]).map((c) => c / 100),
  });
  const profiles = readTable(join(data, "profiles.parquet"));
  const profilesByCustomer = groupBy(columnValues(profiles, "cust") as number[], {
    updated: columnValues(profiles, "updated_at") as number[],
    ingested: columnValues(profiles, "ingested_at") as number[],
    plan: columnValues(profiles, "plan") as string[],
    fee: columnValues(profiles, "monthly_fee") as number[],
    tenure: columnValues(profiles, "tenure_months") as number[],
  });
  const got = Object.fromEntries(features.map((f) => [f, columnValues(ts, f)]));
  const close = (a: unknown, b: number | null) => (b === null ? a === null : typeof a === "number" && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)));
  let withProfile = 0;
  for (let i = 0; i < labels.numRows; i++) {
    const t = times[i]!;
    const mine = (txnByCustomer.get(keys[i]!) ?? []).filter((x) => x.ts <= t);
    const w30 = mine.filter((x) => x.ts > t - 30 * DAY);
    const w7 = mine.filter((x) => x.ts > t - 7 * DAY);
    const avg = w30.length === 0 ? null : w30.reduce((s, x) => s + x.usd, 0) / w30.length;
    const last = mine.reduce<{ ts: number; usd: number } | null>((best, x) => (best === null || x.ts >= best.ts ? x : best), null);
    const expected: Record<string, number | null> = {
      spend_7d: w7.reduce((s, x) => s + x.usd, 0),
      txn_count_30d: w30.length,
      avg_amount_30d: avg,
      max_amount_30d: w30.length === 0 ? null : Math.max(...w30.map((x) => x.usd)),
      last_amount: last?.usd ?? null,
      cart_vs_avg: avg === null ? null : carts[i]! / avg,
    };
    for (const [f, v] of Object.entries(expected)) {
      assert.ok(close(got[f]![i], v), `row ${i} (customer ${keys[i]}, ${new Date(t).toISOString()}): ${f} = ${String(got[f]![i])}, expected ${v}`);
    }
    // Profile: latest updated_at ≤ T within the 30-day TTL; the latest ingestion among equal updated_at.
    const version = (profilesByCustomer.get(keys[i]!) ?? [])
      .filter((p) => p.updated <= t && p.updated >= t - 30 * DAY)
      .reduce<{ updated: number; ingested: number; plan: string; fee: number; tenure: number } | null>((best, p) => (best === null || p.updated > best.updated || (p.updated === best.updated && p.ingested > best.ingested) ? p : best), null);
    if (version) withProfile++;
    assert.equal(got.plan![i], version?.plan ?? null, `row ${i}: plan`);
    assert.ok(close(got.monthly_fee![i], version?.fee ?? null), `row ${i}: monthly_fee = ${String(got.monthly_fee![i])}, expected ${version?.fee}`);
    assert.equal(got.tenure_months![i], version?.tenure ?? null, `row ${i}: tenure_months`);
  }
  assert.ok(withProfile > labels.numRows * 0.9, `most rows should have a current profile (${withProfile} of ${labels.numRows})`);
});

/** Rows of parallel columns grouped by key, in file order. */
function groupBy<C extends Record<string, unknown[]>>(keys: number[], columns: C): Map<number, { [K in keyof C]: C[K][number] }[]> {
  const out = new Map<number, { [K in keyof C]: C[K][number] }[]>();
  keys.forEach((k, i) => {
    const row = Object.fromEntries(Object.entries(columns).map(([name, values]) => [name, values[i]])) as { [K in keyof C]: C[K][number] };
    const list = out.get(k);
    if (list) list.push(row);
    else out.set(k, [row]);
  });
  return out;
}
