/**
 * Property test: Larder's training sets equal DuckDB's over the same Parquet files, for random
 * data made to hit the hard cases often: timestamps (event and created) from small sets so ties
 * are frequent, exact (key, event, created) ties (DESIGN.md leaves the winner open: any tied row's
 * value is right), entity timestamps on, just before and just after event times and window edges,
 * and outside the backfilled range, null feature values, null join keys (a source row's is
 * skipped; an entity row's matches nothing: null features, count and sum 0), entities never seen,
 * duplicated entity rows.
 *
 * Three plain views (no TTL; a 1h TTL, a multiple of the event grid's spacing, so rows exactly
 * ttl old are frequent; a TTL of 1 to 3000 minutes drawn from the seed) and one aggregated view
 * (sum/count/avg/min/max over 1h and 1d, count/sum/last unbounded, last over 1h) read one source;
 * every run checks all of them. The oracle is in helpers/duckdb-oracle.ts: ASOF LEFT JOIN for the
 * plain views, windowed SQL aggregates for the aggregated one.
 *
 * In about a third of the runs the backfill is split in two at a random instant (on the event
 * grid, or 1 ms off it), the two halves backfilled in random order: the result must not change.
 *
 * The repository is applied once and reused across runs (only the source file and the offline
 * store change): every apply, backfill and training set opens the embedded registry (PGlite), so
 * the random TTL is drawn once per seed rather than per run (a new features.ts and apply per run
 * would not fit the time budget), and each view costs time in every backfill and training set,
 * hence three TTLs rather than more.
 *
 * Reproduce a failure with LARDER_FC_SEED=<seed> (and LARDER_FC_PATH=<path> to replay the shrunk
 * case directly); LARDER_FC_RUNS overrides the number of runs.
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { arrowTable, col, columnValues, createFeatureRepo, fastTempDir, writeParquet, type FeatureRepo } from "./helpers/feature-repo.js";
import { CANDIDATES, openDuck, pointInTimeSql, windowAggregationSql, type AggSpec, type Duck } from "./helpers/duckdb-oracle.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const B = Date.UTC(2024, 2, 10); // 2024-03-10T00:00:00Z

/** Event times: a small grid, so that ties and exact window edges (1h, 1d apart) are frequent. */
const EVENT_OFFSETS = [0, 15 * MIN, 30 * MIN, 45 * MIN, HOUR, 75 * MIN, 2 * HOUR, DAY, DAY + HOUR, DAY + 2 * HOUR, 2 * DAY];
/** Created times: a small set with null, independent of the event time. */
const CREATED: (number | null)[] = [null, B - DAY, B, B + MIN, B + 2 * HOUR, B + 3 * DAY];
/** Entity times: the event grid, later instants where windows have emptied, each maybe ±1 ms. */
const ENTITY_OFFSETS = [...EVENT_OFFSETS, 150 * MIN, DAY + 30 * MIN, 3 * DAY, 4 * DAY];
const BACKFILL = { start: B - 2 * DAY, end: B + 5 * DAY };
/** Entity times outside the backfilled range (every window has closed by its end). */
const OUTSIDE_OFFSETS = [-3 * DAY, -2 * DAY - 1, 5 * DAY, 6 * DAY, 30 * DAY];
const UNSEEN_BASE = 1000;

const AGGREGATIONS: AggSpec[] = [
  { name: "sum_1h", fn: "sum", column: "x", windowMs: HOUR },
  { name: "sum_1d", fn: "sum", column: "x", windowMs: DAY },
  { name: "count_1h", fn: "count", column: null, windowMs: HOUR },
  { name: "count_1d", fn: "count", column: null, windowMs: DAY },
  { name: "avg_1h", fn: "avg", column: "x", windowMs: HOUR },
  { name: "avg_1d", fn: "avg", column: "x", windowMs: DAY },
  { name: "min_1h", fn: "min", column: "x", windowMs: HOUR },
  { name: "min_1d", fn: "min", column: "x", windowMs: DAY },
  { name: "max_1h", fn: "max", column: "x", windowMs: HOUR },
  { name: "max_1d", fn: "max", column: "x", windowMs: DAY },
  { name: "last_all", fn: "last", column: "x", windowMs: null },
  { name: "last_1h", fn: "last", column: "x", windowMs: HOUR },
  { name: "count_all", fn: "count", column: null, windowMs: null },
  { name: "sum_all", fn: "sum", column: "x", windowMs: null },
];
/** Features compared with a relative tolerance (floating-point sums); the rest exactly. */
const APPROX = new Set(["sum_1h", "sum_1d", "avg_1h", "avg_1d", "sum_all"]);

