/**
 * The harness of the training-set property tests (point-in-time and windows): seeded random data
 * in two sources (an int64-keyed one and a string-keyed one), backfilled and joined through the
 * product (FeatureStore.backfill and getTrainingSet over a real offline store), and every output
 * cell compared with helpers/feature-reference.ts.
 *
 * Data is drawn to hit the hard cases often: event times on a coarse grid (equal event times,
 * created-time tie-breaks, exact ties) and at arbitrary milliseconds, pairs of events exactly a
 * window or a TTL apart, null keys and values, negative and ±(2^53 − 1) keys, string keys that
 * look like numbers and ones that don't (and the empty string); entity rows on, 1 ms before and
 * 1 ms after event times and window/TTL edges, before any data and after all of it, for entities
 * never seen, with null keys, unsorted and duplicated, and with key columns of the other type
 * ("5" for the int64 entity, 5 for the string one). Half of the seeds backfill in two halves,
 * split at a random instant and run in random order: the result must not change.
 *
 * Seeds are a fixed list; a failure names the seed and shrinks its first failing cell to a minimal
 * example (one entity row and as few rows as still fail, verified by the product), which it prints.
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import type { Table } from "apache-arrow";
import { arrowTable, col, columnValues, createFeatureRepo, fastTempDir, writeParquet, type FeatureRepo } from "./feature-repo.js";
import { sameEntity, type Allowed, type KeyType, type ReferenceEntityRow, type ReferenceRow } from "./feature-reference.js";
import { rng } from "./seeded-random.js";

export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;
/** 2024-03-10T00:00:00Z: events lie in [B, B + 3d). */
export const B = Date.UTC(2024, 2, 10);
/**
 * The backfilled range. Every event and every window/TTL edge (≤ 1d) lies well inside it, so the
 * result at any T is the contract's; entity times outside it are still asked for.
 */
export const BACKFILL = { start: B - 2 * DAY, end: B + 5 * DAY };

/** The two sources every property repository has, with their paths and key columns. */
export const INT_SOURCE = { file: "data/ints.parquet", key: "customer_id", keyType: "int64" as KeyType };
export const STR_SOURCE = { file: "data/strs.parquet", key: "account_id", keyType: "string" as KeyType };
export type SourceName = "ints" | "strs";

/**
 * The entity and source declarations of features.ts: `ints` (customer_id int64, ts, created,
 * x float64, n int64, label string) and `strs` (account_id string, ts, x float64; no created
 * timestamp, so equal event times are exact ties).
 */
export const SOURCES_TS = `
import { entity, parquetSource, featureView, agg, types as t } from "larder";
export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
export const account = entity({ name: "account", joinKeys: ["account_id"], valueType: t.string });
const ints = parquetSource({ name: "ints", path: "${INT_SOURCE.file}", timestampField: "ts", createdTimestampField: "created" });
const strs = parquetSource({ name: "strs", path: "${STR_SOURCE.file}", timestampField: "ts" });
`;

/** One checked output column: its feature reference and what the reference says per entity row. */
export interface Check {
  /** `view:feature`. */
  ref: string;
  source: SourceName;
  /** The values the contract allows for `entity` given the source's rows. */
  expected(rows: readonly ReferenceRow[], entity: ReferenceEntityRow): Allowed;
  /** Compare with a relative tolerance (floating-point sums). */
  approx?: boolean;
}

export interface EntityRow {
  customer: number | string | null;
  account: number | string | null;
  t: number;
}

export interface Scenario {
  ints: ReferenceRow[];
  strs: ReferenceRow[];
  entities: EntityRow[];
  /** The entity key columns' Arrow types (the other type than the entity's tests the key rules). */
  customerColumn: "int64" | "string";
  accountColumn: "string" | "int64";
  /** Backfill [start, at) and [at, end) separately, the later half first if `laterFirst`. */
  split: { at: number; laterFirst: boolean } | null;
}

