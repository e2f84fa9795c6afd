import { z } from "zod";
import { defineRoute } from "../route.js";
import { errorBodySchema } from "../schemas.js";

/** A view name no definition can have, so the probe reads a key that never exists. */
export const PROBE_VIEW = "~health";

/**
 * `GET /health`: 200 when the online store answers a read (one round trip to Redis), else the
 * store's error (503 ONLINE_STORE_UNAVAILABLE). Needs no API key, for load balancers.
 */
export const healthRoute = defineRoute({
  method: "GET",
  url: "/health",
  scope: "public",
  operationId: "health",
  summary: "Liveness and online-store reachability",
  responses: {
    200: { description: "the online store answers", schema: z.object({ status: z.literal("ok"), project: z.string() }) },
    503: { description: "the online store is unreachable (ONLINE_STORE_UNAVAILABLE)", schema: errorBodySchema },
  },
  handler: async ({ store }) => {
    await store.withOnlineStore((online) => online.read(store.project, PROBE_VIEW, ["~"], []));
    return { status: "ok", project: store.project };
  },
});
