import type { BatchSourceDef, FeatureRow } from "../definitions/definition-types.js";
import { LarderError } from "../errors.js";
import type { ValueType } from "../types.js";

/**
 * Checks a source's declared `schema` against a real row of it (apply's sample row, a backfill's
 * first row): every declared column must exist (UNKNOWN_COLUMN) and a non-null value must have the
 * declared type as the reader delivers it (TYPE_MISMATCH): numbers for numeric types, strings,
 * booleans, Dates for timestamps. Columns the schema leaves out are allowed.
 */
export function checkDeclaredSchema(source: BatchSourceDef, row: FeatureRow): void {
  const schema = source.schema;
  if (!schema) return;
  for (const [column, type] of Object.entries(schema)) {
    if (!Object.hasOwn(row, column)) {
      throw new LarderError("UNKNOWN_COLUMN", `source ${JSON.stringify(source.name)} declares column ${JSON.stringify(column)} (${type}), but its data has no such column (it has: ${Object.keys(row).join(", ")})`, {
        source: source.name,
        column,
      });
    }
    const v: unknown = row[column];
    if (v !== null && v !== undefined && !deliveredAs(type, v)) {
      const shown = v instanceof Date ? "a Date" : `${typeof v} ${JSON.stringify(String(v)).slice(0, 40)}`;
      throw new LarderError("TYPE_MISMATCH", `source ${JSON.stringify(source.name)} declares column ${JSON.stringify(column)} as ${type}, but its data holds ${shown}`, {
        source: source.name,
        column,
        expected: type,
      });
    }
  }
}

function deliveredAs(type: ValueType, v: unknown): boolean {
  switch (type) {
    case "string":
      return typeof v === "string";
    case "bool":
      return typeof v === "boolean";
    case "timestamp":
      return v instanceof Date;
    default:
      return typeof v === "number";
  }
}
