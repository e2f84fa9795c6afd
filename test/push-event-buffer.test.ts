/**
 * The event buffer push relies on (src/aggregate/event-buffer.ts), as properties on random events:
 * pruning as of T never changes an aggregate as of T or any later time, also after more events
 * (late ones included) are merged in; pruning in steps equals pruning once; the JSON codec
 * round-trips (NaN, null, Dates as epoch ms).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { agg } from "../src/definitions/aggregations.js";
import { aggregateAsOf, decodeBuffer, encodeBuffer, mergeEvents, pruneBuffer, type BufferedEvent, type EventBuffer } from "../src/aggregate/event-buffer.js";
import type { AggregationSpec } from "../src/aggregate/window-aggregator.js";

const AGG_SETS: AggregationSpec[][] = [
  [
    { name: "n", def: agg.count("10s") },
    { name: "s", def: agg.sum("x", "10s") },
    { name: "a", def: agg.avg("x", "25s") },
    { name: "mi", def: agg.min("x", "25s") },
    { name: "ma", def: agg.max("x", "10s") },
    { name: "l", def: agg.last("x", "10s") },
  ],
  [
    { name: "n", def: agg.count("10s") },
    { name: "l", def: agg.last("x") },
  ],
  [
    { name: "n", def: agg.count() },
    { name: "s", def: agg.sum("x") },
    { name: "ma", def: agg.max("x", "5s") },
  ],
];

const eventArb = fc.record({
  ts: fc.integer({ min: 0, max: 60_000 }),
  created: fc.option(fc.integer({ min: 0, max: 5 }), { nil: Number.NEGATIVE_INFINITY }),
  x: fc.option(fc.integer({ min: -100, max: 100 }), { freq: 5 }),
});

const toEvents = (raw: { ts: number; created: number; x: number | null }[]): BufferedEvent[] => raw.map((r) => ({ ts: r.ts, created: r.created, values: [r.x] }));
const empty = (): EventBuffer => ({ columns: ["x"], events: [] });

test("pruning as of T changes no aggregate as of T or later, also after merging more (late) events", () => {
  fc.assert(
    fc.property(fc.constantFrom(...AGG_SETS), fc.array(eventArb, { maxLength: 40 }), fc.array(eventArb, { maxLength: 10 }), fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 20_000 }), (aggs, first, later, t, dt) => {
      const a = mergeEvents(
        empty(),
        toEvents(first).filter((e) => e.ts <= t),
      );
      const pruned = pruneBuffer(a, aggs, t);
      assert.deepEqual(aggregateAsOf(pruned, aggs, t).values, aggregateAsOf(a, aggs, t).values);
      const t2 = t + dt;
      const more = toEvents(later).filter((e) => e.ts <= t2);
      assert.deepEqual(aggregateAsOf(mergeEvents(pruned, more), aggs, t2).values, aggregateAsOf(mergeEvents(a, more), aggs, t2).values);
      // In steps or at once: the same buffer.
      assert.deepEqual(pruneBuffer(mergeEvents(pruned, more), aggs, t2).events, pruneBuffer(mergeEvents(a, more), aggs, t2).events);
    }),
    { numRuns: 400 },
  );
});

test("the buffer codec round-trips values, NaN and a missing created time; other columns decode to null", () => {
  const buffer: EventBuffer = {
    columns: ["a", "b"],
    events: [
      { ts: 1, created: Number.NEGATIVE_INFINITY, values: [Number.NaN, "x\ny"] },
      { ts: 2, created: 5, values: [null, new Date(7)] },
      { ts: 2, created: 6, values: [Number.POSITIVE_INFINITY, true] },
    ],
  };
  const json = encodeBuffer(buffer);
  assert.ok(!json.includes("\n"), "no raw newline");
  const back = decodeBuffer(json, ["a", "b"]);
  assert.deepEqual(back?.events, [
    { ts: 1, created: Number.NEGATIVE_INFINITY, values: [Number.NaN, "x\ny"] },
    { ts: 2, created: 5, values: [null, 7] },
    { ts: 2, created: 6, values: [Number.POSITIVE_INFINITY, true] },
  ]);
  assert.equal(decodeBuffer(json, ["a"]), null);
  assert.equal(decodeBuffer("not json", ["a", "b"]), null);
});
