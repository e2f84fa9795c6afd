/**
 * Push parity (property test, fast-check), on the embedded store and on Redis: backfill and
 * materialize part of the events, push the rest (in random order and chunks, some late: older than
 * the materialized time), then every entity's online vector equals what DESIGN.md's semantics give
 * at that entity's "as of" time (its newest pushed event, or the materialization's end − 1 ms),
 * computed by a small reference implementation (helpers/feature-reference.ts) over the source and
 * pushed events together, not by Larder's training-set path.
 *
 * Each run holds up to 40 customers with independent histories, so one backfill and materialization
 * serve all of them: a file run checks hundreds of entity histories. Event times lie on a 5-minute
 * grid (window edges 30m, 1h and 3h are on it) and often repeat within a customer, with distinct
 * created times in random push order, so equal event times and created-time tie-breaks are
 * frequent, also between a materialized row and a pushed one. Covers windowed
 * count/sum/avg/min/max/last, an unbounded last, a plain view, fieldMapping, created timestamps and
 * a row transform.
 *
 * The seed is fixed and printed; PUSH_PARITY_SEED=<seed> overrides it (and PUSH_PARITY_PATH=<path>
 * replays a shrunk case), PUSH_PARITY_RUNS the number of runs per store.
 */
import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import type { FeatureRepo } from "./helpers/feature-repo.js";
import { aggregateAsOf, valueAsOf, type ReferenceAgg, type ReferenceEvent } from "./helpers/feature-reference.js";
import { createPushRepo, eventsTable, removePushRepo, type PushEvent as Event } from "./helpers/push-repo.js";
import { redisUrlAvailable, requireServices, testRedisUrl } from "./helpers/services.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const BASE = Date.UTC(2024, 4, 1);
/** Materialized up to here; pushed events before it are late. */
const M = BASE + 3 * HOUR;
const SEED = Number(process.env.PUSH_PARITY_SEED ?? 20_240_501);
const RUNS = Number(process.env.PUSH_PARITY_RUNS ?? 10);
const PATH = process.env.PUSH_PARITY_PATH;

/** The features read, with what the reference computes for each (from helpers/push-repo.ts's views). */
type Expect = { agg: ReferenceAgg; of: "amount"; windowMs: number | null } | { plain: "amount_cents" | "note" };
const FEATURES: [string, Expect][] = [
  ["recent:n_30m", { agg: "count", of: "amount", windowMs: 30 * MIN }],
  ["recent:max_30m", { agg: "max", of: "amount", windowMs: 30 * MIN }],
  ["recent:last_30m", { agg: "last", of: "amount", windowMs: 30 * MIN }],
  ["spend:n_1h", { agg: "count", of: "amount", windowMs: HOUR }],
  ["spend:sum_1h", { agg: "sum", of: "amount", windowMs: HOUR }],
  ["spend:avg_3h", { agg: "avg", of: "amount", windowMs: 3 * HOUR }],
  ["spend:min_3h", { agg: "min", of: "amount", windowMs: 3 * HOUR }],
  ["spend:max_1h", { agg: "max", of: "amount", windowMs: HOUR }],
  ["spend:last_1h", { agg: "last", of: "amount", windowMs: HOUR }],
  ["spend:last", { agg: "last", of: "amount", windowMs: null }],
  ["latest_txn:amount_cents", { plain: "amount_cents" }],
  ["latest_txn:note", { plain: "note" }],
];
const REFS = FEATURES.map(([ref]) => ref);

/** Events as a push df (timestamps as ISO strings or epoch ms, alternating). */
function dfOf(events: readonly Event[]): Record<string, unknown[]> {
  return {
    cust: events.map((e) => e.cust),
    ts: events.map((e, i) => (i % 2 === 0 ? new Date(e.ts).toISOString() : e.ts)),
    created: events.map((e) => e.created),
    amount_cents: events.map((e) => e.amount_cents),
    note: events.map((e) => e.note),
  };
}

const eventArb = fc.record({
  /** A 5-minute slot over six hours. */
  slot: fc.integer({ min: 0, max: 72 }),
  /** Same event time as the customer's previous event (a created-time tie-break). */
  sameTimeAsPrevious: fc.integer({ min: 0, max: 2 }).map((x) => x === 0),
  /** Seconds after the event time it was created; kept unique per (customer, event time). */
  createdAfter: fc.integer({ min: 0, max: 3 }),
  amount_cents: fc.option(fc.integer({ min: -5000, max: 100_000 }), { freq: 8 }),
  note: fc.option(fc.constantFrom("a", "b", 'ü,"x"'), { freq: 3 }),
  late: fc.boolean(),
});

