import type { FeatureViewDef } from "../definitions/definition-types.js";
import { LarderError } from "../errors.js";
import { columnFromValues, columnGet } from "../data/columnar.js";
import type { ValueType } from "../types.js";

/** A value as an offline column of `type` holds it (the same conversion). */
export function storedValue(type: ValueType, v: unknown, what: string): unknown {
  if (v === null || v === undefined) return null;
  return columnGet(columnFromValues(type, [v], what), 0);
}

/**
 * An aggregate from the JS engine as the view's schema types it, as training sets give it: NaN is
 * null, an integer type needs an integral value (TYPE_MISMATCH otherwise), float32 is rounded.
 */
export function aggregateValue(view: FeatureViewDef, name: string, v: unknown): unknown {
  const type = view.schema[name]!;
  if (type === "string" || type === "bool" || type === "timestamp") return storedValue(type, v, `featureView "${view.name}" aggregation "${name}"`);
  if (typeof v !== "number" || Number.isNaN(v)) return null;
  if ((type === "int64" || type === "int32") && !Number.isInteger(v)) {
    throw new LarderError("TYPE_MISMATCH", `featureView ${JSON.stringify(view.name)} aggregations.${name}: declared ${type} but the aggregate is ${v}`, { view: view.name });
  }
  return type === "float32" ? Math.fround(v) : v;
}
