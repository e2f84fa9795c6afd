/**
 * The fast body check of POST /v1/predict/:model (`fastBody`) against its zod schema: whatever the
 * fast path accepts, the schema accepts and parses to the same value; the common shapes take the
 * fast path; everything else is left to the schema (so errors keep their paths).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fastPredictBody, predictRoute } from "../src/server/routes/predict.js";

const schema = predictRoute.body!;

function agrees(body: unknown): void {
  const fast = fastPredictBody(body);
  if (fast === undefined) return;
  const parsed = schema.safeParse(body);
  assert.ok(parsed.success, `the fast path accepted a body the schema rejects: ${JSON.stringify(body)}`);
  assert.deepEqual(fast, parsed.data);
}

test("common predict bodies take the fast path and parse as the schema parses them", () => {
  const bodies = [
    { entities: { customer_id: [1, 2] } },
    { entities: { customer_id: [1] }, request: { cart_value: [12.5] } },
    { entities: { customer_id: [1, 2] }, request: { cart_value: 12.5, channel: ["web", null] }, contributions: true },
    { entities: { customer_id: ["7"] }, version: 3 },
    { entities: { customer_id: [1] }, stage: "staging", contributions: false },
    { entities: { id: [] } },
  ];
  for (const b of bodies) {
    assert.notEqual(fastPredictBody(b), undefined, JSON.stringify(b));
    agrees(b);
  }
});

test("predict bodies the schema rejects are left to it", () => {
  const bodies: unknown[] = [
    null, [], "x", {}, { entities: {} }, { entities: [] }, { entities: null },
    { entities: { id: 1 } },
    { entities: { id: [1, 2], x: [1] } },
    { entities: { id: [{}] } },
    { entities: { "": [1] } },
    { entities: { id: [1] }, request: { cart_value: [1, 2] } },
    { entities: { id: [1] }, request: { id: [1] } },
    { entities: { id: [1] }, request: { x: {} } },
    { entities: { id: [1] }, request: [] },
    { entities: { id: [1] }, version: 0 },
    { entities: { id: [1] }, version: 1.5 },
    { entities: { id: [1] }, version: 1, stage: "production" },
    { entities: { id: [1] }, stage: "prod" },
    { entities: { id: [1] }, contributions: "yes" },
    { entities: { id: [1] }, extra: 1 },
  ];
  for (const b of bodies) {
    assert.equal(fastPredictBody(b), undefined, JSON.stringify(b));
    assert.equal(schema.safeParse(b).success, false, `the schema rejects ${JSON.stringify(b)}`);
  }
});

test("property: the predict fast path never accepts what the schema rejects, and parses alike", () => {
  const scalar = fc.oneof(fc.string({ maxLength: 3 }), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant({}), fc.constant([1]));
  const col = fc.array(scalar, { maxLength: 3 });
  const body = fc.record(
    {
      entities: fc.oneof(fc.dictionary(fc.string({ maxLength: 3 }), col, { maxKeys: 3 }), fc.constant(null), fc.array(col)),
      request: fc.oneof(fc.dictionary(fc.string({ maxLength: 3 }), fc.oneof(col, scalar), { maxKeys: 2 }), fc.constant([])),
      version: fc.oneof(fc.integer({ min: -1, max: 3 }), fc.double(), fc.constant("1")),
      stage: fc.oneof(fc.constant("production"), fc.constant("staging"), fc.string({ maxLength: 3 })),
      contributions: fc.oneof(fc.boolean(), fc.constant("true"), fc.constant(null)),
      other: fc.integer(),
    },
    { requiredKeys: [] },
  );
  fc.assert(fc.property(body, (b) => agrees(JSON.parse(JSON.stringify(b)))), { numRuns: 3000 });
});
