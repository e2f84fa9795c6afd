/**
 * The reference checked against a second, independent oracle: helpers/feature-reference.ts (the
 * brute-force JS reference the property tests compare Larder with) and helpers/duckdb-oracle.ts
 * (DuckDB SQL: ASOF LEFT JOIN and windowed aggregates) must allow exactly the same values for
 * every cell, on the property tests' generated data (their seeds). Larder's code is not
 * involved: this tests the tests, so that a mistake in the reference cannot make a broken engine
 * look right (or a correct one wrong).
 *
 * DuckDB joins keys as they are stored, so the entity rows' keys are given to it normalised as
 * the reference's `entityOf` reads them ("5" → 5 for the int64 entity, 5 → "5" for the string
 * one); the reference gets them as generated.
 *
 * LARDER_SEEDS=<seed>[,<seed>…] checks chosen seeds instead of the fixed list.
 */
import { after, before, test } from "node:test";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { arrowTable, col, fastTempDir, writeParquet } from "./helpers/feature-repo.js";
import { CANDIDATES, openDuck, pointInTimeSql, windowAggregationSql, type AggSpec, type Duck } from "./helpers/duckdb-oracle.js";
import { entityOf, pointInTimeValue, windowValue, type Allowed, type KeyType, type ReferenceRow } from "./helpers/feature-reference.js";
import { DAY, HOUR, MIN, generate, seedList, type Scenario, type SourceName } from "./helpers/training-set-property.js";

const SEEDS = seedList([2, 5, 7, 9, 10, 11]);
const EDGES = [HOUR, DAY, 90_000, 1500, 791 * MIN, 30 * MIN];
const TTLS = [null, HOUR, DAY, 1500, 791 * MIN, 30 * MIN];
const WINDOWS = [HOUR, DAY, 90_000, 30 * MIN];
const AGGREGATIONS: AggSpec[] = [
  ...WINDOWS.flatMap((w): AggSpec[] => [
    { name: `count_${w}`, fn: "count", column: null, windowMs: w },
    { name: `sum_${w}`, fn: "sum", column: "x", windowMs: w },
    { name: `avg_${w}`, fn: "avg", column: "x", windowMs: w },
    { name: `min_${w}`, fn: "min", column: "x", windowMs: w },
    { name: `max_${w}`, fn: "max", column: "x", windowMs: w },
    { name: `last_${w}`, fn: "last", column: "x", windowMs: w },
    { name: `nsum_${w}`, fn: "sum", column: "n", windowMs: w },
  ]),
  { name: "count_all", fn: "count", column: null, windowMs: null },
  { name: "sum_all", fn: "sum", column: "x", windowMs: null },
  { name: "last_all", fn: "last", column: "x", windowMs: null },
];
const APPROX = new Set(AGGREGATIONS.filter((a) => (a.fn === "sum" || a.fn === "avg") && a.column === "x").map((a) => a.name));

