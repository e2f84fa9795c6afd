import { z } from "zod";
import { LarderError } from "../../errors.js";
import { formatPath } from "../http-error.js";
import { defineRoute } from "../route.js";
import { checkEqualLengths, columns } from "../schemas.js";

const body = z
  .object({
    push_source_name: z.string({ error: "expected the push source's name" }).min(1, { error: "expected the push source's name" }),
    df: columns,
    to: z.enum(["online", "offline", "online_and_offline"], { error: 'expected "online", "offline" or "online_and_offline"' }).default("online"),
    /** Sent by Feast clients; Larder always reads definitions from the repository. */
    allow_registry_cache: z.boolean().optional(),
  })
  .strict()
  .superRefine((b, ctx) => checkEqualLengths(b.df, "df", ctx))
  .meta({
    examples: [{ push_source_name: "transactions_push", df: { customer_id: [1], ts: ["2024-06-30T12:00:00Z"], amount_cents: [1299], merchant: ["grocer"] }, to: "online" }],
  });

const response = z.object({
  pushSource: z.string(),
  rows: z.number().int(),
  views: z.array(z.object({ view: z.string(), written: z.number().int(), stale: z.number().int(), expired: z.number().int().optional() })),
});

/**
 * Feast's `POST /push`: rows in the push source's batch-source shape, run through each fed view's
 * row transform (and aggregations) into the online store and/or the offline store.
 */
export const pushRoute = defineRoute<z.infer<typeof body>>({
  method: "POST",
  url: "/push",
  scope: "push",
  operationId: "push",
  summary: "Push rows into a push source (Feast-compatible)",
  description:
    "Rows as columns in the push source's batch-source shape; `to` picks online (default), offline or both. " +
    "With an `Idempotency-Key` header the same key within the retention (`server.idempotencyRetention`, default 24 h) answers as the first push did and writes nothing again; " +
    "a retry after a partial failure writes only what is missing. The same key with another body: 422 IDEMPOTENCY_KEY_REUSED; while a request with the key is in progress: 409 IDEMPOTENCY_KEY_IN_USE.",
  body,
  responses: { 200: { description: "what the push wrote, per feature view fed by the push source (with an Idempotency-Key seen before: the first answer)", schema: response } },
  errorPath: (err, b) => {
    const d = err.details;
    if (err.code === "UNKNOWN_PUSH_SOURCE") return "push_source_name";
    if (err.code === "PUSH_OFFLINE_UNSUPPORTED") return "to";
    if (d.field === "Idempotency-Key") return "headers.idempotency-key";
    if (typeof d.field === "string" && /^(df(\.|$)|to$)/.test(d.field)) return d.field;
    // A source column (rows are numbered from 1 in push errors); columns made by a view's
    // transform are not in the request, so those errors name no field.
    if (typeof d.column === "string" && Object.hasOwn(b.df, d.column)) {
      return formatPath(["df", d.column, ...(typeof d.row === "number" && d.view === undefined ? [d.row - 1] : [])]);
    }
    return null;
  },
  handler: async ({ store, body: b, request }) => {
    const key = request.headers["idempotency-key"];
    if (Array.isArray(key)) throw new LarderError("INVALID_ARGUMENT", "give one Idempotency-Key header, not several", { field: "Idempotency-Key" });
    return store.push(b.push_source_name, b.df, key === undefined ? { to: b.to } : { to: b.to, idempotencyKey: key });
  },
});
