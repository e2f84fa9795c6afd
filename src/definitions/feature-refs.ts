import type { FeatureViewDef, OnDemandFeatureViewDef, RequestSourceDef } from "./definition-types.js";
import { joinKeysOf } from "./feature-view.js";
import type { RepoDefinitions } from "./repo-definitions.js";
import { LarderError } from "../errors.js";
import type { ValueType } from "../types.js";

/** Which features a request names: `--features view:f,…` or a feature service. */
export type FeatureSelection = { features: readonly string[]; service?: undefined } | { service: string; features?: undefined };

/** The selection of a request: its `features` or its `service`, exactly one of them (INVALID_ARGUMENT otherwise). */
export function selectionOf(options: { features?: readonly string[] | undefined; service?: string | undefined }): FeatureSelection {
  if (options.service !== undefined && options.features !== undefined) throw new LarderError("INVALID_ARGUMENT", "give either features or a feature service, not both");
  if (options.service !== undefined) return { service: options.service };
  if (options.features !== undefined) return { features: options.features };
  throw new LarderError("INVALID_ARGUMENT", "give features (view:feature, …) or a feature service");
}

export interface OutputFeature {
  /** `view:feature` */
  ref: string;
  view: string;
  feature: string;
  /** `feature`, or `view__feature` with full feature names. */
  outputName: string;
  type: ValueType;
  onDemand: boolean;
}

export interface ResolvedFeatures {
  outputs: OutputFeature[];
  /** Plain views to read, with every feature to fetch (requested ones and on-demand inputs). */
  views: Map<string, { def: FeatureViewDef; features: Set<string> }>;
  /** On-demand views to compute, in request order. */
  onDemand: OnDemandFeatureViewDef[];
  /** Request-source fields the on-demand views need, from the entity rows or the request. */
  requestFields: Map<string, { type: ValueType; source: string }>;
  /** Every join key the request needs, in view order. */
  joinKeys: string[];
}

/**
 * Resolves feature references against the repository's definitions. Unknown views or features
 * are UNKNOWN_FEATURE errors listing what exists; two features with one output name are a
 * DUPLICATE_FEATURE_NAME error naming both.
 */
export function resolveFeatures(repo: RepoDefinitions, selection: FeatureSelection, fullFeatureNames: boolean): ResolvedFeatures {
  const refs: { view: string; feature: string }[] = [];
  if (selection.service !== undefined) {
    const svc = repo.featureServices.get(selection.service);
    if (!svc) {
      throw new LarderError("UNKNOWN_FEATURE_SERVICE", `unknown feature service ${JSON.stringify(selection.service)} (known: ${[...repo.featureServices.keys()].join(", ") || "none"})`, { service: selection.service });
    }
    for (const p of svc.features) for (const f of p.features) refs.push({ view: p.view.name, feature: f });
  } else {
    if (selection.features.length === 0) throw new LarderError("INVALID_ARGUMENT", "no features requested (expected view:feature references or a feature service)");
    for (const ref of selection.features) {
      const m = /^([^:\s]+):([^:\s]+)$/.exec(ref.trim());
      if (!m) throw new LarderError("UNKNOWN_FEATURE", `invalid feature reference ${JSON.stringify(ref)} (expected view:feature)`, { ref });
      refs.push({ view: m[1]!, feature: m[2]! });
    }
  }

  const resolved: ResolvedFeatures = { outputs: [], views: new Map(), onDemand: [], requestFields: new Map(), joinKeys: [] };
  const byOutput = new Map<string, string>();
  const needView = (def: FeatureViewDef, feature: string) => {
    let v = resolved.views.get(def.name);
    if (!v) {
      v = { def, features: new Set() };
      resolved.views.set(def.name, v);
      for (const k of joinKeysOf(def)) if (!resolved.joinKeys.includes(k)) resolved.joinKeys.push(k);
    }
    v.features.add(feature);
  };
  for (const { view, feature } of refs) {
    const ref = `${view}:${feature}`;
    const fv = repo.featureViews.get(view);
    const odfv = repo.onDemandFeatureViews.get(view);
    const def = fv ?? odfv;
    if (!def) {
      const known = [...repo.featureViews.keys(), ...repo.onDemandFeatureViews.keys()];
      throw new LarderError("UNKNOWN_FEATURE", `unknown feature view ${JSON.stringify(view)} in ${JSON.stringify(ref)} (known: ${known.join(", ") || "none"})`, { ref });
    }
    // Own properties only: "constructor" or "toString" must not find Object.prototype's.
    const type = Object.hasOwn(def.schema, feature) ? def.schema[feature] : undefined;
    if (type === undefined) {
      throw new LarderError("UNKNOWN_FEATURE", `unknown feature ${JSON.stringify(ref)} (${view} has: ${Object.keys(def.schema).join(", ")})`, { ref });
    }
    const outputName = fullFeatureNames ? `${view}__${feature}` : feature;
    const prev = byOutput.get(outputName);
    if (prev !== undefined) {
      if (prev === ref) continue; // the same feature twice is one column
      throw new LarderError("DUPLICATE_FEATURE_NAME", `features ${JSON.stringify(prev)} and ${JSON.stringify(ref)} both output ${JSON.stringify(outputName)}; use full feature names or request only one`, { features: [prev, ref] });
    }
    byOutput.set(outputName, ref);
    resolved.outputs.push({ ref, view, feature, outputName, type, onDemand: odfv !== undefined });
    if (fv) needView(fv, feature);
    else if (odfv && !resolved.onDemand.includes(odfv)) {
      resolved.onDemand.push(odfv);
      for (const s of odfv.sources) {
        if (s.kind === "feature_view") for (const f of Object.keys(s.schema)) needView(s, f);
        else addRequestFields(resolved, s);
      }
    }
  }
  return resolved;
}

function addRequestFields(resolved: ResolvedFeatures, s: RequestSourceDef): void {
  for (const [field, type] of Object.entries(s.schema)) resolved.requestFields.set(field, { type, source: s.name });
}