function durationLiteral(ms: number): string {
  return ms % DAY === 0 ? `${ms / DAY}d` : ms % HOUR === 0 ? `${ms / HOUR}h` : `${ms / MIN}m`;
}

/** The run's seed: LARDER_FC_SEED, or a fresh one (it also draws the random TTL below). */
const SEED = process.env.LARDER_FC_SEED ? Number(process.env.LARDER_FC_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
/** A TTL of 1 minute to ~2 days drawn from the seed (not 60, which is already a view's). */
const RANDOM_TTL = ((t) => (t === 60 ? 61 : t))(fc.sample(fc.integer({ min: 1, max: 3000 }), { seed: SEED, numRuns: 1 })[0]!);
/** TTLs of the plain views, in minutes (null: no TTL). */
const TTL_MINUTES: (number | null)[] = [null, 60, RANDOM_TTL];
const plainView = (ttl: number | null) => `plain_${ttl === null ? "nottl" : `${ttl}m`}`;

function featuresSource(): string {
  const aggs = AGGREGATIONS.map((a) => {
    const args = [...(a.column === null ? [] : [a.column]), ...(a.windowMs === null ? [] : [durationLiteral(a.windowMs)])];
    return `    ${a.name}: agg.${a.fn}(${args.map((x) => JSON.stringify(x)).join(", ")}),`;
  });
  const plains = TTL_MINUTES.map((ttl) =>
    `export const ${plainView(ttl)} = featureView({ name: "${plainView(ttl)}", entities: [customer], source: src, ${ttl === null ? "" : `ttl: "${ttl}m", `}schema: { x: t.float64 } });`,
  );
  return `
import { entity, parquetSource, featureView, agg, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
const src = parquetSource({ name: "src", path: "data/src.parquet", timestampField: "ts", createdTimestampField: "created" });
${plains.join("\n")}
export const aggs = featureView({
  name: "aggs", entities: [customer], source: src,
  aggregations: {
${aggs.join("\n")}
  },
});
`;
}

// ───────────────────────────── generation ─────────────────────────────

interface FeatureRowGen {
  key: number | null;
  ts: number;
  created: number | null;
  x: number | null;
}
interface EntityRowGen {
  key: number | null;
  t: number;
}
interface Case {
  numEntities: number;
  rows: FeatureRowGen[];
  entities: EntityRowGen[];
  /** Backfill [start, split) and [split, end) separately (the later half first if `laterFirst`). */
  split: { at: number; laterFirst: boolean } | null;
}

const valueArb = fc.option(
  fc.oneof(
    fc.integer({ min: -100, max: 100 }),
    fc.double({ min: -1000, max: 1000, noNaN: true, noDefaultInfinity: true }).map((v) => (Object.is(v, -0) ? 0 : v)),
  ),
  { nil: null, freq: 4 },
);

const caseArb: fc.Arbitrary<Case> = fc.integer({ min: 1, max: 40 }).chain((numEntities) =>
  fc.record({
    numEntities: fc.constant(numEntities),
    rows: fc
      .array(
        fc.record({
          key: fc.option(fc.integer({ min: 0, max: numEntities - 1 }), { nil: null, freq: 15 }),
          ts: fc.constantFrom(...EVENT_OFFSETS).map((o) => B + o),
          created: fc.constantFrom(...CREATED),
          x: valueArb,
        }),
        { maxLength: 400, size: "max" },
      ),
    entities: fc.array(
      fc.record({
        key: fc.oneof(
          { weight: 10, arbitrary: fc.integer({ min: 0, max: numEntities - 1 }) },
          { weight: 2, arbitrary: fc.integer({ min: UNSEEN_BASE, max: UNSEEN_BASE + 5 }) },
          { weight: 1, arbitrary: fc.constant(null) },
        ),
        t: fc.oneof(
          { weight: 8, arbitrary: fc.tuple(fc.constantFrom(...ENTITY_OFFSETS), fc.constantFrom(0, 0, 0, -1, 1)).map(([o, d]) => B + o + d) },
          { weight: 1, arbitrary: fc.constantFrom(...OUTSIDE_OFFSETS).map((o) => B + o) },
        ),
      }),
      { minLength: 1, maxLength: 200, size: "max" },
    )
      // Duplicate some rows (at random places) on top of the duplicates the small sets give.
      .chain((rows) =>
        fc.array(fc.tuple(fc.nat({ max: rows.length - 1 }), fc.nat({ max: rows.length })), { maxLength: 20 }).map((dups) => {
          const out = [...rows];
          for (const [from, to] of dups) out.splice(Math.min(to, out.length), 0, rows[from]!);
          return out;
        }),
      ),
    split: fc.oneof(
      { weight: 2, arbitrary: fc.constant(null) },
      {
        weight: 1,
        arbitrary: fc.record({
          at: fc.tuple(fc.constantFrom(...ENTITY_OFFSETS), fc.constantFrom(0, -1, 1)).map(([o, d]) => B + o + d),
          laterFirst: fc.boolean(),
        }),
      },
    ),
  }),
);

// ───────────────────────────── comparison ─────────────────────────────

function sameValue(actual: unknown, expected: unknown, approx: boolean): boolean {
  if (actual === null || expected === null || actual === undefined || expected === undefined) return (actual ?? null) === (expected ?? null);
  if (typeof actual === "number" && typeof expected === "number") {
    if (!approx) return actual === expected; // === also equates 0 and −0
    return Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(actual), Math.abs(expected));
  }
  return actual === expected;
}

