import { z } from "zod";

/**
 * The zod schema of the JSON xgboost writes with `booster.save_model("model.json")` (xgboost ≥ 1.0;
 * fixtures come from 1.7). Only what prediction and TreeSHAP read is checked here; the tree
 * structure (array lengths, child indices, a proper tree) is checked when the trees are compiled,
 * with the path of the offending node. Unknown keys are ignored, so newer files with extra fields load.
 *
 * xgboost writes the learner's scalar parameters as strings ("5E-1"); 2.x+ may write base_score as
 * a bracketed vector ("[5E-1]"). Both are accepted.
 */

const finite = z.number({ error: (issue) => (issue.input === undefined ? "required" : "must be a finite number") }).refine(Number.isFinite, "must be a finite number");
const index = z.number().int("must be an integer");
/** A number written as a JSON string (xgboost's parameters), or as a number. */
const numberString = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = typeof v === "number" ? v : Number(v.trim());
  if (!Number.isFinite(n)) {
    ctx.addIssue({ code: "custom", message: `must be a number, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return n;
});
/** base_score: "5E-1", 0.5, or (xgboost 2.x+ with vector leaves) "[5E-1]" / "[5E-1,5E-1]". */
const baseScore = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const parts =
    typeof v === "number"
      ? [v]
      : v
          .trim()
          .replace(/^\[(.*)\]$/s, "$1")
          .split(",")
          .map((s) => Number(s.trim()));
  if (parts.length === 0 || parts.some((n) => !Number.isFinite(n))) {
    ctx.addIssue({ code: "custom", message: `must be a number, got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return parts;
});

export const xgboostTreeSchema = z.object({
  split_indices: z.array(index),
  split_conditions: z.array(finite),
  left_children: z.array(index),
  right_children: z.array(index),
  default_left: z.array(z.union([z.boolean(), z.literal(0), z.literal(1)]).transform((v) => v === true || v === 1)),
  sum_hessian: z.array(finite.refine((h) => h >= 0, "must be ≥ 0")),
  /** 0 numerical, 1 categorical (xgboost ≥ 1.6); absent in older files. */
  split_type: z.array(index).optional(),
});

export const xgboostModelSchema = z.object({
  version: z.array(z.number()).optional(),
  learner: z.object({
    feature_names: z.array(z.string()).optional(),
    feature_types: z.array(z.string()).optional(),
    learner_model_param: z.object({
      base_score: baseScore,
      num_class: numberString.default(0),
      num_feature: numberString,
      num_target: numberString.optional(),
    }),
    objective: z.object({ name: z.string() }),
    gradient_booster: z.object({
      name: z.string(),
      model: z
        .object({
          tree_info: z.array(index),
          trees: z.array(xgboostTreeSchema),
        })
        .optional(),
    }),
  }),
});

export type XgboostModelJson = z.output<typeof xgboostModelSchema>;
export type XgboostTreeJson = z.output<typeof xgboostTreeSchema>;