const scenarioArb = fc.record({
  customers: fc.array(fc.array(eventArb, { maxLength: 8, size: "max" }), { minLength: 1, maxLength: 40, size: "max" }),
  order: fc.array(fc.nat(), { maxLength: 320, size: "max" }),
  chunks: fc.integer({ min: 1, max: 4 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;
type Placed = Event & { pushed: boolean };

/** The scenario's events, customer i + 1 for `customers[i]`, each (customer, ts, created) once. */
function placeEvents(s: Scenario): Placed[] {
  const out: Placed[] = [];
  s.customers.forEach((events, c) => {
    const seen = new Set<string>();
    let prevTs: number | null = null;
    for (const e of events) {
      const ts: number = e.sameTimeAsPrevious && prevTs !== null ? prevTs : BASE + e.slot * 5 * MIN;
      const created = ts + e.createdAfter * 1000;
      if (seen.has(`${ts}/${created}`)) continue;
      seen.add(`${ts}/${created}`);
      prevTs = ts;
      // Before M: in the source unless drawn "late" (then pushed after the materialization). From M on: pushed.
      out.push({ cust: c + 1, ts, created, amount_cents: e.amount_cents, note: e.note, pushed: ts >= M || e.late });
    }
  });
  return out;
}

/** What DESIGN.md says `ref` reads for `events` (one customer's) as of `t`. */
function expectedValue(expect: Expect, events: readonly Event[], t: number): unknown {
  if ("plain" in expect) {
    const key = expect.plain;
    return valueAsOf(
      events.map((e): ReferenceEvent<unknown> => ({ ts: e.ts, created: e.created, value: e[key] })),
      t,
    );
  }
  // The views' row transform: amount = amount_cents / 100.
  const amounts = events.map((e): ReferenceEvent<number | null> => ({ ts: e.ts, created: e.created, value: e.amount_cents === null ? null : e.amount_cents / 100 }));
  return aggregateAsOf(amounts, expect.agg, t, expect.windowMs);
}

function sameValue(actual: unknown, expected: unknown, approx: boolean): boolean {
  if (approx && typeof actual === "number" && typeof expected === "number") {
    return Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(actual), Math.abs(expected));
  }
  return Object.is(actual ?? null, expected ?? null) || (actual === 0 && expected === 0);
}

/** Entity histories checked so far (for the test's diagnostic). */
let histories = 0;

async function runScenario(repo: FeatureRepo, s: Scenario): Promise<void> {
  histories += s.customers.length;
  const events = placeEvents(s);
  // A customer the source always has, so the source directory is never empty.
  const anchor: Event = { cust: 99, ts: BASE + 5 * MIN, created: BASE + 5 * MIN, amount_cents: 1, note: null };
  const sourceEvents = [anchor, ...events.filter((e) => !e.pushed)];
  const pushed = events.filter((e) => e.pushed);
  // Random order: a permutation driven by `order`.
  const shuffled = [...pushed];
  for (let i = shuffled.length - 1; i > 0; i--) {
    const j = (s.order[i] ?? i) % (i + 1);
    [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
  }

  const store = repo.store;
  await rm(repo.path("data/txns"), { recursive: true, force: true });
  await repo.writeFile("data/txns/part-0.parquet", eventsTable(sourceEvents));
  await store.withOnlineStore(async (online) => {
    for (const v of ["spend", "recent", "latest_txn"]) await online.deleteView(store.project, v);
  });
  const range = { start: BASE - 24 * HOUR, end: BASE + 24 * HOUR };
  await store.backfill(range);
  await store.materialize({ start: range.start, end: M });

  const per = Math.max(1, Math.ceil(shuffled.length / s.chunks));
  for (let i = 0; i < shuffled.length; i += per) {
    const res = await store.push("txn_push", dfOf(shuffled.slice(i, i + per)));
    assert.equal(res.rows, Math.min(per, shuffled.length - i));
  }

  // Each customer's online "as of": the materialization's end − 1 when it was materialized (it had
  // source events), its newest pushed event if that is later or it was not materialized.
  const customers = [...s.customers.map((_, i) => i + 1), 99, 12_345];
  const all = [anchor, ...events];
  const online = await store.getOnlineFeatures({ customer_id: customers }, { features: REFS });
  const mismatches: string[] = [];
  customers.forEach((c, i) => {
    const before = mismatches.length;
    const mine = all.filter((e) => e.cust === c);
    const pushedTs = pushed.filter((e) => e.cust === c).map((e) => e.ts);
    const materialized = sourceEvents.some((e) => e.cust === c);
    const asOf = Math.max(materialized || pushedTs.length === 0 ? M - 1 : Number.NEGATIVE_INFINITY, ...pushedTs);
    FEATURES.forEach(([ref, expect], k) => {
      const got = online.results[k + 1]!.values[i];
      const want = expectedValue(expect, mine, asOf);
      const approx = "agg" in expect && (expect.agg === "sum" || expect.agg === "avg");
      if (!sameValue(got, want, approx)) mismatches.push(`customer ${c} ${ref} as of ${new Date(asOf).toISOString()}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
    });
    if (mismatches.length > before) {
      const described = mine.map((e) => [new Date(e.ts).toISOString().slice(11, 16), `+${(e.created - e.ts) / 1000}s`, e.amount_cents, e.note, pushed.includes(e as Placed) ? "pushed" : "source"]);
      mismatches.push(`  customer ${c}'s events (time, created, amount_cents, note, how): ${JSON.stringify(described)}`);
    }
  });
  assert.deepEqual(mismatches, [], `online values differ from the reference (seed ${SEED})`);
}

function parityTests(name: string, onlineUrl: string | null): void {
  describe(`push parity: ${name}`, () => {
    let repo: FeatureRepo;
    before(async () => {
      repo = await createPushRepo(onlineUrl, BASE);
    });
    after(() => removePushRepo(repo));

    test("online vectors after materialize + push equal the reference semantics over source + pushed events", async (t) => {
      t.diagnostic(`fast-check seed ${SEED} (rerun with PUSH_PARITY_SEED=${SEED}), ${RUNS} runs`);
      histories = 0;
      await fc.assert(
        fc.asyncProperty(scenarioArb, (s) => runScenario(repo, s)),
        { numRuns: RUNS, seed: SEED, ...(PATH ? { path: PATH } : {}), includeErrorInReport: true },
      );
      t.diagnostic(`${histories} customer histories checked`);
    });
  });
}

parityTests("embedded", null);

const REDIS = testRedisUrl();
if (await redisUrlAvailable(REDIS)) {
  parityTests("Redis", REDIS);
} else {
  if (requireServices()) throw new Error(`Redis is unavailable at ${REDIS}`);
  test("push parity on Redis", { skip: `Redis is unavailable at ${REDIS}` }, () => {});
}
