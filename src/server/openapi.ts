import { z } from "zod";
import { ERROR_CATALOGUE } from "../errors.js";
import type { LarderRoute, RouteResponse } from "./route.js";
import { errorBodySchema } from "./schemas.js";

type JsonObject = Record<string, unknown>;

function jsonSchema(schema: RouteResponse["schema"], io: "input" | "output"): JsonObject | undefined {
  if (schema === undefined) return undefined;
  if (schema instanceof z.ZodType) {
    const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: "any" }) as JsonObject;
    return rest;
  }
  return schema;
}

/** `/v1/predict/:model` → `/v1/predict/{model}`. */
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

function errorResponse(description: string): JsonObject {
  return { description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } };
}

/**
 * The OpenAPI 3.1 document of `routes`, written from the same zod schemas that validate the
 * requests (OpenAPI 3.1's schemas are JSON Schema 2020-12, what `z.toJSONSchema` emits).
 */
export function openApiDocument(routes: readonly LarderRoute[], opts: { title: string; version?: string }): JsonObject {
  const paths: Record<string, Record<string, JsonObject>> = {};
  for (const route of routes) {
    const op: JsonObject = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      ...(route.scope === "public" ? { security: [] } : { security: [{ bearerAuth: [] }, { apiKeyHeader: [] }], "x-larder-scope": route.scope }),
    };
    if (route.params) {
      const params = jsonSchema(route.params, "input") as { properties?: Record<string, JsonObject>; required?: string[] };
      op.parameters = Object.entries(params.properties ?? {}).map(([name, schema]) => ({ name, in: "path", required: true, schema }));
    }
    if (route.body) {
      op.requestBody = { required: true, content: { "application/json": { schema: jsonSchema(route.body, "input") } } };
    }
    const responses: Record<string, JsonObject> = {};
    for (const [status, r] of Object.entries(route.responses)) {
      const schema = jsonSchema(r.schema, "output");
      responses[status] = { description: r.description, ...(schema ? { content: { [r.contentType ?? "application/json"]: { schema } } } : {}) };
    }
    if (route.body || route.params) responses["400"] ??= errorResponse("invalid request (code and path of the offending field)");
    if (route.body) responses["413"] ??= errorResponse(`request body over the server's limit (PAYLOAD_TOO_LARGE)${route.entityRows ? ", or more entity rows than server.maxEntityRows (ENTITY_ROWS_LIMIT)" : ""}`);
    if (route.scope !== "public") {
      responses["401"] ??= errorResponse("no API key, or an unknown one (UNAUTHENTICATED)");
      responses["403"] ??= errorResponse(`the API key lacks the ${route.scope} scope (FORBIDDEN)`);
    }
    if (route.scope === "read" || route.scope === "push") responses["503"] ??= errorResponse("the online store or registry is unreachable");
    responses["500"] ??= errorResponse("internal error");
    (paths[openApiPath(route.url)] ??= {})[route.method.toLowerCase()] = { ...op, responses };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: opts.title,
      version: opts.version ?? "1",
      description: 'Larder\'s feature server. Errors are `{"error": {"code", "message", "path"}}` with a code from the catalogue in `components.schemas.Error`.',
    },
    paths,
    components: {
      schemas: {
        Error: {
          ...jsonSchema(errorBodySchema, "output"),
          "x-error-codes": Object.fromEntries(Object.entries(ERROR_CATALOGUE).map(([code, { status }]) => [code, status])),
        },
      },
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", description: "an API key as a bearer token" },
        apiKeyHeader: { type: "apiKey", in: "header", name: "x-api-key" },
      },
    },
  };
}
