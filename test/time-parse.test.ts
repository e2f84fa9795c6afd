/**
 * The one timestamp parser (src/time.ts): ISO-8601 with years 0000–9999 kept as written, offsets
 * within ±23:59, epoch ms within ±8.64e15; and the places that take timestamps use it (entity rows
 * of training sets, CLI options, Parquet columns built from values).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { columnFromValues } from "../src/data/columnar.js";
import { epochMsOf, formatIsoOrNull, parseIsoMs, toEpochMs } from "../src/time.js";
import { expectLarderError } from "./helpers/feature-repo.js";

test("ISO-8601: years 0000–9999 as written, leap days by the proleptic calendar, offsets within ±23:59", () => {
  assert.equal(new Date(parseIsoMs("0024-06-30T00:00:00Z")).toISOString(), "0024-06-30T00:00:00.000Z");
  assert.equal(new Date(parseIsoMs("0000-02-29")).toISOString(), "0000-02-29T00:00:00.000Z");
  assert.equal(new Date(parseIsoMs("0099-12-31T23:59:59.999Z")).toISOString(), "0099-12-31T23:59:59.999Z");
  assert.equal(new Date(parseIsoMs("9999-12-31T23:59:59Z")).toISOString(), "9999-12-31T23:59:59.000Z");
  assert.equal(parseIsoMs("2024-06-30T12:00:00+23:59"), Date.UTC(2024, 5, 29, 12, 1));
  assert.equal(parseIsoMs("2024-06-30T12:00:00-2359"), Date.UTC(2024, 6, 1, 11, 59));
  assert.equal(parseIsoMs("2024-06-30T12:00:00"), Date.UTC(2024, 5, 30, 12)); // no zone: UTC
  for (const bad of ["2024-06-30T12:00:00+99:99", "2024-06-30T12:00:00+24:00", "2024-06-30T12:00:00+05:60", "1900-02-29", "2023-02-29", "2024-04-31", "2024-13-01", "2024-06-30T24:00:00Z", "+275760-09-13", "yesterday", ""]) {
    assert.ok(Number.isNaN(parseIsoMs(bad)), bad);
  }
});

test("epoch ms within ±8.64e15 only; Dates must be valid; bigints are range-checked before conversion", () => {
  assert.equal(epochMsOf(8.64e15), 8.64e15);
  assert.equal(epochMsOf(-8.64e15), -8.64e15);
  for (const bad of [8640000000000001, -8640000000000001, Number.NaN, Number.POSITIVE_INFINITY, new Date(Number.NaN), 8640000000000001n, 2n ** 80n, true, null, [1], {}]) {
    assert.ok(Number.isNaN(epochMsOf(bad)), String(bad));
  }
  assert.equal(epochMsOf(86_400_000n), 86_400_000);
  assert.equal(formatIsoOrNull(8640000000000001), null);
  assert.equal(formatIsoOrNull(0), "1970-01-01T00:00:00.000Z");
});

test("toEpochMs and timestamp columns reject out-of-range values with INVALID_TIMESTAMP naming the field", async () => {
  const err = await expectLarderError(
    Promise.resolve().then(() => toEpochMs(8640000000000001, "--start")),
    "INVALID_TIMESTAMP",
  );
  assert.match(err.message, /--start: cannot parse timestamp 8640000000000001 .*±8\.64e15/);
  const col = await expectLarderError(
    Promise.resolve().then(() => columnFromValues("timestamp", [0, "0024-06-30T00:00:00Z", -8640000000000001], "event_timestamp")),
    "INVALID_TIMESTAMP",
  );
  assert.match(col.message, /"event_timestamp" row 2: cannot parse timestamp -8640000000000001/); // columnar rows count from 0
  assert.equal(new Date(columnFromValues("timestamp", ["0024-06-30T00:00:00Z"], "t").values[0] as number).toISOString(), "0024-06-30T00:00:00.000Z");
});
