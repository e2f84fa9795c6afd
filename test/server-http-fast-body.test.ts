/**
 * The fast body check of POST /get-online-features (`fastBody`) against its zod schema: whatever
 * the fast path accepts, the schema accepts and parses to the same value; the common shapes take
 * the fast path; everything else is left to the schema (so errors keep their paths).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fastGetOnlineFeaturesBody, getOnlineFeaturesRoute } from "../src/server/routes/get-online-features.js";

const schema = getOnlineFeaturesRoute.body!;

function agrees(body: unknown): void {
  const fast = fastGetOnlineFeaturesBody(body);
  if (fast === undefined) return;
  const parsed = schema.safeParse(body);
  assert.ok(parsed.success, `the fast path accepted a body the schema rejects: ${JSON.stringify(body)}`);
  assert.deepEqual(fast, parsed.data);
}

test("common bodies take the fast path and parse as the schema parses them", () => {
  const bodies = [
    { features: ["v:a", "w:b"], entities: { customer_id: [1, 2] } },
    { features: ["v:a"], entities: { customer_id: [1] }, full_feature_names: true },
    { feature_service: "svc", entities: { id: ["x", null], flag: [true, false], n: [1.5, -2] } },
    { features: ["v:a"], entities: {} },
    { features: ["v:a"], entities: { id: [] } },
  ];
  for (const b of bodies) {
    assert.notEqual(fastGetOnlineFeaturesBody(b), undefined, JSON.stringify(b));
    agrees(b);
  }
});

test("bodies the schema rejects, or that need it (request_context), are left to the schema", () => {
  const bodies: unknown[] = [
    null, [], "x", 1, {},
    { entities: { id: [1] } },
    { features: [], entities: { id: [1] } },
    { features: [""], entities: { id: [1] } },
    { features: ["v:a", 3], entities: { id: [1] } },
    { features: "v:a", entities: { id: [1] } },
    { features: ["v:a"], feature_service: "s", entities: { id: [1] } },
    { feature_service: "", entities: { id: [1] } },
    { feature_service: "s", entities: { id: [1] }, full_feature_names: "yes" },
    { features: ["v:a"] },
    { features: ["v:a"], entities: [] },
    { features: ["v:a"], entities: null },
    { features: ["v:a"], entities: { id: 1 } },
    { features: ["v:a"], entities: { id: [1, 2], x: [1] } },
    { features: ["v:a"], entities: { id: [{}] } },
    { features: ["v:a"], entities: { id: [[1]] } },
    { features: ["v:a"], entities: { "": [1] } },
    { features: ["v:a"], entities: { id: [1] }, extra: 1 },
    { features: ["v:a"], entities: { id: [1] }, request_context: { x: [1] } },
  ];
  for (const b of bodies) assert.equal(fastGetOnlineFeaturesBody(b), undefined, JSON.stringify(b));
});

test("property: the fast path never accepts what the schema rejects, and parses alike", () => {
  const scalar = fc.oneof(fc.string({ maxLength: 3 }), fc.double(), fc.integer(), fc.boolean(), fc.constant(null), fc.constant({}), fc.constant([1]));
  const col = fc.array(scalar, { maxLength: 3 });
  const body = fc.record(
    {
      features: fc.oneof(fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), { maxLength: 3 }), fc.string()),
      feature_service: fc.oneof(fc.string({ maxLength: 3 }), fc.integer()),
      full_feature_names: fc.oneof(fc.boolean(), fc.constant("true"), fc.constant(null)),
      entities: fc.oneof(fc.dictionary(fc.string({ maxLength: 3 }), col, { maxKeys: 3 }), fc.constant(null), fc.array(col)),
      request_context: fc.dictionary(fc.string({ maxLength: 3 }), col, { maxKeys: 2 }),
      other: fc.integer(),
    },
    { requiredKeys: [] },
  );
  fc.assert(fc.property(body, (b) => agrees(JSON.parse(JSON.stringify(b)))), { numRuns: 2000 });
});
