import { z } from "zod";
import type { ValueType } from "../types.js";
import { featureSchemaSchema, nameSchema, tagsSchema, textSchema } from "./common-schemas.js";
import { definitionError, parseDefinition } from "./definition-error.js";
import type { FeatureViewDef, OnDemandFeatureViewDef, OnDemandTransform, RequestSourceDef, Tags } from "./definition-types.js";
import { makeSelect } from "./feature-view.js";

const inputRef = z.custom<FeatureViewDef | RequestSourceDef>(
  (v) => {
    const d = v as { kind?: unknown; type?: unknown } | null;
    return d?.kind === "feature_view" || (d?.kind === "source" && d.type === "request");
  },
  { error: "expected a feature view or a request source" },
);
const odfvSchema = z.object({
  name: nameSchema,
  sources: z.array(inputRef).min(1, { error: "expected at least one source" }),
  schema: featureSchemaSchema,
  transform: z.custom<OnDemandTransform>((v) => typeof v === "function", { error: "expected a function (features) => features" }),
  owner: textSchema,
  description: textSchema,
  tags: tagsSchema,
});

export interface OnDemandFeatureViewOptions {
  name: string;
  /** Feature views and request sources whose values the transform receives, by feature name. */
  sources: (FeatureViewDef | RequestSourceDef)[];
  schema: Record<string, ValueType>;
  /** Runs on the joined row in training sets, online reads and predictions: one function, every path. */
  transform: OnDemandTransform;
  owner?: string;
  description?: string;
  tags?: Tags;
}

/**
 * Features computed at request time from other features and request values.
 * @example
 * onDemandFeatureView({ name: "spend_ratios", sources: [spend, cart], schema: { cart_vs_avg: t.float64 },
 *   transform: (f) => ({ cart_vs_avg: f.avg_amount_30d == null ? null : f.cart_value / f.avg_amount_30d }) })
 */
export function onDemandFeatureView(options: OnDemandFeatureViewOptions): OnDemandFeatureViewDef {
  const o = parseDefinition(odfvSchema, "onDemandFeatureView", options);
  if (Object.keys(o.schema).length === 0) throw definitionError("onDemandFeatureView", o.name, "schema", "expected at least one feature");
  const seen = new Map<string, string>();
  for (const s of o.sources) {
    for (const f of Object.keys(s.schema)) {
      const prev = seen.get(f);
      if (prev !== undefined && prev !== s.name) {
        throw definitionError("onDemandFeatureView", o.name, "sources", `input ${JSON.stringify(f)} comes from both ${prev} and ${s.name}`);
      }
      seen.set(f, s.name);
    }
  }
  const view: OnDemandFeatureViewDef = Object.freeze({
    kind: "on_demand_feature_view",
    name: o.name,
    sources: Object.freeze([...o.sources]),
    schema: Object.freeze({ ...o.schema }),
    transform: o.transform,
    owner: o.owner,
    description: o.description,
    tags: o.tags,
    select: makeSelect("onDemandFeatureView", () => view),
  });
  return view;
}
