import { z } from "zod";
import { nameSchema, tagsSchema, textSchema } from "./common-schemas.js";
import { parseDefinition } from "./definition-error.js";
import type { FeatureServiceDef, FeatureViewDef, FeatureViewProjection, OnDemandFeatureViewDef, Tags } from "./definition-types.js";

const memberRef = z.custom<FeatureViewDef | OnDemandFeatureViewDef | FeatureViewProjection>((v) => ["feature_view", "on_demand_feature_view", "projection"].includes((v as { kind?: string } | null)?.kind ?? ""), {
  error: "expected a feature view, an on-demand feature view, or view.select([...])",
});
const serviceSchema = z.object({
  name: nameSchema,
  features: z.array(memberRef).min(1, { error: "expected at least one feature view" }),
  owner: textSchema,
  description: textSchema,
  tags: tagsSchema,
});

export interface FeatureServiceOptions {
  name: string;
  features: (FeatureViewDef | OnDemandFeatureViewDef | FeatureViewProjection)[];
  owner?: string;
  description?: string;
  tags?: Tags;
}

/**
 * A named set of features a model consumes; the unit of training sets and online reads.
 * @example featureService({ name: "churn_v1", features: [profile, spend.select(["spend_7d"]), ratios] })
 */
export function featureService(options: FeatureServiceOptions): FeatureServiceDef {
  const o = parseDefinition(serviceSchema, "featureService", options);
  const features = o.features.map((m): FeatureViewProjection => (m.kind === "projection" ? m : Object.freeze({ kind: "projection", view: m, features: Object.freeze(Object.keys(m.schema)) })));
  return Object.freeze({ kind: "feature_service", name: o.name, features: Object.freeze(features), owner: o.owner, description: o.description, tags: o.tags });
}
