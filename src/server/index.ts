/**
 * `larder-feature-store/server`: the HTTP server as a library, for embedding it in your own process
 * or adding routes. A separate entry point so that `import … from "larder-feature-store"` (every
 * feature file) never loads fastify.
 *
 * @example
 * import { FeatureStore } from "larder-feature-store";
 * import { startServer } from "larder-feature-store/server";
 * const store = await FeatureStore.open(".", { holdOnlineStore: true });
 * const server = await startServer(store, { port: 6566 });
 */
export { buildServer, startServer, configuredApiKeys, type ServerOptions, type StartServerOptions, type RunningServer } from "./app.js";
export { defineRoute, type LarderRoute, type RouteScope, type RouteContext, type RouteResponse } from "./route.js";
export { builtinRoutes } from "./routes/index.js";
export { openApiDocument } from "./openapi.js";
export type { ErrorBody } from "./http-error.js";
