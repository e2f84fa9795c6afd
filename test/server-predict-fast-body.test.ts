/**
 * The fast body check of POST /v1/predict/:model (`fastBody`) against its zod schema: whatever the
 * fast path accepts, the schema accepts and parses to the same value; the common shapes take the
 * fast path; everything else is left to the schema (so errors keep their paths).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { fastPredictBody, predictRoute } from "../src/server/routes/predict.js";
import { columnNameArb, columnsArb, fastBodyProperty, fastScalarArb, fieldBreaks, type BodyBreak, type JsonBody } from "./helpers/fast-body-property.js";

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
    null,
    [],
    "x",
    {},
    { entities: {} },
    { entities: [] },
    { entities: null },
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

test("property: random junk is either declined or parsed as the schema parses it", () => {
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
  fc.assert(
    fc.property(body, (b) => agrees(JSON.parse(JSON.stringify(b)))),
    { numRuns: 3000 },
  );
});

/**
 * Valid bodies of the shapes the fast path takes: entity columns of one length, request fields
 * (a column of that length or one value, never an entity column's name), version or stage,
 * contributions.
 */
const validBody: fc.Arbitrary<JsonBody> = fc.integer({ min: 0, max: 3 }).chain((n) =>
  fc
    .record(
      {
        entities: columnsArb(n),
        request: fc.dictionary(columnNameArb, fc.oneof(fc.array(fastScalarArb, { minLength: n, maxLength: n }), fastScalarArb), { maxKeys: 2 }),
        choice: fc.oneof(fc.record({ version: fc.integer({ min: 1, max: 1000 }) }), fc.record({ stage: fc.constantFrom("production", "staging") })),
        contributions: fc.boolean(),
      },
      { requiredKeys: ["entities"] },
    )
    .map(({ choice, request, ...rest }) => {
      const out: JsonBody = { ...rest, ...choice };
      if (request !== undefined) out.request = Object.fromEntries(Object.entries(request).filter(([name]) => !Object.hasOwn(rest.entities, name)));
      return out;
    }),
);

/** First entity column's name and length. */
function firstColumn(b: JsonBody): [string, number] {
  const [name, values] = Object.entries(b.entities as Record<string, unknown[]>)[0]!;
  return [name, values.length];
}

const BREAKS: BodyBreak[] = [
  ...fieldBreaks("contributions", [null, "true", 1, 0, [], {}]),
  ...fieldBreaks("entities", [{}, null, [], "x", { id: 1 }, { "": [1] }, { id: [{}] }, { id: [[1]] }, { id: null }]),
  {
    name: "entities: unequal lengths",
    apply: (b) => {
      const [name, n] = firstColumn(b);
      return { ...b, entities: { [name]: Array(n).fill(1), [`${name}_`]: Array(n + 1).fill(1) } };
    },
  },
  { name: "entities: missing", apply: ({ entities: _e, ...b }) => b },
  ...fieldBreaks("request", [null, [], "x", { x: {} }, { x: [{}] }, { "": 1 }]),
  { name: "request: a column of another length", apply: (b) => ({ ...b, request: { x_: Array(firstColumn(b)[1] + 1).fill(1) } }) },
  { name: "request: an entity column's name", apply: (b) => ({ ...b, request: { [firstColumn(b)[0]]: 1 } }) },
  ...fieldBreaks("version", [0, -1, 1.5, "1", null]),
  ...fieldBreaks("stage", ["prod", "", null, 1]),
  { name: "version and stage", apply: (b) => ({ ...b, version: 1, stage: "production" }) },
  { name: "an unknown key", apply: (b) => ({ ...b, extra: 1 }) },
];

test("property: mostly valid predict bodies take the fast path and parse alike; each broken field is left to the schema", () => {
  fastBodyProperty({ fast: fastPredictBody, schema, valid: validBody, breaks: BREAKS, numRuns: 3000, minFastShare: 0.3 });
});
