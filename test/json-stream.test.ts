/**
 * The streamed JSON of large responses (src/server/json-stream.ts): its text is exactly
 * JSON.stringify's for random nested values and every chunk size, long arrays are cut at slices of
 * `rows` elements, and other work runs between the slices.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { jsonStream, jsonTextPieces } from "../src/server/json-stream.js";
import { rng } from "./helpers/seeded-random.js";

async function text(value: unknown, rows: number): Promise<{ text: string; pieces: number }> {
  let out = "";
  let pieces = 0;
  for await (const piece of jsonTextPieces(value, rows)) {
    out += piece;
    pieces++;
  }
  return { text: out, pieces };
}

/** A random JSON-ish value: scalars (incl. the ones JSON.stringify rewrites or omits), arrays of every length around the cut, objects. */
function randomValue(r: () => number, depth: number): unknown {
  const pick = Math.floor(r() * (depth > 3 ? 6 : 9));
  switch (pick) {
    case 0:
      return [null, true, false, 0, -0, 1.5e300, -7, Number.NaN, Number.POSITIVE_INFINITY][Math.floor(r() * 9)];
    case 1:
      return ["", "PRESENT", 'quote " back \\ nl \n', "\u2028 é 🥕", "\ud800"][Math.floor(r() * 5)];
    case 2:
      return [undefined, () => 1, Symbol("s")][Math.floor(r() * 3)];
    case 3:
      return new Date(Date.UTC(2024, 0, 1) + Math.floor(r() * 1e9));
    case 4:
      return r() * 1000;
    case 5:
      return Object.assign(Object.create(null) as object, { z: 1, a: [1, 2, 3] });
    case 6:
    case 7:
      return Array.from({ length: Math.floor(r() * 12) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 5); i > 0; i--) o[["a", "b", "full__name", "é", "1", ""][Math.floor(r() * 6)]!] = randomValue(r, depth + 1);
      return o;
    }
  }
}

test("the streamed text equals JSON.stringify for random values and chunk sizes", async () => {
  const r = rng(11);
  for (let i = 0; i < 400; i++) {
    const value = randomValue(r, 0);
    for (const rows of [1, 2, 3, 5, 1000]) {
      assert.equal((await text(value, rows)).text, JSON.stringify(value) ?? "", `value ${i}, rows ${rows}`);
    }
  }
});

test("Feast and predict response shapes: the same text, cut into slices of `rows` rows", async () => {
  const n = 2_345;
  const times = Array.from({ length: n }, (_, i) => new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString());
  const feast = {
    metadata: { feature_names: ["customer_id", "v__f0", "v__f1"], as_of: { v: times.map((t, i) => (i % 3 ? t : null)) } },
    results: [
      { values: Array.from({ length: n }, (_, i) => i + 1), statuses: Array<string>(n).fill("PRESENT"), event_timestamps: times },
      { values: Array.from({ length: n }, (_, i) => (i % 5 ? i / 7 : null)), statuses: Array.from({ length: n }, (_, i) => (i % 5 ? "PRESENT" : "NOT_FOUND")), event_timestamps: times },
      { values: Array.from({ length: n }, (_, i) => `plan "${i}"`), statuses: Array<string>(n).fill("OUTSIDE_MAX_AGE"), event_timestamps: times },
    ],
  };
  const predict = {
    request_id: "r-1",
    model: "churn",
    version: 3,
    stage: null,
    service: "churn",
    feature_names: ["f0", "f1"],
    results: Array.from({ length: n }, (_, i) => ({ prediction: i / n, margin: -i, features: { f0: i, f1: null }, contributions: { f0: 0.5, f1: 0 }, bias: 0.1, missing: undefined })),
  };
  for (const value of [feast, predict]) {
    const expected = JSON.stringify(value);
    const whole = await text(value, 1_000_000);
    assert.equal(whole.text, expected);
    assert.equal(whole.pieces, 1, "no long array: one piece");
    for (const rows of [1, 999, 1000]) {
      const cut = await text(value, rows);
      assert.equal(cut.text, expected, `rows ${rows}`);
      assert.deepEqual(JSON.parse(cut.text), JSON.parse(expected));
      // Feast: 2 as_of + 3 × 3 result columns of n rows; predict: one results array of n rows.
      const slices = Math.ceil(n / rows) * (value === feast ? 10 : 1);
      assert.ok(cut.pieces >= slices, `rows ${rows}: ${cut.pieces} pieces, expected at least ${slices}`);
    }
  }
});

test("other work runs between the slices of a long array", async () => {
  const value = { values: Array.from({ length: 10_000 }, (_, i) => i) };
  let turns = 0;
  let running = true;
  const tick = (): void => {
    turns++;
    if (running) setImmediate(tick);
  };
  setImmediate(tick);
  let pieces = 0;
  let bytes = "";
  for await (const chunk of jsonStream(value, 100)) {
    pieces++;
    bytes += (chunk as Buffer).toString("utf8");
  }
  running = false;
  assert.equal(bytes, JSON.stringify(value));
  assert.ok(pieces >= 100, `${pieces} pieces`);
  // One turn of the ticker per slice at least (a serialization in one step gives it none).
  assert.ok(turns >= 99, `the ticker ran ${turns} times during 100 slices`);
});
