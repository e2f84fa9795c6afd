import { randomUUID } from "node:crypto";
import { z } from "zod";
import { formatPath } from "../http-error.js";
import { defineRoute } from "../route.js";
import { checkEqualLengths, fastColumnsLength, isFastScalar, rowCount } from "../schemas.js";

type Scalar = string | number | boolean | null;

function isScalar(v: unknown): v is Scalar {
  return v === null || typeof v === "number" || typeof v === "string" || typeof v === "boolean";
}

const SCALAR_JSON = { type: ["string", "number", "boolean", "null"] };

/**
 * `columns` (see schemas.ts) checked by one loop instead of a zod union per value: on this hot
 * route zod's per-value unions (each failed branch allocates an issue) were ~3% of a request's CPU.
 * Same errors and paths: `entities.customer_id` for a non-array, `entities.customer_id[2]` for a
 * bad value.
 */
const fastColumns = z
  .record(z.string().min(1), z.unknown(), { error: 'expected an object of columns, e.g. {"customer_id": [1, 2]}' })
  .superRefine((cols, ctx) => {
    for (const [name, values] of Object.entries(cols)) {
      if (!Array.isArray(values)) {
        ctx.addIssue({ code: "custom", path: [name], message: "expected an array of values (one per row)" });
        return;
      }
      for (let i = 0; i < values.length; i++) {
        if (!isScalar(values[i])) {
          ctx.addIssue({ code: "custom", path: [name, i], message: "expected a string, number, boolean or null" });
          return;
        }
      }
    }
  })
  .meta({ additionalProperties: { type: "array", items: SCALAR_JSON } }) as unknown as z.ZodType<Record<string, Scalar[]>>;

/** Request fields: a column per field, or one value for every row (same single-loop check). */
const requestFields = z
  .record(z.string().min(1), z.unknown(), { error: 'expected an object of request fields, e.g. {"cart_value": [12.5]}' })
  .superRefine((fields, ctx) => {
    for (const [name, value] of Object.entries(fields)) {
      const bad = Array.isArray(value) ? value.findIndex((v) => !isScalar(v)) : isScalar(value) ? -1 : null;
      if (bad === null) ctx.addIssue({ code: "custom", path: [name], message: "expected a value or an array of values (one per row)" });
      else if (bad >= 0) ctx.addIssue({ code: "custom", path: [name, bad], message: "expected a string, number, boolean or null" });
      if (bad !== -1) return;
    }
  })
  .meta({ additionalProperties: { anyOf: [SCALAR_JSON, { type: "array", items: SCALAR_JSON }] } }) as unknown as z.ZodType<Record<string, Scalar | Scalar[]>>;

const body = z
  .object({
    entities: fastColumns,
    /** Request-source fields: a column per field (one value per entity row) or one value for every row. */
    request: requestFields.optional(),
    version: z.number({ error: "expected a version number" }).int({ error: "expected a whole version number" }).min(1, { error: "versions start at 1" }).max(2_147_483_647, { error: "versions end at 2147483647" }).optional(),
    stage: z.enum(["production", "staging"], { error: 'expected "production" or "staging"' }).optional(),
    contributions: z.boolean({ error: "expected true or false" }).default(false),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (Object.keys(b.entities).length === 0) ctx.addIssue({ code: "custom", path: ["entities"], message: 'expected the join key columns, e.g. {"customer_id": [1, 2]}' });
    checkEqualLengths(b.entities, "entities", ctx);
    const firstColumn = Object.values(b.entities)[0];
    const n = Array.isArray(firstColumn) ? firstColumn.length : undefined;
    for (const [name, value] of Object.entries(b.request ?? {})) {
      if (Object.hasOwn(b.entities, name)) ctx.addIssue({ code: "custom", path: ["request", name], message: `${JSON.stringify(name)} is given in both entities and request` });
      else if (Array.isArray(value) && n !== undefined && value.length !== n) {
        ctx.addIssue({ code: "custom", path: ["request", name], message: `expected ${n} values (one per entity row) or a single value, got ${value.length}` });
      }
    }
    if (b.version !== undefined && b.stage !== undefined) ctx.addIssue({ code: "custom", path: ["stage"], message: "give either version or stage, not both" });
  });

type Body = z.infer<typeof body>;

/**
 * The fast path of `body` for the common shapes (see `fastBody` in route.ts): entities as columns
 * of scalars of equal length, optional request fields (a column of that length or one value),
 * version or stage, contributions. Anything else, including every invalid body, is left to the
 * schema, so errors keep their paths (test/server-predict-fast-body.test.ts compares the two).
 */
export function fastPredictBody(raw: unknown): Body | undefined {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) return undefined;
  const b = raw as Record<string, unknown>;
  for (const k in b) {
    if (!Object.hasOwn(b, k)) return undefined;
    if (k !== "entities" && k !== "request" && k !== "version" && k !== "stage" && k !== "contributions") return undefined;
  }
  const { entities, request, version, stage, contributions } = b;
  const n = fastColumnsLength(entities);
  if (n === undefined || n === -1) return undefined;
  const out: Body = { entities: entities as Body["entities"], contributions: false };
  if (request !== undefined) {
    if (typeof request !== "object" || request === null || Array.isArray(request)) return undefined;
    for (const name in request) {
      if (!Object.hasOwn(request, name) || name.length === 0 || Object.hasOwn(entities as object, name)) return undefined;
      const value = (request as Record<string, unknown>)[name];
      if (Array.isArray(value)) {
        if (value.length !== n) return undefined;
        for (const v of value) if (!isFastScalar(v)) return undefined;
      } else if (!isFastScalar(value)) return undefined;
    }
    out.request = request as Body["request"];
  }
  if (version !== undefined) {
    if (!Number.isSafeInteger(version) || (version as number) < 1 || (version as number) > 2_147_483_647 || stage !== undefined) return undefined;
    out.version = version as number;
  }
  if (stage !== undefined) {
    if (stage !== "production" && stage !== "staging") return undefined;
    out.stage = stage;
  }
  if (contributions !== undefined) {
    if (typeof contributions !== "boolean") return undefined;
    out.contributions = contributions;
  }
  return out;
}

