import { definitionHash } from "../definitions/repo-definitions.js";
import { LarderError } from "../errors.js";
import { loadModel } from "../models/load-model.js";
import type { ModelKind } from "../models/model.js";
import { checkModelName, checkStage } from "../models/model-name.js";
import type { ModelStage, ModelVersionRecord, ModelVersionSummary, RegistryStore } from "../registry/registry-store.js";
import { touchStageMarker } from "../serving/model-cache.js";
import { checkModelFitsService } from "../serving/model-service-fit.js";
import type { AppContext } from "./app-context.js";

/**
 * The model registry as users see it (`larder models register|list|promote`, the trainer, and
 * serving): model versions checked against their feature service, stored in the registry database
 * (see RegistryStore.registerModelVersion), and promoted to a stage.
 *
 * @example
 * const v = await registerModel(store, { name: "churn", service: "churn_v1", model: json });
 * await promoteModel(store, "churn", v.version, "production");
 */

export interface RegisterModelInput {
  name: string;
  /** The feature service whose features the model reads; every model input must be one of its features. */
  service: string;
  /** The model file's JSON (Larder's linear/logistic JSON or xgboost's). */
  model: unknown;
  /** The expected kind; a file of another kind is INVALID_MODEL. */
  type?: ModelKind;
  /** Extra lineage (the trainer's: entity time range, rows…); the service's version and hash are added. */
  lineage?: Record<string, unknown>;
  metrics?: unknown;
}

/**
 * The service as applied: its registry version and hash. UNKNOWN_FEATURE_SERVICE if the repository
 * does not define it; NOT_APPLIED if it is not applied, or changed since the last apply.
 */
export async function appliedService(ctx: AppContext, registry: RegistryStore, service: string): Promise<{ version: number; hash: string }> {
  const def = ctx.repo.definitions.featureServices.get(service);
  if (!def) {
    const known = [...ctx.repo.definitions.featureServices.keys()];
    throw new LarderError("UNKNOWN_FEATURE_SERVICE", `unknown feature service ${JSON.stringify(service)} (known: ${known.join(", ") || "none"})`, { service });
  }
  const applied = await registry.getDefinition(ctx.project, "feature_service", service);
  if (!applied) throw new LarderError("NOT_APPLIED", `feature service ${JSON.stringify(service)} is not applied; run \`larder apply\` first`, { kind: "feature_service", name: service });
  if (applied.hash !== definitionHash(def)) {
    throw new LarderError("NOT_APPLIED", `feature service ${JSON.stringify(service)} changed since the last apply; run \`larder plan\` and \`larder apply\``, { kind: "feature_service", name: service });
  }
  return { version: applied.version, hash: applied.hash };
}

/**
 * Validates a model and stores it as the model's next version (no stage). Rejected with a clear
 * error before anything is stored: a malformed file, NaN weights or another format (INVALID_MODEL,
 * with the JSON path), a `type` that does not match, inputs the service lacks (INVALID_MODEL), an
 * unknown or unapplied service (UNKNOWN_FEATURE_SERVICE, NOT_APPLIED).
 */
export async function registerModel(ctx: AppContext, input: RegisterModelInput): Promise<ModelVersionRecord> {
  const name = checkModelName(input.name);
  const model = loadModel(input.model);
  if (input.type !== undefined && input.type !== model.kind) {
    throw new LarderError("INVALID_MODEL", `--type ${input.type} was given, but the file is a ${model.kind} model`, { type: input.type, kind: model.kind });
  }
  return ctx.withRegistry(async (registry) => {
    const svc = await appliedService(ctx, registry, input.service);
    checkModelFitsService(ctx.repo.definitions, model, input.service);
    return registry.registerModelVersion(ctx.project, {
      name,
      format: model.kind,
      service: input.service,
      model: input.model,
      lineage: { ...(input.lineage ?? {}), service: input.service, serviceVersion: svc.version, serviceHash: svc.hash, features: [...model.features] },
      metrics: input.metrics ?? {},
    });
  });
}

/** Every version of every model (or of `name`), without the model JSON. */
export async function listModels(ctx: AppContext, filter: { name?: string } = {}): Promise<ModelVersionSummary[]> {
  return ctx.withRegistry((registry) => registry.listModelVersions(ctx.project, filter));
}

/**
 * Puts a version in a stage (default production) atomically, then touches the promotion marker
 * (`.larder/model-stages`) that servers on this machine watch, so a running `larder serve` on the
 * embedded registry swaps to the new version without reopening the registry on every request; this
 * process's own served models switch at the next request.
 */
export async function promoteModel(ctx: AppContext, name: string, version: number, stage: ModelStage = "production"): Promise<{ previous: number | null }> {
  checkModelName(name);
  checkStage(stage);
  const result = await ctx.withRegistry((registry) => registry.promoteModelVersion(ctx.project, name, version, stage));
  touchStageMarker(ctx.repo.dir, `${name} ${version} ${stage}`);
  // This process's own cache loads the new version at its next request.
  ctx.models.invalidate();
  return result;
}
