import { z } from "zod";
import { LarderError } from "../errors.js";
import { formatPath } from "./http-error.js";

/** A JSON scalar: what an entity key, request field or pushed value may be. */
export const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);

/**
 * Columnar rows, Feast style: `{"customer_id": [1, 2], "cart_value": [9.5, 12]}`. Every column
 * an array of scalars; all of one length (checked in `columnsOfEqualLength`).
 */
export const columns = z.record(z.string().min(1), z.array(scalar, { error: "expected an array of values (one per row)" }), {
  error: 'expected an object of columns, e.g. {"customer_id": [1, 2]}',
});

/**
 * The fast-path check of `columns` for hot routes (see `fastBody` in route.ts): the row count when
 * `raw` is an object of non-empty-named arrays of finite scalars, all of one length; -1 for an
 * object with no columns; undefined for anything else (left to the zod schema for its error).
 */
export function fastColumnsLength(raw: unknown): number | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  let n = -1;
  for (const name in raw) {
    if (!Object.hasOwn(raw, name) || name.length === 0) return undefined;
    const col = (raw as Record<string, unknown>)[name];
    if (!Array.isArray(col) || (n !== -1 && col.length !== n)) return undefined;
    n = col.length;
    for (const v of col) if (!isFastScalar(v)) return undefined;
  }
  return n;
}

/** Entity rows of columnar rows (their longest column; the schemas check they are all one length). */
export function rowCount(...cols: (Record<string, readonly unknown[]> | Record<string, unknown> | undefined)[]): number {
  let n = 0;
  for (const c of cols) for (const k in c) if (Object.hasOwn(c, k) && Array.isArray(c[k])) n = Math.max(n, (c[k] as unknown[]).length);
  return n;
}

/** A scalar the fast paths accept: string, boolean, null or a finite number. */
export function isFastScalar(v: unknown): boolean {
  return v === null || typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));
}

/**
 * Adds an issue at `path.<column>` when the columns' lengths differ. A non-array column is skipped:
 * the column check reports it, and refinements still run after a custom issue.
 */
export function checkEqualLengths(cols: Record<string, readonly unknown[]>, path: string, ctx: z.RefinementCtx): void {
  let first: [string, number] | undefined;
  // zod runs refinements also when a column already failed its own check (not an array): skip those.
  if (typeof cols !== "object" || cols === null) return;
  for (const [name, values] of Object.entries(cols)) {
    if (!Array.isArray(values)) continue;
    if (first === undefined) first = [name, values.length];
    else if (values.length !== first[1]) {
      ctx.addIssue({ code: "custom", path: [path, name], message: `columns have unequal lengths: ${JSON.stringify(first[0])} has ${first[1]} values, ${JSON.stringify(name)} has ${values.length}` });
      return;
    }
  }
}

/** Feast's feature selection: a list of `view:feature` references or a feature service, not both. */
export const featureSelection = {
  features: z.array(z.string().min(1), { error: 'expected an array of "view:feature" strings' }).min(1, { error: 'expected at least one "view:feature" reference' }).optional(),
  feature_service: z.string().min(1, { error: "expected a feature service name" }).optional(),
  full_feature_names: z.boolean({ error: "expected true or false" }).default(false),
};

export function checkSelection(body: { features?: string[] | undefined; feature_service?: string | undefined }, ctx: z.RefinementCtx): void {
  if (body.features === undefined && body.feature_service === undefined) {
    ctx.addIssue({ code: "custom", path: ["features"], message: 'give features (a list of "view:feature") or feature_service' });
  } else if (body.features !== undefined && body.feature_service !== undefined) {
    ctx.addIssue({ code: "custom", path: ["feature_service"], message: "give either features or feature_service, not both" });
  }
}

/** `{features}` or `{service}` as FeatureStore's options take it. */
export function selectionOptions(body: { features?: string[] | undefined; feature_service?: string | undefined }): { features: string[] } | { service: string } {
  return body.feature_service !== undefined ? { service: body.feature_service } : { features: body.features ?? [] };
}

/**
 * The request field a feature-resolution or entity error is about: a bad reference points into
 * `features[i]`, an unknown service at `feature_service`, an entity column at `<where>.<col>` for
 * the first of `entities` (`{ entities: body.entities, request_context: … }`) that has it.
 */
export function selectionErrorPath(err: LarderError, body: { features?: string[] | undefined; feature_service?: string | undefined }, entities: Record<string, Record<string, unknown> | undefined>): string | null {
  const d = err.details;
  if (err.code === "UNKNOWN_FEATURE_SERVICE") return "feature_service";
  if (typeof d.ref === "string" && body.features) {
    const i = body.features.findIndex((f) => f === d.ref || f.trim() === d.ref);
    if (i >= 0) return formatPath(["features", i]);
    if (body.feature_service !== undefined) return "feature_service";
  }
  if (err.code === "DUPLICATE_FEATURE_NAME") return body.feature_service !== undefined ? "feature_service" : "features";
  // The read path names columns by `field`, training sets and value checks by `column`; value
  // checks of request fields describe theirs (`request field "x"`), so the name is matched too.
  const named = [d.field, d.column].filter((c): c is string => typeof c === "string");
  for (const [where, cols] of Object.entries(entities)) {
    if (cols === undefined) continue;
    for (const c of named) {
      if (Object.hasOwn(cols, c)) return formatPath([where, c]);
      const described = /^request field "(.+)"$/.exec(c)?.[1];
      if (described !== undefined && Object.hasOwn(cols, described)) return formatPath([where, described]);
    }
  }
  // A missing column (a join key, a request field) is named where it should have been.
  const first = Object.keys(entities)[0]!;
  return named[0] !== undefined && /^[A-Za-z_][\w]*$/.test(named[0]) ? formatPath([first, named[0]]) : null;
}

/** The error body, for the OpenAPI document. */
export const errorBodySchema = z.object({
  error: z.object({
    code: z.string().meta({ description: "a stable code from Larder's error catalogue" }),
    message: z.string(),
    path: z.string().nullable().meta({ description: "the offending request field, e.g. entities.customer_id or features[1]" }),
  }),
});