export interface GenerateOptions {
  /** Distances that matter (window lengths, TTLs): events and entity times are placed this far apart. */
  edges: readonly number[];
}

// ───────────────────────────── generation ─────────────────────────────

const GRID = [0, 15 * MIN, 30 * MIN, 45 * MIN, HOUR, 75 * MIN, 2 * HOUR, DAY, DAY + HOUR, DAY + 2 * HOUR, 2 * DAY];
const CREATED: (number | null)[] = [null, B - DAY, B, B + MIN, B + 2 * HOUR, B + 3 * DAY];
const BIG = Number.MAX_SAFE_INTEGER;
const STRING_KEYS = ["a", "b", "B", "é", "", "k 1", "7", "-3", "0", "12", "x".repeat(40)];
const LABELS = ["p", "q", 'ü,"x"', ""];

export function generate(seed: number, o: GenerateOptions): Scenario {
  const r = rng(seed);
  const int = (n: number) => Math.floor(r() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  const chance = (p: number) => r() < p;

  const intKeys = [...new Set([...Array.from({ length: 5 + int(60) }, () => int(120) - 10), ...(chance(0.5) ? [BIG, -BIG] : [])])];
  const strKeys = [...new Set(Array.from({ length: 3 + int(10) }, () => pick(STRING_KEYS)))];
  const eventTs = () => (chance(0.7) ? B + pick(GRID) : B + int(2 * DAY));
  const value = () => (chance(0.2) ? null : chance(0.5) ? int(201) - 100 : Math.round((r() * 2000 - 1000) * 1e6) / 1e6 + 0); // + 0: no −0

  const makeRows = (n: number, key: () => unknown, withCreated: boolean): ReferenceRow[] => {
    const rows: ReferenceRow[] = [];
    for (let i = 0; i < n; i++) {
      const row: ReferenceRow = {
        key: chance(0.05) ? null : key(),
        ts: eventTs(),
        created: withCreated ? pick(CREATED) : null,
        values: { x: value(), n: chance(0.2) ? null : int(2_000_001) - 1_000_000, label: chance(0.2) ? null : pick(LABELS) },
      };
      rows.push(row);
      // A second event of the same key exactly one edge later (a window or TTL apart).
      if (o.edges.length > 0 && chance(0.25)) rows.push({ ...row, ts: row.ts + pick(o.edges), created: withCreated ? pick(CREATED) : null, values: { x: value(), n: int(100), label: pick(LABELS) } });
    }
    return rows;
  };
  const ints = makeRows(200 + int(600), () => pick(intKeys), true);
  const strs = makeRows(50 + int(150), () => pick(strKeys), false);

  const customerColumn = chance(0.25) ? "string" : "int64";
  // An int64 account column can only name the string keys that are decimal numbers.
  const numericStrKeys = strKeys.filter((k) => /^-?(0|[1-9]\d*)$/.test(k));
  const accountColumn = chance(0.25) ? "int64" : "string";

  const allRows = [...ints, ...strs];
  const entityTime = (): number => {
    const roll = r();
    const near = allRows.length > 0 ? pick(allRows).ts : B;
    if (roll < 0.35) return near + pick([0, 0, -1, 1]);
    if (roll < 0.65 && o.edges.length > 0) return near + pick(o.edges) + pick([0, 0, -1, 1]);
    if (roll < 0.85) return B + pick(GRID) + pick([0, -1, 1]);
    // Before any data (inside and outside the backfilled range) and after all of it.
    return pick([B - 1, B - DAY, B - 3 * DAY, B + 4 * DAY, B + 6 * DAY, B + 30 * DAY]);
  };
  const customerKey = (): number | string | null => {
    const k = chance(0.1) ? null : chance(0.1) ? 1000 + int(5) : pick(intKeys);
    return k === null || customerColumn === "int64" ? k : String(k);
  };
  const accountKey = (): number | string | null => {
    if (chance(0.1)) return null;
    if (accountColumn === "int64") return numericStrKeys.length > 0 && chance(0.8) ? Number(pick(numericStrKeys)) : 990 + int(5);
    return chance(0.1) ? `unseen-${int(3)}` : pick(strKeys);
  };
  const entities: EntityRow[] = Array.from({ length: 100 + int(400) }, () => ({ customer: customerKey(), account: accountKey(), t: entityTime() }));
  // Duplicates at random places, on top of those the small key and time sets give.
  for (let d = int(30); d > 0; d--) entities.splice(int(entities.length + 1), 0, { ...pick(entities) });

  const split = chance(0.5) ? { at: chance(0.5) ? entityTime() : B + pick(GRID) + pick([0, -1, 1]), laterFirst: chance(0.5) } : null;
  return { ints, strs, entities, customerColumn, accountColumn, split };
}

// ───────────────────────────── files ─────────────────────────────

function intsTable(rows: readonly ReferenceRow[]): Table {
  return arrowTable({
    customer_id: col.int64(rows.map((x) => x.key as number | null)),
    ts: col.timestamp(rows.map((x) => x.ts)),
    created: col.timestamp(rows.map((x) => x.created)),
    x: col.float64(rows.map((x) => x.values.x as number | null)),
    n: col.int64(rows.map((x) => x.values.n as number | null)),
    label: col.string(rows.map((x) => x.values.label as string | null)),
  });
}

function strsTable(rows: readonly ReferenceRow[]): Table {
  return arrowTable({
    account_id: col.string(rows.map((x) => x.key as string | null)),
    ts: col.timestamp(rows.map((x) => x.ts)),
    x: col.float64(rows.map((x) => x.values.x as number | null)),
  });
}

function entityTable(s: Scenario): Table {
  const keyColumn = (type: "int64" | "string", values: (number | string | null)[]) => (type === "int64" ? col.int64(values as (number | null)[]) : col.string(values as (string | null)[]));
  return arrowTable({
    idx: col.int32(s.entities.map((_, i) => i)),
    customer_id: keyColumn(
      s.customerColumn,
      s.entities.map((e) => e.customer),
    ),
    account_id: keyColumn(
      s.accountColumn,
      s.entities.map((e) => e.account),
    ),
    event_timestamp: col.timestamp(s.entities.map((e) => e.t)),
  });
}

/** A repository with the two sources (empty) and `views` (featureView declarations over `ints`/`strs`). */
export async function createPropertyRepo(views: string): Promise<FeatureRepo> {
  // The source files must exist for apply (it checks the views' columns against them).
  return createFeatureRepo({
    features: SOURCES_TS + views,
    files: { [INT_SOURCE.file]: intsTable([]), [STR_SOURCE.file]: strsTable([]) },
    parentDir: fastTempDir(),
  });
}

// ───────────────────────────── running and comparing ─────────────────────────────

function sameValue(actual: unknown, expected: unknown, approx: boolean): boolean {
  if (approx && typeof actual === "number" && typeof expected === "number") {
    return Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(actual), Math.abs(expected));
  }
  return actual === expected; // === equates 0 and −0
}

