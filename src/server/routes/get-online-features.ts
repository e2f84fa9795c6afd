import { z } from "zod";
import { defineRoute } from "../route.js";
import { checkEqualLengths, checkSelection, columns, fastColumnsLength, featureSelection, rowCount, scalar, selectionErrorPath, selectionOptions } from "../schemas.js";

const body = z
  .object({
    ...featureSelection,
    entities: columns,
    /** Feast's Go server takes request-source values here; they join the entity columns. */
    request_context: columns.optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    checkSelection(b, ctx);
    checkEqualLengths(b.entities, "entities", ctx);
    for (const name of Object.keys(b.request_context ?? {})) {
      if (Object.hasOwn(b.entities, name)) ctx.addIssue({ code: "custom", path: ["request_context", name], message: `${JSON.stringify(name)} is given in both entities and request_context` });
    }
  })
  .meta({
    examples: [
      { features: ["customer_profile:plan", "customer_spend:spend_7d"], entities: { customer_id: [1, 2] }, full_feature_names: false },
      { feature_service: "churn_v1", entities: { customer_id: [1, 2], cart_value: [25.0, 80.0] } },
    ],
  });

type Body = z.infer<typeof body>;

/**
 * The common request shapes without zod (it was ~3% of the CPU of a one-entity request): a
 * `features` list or a `feature_service`, optional `full_feature_names`, and entity columns of
 * JSON scalars of one length. Anything else (request_context, unknown keys, a wrong type) returns
 * undefined and goes through `body`, which accepts or explains it.
 */
export function fastGetOnlineFeaturesBody(raw: unknown): Body | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const b = raw as Record<string, unknown>;
  let keys = 0;
  for (const k in b) {
    if (!Object.hasOwn(b, k)) return undefined;
    if (k !== "features" && k !== "feature_service" && k !== "full_feature_names" && k !== "entities") return undefined;
    keys++;
  }
  const { features, feature_service: service, full_feature_names: full, entities } = b;
  const out: Body = { full_feature_names: false, entities: {} };
  if (features !== undefined) {
    if (service !== undefined || !Array.isArray(features) || features.length === 0) return undefined;
    for (const f of features) if (typeof f !== "string" || f.length === 0) return undefined;
    out.features = features as string[];
  } else if (typeof service === "string" && service.length > 0) {
    out.feature_service = service;
  } else return undefined;
  if (full !== undefined) {
    if (typeof full !== "boolean") return undefined;
    out.full_feature_names = full;
  }
  if (fastColumnsLength(entities) === undefined) return undefined;
  out.entities = entities as Body["entities"];
  return keys > 0 ? out : undefined;
}

const response = z.object({
  metadata: z.object({
    feature_names: z.array(z.string()).meta({ description: "join keys first, then the features (view__feature with full_feature_names)" }),
    as_of: z.record(z.string(), z.array(z.string().nullable())).meta({
      description: "per feature view read and entity row: when the values were written to the online store (materialization or push), ISO-8601; null without a row",
    }),
  }),
  results: z
    .array(
      z.object({
        values: z.array(scalar),
        statuses: z.array(z.enum(["PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"])),
        event_timestamps: z.array(z.string()),
      }),
    )
    .meta({ description: "one result per feature name, values across the entity rows" }),
});

/**
 * Feast's `POST /get-online-features`: the latest materialized or pushed values per entity row,
 * through the same read path as `FeatureStore.getOnlineFeatures` and `larder online`.
 */
export const getOnlineFeaturesRoute = defineRoute<Body>({
  method: "POST",
  url: "/get-online-features",
  scope: "read",
  operationId: "getOnlineFeatures",
  summary: "Online feature vectors (Feast-compatible)",
  description:
    "Feature values for entity rows given as columns (join keys and request-source fields). Statuses per value: PRESENT, NULL_VALUE, NOT_FOUND, OUTSIDE_MAX_AGE. " + "For the same entity and time the vector equals the training-set row.",
  body,
  fastBody: fastGetOnlineFeaturesBody,
  entityRows: (b) => rowCount(b.entities, b.request_context),
  responses: { 200: { description: "Feast's columnar response", schema: response } },
  errorPath: (err, b) => selectionErrorPath(err, b, { entities: b.entities, request_context: b.request_context }),
  handler: async ({ store, body: b }) =>
    store.getOnlineFeatures(b.request_context ? { ...b.entities, ...b.request_context } : b.entities, {
      ...selectionOptions(b),
      fullFeatureNames: b.full_feature_names,
    }),
});
