/**
 * Property test: every cell of a training set over aggregated views equals what the reference
 * windowed aggregation (helpers/feature-reference.ts: for each T, a scan of the key's events with
 * timestamp in (T − w, T]) gives, for seeded random data (helpers/training-set-property.ts says
 * what the data is drawn to hit: among others events exactly w apart, and entity times on, 1 ms
 * before and 1 ms after every window edge).
 *
 * Views: over the int64-keyed source (created timestamps: `last` breaks equal event times by
 * them), count/sum/avg/min/max/last of a float64 column over 1h and 1d, sum/max of an int64
 * column, a 90 s window, and unbounded count/sum/last; over the string-keyed source (no created
 * timestamp: equal event times are exact ties, any tied event's value is a right `last`), the same
 * functions over 30m and 1h and an unbounded last.
 *
 * LARDER_SEEDS=<seed>[,<seed>…] reruns chosen seeds instead of the fixed list.
 */
import { after, before, test } from "node:test";
import type { FeatureRepo } from "./helpers/feature-repo.js";
import { windowValue, type ReferenceAgg } from "./helpers/feature-reference.js";
import { DAY, HOUR, MIN, checkSeeds, createPropertyRepo, seedList, type Check, type SourceName } from "./helpers/training-set-property.js";

const SEEDS = seedList([5, 7, 10]);

interface Aggregation {
  name: string;
  fn: ReferenceAgg;
  column: string | null;
  window: string | null;
  windowMs: number | null;
}
const a = (name: string, fn: ReferenceAgg, column: string | null, window: string | null, windowMs: number | null): Aggregation => ({ name, fn, column, window, windowMs });

const VIEWS: { name: string; source: SourceName; aggregations: Aggregation[] }[] = [
  {
    name: "c_aggs",
    source: "ints",
    aggregations: [
      a("count_1h", "count", null, "1h", HOUR),
      a("sum_1h", "sum", "x", "1h", HOUR),
      a("avg_1h", "avg", "x", "1h", HOUR),
      a("min_1h", "min", "x", "1h", HOUR),
      a("max_1h", "max", "x", "1h", HOUR),
      a("last_1h", "last", "x", "1h", HOUR),
      a("count_1d", "count", null, "1d", DAY),
      a("sum_1d", "sum", "x", "1d", DAY),
      a("avg_1d", "avg", "x", "1d", DAY),
      a("min_1d", "min", "x", "1d", DAY),
      a("max_1d", "max", "x", "1d", DAY),
      a("last_1d", "last", "x", "1d", DAY),
      a("nsum_1h", "sum", "n", "1h", HOUR),
      a("nmax_1d", "max", "n", "1d", DAY),
      a("count_90s", "count", null, "90s", 90_000),
      a("sum_90s", "sum", "x", "90s", 90_000),
      a("last_90s", "last", "x", "90s", 90_000),
      a("count_all", "count", null, null, null),
      a("sum_all", "sum", "x", null, null),
      a("last_all", "last", "x", null, null),
    ],
  },
  {
    name: "a_aggs",
    source: "strs",
    aggregations: [
      a("count_30m", "count", null, "30m", 30 * MIN),
      a("sum_30m", "sum", "x", "30m", 30 * MIN),
      a("avg_1h", "avg", "x", "1h", HOUR),
      a("min_1h", "min", "x", "1h", HOUR),
      a("max_30m", "max", "x", "30m", 30 * MIN),
      a("last_1h", "last", "x", "1h", HOUR),
      a("last_all", "last", "x", null, null),
    ],
  },
];

const VIEWS_TS = VIEWS.map((v) => {
  const aggs = v.aggregations.map((g) => {
    const args = [...(g.column === null ? [] : [g.column]), ...(g.window === null ? [] : [g.window])];
    return `    ${g.name}: agg.${g.fn}(${args.map((x) => JSON.stringify(x)).join(", ")}),`;
  });
  const entity = v.source === "ints" ? "customer" : "account";
  return `export const ${v.name} = featureView({ name: "${v.name}", entities: [${entity}], source: ${v.source}, aggregations: {\n${aggs.join("\n")}\n} });`;
}).join("\n");

const CHECKS: Check[] = VIEWS.flatMap((v) =>
  v.aggregations.map((g): Check => ({
    ref: `${v.name}:${g.name}`,
    source: v.source,
    expected: (rows, entity) => windowValue(rows, entity, { keyType: v.source === "ints" ? "int64" : "string", fn: g.fn, column: g.column, windowMs: g.windowMs }),
    // Floating-point sums may differ in the last bits by summation order.
    approx: (g.fn === "sum" || g.fn === "avg") && g.column === "x",
  })),
);

let repo: FeatureRepo;
before(async () => {
  repo = await createPropertyRepo(VIEWS_TS);
});
after(async () => {
  await repo?.cleanup();
});

test("training sets of aggregated views equal the reference window aggregations on random data", { timeout: 300_000 }, async (t) => {
  t.diagnostic(`seeds ${SEEDS.join(", ")} (rerun some with LARDER_SEEDS=…)`);
  await checkSeeds(repo, SEEDS, { edges: [HOUR, DAY, 90_000, 30 * MIN] }, CHECKS, (m) => t.diagnostic(m));
});
