import { defineRoute } from "../route.js";

/** `GET /metrics`: Prometheus exposition (see ServerMetrics for the names). Needs an admin key. */
export const metricsRoute = defineRoute({
  method: "GET",
  url: "/metrics",
  scope: "admin",
  operationId: "metrics",
  summary: "Prometheus metrics",
  description:
    "larder_http_request_duration_seconds{method,route,status}, larder_online_store_errors_total{route}, " +
    "larder_materialization_lag_seconds{view}, larder_materialization_watermark_seconds{view}, larder_online_data_loss_total{view}, larder_registry_up, and Node's process metrics.",
  responses: { 200: { description: "Prometheus text exposition format", contentType: "text/plain; version=0.0.4", schema: { type: "string" } } },
  handler: async ({ metrics, reply }) => {
    const { contentType, text } = await metrics.render();
    return reply.type(contentType).send(text);
  },
});
