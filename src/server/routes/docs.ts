import { openApiDocument } from "../openapi.js";
import { openApiHtml } from "../docs-page.js";
import { defineRoute } from "../route.js";

/**
 * A browser (its Accept names text/html before any JSON) gets the page; clients, `?format=json`
 * and `Accept: application/json` get the document.
 */
function wantsHtml(accept: string | undefined, query: unknown): boolean {
  if ((query as { format?: unknown } | null)?.format === "json") return false;
  if (!accept) return false;
  const html = accept.indexOf("text/html");
  const json = accept.indexOf("application/json");
  return html >= 0 && (json < 0 || html < json);
}

/** `GET /docs`: the OpenAPI 3.1 document of every route the server serves, or a browsable page of it. */
export const docsRoute = defineRoute({
  method: "GET",
  url: "/docs",
  scope: "public",
  operationId: "openapi",
  summary: "OpenAPI 3.1 document of this server (an HTML page for browsers)",
  responses: {
    200: { description: "the OpenAPI document (JSON), or with Accept: text/html a browsable page of it", schema: { type: "object" } },
  },
  handler: async ({ routes, store, request, reply }) => {
    const doc = openApiDocument(routes, { title: `Larder (${store.project})` });
    if (!wantsHtml(request.headers.accept, request.query)) return doc;
    return reply.type("text/html; charset=utf-8").send(openApiHtml(doc));
  },
});
