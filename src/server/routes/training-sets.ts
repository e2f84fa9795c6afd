import { tableToIPC } from "apache-arrow";
import { z } from "zod";
import { ENTITY_TS } from "../../offline/training-set.js";
import { entityTable } from "../entity-table.js";
import { defineRoute } from "../route.js";
import { checkEqualLengths, checkSelection, columns, featureSelection, rowCount, selectionErrorPath, selectionOptions } from "../schemas.js";

export const ARROW_STREAM = "application/vnd.apache.arrow.stream";

const body = z
  .object({
    ...featureSelection,
    entities: columns,
  })
  .strict()
  .superRefine((b, ctx) => {
    checkSelection(b, ctx);
    if (!Object.hasOwn(b.entities, ENTITY_TS)) {
      ctx.addIssue({ code: "custom", path: ["entities", ENTITY_TS], message: `entity rows need an ${JSON.stringify(ENTITY_TS)} column (ISO-8601 or epoch ms per row)` });
    }
    checkEqualLengths(b.entities, "entities", ctx);
  })
  .meta({
    examples: [{ feature_service: "churn_v1", entities: { customer_id: [1, 2], event_timestamp: ["2024-06-01T00:00:00Z", 1717200000000], label: [true, false] } }],
  });

/**
 * `POST /v1/training-sets`: a point-in-time-correct training set for entity rows sent as JSON
 * columns, as an Arrow IPC stream (`FeatureStore.getTrainingSet`'s table: the entity columns
 * unchanged and in order, then the features).
 */
export const trainingSetsRoute = defineRoute<z.infer<typeof body>>({
  method: "POST",
  url: "/v1/training-sets",
  scope: "read",
  operationId: "getTrainingSet",
  summary: "Point-in-time training set (Arrow IPC stream)",
  description: "Entity rows as columns: join keys, `event_timestamp` (ISO-8601 or epoch ms) and any other columns, which pass through. " + "Answers an Arrow IPC stream: the entity columns, then one column per feature.",
  body,
  entityRows: (b) => rowCount(b.entities),
  responses: { 200: { description: "the training set", contentType: ARROW_STREAM, schema: { type: "string", format: "binary" } } },
  errorPath: (err, b) => selectionErrorPath(err, b, { entities: b.entities }),
  handler: async ({ store, body: b, reply }) => {
    const table = await store.getTrainingSet(entityTable(store.repo.definitions, b.entities), {
      ...selectionOptions(b),
      fullFeatureNames: b.full_feature_names,
    });
    const bytes = tableToIPC(table, "stream");
    return reply
      .type(ARROW_STREAM)
      .header("x-larder-rows", String(table.numRows))
      .send(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  },
});
