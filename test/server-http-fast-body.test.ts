/**
 * The fast body check of POST /get-online-features (`fastBody`) against its zod schema: whatever
 * the fast path accepts, the schema accepts and parses to the same value; the common shapes take
 * the fast path; everything else is left to the schema (so errors keep their paths).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fastGetOnlineFeaturesBody, getOnlineFeaturesRoute } from "../src/server/routes/get-online-features.js";
import { columnsArb, fastBodyProperty, fieldBreaks, type BodyBreak, type JsonBody } from "./helpers/fast-body-property.js";

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
    null,
    [],
    "x",
    1,
    {},
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

test("property: random junk is either declined or parsed as the schema parses it", () => {
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
  fc.assert(
    fc.property(body, (b) => agrees(JSON.parse(JSON.stringify(b)))),
    { numRuns: 2000 },
  );
});

/** Valid bodies of the shapes the fast path takes: features or a service, entity columns of one length. */
const validBody: fc.Arbitrary<JsonBody> = fc.integer({ min: 0, max: 3 }).chain((n) =>
  fc
    .record(
      {
        selection: fc.oneof(fc.record({ features: fc.array(fc.string({ minLength: 1, maxLength: 5 }), { minLength: 1, maxLength: 3 }) }), fc.record({ feature_service: fc.string({ minLength: 1, maxLength: 5 }) })),
        full_feature_names: fc.boolean(),
        entities: fc.oneof({ weight: 6, arbitrary: columnsArb(n) }, { weight: 1, arbitrary: fc.constant({}) }),
      },
      { requiredKeys: ["selection", "entities"] },
    )
    .map(({ selection, ...rest }) => ({ ...selection, ...rest })),
);

/** First entity column's name and length (a body always has a selection; columns may be none). */
function firstColumn(b: JsonBody): [string, number] {
  const [name, values] = Object.entries(b.entities as Record<string, unknown[]>)[0] ?? ["id", []];
  return [name, values.length];
}

const BREAKS: BodyBreak[] = [
  ...fieldBreaks("full_feature_names", [null, "true", 1, 0, [], {}]),
  ...fieldBreaks("entities", [null, [], "x", 1, { id: 1 }, { "": [1] }, { id: [{}] }, { id: [[1]] }, { id: null }]),
  {
    name: "entities: unequal lengths",
    apply: (b) => {
      const [name, n] = firstColumn(b);
      return { ...b, entities: { [name]: Array(n).fill(1), [`${name}_`]: Array(n + 1).fill(1) } };
    },
  },
  { name: "entities: missing", apply: ({ entities: _e, ...b }) => b },
  { name: "features and feature_service", apply: (b) => ({ ...b, features: ["v:a"], feature_service: "s" }) },
  { name: "neither features nor feature_service", apply: ({ features: _f, feature_service: _s, ...b }) => b },
  { name: "features: empty", apply: ({ feature_service: _s, ...b }) => ({ ...b, features: [] }) },
  { name: "features: not an array", apply: ({ feature_service: _s, ...b }) => ({ ...b, features: "v:a" }) },
  { name: "features: an empty name", apply: ({ feature_service: _s, ...b }) => ({ ...b, features: ["v:a", ""] }) },
  { name: "features: a number", apply: ({ feature_service: _s, ...b }) => ({ ...b, features: ["v:a", 3] }) },
  { name: "features: null", apply: ({ feature_service: _s, ...b }) => ({ ...b, features: null }) },
  { name: "feature_service: empty", apply: ({ features: _f, ...b }) => ({ ...b, feature_service: "" }) },
  { name: "feature_service: a number", apply: ({ features: _f, ...b }) => ({ ...b, feature_service: 3 }) },
  { name: "feature_service: null", apply: ({ features: _f, ...b }) => ({ ...b, feature_service: null }) },
  { name: "an unknown key", apply: (b) => ({ ...b, extra: 1 }) },
];

test("property: mostly valid bodies take the fast path and parse alike; each broken field is left to the schema", () => {
  fastBodyProperty({ fast: fastGetOnlineFeaturesBody, schema, valid: validBody, breaks: BREAKS, numRuns: 3000, minFastShare: 0.3 });
});
