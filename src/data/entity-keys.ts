import { LarderError } from "../errors.js";
import type { ValueType } from "../types.js";

/**
 * Entity keys, in one place: join key values normalised to the entity's types (`normaliseKeyPart`)
 * so equal entities compare equal, then either an in-memory key for the offline joins and
 * pipelines (`encodeKeys`) or the string key of the online store (`onlineEntityKey`, through
 * `encodeEntityKey`). Training sets, materialization, online reads and pushes all key entities here.
 */

/**
 * An in-memory key: a single int key is a number (so "5" and 5 are one entity, as in Feast),
 * anything else a string (composite keys joined by U+001F).
 */
export type EntityKey = number | string;

const SEP = "\u001f";

export function normaliseKeyPart(value: unknown, type: ValueType, column: string): string | number | null {
  if (value === null || value === undefined) return null;
  if (type === "string") {
    if (typeof value === "string") return value;
    if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") return String(value);
  } else {
    let n = Number.NaN;
    if (typeof value === "number") n = value;
    else if (typeof value === "bigint") n = Number(value);
    else if (typeof value === "string" && /^\s*-?\d+\s*$/.test(value)) n = Number(value);
    if (Number.isInteger(n)) {
      if (!Number.isSafeInteger(n)) throw new LarderError("VALUE_OUT_OF_RANGE", `join key ${JSON.stringify(column)}: ${String(value)} is beyond ±2^53`, { column });
      return n;
    }
  }
  throw new LarderError("TYPE_MISMATCH", `join key ${JSON.stringify(column)}: expected ${type}, got ${typeof value} ${JSON.stringify(String(value))}`, { column, expected: type });
}

/**
 * Builds one normalised key per row from the join key columns' values. Rows with a null key part
 * get null (they match nothing).
 */
export function encodeKeys(columns: readonly ArrayLike<unknown>[], types: readonly ValueType[], names: readonly string[], numRows: number): (EntityKey | null)[] {
  const out = new Array<EntityKey | null>(numRows);
  if (columns.length === 1) {
    const col = columns[0]!;
    const type = types[0]!;
    const name = names[0]!;
    for (let i = 0; i < numRows; i++) out[i] = normaliseKeyPart(col[i], type, name);
    return out;
  }
  for (let i = 0; i < numRows; i++) {
    const parts: (string | number)[] = [];
    let isNull = false;
    for (let k = 0; k < columns.length; k++) {
      const p = normaliseKeyPart(columns[k]![i], types[k]!, names[k]!);
      if (p === null) {
        isNull = true;
        break;
      }
      parts.push(p);
    }
    out[i] = isNull ? null : parts.join(SEP);
  }
  return out;
}

/**
 * The online store key of an entity from its join key values (in join key order), normalised to
 * the entity's types first, as the offline join does: "5" and 5 are one entity for int64 and
 * string keys. Null when a key part is null (such a row matches nothing). Materialization and
 * online reads both go through this one function, so a written key is the key a read asks for.
 */
export function onlineEntityKey(parts: readonly unknown[], types: readonly ValueType[], names: readonly string[]): string | null {
  const norm: EntityKeyPart[] = [];
  for (let k = 0; k < parts.length; k++) {
    const p = normaliseKeyPart(parts[k], types[k]!, names[k]!);
    if (p === null) return null;
    norm.push(p);
  }
  return encodeEntityKey(norm);
}

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
