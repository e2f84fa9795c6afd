/**
 * The property the hot routes' fast body checks (`fastBody` in src/server/route.ts) must hold,
 * driven by bodies that are mostly valid: a random valid body of the common shapes, and in about
 * half of the cases one field broken in one named way. A valid body must take the fast path and
 * parse exactly as the zod schema parses it; a broken one must be left to the schema (which must
 * reject it). Random junk alone almost never reaches the fast path, so the run also asserts a
 * minimum share of fast-path hits and that every break was tried.
 *
 * @example
 * fastBodyProperty({ fast: fastPredictBody, schema: predictRoute.body!, valid: validArb, breaks: BREAKS });
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { z } from "zod";

export type JsonBody = Record<string, unknown>;

/** One way to make a valid body invalid, named so a failure says which. */
export interface BodyBreak {
  name: string;
  apply(body: JsonBody): JsonBody;
}

/** A JSON scalar the fast paths take (finite numbers only: JSON has no NaN or Infinity). */
export const fastScalarArb: fc.Arbitrary<string | number | boolean | null> = fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));

/** A non-empty column name (short, so collisions between columns are drawn too). */
export const columnNameArb = fc.string({ minLength: 1, maxLength: 3 });

/** Columns of `n` fast scalars each: `{ name: [v, …], … }` with 1 to 3 columns. */
export function columnsArb(n: number): fc.Arbitrary<Record<string, (string | number | boolean | null)[]>> {
  return fc.dictionary(columnNameArb, fc.array(fastScalarArb, { minLength: n, maxLength: n }), { minKeys: 1, maxKeys: 3 });
}

/** A copy of `body` with `key` set to `value`. */
export function withField(body: JsonBody, key: string, value: unknown): JsonBody {
  return { ...body, [key]: value };
}

/** Breaks that set `key` to each of `values` (named `key=<json>`). */
export function fieldBreaks(key: string, values: readonly unknown[]): BodyBreak[] {
  return values.map((v) => ({ name: `${key}=${JSON.stringify(v)}`, apply: (b) => withField(b, key, v) }));
}

export function fastBodyProperty<T>(o: {
  fast: (raw: unknown) => T | undefined;
  schema: z.ZodType<T>;
  valid: fc.Arbitrary<JsonBody>;
  breaks: readonly BodyBreak[];
  numRuns?: number;
  /** The share of cases that must take the fast path (the valid ones do, about half). */
  minFastShare?: number;
}): void {
  const numRuns = o.numRuns ?? 3000;
  let fastHits = 0;
  let cases = 0;
  const tried = new Set<string>();
  const caseArb = fc.tuple(o.valid, fc.option(fc.constantFrom(...o.breaks), { nil: null, freq: 2 }));
  fc.assert(
    fc.property(caseArb, ([valid, brk]) => {
      // Through JSON, as a request body arrives (drops undefined, turns −0 into 0).
      const body: unknown = JSON.parse(JSON.stringify(brk === null ? valid : brk.apply(valid)));
      const parsed = o.schema.safeParse(body);
      const fast = o.fast(body);
      cases++;
      if (fast !== undefined) fastHits++;
      if (brk === null) {
        assert.ok(parsed.success, `the generator made a body the schema rejects: ${JSON.stringify(body)}: ${parsed.error?.message}`);
        assert.notEqual(fast, undefined, `the fast path declined a common valid body: ${JSON.stringify(body)}`);
        assert.deepEqual(fast, parsed.data);
      } else {
        tried.add(brk.name);
        assert.equal(parsed.success, false, `break ${brk.name} left a valid body: ${JSON.stringify(body)}`);
        assert.equal(fast, undefined, `the fast path accepted a body the schema rejects (break ${brk.name}): ${JSON.stringify(body)}`);
      }
    }),
    { numRuns },
  );
  const share = fastHits / cases;
  assert.ok(share >= (o.minFastShare ?? 0.3), `only ${fastHits} of ${cases} bodies took the fast path`);
  const untried = o.breaks.map((b) => b.name).filter((n) => !tried.has(n));
  assert.deepEqual(untried, [], "every break is tried in a run");
}
