/**
 * The packed online row: rows written before created timestamps were stored (the form without
 * one) read as they did, and both forms give their (event, created) timestamps without decoding.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { isOlderThanStored, packRow, packedVersion, unpackRow } from "../src/online/packed-row.js";

test("the form without a created timestamp (older data) still reads; the form with one round-trips", () => {
  const old = '1700000000000,1700000000500,null,"abcdefghijkl",1.5,"x,\\"y",null,true';
  assert.deepEqual(unpackRow(old), { eventTs: 1700000000000, createdTs: null, writtenAt: 1700000000500, expiresAt: null, schemaId: "abcdefghijkl", values: [1.5, 'x,"y', null, true] });
  assert.equal(packRow(1700000000000, 1700000000500, null, "abcdefghijkl", [1.5, 'x,"y', null, true]), old);
  assert.deepEqual(packedVersion(old), { eventTs: 1700000000000, createdTs: Number.NEGATIVE_INFINITY });
  for (const [expires, values] of [
    [null, []],
    [1800000000000, ["a"]],
    [-5, [0]],
  ] as const) {
    const withCreated = packRow(-86400000, 7, expires, "s", values, 1699999999999);
    assert.deepEqual(unpackRow(withCreated), { eventTs: -86400000, createdTs: 1699999999999, writtenAt: 7, expiresAt: expires, schemaId: "s", values });
    assert.deepEqual(packedVersion(withCreated), { eventTs: -86400000, createdTs: 1699999999999 });
    const without = packRow(-86400000, 7, expires, "s", values);
    assert.deepEqual(packedVersion(without), { eventTs: -86400000, createdTs: Number.NEGATIVE_INFINITY });
  }
  assert.equal(isOlderThanStored({ eventTs: 5, createdTs: 3 }, 5, 2), true);
  assert.equal(isOlderThanStored({ eventTs: 5, createdTs: 3 }, 5, 3), false);
  assert.equal(isOlderThanStored({ eventTs: 5, createdTs: Number.NEGATIVE_INFINITY }, 5, null), false);
  assert.equal(isOlderThanStored({ eventTs: 5, createdTs: 3 }, 6, null), false);
});
