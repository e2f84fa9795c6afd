import { LarderError } from "../errors.js";
import { MODEL_STAGES, type ModelStage } from "../registry/registry-store.js";

const MODEL_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Model names appear in URLs (`/v1/predict/:model`), so they are plain: letters, digits, `_ . -`. */
export function checkModelName(name: unknown): string {
  if (typeof name !== "string" || !MODEL_NAME_RE.test(name)) {
    throw new LarderError("INVALID_ARGUMENT", `model name ${JSON.stringify(name)} must be 1–128 letters, digits, "_", "." or "-", starting with a letter or digit`, { field: "name" });
  }
  return name;
}

/** A stage a version can be promoted to (production or staging). */
export function checkStage(stage: unknown): ModelStage {
  if (!(MODEL_STAGES as readonly unknown[]).includes(stage)) {
    throw new LarderError("INVALID_ARGUMENT", `stage must be ${MODEL_STAGES.join(" or ")}, got ${JSON.stringify(stage)}`, { field: "stage" });
  }
  return stage as ModelStage;
}