export interface Mismatch {
  row: number;
  check: Check;
  allowed: Allowed;
  actual: unknown;
}

/** Backfills the scenario's data through the product and returns the training set's mismatches. */
export async function runScenario(repo: FeatureRepo, s: Scenario, checks: readonly Check[]): Promise<Mismatch[]> {
  await writeParquet(repo.path(INT_SOURCE.file), intsTable(s.ints));
  await writeParquet(repo.path(STR_SOURCE.file), strsTable(s.strs));
  await rm(repo.path("data/offline"), { recursive: true, force: true });
  if (s.split === null) {
    await repo.store.backfill(BACKFILL);
  } else {
    const halves = [
      { start: BACKFILL.start, end: s.split.at },
      { start: s.split.at, end: BACKFILL.end },
    ];
    if (s.split.laterFirst) halves.reverse();
    for (const range of halves) await repo.store.backfill(range);
  }
  const input = entityTable(s);
  const out = await repo.store.getTrainingSet(input, { features: checks.map((c) => c.ref), fullFeatureNames: true });

  // Entity rows are never dropped, merged or reordered, and their columns pass through unchanged.
  assert.equal(out.numRows, s.entities.length, "one output row per entity row");
  for (const name of ["idx", "customer_id", "account_id", "event_timestamp"]) {
    assert.deepEqual(columnValues(out, name), columnValues(input, name), `entity column ${name} passes through in input order`);
  }

  const mismatches: Mismatch[] = [];
  for (const check of checks) {
    const actual = columnValues(out, check.ref.replace(":", "__"));
    const rows = check.source === "ints" ? s.ints : s.strs;
    s.entities.forEach((e, i) => {
      const entity = { key: check.source === "ints" ? e.customer : e.account, t: e.t };
      const allowed = check.expected(rows, entity);
      if (!allowed.some((v) => sameValue(actual[i], v, check.approx ?? false))) mismatches.push({ row: i, check, allowed, actual: actual[i] });
    });
  }
  return mismatches;
}

