import type { FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import type { LarderError } from "../errors.js";
import type { FeatureStore } from "../feature-store.js";
import type { ServerMetrics } from "./metrics.js";
import type { ServerPredictionLog } from "./server-prediction-log.js";

/**
 * Who may call a route: anyone (`public`), or an API key with that scope. `admin` keys may call
 * every route. Without configured keys the server binds to loopback only and checks nothing.
 */
export type RouteScope = "public" | "read" | "push" | "admin";

export interface RouteResponse {
  description: string;
  /** Default application/json. */
  contentType?: string;
  /** The body's shape, for the OpenAPI document (a zod schema, or a JSON Schema as is). */
  schema?: z.ZodType | Record<string, unknown>;
}

export interface RouteContext<B, P> {
  store: FeatureStore;
  /** The body, parsed by the route's `body` schema (undefined without one). */
  body: B;
  /** The path parameters, parsed by the route's `params` schema. */
  params: P;
  request: FastifyRequest;
  reply: FastifyReply;
  metrics: ServerMetrics;
  /** The server's prediction log; null when `server.predictionLog` is false. */
  predictionLog: ServerPredictionLog | null;
  /** Every route the server serves (for the OpenAPI document). */
  routes: readonly LarderRoute[];
}

/**
 * One HTTP route: its method and path, who may call it, the zod schemas of its body and path
 * parameters (validated before the handler runs: a bad request is a 400 naming the field), its
 * responses (for the OpenAPI document) and its handler. The server, the auth check, the metrics
 * and /docs are all driven by this one description, so a new route (say `POST
 * /v1/predict/:model`) is one file in `routes/` added to `builtinRoutes`.
 *
 * @example
 * export const ping = defineRoute({
 *   method: "GET", url: "/ping", scope: "public", summary: "Says pong",
 *   responses: { 200: { description: "pong", schema: z.object({ pong: z.literal(true) }) } },
 *   handler: async () => ({ pong: true }),
 * });
 */
export interface LarderRoute<B = unknown, P = unknown> {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** fastify's path syntax: `/v1/predict/:model`. */
  url: string;
  scope: RouteScope;
  /** Stable name of the operation in the OpenAPI document. */
  operationId: string;
  summary: string;
  description?: string;
  body?: z.ZodType<B>;
  /**
   * Optional fast path for `body`, for hot routes: a cheap check that returns what `body` would
   * parse a valid request to, or undefined to let `body` parse it (so every error still comes from
   * the schema, with its path). It must accept only bodies the schema accepts
   * (test/server-http-fast-body.test.ts compares them).
   */
  fastBody?: (raw: unknown) => B | undefined;
  params?: z.ZodType<P>;
  /**
   * The number of entity rows of a parsed body, for routes that read or score entity rows: more
   * than `server.maxEntityRows` is answered 413 ENTITY_ROWS_LIMIT before the handler runs.
   */
  entityRows?: (body: B) => number;
  responses: Record<number, RouteResponse>;
  /**
   * The request field a LarderError from the handler is about (`entities.customer_id`,
   * `features[2]`), for the error's `path`; default none.
   */
  errorPath?: (err: LarderError, body: B) => string | null;
  /** Returns the JSON body, or sends the reply itself (and returns the reply). */
  handler(ctx: RouteContext<B, P>): Promise<unknown>;
}

/** Types a route's handler by its schemas; returns it erased, for the server's route list. */
export function defineRoute<B = undefined, P = undefined>(route: LarderRoute<B, P>): LarderRoute {
  return route as unknown as LarderRoute;
}
