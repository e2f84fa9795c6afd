import { repoMarkerPath, writeRepoMarker } from "../config/repo-marker.js";
import { definitionHash } from "../definitions/repo-definitions.js";
import { LarderError } from "../errors.js";
import type { FeatureStore } from "../feature-store.js";
import type { ModelStage, ModelVersionRecord, ModelVersionSummary, RegistryStore } from "../registry/registry-store.js";
import { MODEL_STAGES } from "../registry/registry-store.js";
import { resolveFeatures } from "../serving/feature-refs.js";
import { loadModel } from "./load-model.js";
import type { Model, ModelKind } from "./model.js";

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

const MODEL_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Model names appear in URLs (`/v1/predict/:model`), so they are plain: letters, digits, `_ . -`. */
export function checkModelName(name: unknown): string {
  if (typeof name !== "string" || !MODEL_NAME_RE.test(name)) {
    throw new LarderError("INVALID_ARGUMENT", `model name ${JSON.stringify(name)} must be 1–128 letters, digits, "_", "." or "-", starting with a letter or digit`, { field: "name" });
  }
  return name;
}

export function checkStage(stage: unknown): ModelStage {
  if (!(MODEL_STAGES as readonly unknown[]).includes(stage)) {
    throw new LarderError("INVALID_ARGUMENT", `stage must be ${MODEL_STAGES.join(" or ")}, got ${JSON.stringify(stage)}`, { field: "stage" });
  }
  return stage as ModelStage;
}

/** The output feature names of a feature service (without full feature names), in service order. */
export function serviceFeatureNames(store: FeatureStore, service: string): string[] {
  return resolveFeatures(store.repo.definitions, { service }, false).outputs.map((o) => o.outputName);
}

/**
 * Checks that a loaded model can be served by its service: every model input is an output feature
 * of the service. Throws INVALID_MODEL naming the features the service lacks.
 */
export function checkModelFitsService(store: FeatureStore, model: Model, service: string): void {
  const available = new Set(serviceFeatureNames(store, service));
  const lacking = model.features.filter((f) => !available.has(f));
  if (lacking.length > 0) {
    throw new LarderError(
      "INVALID_MODEL",
      `the model reads ${lacking.length === 1 ? "feature" : "features"} ${lacking.map((f) => JSON.stringify(f)).join(", ")} that feature service ${JSON.stringify(service)} does not have (it has: ${[...available].join(", ") || "none"})`,
      { service, features: lacking },
    );
  }
}

/**
 * The service as applied: its registry version and hash. UNKNOWN_FEATURE_SERVICE if the repository
 * does not define it; NOT_APPLIED if it is not applied, or changed since the last apply.
 */
export async function appliedService(store: FeatureStore, registry: RegistryStore, service: string): Promise<{ version: number; hash: string }> {
  const def = store.repo.definitions.featureServices.get(service);
  if (!def) {
    const known = [...store.repo.definitions.featureServices.keys()];
    throw new LarderError("UNKNOWN_FEATURE_SERVICE", `unknown feature service ${JSON.stringify(service)} (known: ${known.join(", ") || "none"})`, { service });
  }
  const applied = await registry.getDefinition(store.project, "feature_service", service);
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
export async function registerModel(store: FeatureStore, input: RegisterModelInput): Promise<ModelVersionRecord> {
  const name = checkModelName(input.name);
  const model = loadModel(input.model);
  if (input.type !== undefined && input.type !== model.kind) {
    throw new LarderError("INVALID_MODEL", `--type ${input.type} was given, but the file is a ${model.kind} model`, { type: input.type, kind: model.kind });
  }
  return store.withRegistry(async (registry) => {
    const svc = await appliedService(store, registry, input.service);
    checkModelFitsService(store, model, input.service);
    return registry.registerModelVersion(store.project, {
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
export async function listModels(store: FeatureStore, filter: { name?: string } = {}): Promise<ModelVersionSummary[]> {
  return store.withRegistry((registry) => registry.listModelVersions(store.project, filter));
}

/**
 * Puts a version in a stage (default production) atomically, then touches the promotion marker
 * (`.larder/model-stages`) that servers on this machine watch, so a running `larder serve` on the
 * embedded registry swaps to the new version without reopening the registry on every request; this
 * process's own served models switch at the next request.
 */
export async function promoteModel(store: FeatureStore, name: string, version: number, stage: ModelStage = "production"): Promise<{ previous: number | null }> {
  checkModelName(name);
  checkStage(stage);
  const result = await store.withRegistry((registry) => registry.promoteModelVersion(store.project, name, version, stage));
  touchStageMarker(store.repo.dir, `${name} ${version} ${stage}`);
  // This process's own cache loads the new version at its next request.
  store.models.invalidate();
  return result;
}

/** Path of the file whose content changes on every promotion made through Larder in this repository. */
export function stageMarkerPath(repoDir: string): string {
  return repoMarkerPath(repoDir, "model-stages");
}

/** Writes a fresh marker, unique per promotion. */
export function touchStageMarker(repoDir: string, what: string): void {
  writeRepoMarker(repoDir, "model-stages", `${new Date().toISOString()} ${process.pid} ${process.hrtime.bigint()} ${what}\n`);
}
