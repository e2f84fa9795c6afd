import { openApiDocument } from "../openapi.js";
import { defineRoute } from "../route.js";

/** `GET /docs`: the OpenAPI 3.1 document of every route the server serves. */
export const docsRoute = defineRoute({
  method: "GET",
  url: "/docs",
  scope: "public",
  operationId: "openapi",
  summary: "OpenAPI 3.1 document of this server",
  responses: { 200: { description: "the OpenAPI document", schema: { type: "object" } } },
  handler: async ({ routes, store }) => openApiDocument(routes, { title: `Larder (${store.project})` }),
});
