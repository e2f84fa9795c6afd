import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { decodeEntityKey, encodeEntityKey } from "../src/data/entity-keys.js";

test("entity keys: compact, stable forms", () => {
  assert.equal(encodeEntityKey([1001]), "1001");
  assert.equal(encodeEntityKey(["alice"]), '"alice"');
  assert.equal(encodeEntityKey([7, "DE"]), '7,"DE"');
  assert.equal(encodeEntityKey([-1.5, 'a,"b"']), '-1.5,"a,\\"b\\""');
  assert.equal(encodeEntityKey([-0]), "0");
  assert.equal(encodeEntityKey([]), "");
  assert.notEqual(encodeEntityKey([5]), encodeEntityKey(["5"]));
  assert.notEqual(encodeEntityKey(["a", "b"]), encodeEntityKey(["a,b"]));
});

test("entity keys: non-finite numbers and other types are INVALID_ARGUMENT; garbage does not decode", () => {
  for (const bad of [NaN, Infinity, null, undefined, true, {}]) {
    assert.throws(() => encodeEntityKey([bad as unknown as number]), { code: "INVALID_ARGUMENT" });
  }
  for (const bad of ['"unterminated', "1,,2", "[1]", "true", "null"]) assert.throws(() => decodeEntityKey(bad), { code: "INVALID_ARGUMENT" });
});

test("entity keys: decode(encode(parts)) = parts, and distinct parts give distinct keys", () => {
  const part = fc.oneof(
    fc.string({ unit: "grapheme-composite" }),
    fc.string(),
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
  );
  fc.assert(
    fc.property(fc.array(part, { maxLength: 4 }), fc.array(part, { maxLength: 4 }), (a, b) => {
      assert.deepEqual(decodeEntityKey(encodeEntityKey(a)), a);
      if (JSON.stringify(a) !== JSON.stringify(b)) assert.notEqual(encodeEntityKey(a), encodeEntityKey(b));
    }),
    { numRuns: 2000 },
  );
});