const params = z.object({ model: z.string().min(1) });

const value = z.union([z.number(), z.string(), z.boolean(), z.null()]);
const numbers = z.union([z.number(), z.array(z.number()), z.null()]);
const response = z.object({
  request_id: z.string().meta({ description: "the x-request-id header if sent, else a new UUID; also in the prediction log and the x-request-id response header" }),
  model: z.string(),
  version: z.number().int().meta({ description: "the model version that answered" }),
  stage: z.enum(["production", "staging"]).nullable().meta({ description: "the stage the version was chosen by; null when a version was asked for" }),
  service: z.string().meta({ description: "the feature service the features came from" }),
  feature_names: z.array(z.string()).meta({ description: "the model's input features, in the model's order" }),
  results: z
    .array(
      z.object({
        prediction: numbers.meta({ description: 'a probability (logistic, binary xgboost), a value (linear, regression), per-class probabilities (multi-class), or null (missing inputs under the model\'s "null" policy)' }),
        margin: numbers.meta({ description: "the score before the link function (log-odds for logistic models)" }),
        features: z.record(z.string(), value).meta({ description: "the value of each model input, as the online read returned it" }),
        contributions: z
          .union([z.record(z.string(), z.number()), z.record(z.string(), z.array(z.number())), z.null()])
          .optional()
          .meta({ description: "with contributions: true — each feature's share of the margin (linear: weight × standardized value; trees: TreeSHAP)" }),
        bias: numbers.optional().meta({ description: "with contributions: true — bias + Σ contributions = margin" }),
        missing: z.array(z.string()).optional().meta({ description: 'the inputs that were missing when the "null" policy made the prediction null' }),
      }),
    )
    .meta({ description: "one per entity row, in order" }),
});

/** A caller's x-request-id if it is a short printable token, else none. */
function givenRequestId(header: string | string[] | undefined): string | undefined {
  const v = Array.isArray(header) ? header[0] : header;
  return v !== undefined && /^[\x21-\x7e]{1,128}$/.test(v) ? v : undefined;
}

/**
 * `POST /v1/predict/:model`: the model's production (or staging, or a given) version scored on its
 * feature service's online features for the entity rows (on-demand transforms included), through
 * the same code as `FeatureStore.predict` and `larder predict`. The model versions come from the
 * store's one long-lived ModelCache, so a promotion hot-swaps without failing a request. Each
 * answered request is logged (keys, request fields, features used, predictions) by the server's
 * prediction log, off the request path.
 */
export const predictRoute = defineRoute<Body, z.infer<typeof params>>({
  method: "POST",
  url: "/v1/predict/:model",
  scope: "read",
  operationId: "predict",
  summary: "Predictions of an embedded model on online features",
  description:
    "Entity rows as columns of join keys; request-source fields in `request` (a column, or one value for every row). " +
    "Answers a prediction per row with the model version, the feature values used and, with `contributions: true`, per-feature contributions. " +
    'Errors: UNKNOWN_MODEL (404) for an unknown model, version or empty stage; MISSING_FEATURE (422) when an input is missing under the model\'s "error" policy.',
  body,
  fastBody: fastPredictBody,
  params,
  entityRows: (b) => rowCount(b.entities, b.request),
  responses: { 200: { description: "a prediction per entity row", schema: response } },
  errorPath: (err, b) => {
    const d = err.details;
    const field = typeof d.field === "string" ? d.field : typeof d.column === "string" ? d.column : undefined;
    if (err.code === "UNKNOWN_MODEL") return typeof d.version === "number" ? "version" : typeof d.stage === "string" && b.stage !== undefined ? "stage" : null;
    if (field === undefined) return null;
    if (field === "version" || field === "stage") return field;
    if (field.startsWith("request.")) return field;
    if (Object.hasOwn(b.entities, field)) return formatPath(["entities", field]);
    if (b.request && Object.hasOwn(b.request, field)) return formatPath(["request", field]);
    // A missing request field the on-demand features need: point at where it belongs.
    if (err.code === "INVALID_ENTITIES") return formatPath(["request", field]);
    return err.code === "MISSING_JOIN_KEY" ? formatPath(["entities", field]) : null;
  },
  handler: async ({ store, body: b, params: p, request, reply, predictionLog }) => {
    const requestId = givenRequestId(request.headers["x-request-id"]) ?? randomUUID();
    const at = Date.now();
    const res = await store.predict(p.model, b.entities, {
      ...(b.request !== undefined ? { request: b.request } : {}),
      ...(b.version !== undefined ? { version: b.version } : {}),
      ...(b.stage !== undefined ? { stage: b.stage } : {}),
      contributions: b.contributions,
      now: at,
    });
    predictionLog?.record(res, b, { at, requestId });
    reply.header("x-request-id", requestId);
    return { request_id: requestId, ...res };
  },
});