/** The scenario cut down to entity row `row` and the rows of its key in the failing check's source. */
function isolate(s: Scenario, m: Mismatch): Scenario {
  const e = s.entities[m.row]!;
  const type = m.check.source === "ints" ? INT_SOURCE.keyType : STR_SOURCE.keyType;
  const key = m.check.source === "ints" ? e.customer : e.account;
  const own = (rows: ReferenceRow[]) => rows.filter((x) => sameEntity(x.key, key, type));
  return {
    ...s,
    ints: m.check.source === "ints" ? own(s.ints) : [],
    strs: m.check.source === "strs" ? own(s.strs) : [],
    entities: [e],
  };
}

/**
 * The candidates of one shrinking round: `rows` without one chunk, for chunk sizes n/2, n/4, … 1
 * (delta debugging's complements), smallest first.
 */
function withoutChunks<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let size = Math.ceil(rows.length / 2); size >= 1; size = size === 1 ? 0 : Math.ceil(size / 2)) {
    for (let from = 0; from < rows.length; from += size) out.push(rows.filter((_, j) => j < from || j >= from + size));
  }
  return out.sort((x, y) => x.length - y.length);
}

/**
 * Candidates put side by side in one scenario, candidate c under a key of its own, with one entity
 * row each (entity row c), so that one backfill and one training set try them all.
 */
function sideBySide(s: Scenario, source: SourceName, e: EntityRow, candidates: readonly ReferenceRow[][]): Scenario {
  const rows = candidates.flatMap((rs, c) => rs.map((r) => ({ ...r, key: source === "ints" ? 500_000 + c : String(700_000 + c) })));
  const entities = candidates.map((_, c): EntityRow => {
    if (source === "ints") return { ...e, customer: s.customerColumn === "int64" ? 500_000 + c : String(500_000 + c) };
    return { ...e, account: s.accountColumn === "int64" ? 700_000 + c : String(700_000 + c) };
  });
  return { ...s, ints: source === "ints" ? rows : [], strs: source === "strs" ? rows : [], entities };
}

/**
 * Shrinks a failing cell to a minimal example: its entity row and its key's rows alone (checked to
 * still fail), then rounds of delta debugging, each round trying every candidate at once under keys
 * of their own (one run of the product per round), while the same feature still fails; finally
 * without the split backfill if that fails too. Stops at `budgetMs` with the smallest failure so far.
 */
