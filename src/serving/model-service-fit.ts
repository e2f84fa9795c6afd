import type { RepoDefinitions } from "../definitions/repo-definitions.js";
import { LarderError } from "../errors.js";
import type { Model } from "../models/model.js";
import { resolveFeatures } from "../definitions/feature-refs.js";

/** The output feature names of a feature service (without full feature names), in service order. */
export function serviceFeatureNames(definitions: RepoDefinitions, service: string): string[] {
  return resolveFeatures(definitions, { service }, false).outputs.map((o) => o.outputName);
}

/**
 * Checks that a loaded model can be served by its service: every model input is an output feature
 * of the service. Throws INVALID_MODEL naming the features the service lacks.
 */
export function checkModelFitsService(definitions: RepoDefinitions, model: Model, service: string): void {
  const available = new Set(serviceFeatureNames(definitions, service));
  const lacking = model.features.filter((f) => !available.has(f));
  if (lacking.length > 0) {
    throw new LarderError(
      "INVALID_MODEL",
      `the model reads ${lacking.length === 1 ? "feature" : "features"} ${lacking.map((f) => JSON.stringify(f)).join(", ")} that feature service ${JSON.stringify(service)} does not have (it has: ${[...available].join(", ") || "none"})`,
      { service, features: lacking },
    );
  }
}
