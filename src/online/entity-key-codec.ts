/**
 * The one encoding of an entity's join-key values into the string key the online store uses.
 *
 * A key is the body of a JSON array: numbers in decimal (`String(n)`), strings JSON-escaped
 * (quoted), joined by ",". It is compact (`42`, `"alice"`, `7,"DE"`), stable (no locale, no
 * object key order) and unambiguous: a "," inside a string is always inside quotes, so
 * `decodeEntityKey` is `JSON.parse("[" + key + "]")`. The number 5 and the string "5" encode
 * differently (`5` vs `"5"`); callers normalise keys to the entity's type before encoding.
 *
 * @example
 * encodeEntityKey([1001, "DE"]); // '1001,"DE"'
 * decodeEntityKey('1001,"DE"'); // [1001, "DE"]
 */
import { LarderError } from "../errors.js";

export type EntityKeyPart = string | number;

export function encodeEntityKey(parts: readonly EntityKeyPart[]): string {
  let out = "";
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    if (i > 0) out += ",";
    if (typeof part === "number") {
      if (!Number.isFinite(part)) {
        throw new LarderError("INVALID_ARGUMENT", `an entity key value must be a finite number or a string, got ${String(part)}`);
      }
      // -0 and 0 are the same key.
      out += part === 0 ? "0" : String(part);
    } else if (typeof part === "string") {
      out += JSON.stringify(part);
    } else {
      throw new LarderError("INVALID_ARGUMENT", `an entity key value must be a number or a string, got ${part === null ? "null" : typeof part}`);
    }
  }
  return out;
}

export function decodeEntityKey(key: string): EntityKeyPart[] {
  if (key === "") return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(`[${key}]`);
  } catch {
    throw new LarderError("INVALID_ARGUMENT", `not an encoded entity key: ${JSON.stringify(key)}`);
  }
  const parts = parsed as unknown[];
  for (const p of parts) {
    if (typeof p !== "number" && typeof p !== "string") {
      throw new LarderError("INVALID_ARGUMENT", `not an encoded entity key: ${JSON.stringify(key)}`);
    }
  }
  return parts as EntityKeyPart[];
}
