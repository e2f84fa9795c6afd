import { Readable } from "node:stream";
import { yieldToEventLoop } from "../serving/online-features.js";

/** A piece of JSON text; `cut` after a slice of a long array, where the stream yields. */
interface Piece {
  text: string;
  cut: boolean;
}

function isPlainObject(v: object): v is Record<string, unknown> {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** What JSON.stringify serializes in place of `v` under `key` (its toJSON, if any). */
function jsonValue(v: unknown, key: string): unknown {
  if ((typeof v === "object" && v !== null) || typeof v === "bigint") {
    const toJSON = (v as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function") return (toJSON as (key: string) => unknown).call(v, key);
  }
  return v;
}

/** Most JSON values (scalars, arrays, objects) an element may hold to be serialized in a slice. */
const SMALL_ELEMENT = 256;

/** The JSON values `v` holds, counted until more than `budget`: then -1. */
function countValues(v: unknown, budget: number): number {
  if (typeof v !== "object" || v === null) return 1;
  let n = 1;
  for (const x of Array.isArray(v) ? v : isPlainObject(v) ? Object.values(v) : []) {
    n += countValues(x, budget - n);
    if (n > budget) return -1;
  }
  return n > budget ? -1 : n;
}

/** True when every element of `values[start, end)` is small: JSON.stringify of them is one short step. */
function allSmall(values: readonly unknown[], start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (countValues(values[i], SMALL_ELEMENT) < 0) return false;
  return true;
}

/**
 * The text of `JSON.stringify(value)`, piece by piece: an array is taken in slices of `rows`
 * elements, a slice of small elements is one JSON.stringify call (a cut follows it when the array
 * is longer than `rows`), larger elements and objects are walked. Returns false where
 * JSON.stringify would omit the value (undefined, a function, a symbol).
 */
function* pieces(raw: unknown, key: string, rows: number): Generator<Piece, boolean> {
  const value = jsonValue(raw, key);
  if (typeof value !== "object" || value === null || (!Array.isArray(value) && !isPlainObject(value))) {
    const text = JSON.stringify(value) as string | undefined;
    if (text === undefined) return false;
    yield { text, cut: false };
    return true;
  }
  if (Array.isArray(value)) {
    const long = value.length > rows;
    if (!long && allSmall(value, 0, value.length)) {
      yield { text: JSON.stringify(value), cut: false };
      return true;
    }
    yield { text: "[", cut: false };
    for (let start = 0; start < value.length; start += rows) {
      const end = Math.min(value.length, start + rows);
      if (allSmall(value, start, end)) {
        // The slice's own brackets dropped; "," joins it to the previous one.
        yield { text: (start > 0 ? "," : "") + JSON.stringify(value.slice(start, end)).slice(1, -1), cut: false };
      } else {
        for (let i = start; i < end; i++) {
          if (i > 0) yield { text: ",", cut: false };
          // An omitted element is null in an array, as JSON.stringify writes it.
          if (!(yield* pieces(value[i], String(i), rows))) yield { text: "null", cut: false };
        }
      }
      if (long) yield { text: "", cut: true };
    }
    yield { text: "]", cut: false };
    return true;
  }
  yield { text: "{", cut: false };
  let first = true;
  for (const k of Object.keys(value)) {
    const v = jsonValue(value[k], k);
    if (v === undefined || typeof v === "function" || typeof v === "symbol") continue;
    yield { text: (first ? "" : ",") + JSON.stringify(k) + ":", cut: false };
    first = false;
    yield* pieces(v, k, rows);
  }
  yield { text: "}", cut: false };
  return true;
}

/**
 * `JSON.stringify(value)` as text pieces with a turn of the event loop after each slice of `rows`
 * elements of a long array, so serializing a 100k-row response (27 MB) does not stall every other
 * request of the server for its whole duration. The concatenated pieces are exactly
 * JSON.stringify's text (test/json-stream.test.ts); a toJSON of an element of a sliced array is
 * called with its index in the slice rather than in the array (no response value has one).
 */
export async function* jsonTextPieces(value: unknown, rows: number): AsyncGenerator<string> {
  const size = Math.max(1, Math.floor(rows));
  let buffer = "";
  for (const piece of pieces(value, "", size)) {
    buffer += piece.text;
    if (piece.cut) {
      if (buffer !== "") yield buffer;
      buffer = "";
      await yieldToEventLoop();
    }
  }
  if (buffer !== "") yield buffer;
}

/** `jsonTextPieces` as a byte stream, for `reply.send(stream)` (UTF-8, back-pressured). */
export function jsonStream(value: unknown, rows: number): Readable {
  return Readable.from(jsonTextPieces(value, rows), { objectMode: false });
}
