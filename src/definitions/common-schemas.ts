import { z } from "zod";
import { VALUE_TYPES } from "../types.js";
import { parseDurationMs } from "../time.js";

export const nameSchema = z.string({ error: "expected a name (string)" }).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: "expected a name of letters, digits and _ (not starting with a digit)" });

export const valueTypeSchema = z.enum(VALUE_TYPES, {
  error: (iss) => `unknown type ${JSON.stringify(iss.input)} (expected one of ${VALUE_TYPES.join(", ")})`,
});

export const featureSchemaSchema = z.record(nameSchema, valueTypeSchema);

export const durationSchema = z
  .string({ error: 'expected a duration such as "30d", "12h", "15m"' })
  .refine((s) => parseDurationMs(s) > 0, { error: (iss) => `invalid duration ${JSON.stringify(iss.input)} (expected e.g. "30d", "12h", "15m", "90s", "500ms")` });

export const tagsSchema = z.record(z.string(), z.string()).default({});
export const textSchema = z.string().default("");
