import { LarderError } from "../errors.js";
import type { ValueType } from "../types.js";

/**
 * Entity keys, normalised so equal entities compare equal: a single int key is a number (so "5"
 * and 5 are one entity, as in Feast), anything else a string (composite keys joined by U+001F).
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
