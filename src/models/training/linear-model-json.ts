/**
 * The trainer's view of Larder's linear/logistic model JSON (`larder.linear.v1`): the types come
 * from the loader's schema (src/models/linear/linear-model-schema.ts), the one contract both sides
 * share, so what the trainer writes is what the loader reads.
 */
import { LINEAR_MODEL_FORMAT, type LinearModelSpec } from "../linear/linear-model-schema.js";

export const LINEAR_FORMAT = LINEAR_MODEL_FORMAT;
export type LinearModelJson = LinearModelSpec;
export type LinearObjective = LinearModelSpec["objective"];
export type MissingPolicy = LinearModelSpec["missing"];
export type LinearInput = LinearModelSpec["inputs"][number];
