import fastifySwagger, { type StaticDocumentSpec } from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import { openApiDocument } from "../openapi.js";
import { defineRoute, type LarderRoute } from "../route.js";

/** Where browsers are sent: swagger-ui's page, its assets (`static/`) and the document it loads (`json`). */
export const DOCS_UI_PREFIX = "/docs/ui";

/** The OpenAPI document of the routes a store's server serves (the same for /docs and the UI). */
export function docsDocument(routes: readonly LarderRoute[], project: string): Record<string, unknown> {
  return openApiDocument(routes, { title: `Larder (${project})` });
}

/**
 * Serves swagger-ui under DOCS_UI_PREFIX with `document`: the maintained @fastify/swagger-ui
 * plugin, whose assets come from the package itself (nothing fetched from a CDN: works offline).
 * It reads the document through `fastify.swagger()`, which @fastify/swagger in static mode
 * provides. Its routes get no auth hook (only Larder routes do), so they are public like /docs.
 */
export function registerDocsUi(app: FastifyInstance, document: Record<string, unknown>): void {
  // Our document is OpenAPI 3.1, which the plugin serves as is; its type names only 2.0/3.0.
  void app.register(fastifySwagger, { mode: "static", specification: { document: document as unknown as StaticDocumentSpec["document"] } });
  void app.register(fastifySwaggerUi, { routePrefix: DOCS_UI_PREFIX });
}

/**
 * A browser (its Accept names text/html before any JSON) is sent to the UI; clients, `?format=json`
 * and `Accept: application/json` get the document.
 */
function wantsHtml(accept: string | undefined, query: unknown): boolean {
  if ((query as { format?: unknown } | null)?.format === "json") return false;
  if (!accept) return false;
  const html = accept.indexOf("text/html");
  const json = accept.indexOf("application/json");
  return html >= 0 && (json < 0 || html < json);
}

/** `GET /docs`: the OpenAPI 3.1 document of every route the server serves; browsers are redirected to swagger-ui. */
export const docsRoute = defineRoute({
  method: "GET",
  url: "/docs",
  scope: "public",
  operationId: "openapi",
  summary: "OpenAPI 3.1 document of this server (browsers are redirected to swagger-ui at /docs/ui/)",
  responses: {
    200: { description: "the OpenAPI document (JSON)", schema: { type: "object" } },
    302: { description: "with Accept: text/html (a browser): redirect to the swagger-ui page at /docs/ui/, which loads the document from /docs/ui/json" },
  },
  handler: async ({ routes, store, request, reply }) => {
    if (wantsHtml(request.headers.accept, request.query)) return reply.redirect(`${DOCS_UI_PREFIX}/`, 302);
    return docsDocument(routes, store.project);
  },
});
