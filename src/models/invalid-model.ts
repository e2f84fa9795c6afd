import type { z } from "zod";
import { LarderError } from "../errors.js";

/**
 * INVALID_MODEL errors say where in the model file the problem is, as a JSON path
 * (`inputs[1].weights`, `learner.gradient_booster.model.trees[3].left_children[5]`), so a user can
 * find it in a file of thousands of nodes.
 */
export function invalidModel(path: readonly PropertyKey[], message: string): LarderError {
  const where = formatJsonPath(path);
  return new LarderError("INVALID_MODEL", `invalid model${where ? ` at ${where}` : ""}: ${message}`, { path: where });
}

/** ["inputs", 1, "weights"] → "inputs[1].weights". */
export function formatJsonPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

/** Parses `input` with `schema`; the first zod issue becomes an INVALID_MODEL error with its path. */
export function parseModelJson<S extends z.ZodType>(schema: S, input: unknown, basePath: readonly PropertyKey[] = []): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw invalidModel([...basePath, ...(issue?.path ?? [])], issue?.message ?? "invalid");
}
