import { z } from "zod";
import type { ValueType } from "../types.js";
import { nameSchema, tagsSchema, textSchema, valueTypeSchema } from "./common-schemas.js";
import { definitionError, parseDefinition } from "./definition-error.js";
import type { EntityDef, Tags } from "./definition-types.js";

const entitySchema = z.object({
  name: nameSchema,
  joinKeys: z.array(nameSchema).min(1, { error: "expected at least one join key" }),
  valueType: z.union([valueTypeSchema, z.array(valueTypeSchema)]).default("int64"),
  description: textSchema,
  tags: tagsSchema,
});

export interface EntityOptions {
  name: string;
  joinKeys: string[];
  /** The join keys' type, or one type per key. Default int64. */
  valueType?: ValueType | ValueType[];
  description?: string;
  tags?: Tags;
}

/**
 * An entity: what features describe, identified by its join keys.
 * @example export const customer = entity({ name: "customer", joinKeys: ["customer_id"], valueType: t.int64 });
 */
export function entity(options: EntityOptions): EntityDef {
  const o = parseDefinition(entitySchema, "entity", options);
  const valueTypes = Array.isArray(o.valueType) ? o.valueType : o.joinKeys.map(() => o.valueType as ValueType);
  if (valueTypes.length !== o.joinKeys.length) {
    throw definitionError("entity", o.name, "valueType", `expected ${o.joinKeys.length} types, one per join key, got ${valueTypes.length}`);
  }
  for (const t of valueTypes) {
    if (t !== "int64" && t !== "int32" && t !== "string") {
      throw definitionError("entity", o.name, "valueType", `join keys must be int64, int32 or string, got ${t}`);
    }
  }
  return Object.freeze({ kind: "entity", name: o.name, joinKeys: Object.freeze([...o.joinKeys]), valueTypes: Object.freeze(valueTypes), description: o.description, tags: o.tags });
}
