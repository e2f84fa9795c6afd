import { z } from "zod";

/**
 * The zod schema of Larder's linear and logistic model JSON (`larder.linear.v1`), the contract
 * between the trainer (src/models/training/) and the loader. Unknown keys are ignored, so a trainer
 * may add metadata; everything the maths reads is checked: finite numbers, std ≥ 0, unique
 * features, unique categories, one weight per category.
 *
 * @example
 * { "format": "larder.linear.v1", "objective": "logistic", "missing": "fill", "intercept": -1.2,
 *   "inputs": [
 *     { "feature": "monthly_fee", "kind": "numeric", "mean": 50.1, "std": 12.3, "fill": 50.1, "weight": 0.31 },
 *     { "feature": "plan", "kind": "categorical", "categories": ["basic", "pro"], "weights": [0.1, -0.2], "fill": null } ] }
 */
export const LINEAR_MODEL_FORMAT = "larder.linear.v1";

const finite = z.number({ error: (issue) => (issue.input === undefined ? "required" : "must be a finite number") }).refine(Number.isFinite, "must be a finite number");
const featureName = z.string().min(1, "must be a non-empty feature name");

const numericInput = z.object({
  feature: featureName,
  kind: z.literal("numeric"),
  mean: finite,
  std: finite.refine((s) => s >= 0, "must be ≥ 0 (0 means the input is constant and contributes 0)"),
  /** The value a missing input takes under the "fill" policy; null means the mean. */
  fill: finite.nullable().default(null),
  weight: finite,
});

const categoricalInput = z
  .object({
    feature: featureName,
    kind: z.literal("categorical"),
    categories: z.array(z.string()),
    weights: z.array(finite),
    /** The category a missing input takes under the "fill" policy; null contributes 0, as an unseen category does. */
    fill: z.string().nullable().default(null),
  })
  .superRefine((input, ctx) => {
    if (input.weights.length !== input.categories.length) {
      ctx.addIssue({ code: "custom", path: ["weights"], message: `${input.weights.length} weights for ${input.categories.length} categories` });
    }
    const seen = new Set<string>();
    input.categories.forEach((c, i) => {
      if (seen.has(c)) ctx.addIssue({ code: "custom", path: ["categories", i], message: `duplicate category ${JSON.stringify(c)}` });
      seen.add(c);
    });
  });

export const linearModelSchema = z
  .object({
    format: z.literal(LINEAR_MODEL_FORMAT),
    objective: z.enum(["linear", "logistic"]),
    inputs: z.array(z.discriminatedUnion("kind", [numericInput, categoricalInput])),
    intercept: finite,
    /** fill: use each input's fill; error: refuse the row (MISSING_FEATURE); null: predict null. */
    missing: z.enum(["fill", "error", "null"]).default("fill"),
  })
  .superRefine((model, ctx) => {
    const seen = new Set<string>();
    model.inputs.forEach((input, i) => {
      if (seen.has(input.feature)) ctx.addIssue({ code: "custom", path: ["inputs", i, "feature"], message: `duplicate feature ${JSON.stringify(input.feature)}` });
      seen.add(input.feature);
    });
  });

/** A validated linear/logistic model (defaults applied). */
export type LinearModelSpec = z.output<typeof linearModelSchema>;
/** What a linear/logistic model file may contain (`fill` and `missing` may be omitted). */
export type LinearModelInput = z.input<typeof linearModelSchema>;
