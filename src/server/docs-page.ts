/**
 * The OpenAPI document as a browsable HTML page, rendered on the server: one collapsible entry per
 * operation (method, path, summary, auth scope, request body, responses with their schemas). No
 * script and no CDN, so it works offline and under a strict Content-Security-Policy.
 */
export function openApiHtml(doc: Record<string, unknown>): string {
  const info = (doc.info ?? {}) as { title?: string; description?: string; version?: string };
  const paths = (doc.paths ?? {}) as Record<string, Record<string, Operation>>;
  const ops = Object.entries(paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));
  const items = ops.map(({ path, method, op }) => {
    const scope = op["x-larder-scope"] ? `API key with scope <code>${esc(String(op["x-larder-scope"]))}</code>` : "no API key needed";
    const body = op.requestBody?.content?.["application/json"]?.schema;
    const responses = Object.entries(op.responses ?? {}).map(([status, r]) => {
      const [type, content] = Object.entries(r.content ?? {})[0] ?? [];
      return `<li><b>${esc(status)}</b> ${esc(r.description ?? "")}${type ? ` <code>${esc(type)}</code>` : ""}${content?.schema ? schemaBlock(content.schema) : ""}</li>`;
    });
    return `<details id="${esc(op.operationId ?? `${method}-${path}`)}"><summary><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code> — ${esc(op.summary ?? "")}</summary>
<p>${op.description ? `${esc(op.description)}<br>` : ""}${scope}</p>
${body ? `<h4>Request body</h4>${schemaBlock(body)}` : ""}<h4>Responses</h4><ul>${responses.join("\n")}</ul></details>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info.title ?? "API")}</title>
<style>
body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
details{border:1px solid #ddd;border-radius:6px;margin:.5rem 0;padding:.4rem .8rem}summary{cursor:pointer}
.m{display:inline-block;min-width:3.5rem;font-weight:600}.get{color:#0a6}.post{color:#06c}
pre{background:#f6f6f6;padding:.5rem;overflow:auto;max-height:24rem}h4{margin:.6rem 0 .2rem}
</style></head><body>
<h1>${esc(info.title ?? "API")}</h1>
<p>${esc(info.description ?? "")}</p>
<p>OpenAPI ${esc(String(doc.openapi ?? ""))} document as JSON: <a href="?format=json">/docs?format=json</a> (or send <code>Accept: application/json</code>).</p>
${items.join("\n")}
</body></html>
`;
}

interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  "x-larder-scope"?: unknown;
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }> }>;
}

function schemaBlock(schema: unknown): string {
  return `<pre>${esc(JSON.stringify(schema, null, 2))}</pre>`;
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