// ───────────────────────────── the test ─────────────────────────────

function sourceTable(rows: readonly FeatureRowGen[]) {
  return arrowTable({
    customer_id: col.int64(rows.map((r) => r.key)),
    ts: col.timestamp(rows.map((r) => r.ts)),
    created: col.timestamp(rows.map((r) => r.created)),
    x: col.float64(rows.map((r) => r.x)),
  });
}

let repo: FeatureRepo;
let duck: Duck;

before(async () => {
  // The source file must exist for apply (it checks the views' columns against it).
  repo = await createFeatureRepo({ features: featuresSource(), files: { "data/src.parquet": sourceTable([]) }, parentDir: fastTempDir() });
  duck = await openDuck();
});

after(async () => {
  duck?.close();
  await repo?.cleanup();
});

async function check(c: Case): Promise<void> {
  // This run's data; the offline store is rebuilt from scratch.
  const src = repo.path("data/src.parquet");
  await writeParquet(src, sourceTable(c.rows));
  const entityTable = arrowTable({
    idx: col.int32(c.entities.map((_, i) => i)),
    customer_id: col.int64(c.entities.map((e) => e.key)),
    event_timestamp: col.timestamp(c.entities.map((e) => e.t)),
  });
  const entitiesPath = repo.path("entities.parquet");
  await writeParquet(entitiesPath, entityTable);
  await rm(repo.path("data/offline"), { recursive: true, force: true });
  const store = repo.store;
  if (c.split === null) {
    await store.backfill(BACKFILL);
  } else {
    const halves = [{ start: BACKFILL.start, end: c.split.at }, { start: c.split.at, end: BACKFILL.end }];
    if (c.split.laterFirst) halves.reverse();
    for (const range of halves) await store.backfill(range);
  }

  const features = [...TTL_MINUTES.map((ttl) => `${plainView(ttl)}:x`), ...AGGREGATIONS.map((a) => `aggs:${a.name}`)];
  const out = await store.getTrainingSet(entityTable, { features, fullFeatureNames: true });

  // The oracle.
  const e = { path: entitiesPath, index: "idx", key: "customer_id", ts: "event_timestamp" };
  const s = { path: src, key: "customer_id", ts: "ts", created: "created" };
  const aggExpected = await duck.query(windowAggregationSql({ entities: e, source: s, aggregations: AGGREGATIONS }));

  // Entity rows unchanged and in order.
  assert.equal(out.numRows, c.entities.length, "one output row per entity row");
  assert.deepEqual(columnValues(out, "idx"), c.entities.map((_, i) => i), "entity rows in input order");
  assert.deepEqual(columnValues(out, "customer_id"), c.entities.map((r) => r.key));
  assert.deepEqual(columnValues(out, "event_timestamp"), c.entities.map((r) => r.t));

  const mismatches: string[] = [];
  let total = 0;
  const compare = (outName: string, name: string, expectedRows: Record<string, unknown>[], approx: boolean) => {
    const actual = columnValues(out, outName);
    for (let i = 0; i < c.entities.length; i++) {
      const expected = expectedRows[i]?.[name] ?? null;
      // An exact (key, event, created) tie: any of the tied rows' values is right.
      const tied = expectedRows[i]?.[name + CANDIDATES];
      const candidates = tied === null || tied === undefined ? [expected] : (tied as { items: unknown[] }).items ?? (tied as unknown[]);
      if (!candidates.some((v) => sameValue(actual[i], v ?? null, approx))) {
        total++;
        if (mismatches.length < 12) {
          const er = c.entities[i]!;
          mismatches.push(`row ${i} (customer ${er.key}, T=${new Date(er.t).toISOString()}) ${outName}: expected ${candidates.map(String).join(" or ")}, got ${String(actual[i])}`);
        }
      }
    }
  };
  for (const ttl of TTL_MINUTES) {
    const expected = await duck.query(pointInTimeSql({ entities: e, source: s, features: ["x"], ttlMs: ttl === null ? null : ttl * MIN }));
    compare(`${plainView(ttl)}__x`, "x", expected, false);
  }
  for (const a of AGGREGATIONS) compare(`aggs__${a.name}`, a.name, aggExpected, APPROX.has(a.name));
  if (total > 0) {
    const how = c.split === null ? "one backfill" : `backfill split at ${new Date(c.split.at).toISOString()}${c.split.laterFirst ? ", later half first" : ""}`;
    throw new Error(`${total} value(s) differ from DuckDB (seed ${SEED}, ${c.rows.length} feature rows, ${c.entities.length} entity rows, ${how}):\n  ${mismatches.join("\n  ")}`);
  }
}

const NUM_RUNS = process.env.LARDER_FC_RUNS ? Number(process.env.LARDER_FC_RUNS) : 25;
/**
 * A bound on the whole property (runs and shrinking; a shrink step reruns the pipeline), so that a
 * failure is reported in minutes. Reaching it without a failure fails the test too: a silent
 * partial run would pass untested.
 */
const TIME_LIMIT_MS = 120_000 + NUM_RUNS * 6_000;

test("training sets equal DuckDB's ASOF join and window aggregates on random data", { timeout: TIME_LIMIT_MS + 60_000 }, async (t) => {
  const path = process.env.LARDER_FC_PATH;
  t.diagnostic(`fast-check seed ${SEED} (rerun with LARDER_FC_SEED=${SEED}); TTLs: ${TTL_MINUTES.map((m) => (m === null ? "none" : `${m}m`)).join(", ")}`);
  await fc.assert(fc.asyncProperty(caseArb, check), {
    seed: SEED,
    numRuns: NUM_RUNS,
    ...(path ? { path } : {}),
    interruptAfterTimeLimit: TIME_LIMIT_MS,
    markInterruptAsFailure: true,
    includeErrorInReport: true,
  });
});