async function shrink(repo: FeatureRepo, s: Scenario, first: Mismatch, checks: readonly Check[], budgetMs: number): Promise<{ scenario: Scenario; mismatch: Mismatch } | null> {
  const deadline = Date.now() + budgetMs;
  const ref = first.check.ref;
  const source = first.check.source;
  let scenario = isolate(s, first);
  let mismatch = (await runScenario(repo, scenario, checks)).find((m) => m.check.ref === ref);
  if (!mismatch) return null;
  const e = scenario.entities[0]!;
  let rows = scenario[source];
  while (rows.length > 0 && Date.now() < deadline) {
    const candidates = withoutChunks(rows);
    const tried = sideBySide(s, source, e, candidates);
    const failing = (await runScenario(repo, tried, checks)).filter((m) => m.check.ref === ref).sort((x, y) => x.row - y.row)[0];
    if (!failing) break; // no smaller candidate fails (or the failure needs the original key)
    rows = candidates[failing.row]!;
    scenario = sideBySide(s, source, e, [rows]);
    mismatch = { ...failing, row: 0 };
  }
  if (scenario.split !== null && Date.now() < deadline) {
    const m = (await runScenario(repo, { ...scenario, split: null }, checks)).find((x) => x.check.ref === ref);
    if (m) {
      scenario = { ...scenario, split: null };
      mismatch = m;
    }
  }
  return { scenario, mismatch };
}

const iso = (t: number) => new Date(t).toISOString();

function describeCell(s: Scenario, m: Mismatch): string {
  const e = s.entities[m.row]!;
  const key = m.check.source === "ints" ? e.customer : e.account;
  return `row ${m.row} (${m.check.source === "ints" ? "customer_id" : "account_id"} ${JSON.stringify(key)}, T=${iso(e.t)}) ${m.check.ref}: expected ${m.allowed.map((v) => JSON.stringify(v)).join(" or ")}, got ${JSON.stringify(m.actual)}`;
}

function describeScenario(s: Scenario, m: Mismatch): string {
  const rows = s[m.check.source].map((x) => `    key ${JSON.stringify(x.key)} ts ${iso(x.ts)}${m.check.source === "strs" ? "" : ` created ${x.created === null ? "null" : iso(x.created)}`} ${JSON.stringify(x.values)}`);
  const split = s.split === null ? "one backfill" : `backfill split at ${iso(s.split.at)}${s.split.laterFirst ? ", later half first" : ""}`;
  return [`  ${describeCell(s, m)}`, `  ${m.check.source} rows (${split}):`, ...(rows.length ? rows : ["    (none)"])].join("\n");
}

/**
 * Runs every seed through the product and the reference; throws on the first failing seed with
 * its mismatches and a shrunk example.
 */
export async function checkSeeds(repo: FeatureRepo, seeds: readonly number[], gen: GenerateOptions, checks: readonly Check[], log: (msg: string) => void): Promise<void> {
  let cells = 0;
  for (const seed of seeds) {
    const s = generate(seed, gen);
    let mismatches: Mismatch[];
    try {
      mismatches = await runScenario(repo, s, checks);
    } catch (err) {
      throw new Error(`seed ${seed}: ${(err as Error).message}`, { cause: err });
    }
    cells += s.entities.length * checks.length;
    if (mismatches.length === 0) continue;
    const lines = mismatches.slice(0, 8).map((m) => `  ${describeCell(s, m)}`);
    const shrunk = await shrink(repo, s, mismatches[0]!, checks, 90_000);
    const example = shrunk === null ? "  (the failure did not reproduce on its entity row and key alone)" : describeScenario(shrunk.scenario, shrunk.mismatch);
    throw new Error(
      `seed ${seed}: ${mismatches.length} cell(s) differ from the reference (${s.ints.length} int rows, ${s.strs.length} string rows, ${s.entities.length} entity rows; ` +
        `customer_id column ${s.customerColumn}, account_id column ${s.accountColumn}):\n${lines.join("\n")}\nminimal example:\n${example}`,
    );
  }
  log(`${seeds.length} seeds, ${cells} cells equal to the reference`);
}

/** The seed list: LARDER_SEEDS=1,2,3 overrides the fixed one (to explore, or to rerun one seed). */
export function seedList(fixed: readonly number[]): number[] {
  const env = process.env.LARDER_SEEDS;
  return env ? env.split(",").map((x) => Number(x.trim())) : [...fixed];
}
