/**
 * Value types of feature schemas. `int64` values travel as JavaScript numbers (a value beyond
 * ±2^53 is a VALUE_OUT_OF_RANGE error naming the column); timestamps are UTC instants.
 */
export const VALUE_TYPES = ["int32", "int64", "float32", "float64", "string", "bool", "timestamp"] as const;
export type ValueType = (typeof VALUE_TYPES)[number];

/** `t.int64`, `t.string`, … — the value types, for schemas and entities. */
export const types = {
  int32: "int32",
  int64: "int64",
  float32: "float32",
  float64: "float64",
  string: "string",
  bool: "bool",
  timestamp: "timestamp",
} as const satisfies Record<ValueType, ValueType>;

/** A row as transforms see it: column name to value (numbers, strings, booleans, Dates, null). */
export type Row = Record<string, unknown>;
