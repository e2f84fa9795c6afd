import { LarderError } from "../errors.js";

/**
 * Reading model inputs out of feature rows. Missing means absent, null or NaN (what the online
 * store, the training set and xgboost's default `missing=NaN` all call missing). Numbers pass,
 * booleans are 1/0 and bigints become numbers; anything else is a TYPE_MISMATCH that names the
 * feature and the row, because guessing (parsing "12" as 12) would score garbage silently.
 */

/** A numeric input value, or NaN when missing. */
export function readNumeric(value: unknown, feature: string, row: number): number {
  if (typeof value === "number") return value;
  if (value === null || value === undefined) return NaN;
  if (typeof value === "boolean") return value ? 1 : 0;
  if (typeof value === "bigint") return Number(value);
  throw typeMismatch(feature, row, "a number", value);
}

/**
 * A categorical input value as the category string to look up, or null when missing. Numbers and
 * booleans match their string form (`1` matches the category "1"), since integer-coded categories
 * are common and JSON keeps their type.
 */
export function readCategory(value: unknown, feature: string, row: number): string | null {
  if (typeof value === "string") return value;
  if (value === null || value === undefined || (typeof value === "number" && Number.isNaN(value))) return null;
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  throw typeMismatch(feature, row, "a string", value);
}

export function typeMismatch(feature: string, row: number, expected: string, value: unknown): LarderError {
  const got = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
  return new LarderError("TYPE_MISMATCH", `model input ${JSON.stringify(feature)} (row ${row}) must be ${expected}, got ${got}`, { feature, row });
}