let duck: Duck;
let dir: string;
before(async () => {
  duck = await openDuck();
  dir = await mkdtemp(join(fastTempDir(), "larder-reference-"));
});
after(async () => {
  duck?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** DuckDB's candidates for a cell: the tie list when there is one, else the value. */
function duckAllowed(row: Record<string, unknown> | undefined, name: string): unknown[] {
  const tied = row?.[name + CANDIDATES];
  if (tied === null || tied === undefined) return [row?.[name] ?? null];
  const items = (tied as { items?: unknown[] }).items ?? (tied as unknown[]);
  return items.map((v) => (typeof v === "bigint" ? Number(v) : (v ?? null)));
}

function plain(v: unknown): unknown {
  if (typeof v === "bigint") return Number(v);
  if (v !== null && typeof v === "object" && "toString" in v && !(v instanceof Date)) return Number(String(v)); // HUGEINT sums
  return v ?? null;
}

function same(a: unknown, b: unknown, approx: boolean): boolean {
  if (approx && typeof a === "number" && typeof b === "number") return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
  return a === b;
}

function sameSet(ref: Allowed, duckValues: unknown[], approx: boolean): boolean {
  const d = duckValues.map(plain);
  return ref.every((r) => d.some((v) => same(r, v, approx))) && d.every((v) => ref.some((r) => same(r, v, approx)));
}

async function writeFiles(s: Scenario, source: SourceName, seed: number): Promise<{ entities: string; rows: string }> {
  const keyType: KeyType = source === "ints" ? "int64" : "string";
  const keys = s.entities.map((e) => entityOf(source === "ints" ? e.customer : e.account, keyType));
  const entities = join(dir, `${seed}-${source}-entities.parquet`);
  await writeParquet(
    entities,
    arrowTable({
      idx: col.int32(s.entities.map((_, i) => i)),
      k: keyType === "int64" ? col.int64(keys as (number | null)[]) : col.string(keys as (string | null)[]),
      event_timestamp: col.timestamp(s.entities.map((e) => e.t)),
    }),
  );
  const rows = join(dir, `${seed}-${source}.parquet`);
  const r = s[source];
  await writeParquet(
    rows,
    arrowTable({
      k: keyType === "int64" ? col.int64(r.map((x) => x.key as number | null)) : col.string(r.map((x) => x.key as string | null)),
      ts: col.timestamp(r.map((x) => x.ts)),
      created: col.timestamp(r.map((x) => x.created)),
      x: col.float64(r.map((x) => x.values.x as number | null)),
      n: col.int64(r.map((x) => x.values.n as number | null)),
    }),
  );
  return { entities, rows };
}

test("the reference and DuckDB allow the same values for every point-in-time and window cell", { timeout: 300_000 }, async (t) => {
  const differences: string[] = [];
  let cells = 0;
  for (const seed of SEEDS) {
    const s = generate(seed, { edges: EDGES });
    for (const source of ["ints", "strs"] as const) {
      const keyType: KeyType = source === "ints" ? "int64" : "string";
      const rows: readonly ReferenceRow[] = s[source];
      const files = await writeFiles(s, source, seed);
      const e = { path: files.entities, index: "idx", key: "k", ts: "event_timestamp" };
      const src = { path: files.rows, key: "k", ts: "ts", created: source === "ints" ? "created" : null };
      const entityRows = s.entities.map((x) => ({ key: source === "ints" ? x.customer : x.account, t: x.t }));
      const compare = (name: string, label: string, duckRows: Record<string, unknown>[], ref: (i: number) => Allowed, approx: boolean) => {
        entityRows.forEach((er, i) => {
          cells++;
          const allowed = ref(i);
          const d = duckAllowed(duckRows[i], name);
          if (!sameSet(allowed, d, approx) && differences.length < 10) {
            differences.push(`seed ${seed} ${source} row ${i} (key ${JSON.stringify(er.key)}, T=${new Date(er.t).toISOString()}) ${label}: reference ${JSON.stringify(allowed)}, DuckDB ${JSON.stringify(d.map(plain))}`);
          }
        });
      };
      for (const ttl of TTLS) {
        for (const feature of ["x", "n"]) {
          const expected = await duck.query(pointInTimeSql({ entities: e, source: src, features: [feature], ttlMs: ttl }));
          compare(feature, `${feature} (ttl ${ttl ?? "none"} ms)`, expected, (i) => pointInTimeValue(rows, entityRows[i]!, { keyType, ttlMs: ttl, feature }), false);
        }
      }
      const aggs = await duck.query(windowAggregationSql({ entities: e, source: src, aggregations: AGGREGATIONS }));
      for (const a of AGGREGATIONS) {
        compare(a.name, a.name, aggs, (i) => windowValue(rows, entityRows[i]!, { keyType, fn: a.fn, column: a.column, windowMs: a.windowMs }), APPROX.has(a.name));
      }
    }
  }
  t.diagnostic(`${SEEDS.length} seeds, ${cells} cells compared`);
  if (differences.length > 0) throw new Error(`the reference and DuckDB differ:\n  ${differences.join("\n  ")}`);
});
