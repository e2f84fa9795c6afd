import type { z } from "zod";
import { LarderError } from "../errors.js";

/** `featureView "customer_spend"` — how errors name a definition. */
export function describeDefinition(kind: string, name: unknown): string {
  return typeof name === "string" && name ? `${kind} ${JSON.stringify(name)}` : kind;
}

export function definitionError(kind: string, name: unknown, path: string, message: string): LarderError {
  const where = path ? ` ${path}` : "";
  return new LarderError("INVALID_DEFINITION", `${describeDefinition(kind, name)}${where}: ${message}`, {
    kind,
    name: typeof name === "string" ? name : null,
    path,
  });
}

/** Parses `input` with `schema`, turning the first zod issue into an INVALID_DEFINITION error. */
export function parseDefinition<S extends z.ZodType>(schema: S, kind: string, input: unknown): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const name = typeof input === "object" && input !== null ? (input as { name?: unknown }).name : undefined;
  const issue = result.error.issues[0];
  const path = issue ? issue.path.map(String).join(".") : "";
  throw definitionError(kind, name, path, issue?.message ?? "invalid");
}
