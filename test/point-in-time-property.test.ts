/**
 * Property test: every cell of a training set over plain (non-aggregated) views equals what the
 * reference point-in-time join (helpers/feature-reference.ts) gives, for seeded random data
 * (helpers/training-set-property.ts says what the data is drawn to hit).
 *
 * Views: an int64-keyed source with a created timestamp, read without a TTL (float64, int64 and
 * string features) and with TTLs of 1h, 1d, 1500 ms and 791m (entity times land on, 1 ms before and
 * 1 ms after every TTL edge, so a row exactly ttl old is frequent); a string-keyed source without
 * a created timestamp (equal event times are exact ties: any tied row's value is right), without
 * a TTL and with 30m.
 *
 * LARDER_SEEDS=<seed>[,<seed>…] reruns chosen seeds instead of the fixed list.
 */
import { after, before, test } from "node:test";
import type { FeatureRepo } from "./helpers/feature-repo.js";
import { pointInTimeValue } from "./helpers/feature-reference.js";
import { DAY, HOUR, MIN, checkSeeds, createPropertyRepo, seedList, type Check, type SourceName } from "./helpers/training-set-property.js";

const SEEDS = seedList([2, 9, 11]);

interface PlainView {
  name: string;
  source: SourceName;
  ttl: string | null;
  ttlMs: number | null;
  schema: Record<string, "float64" | "int64" | "string">;
}
const VIEWS: PlainView[] = [
  { name: "c_nottl", source: "ints", ttl: null, ttlMs: null, schema: { x: "float64", n: "int64", label: "string" } },
  { name: "c_1h", source: "ints", ttl: "1h", ttlMs: HOUR, schema: { x: "float64", n: "int64" } },
  { name: "c_1d", source: "ints", ttl: "1d", ttlMs: DAY, schema: { x: "float64" } },
  { name: "c_1500ms", source: "ints", ttl: "1500ms", ttlMs: 1500, schema: { label: "string" } },
  // An arbitrary TTL off the event grid (the one the DuckDB-oracle version of this test drew).
  { name: "c_791m", source: "ints", ttl: "791m", ttlMs: 791 * MIN, schema: { x: "float64" } },
  { name: "a_nottl", source: "strs", ttl: null, ttlMs: null, schema: { x: "float64" } },
  { name: "a_30m", source: "strs", ttl: "30m", ttlMs: 30 * MIN, schema: { x: "float64" } },
];

const VIEWS_TS = VIEWS.map((v) => {
  const schema = Object.entries(v.schema)
    .map(([f, type]) => `${f}: t.${type}`)
    .join(", ");
  const entity = v.source === "ints" ? "customer" : "account";
  return `export const ${v.name} = featureView({ name: "${v.name}", entities: [${entity}], source: ${v.source}, ${v.ttl === null ? "" : `ttl: "${v.ttl}", `}schema: { ${schema} } });`;
}).join("\n");

const CHECKS: Check[] = VIEWS.flatMap((v) =>
  Object.keys(v.schema).map((feature): Check => ({
    ref: `${v.name}:${feature}`,
    source: v.source,
    expected: (rows, entity) => pointInTimeValue(rows, entity, { keyType: v.source === "ints" ? "int64" : "string", ttlMs: v.ttlMs, feature }),
  })),
);

let repo: FeatureRepo;
before(async () => {
  repo = await createPropertyRepo(VIEWS_TS);
});
after(async () => {
  await repo?.cleanup();
});

test("training sets of plain views equal the reference point-in-time join on random data", { timeout: 300_000 }, async (t) => {
  t.diagnostic(`seeds ${SEEDS.join(", ")} (rerun some with LARDER_SEEDS=…)`);
  await checkSeeds(repo, SEEDS, { edges: [HOUR, DAY, 1500, 791 * MIN, 30 * MIN] }, CHECKS, (m) => t.diagnostic(m));
});
