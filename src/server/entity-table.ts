import type { Table } from "apache-arrow";
import { entityColumnTypes } from "../definitions/feature-view.js";
import type { RepoDefinitions } from "../definitions/repo-definitions.js";
import { LarderError } from "../errors.js";
import { columnFromValues, type ColumnarBatch } from "../data/columnar.js";
import { batchToArrowTable } from "../offline/parquet-io.js";
import { ENTITY_TS } from "../offline/training-set.js";
import { scalarValuesKind } from "../sources/source-column-type.js";
import type { ValueType } from "../types.js";

/**
 * Entity rows sent as JSON columns → the Arrow table `getTrainingSet` takes. Join keys and
 * request-source fields get their declared types, `event_timestamp` is a timestamp (ISO-8601 or
 * epoch ms), and every other column passes through with the narrowest type holding its values
 * (int64, float64, bool, else string), as CSV entity files do.
 */
export function entityTable(defs: RepoDefinitions, cols: Record<string, readonly unknown[]>): Table {
  const declared = entityColumnTypes(defs);
  const names = Object.keys(cols);
  const batch: ColumnarBatch = { numRows: names.length === 0 ? 0 : cols[names[0]!]!.length, columns: new Map() };
  for (const name of names) {
    const values = cols[name]!;
    const type = name === ENTITY_TS ? "timestamp" : (declared.get(name) ?? inferType(values, name));
    batch.columns.set(name, columnFromValues(type, values, name));
  }
  return batchToArrowTable(batch);
}

const VALUE_TYPES = { int: "int64", float: "float64", bool: "bool", string: "string", empty: "int64" } as const;

function inferType(values: readonly unknown[], name: string): ValueType {
  const kind = scalarValuesKind(values);
  if (kind !== "mixed") return VALUE_TYPES[kind];
  throw new LarderError("TYPE_MISMATCH", `entity column ${JSON.stringify(name)} mixes value types (expected all numbers, all booleans or all strings)`, { column: name });
}
