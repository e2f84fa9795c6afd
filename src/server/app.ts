import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { SERVER_DEFAULTS, type ApiKeyConfig, type LarderConfig } from "../config/define-config.js";
import { isLarderError, LarderError } from "../errors.js";
import { larderEnvironment } from "../environment.js";
import type { FeatureStore } from "../feature-store.js";
import { ApiKeys, apiKeysFromEnv, isLoopbackHost, presentedKey } from "./auth.js";
import { errorResponse, requestError, zodRequestError } from "./http-error.js";
import { jsonStream } from "./json-stream.js";
import { ServerMetrics, UNMATCHED_ROUTE } from "./metrics.js";
import type { LarderRoute } from "./route.js";
import { docsDocument, docsRoute, registerDocsUi } from "./routes/docs.js";
import { builtinRoutes } from "./routes/index.js";
import { ServerPredictionLog } from "./server-prediction-log.js";

export interface ServerOptions {
  /** API keys (hashed); default `server.apiKeys` of larder.config.ts plus `LARDER_API_KEYS`. None: no auth. */
  apiKeys?: readonly ApiKeyConfig[];
  /** Largest request body in bytes; default `server.bodyLimit` of the config (1 MiB). */
  bodyLimit?: number;
  /** The routes to serve; default `builtinRoutes`. */
  routes?: readonly LarderRoute[];
  /** Log served predictions as Parquet (see ServerPredictionLog); default `server.predictionLog` of the config (true). */
  predictionLog?: boolean;
  /** Request, headers and keep-alive timeouts in ms; default those of `server` in the config (30 s, 10 s, 72 s). */
  requestTimeout?: number;
  headersTimeout?: number;
  keepAliveTimeout?: number;
  /** Most entity rows per request; default `server.maxEntityRows` of the config (10,000). */
  maxEntityRows?: number;
  /** Where server-side failures (500s, metric scrapes that cannot read the registry) are reported. */
  log?: (line: string) => void;
}

/** The API keys a repository's server uses: the config's, then those of `LARDER_API_KEYS`. */
export function configuredApiKeys(config: LarderConfig, env?: NodeJS.ProcessEnv): ApiKeyConfig[] {
  return [...config.server.apiKeys, ...apiKeysFromEnv(larderEnvironment(env).apiKeys)];
}

/**
 * The HTTP server of a feature store, as a fastify app (not listening: call `listen`, or use
 * `startServer`; tests may use `app.inject()`). Routes come from `routes/` (see `defineRoute`);
 * every body is validated by its route's zod schema, every failure answers
 * `{"error": {"code", "message", "path"}}` with the status of its code. The app holds no registry
 * connection between requests; the store's online connection is the caller's to close.
 *
 * @example
 * const store = await FeatureStore.open(".", { holdOnlineStore: true });
 * const app = buildServer(store);
 * await app.listen({ host: "127.0.0.1", port: 6566 });
 */
export function buildServer(store: FeatureStore, options: ServerOptions = {}): FastifyInstance {
  const log = options.log ?? (() => {});
  const server = { ...SERVER_DEFAULTS, ...store.repo.config.server };
  const bodyLimit = options.bodyLimit ?? server.bodyLimit;
  const requestTimeout = options.requestTimeout ?? server.requestTimeout;
  const headersTimeout = Math.min(options.headersTimeout ?? server.headersTimeout, requestTimeout || Number.POSITIVE_INFINITY);
  const keepAliveTimeout = options.keepAliveTimeout ?? server.keepAliveTimeout;
  const maxEntityRows = options.maxEntityRows ?? server.maxEntityRows;
  const chunkRows = Math.max(1, server.chunkRows);
  const keys = new ApiKeys(options.apiKeys ?? configuredApiKeys(store.repo.config));
  const routes = options.routes ?? builtinRoutes;
  const metrics = new ServerMetrics(store, { onScrapeError: (err) => log(`metrics: cannot read watermarks from the registry: ${err instanceof Error ? err.message : String(err)}`) });

  // One prediction log per server, flushed and closed when the server closes (after in-flight requests).
  const predictionLog = (options.predictionLog ?? server.predictionLog) ? new ServerPredictionLog(store, log) : null;
  predictionLog?.registerMetrics(metrics.registry);

  // Node checks request and headers deadlines on a timer (default every 30 s, which would let a
  // stalled request live up to twice its timeout): check a few times per timeout instead.
  const shortest = Math.min(headersTimeout, requestTimeout || Number.POSITIVE_INFINITY);
  const app = Fastify({
    logger: false,
    bodyLimit,
    return503OnClosing: true,
    forceCloseConnections: "idle",
    // The router's own failures (a malformed URL, a path parameter over 100 characters) answer in
    // Larder's error shape too.
    frameworkErrors: (err, request, reply) => sendError(reply, request, new LarderError("INVALID_ARGUMENT", `${err.message.slice(0, 200)}`, { code: err.code })),
    requestTimeout,
    keepAliveTimeout,
    http: { headersTimeout, requestTimeout, keepAliveTimeout, connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(shortest / 4))) },
  });
  if (predictionLog) app.addHook("onClose", () => predictionLog.close());

  const sendError = (reply: FastifyReply, request: FastifyRequest, err: unknown, path?: string | null): FastifyReply => {
    const { status, body, internal } = errorResponse(err, { bodyLimit, path: path ?? null });
    if (internal) log(`error: ${request.method} ${request.url}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (body.error.code === "ONLINE_STORE_UNAVAILABLE") {
      metrics.onlineStoreErrors.inc({ route: request.routeOptions.url ?? UNMATCHED_ROUTE });
      reply.header("retry-after", "1");
    }
    return reply.code(status).type("application/json; charset=utf-8").send(body);
  };

  // Every body is JSON, whatever its content type says: Feast's curl examples send none (curl
  // then says form-urlencoded). fastify's parser rejects __proto__ and constructor.prototype keys.
  app.removeAllContentTypeParsers();
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.addContentTypeParser("*", { parseAs: "string" }, (request, raw, done) => {
    const text = typeof raw === "string" ? raw : raw.toString("utf8");
    if (text === "") return done(null, undefined);
    parseJson(request, text, (err, value) => {
      if (!err) return done(null, value);
      let why = "it contains a forbidden __proto__ or constructor.prototype key";
      try {
        JSON.parse(text);
      } catch (syntax) {
        why = (syntax as Error).message;
      }
      done(requestError("INVALID_JSON", `request body is not valid JSON: ${why}`, ""), undefined);
    });
  });

  app.setErrorHandler((err, request, reply) => sendError(reply, request, err));
  app.setNotFoundHandler((request, reply) => sendError(reply, request, new LarderError("ROUTE_NOT_FOUND", `no route ${request.method} ${request.url.slice(0, 200)} (see GET /docs)`)));
  app.addHook("onResponse", async (request, reply) => {
    metrics.requestDuration.observe({ method: request.method, route: request.routeOptions.url ?? UNMATCHED_ROUTE, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  for (const route of routes) {
    const scope = route.scope;
    if (scope === "read" || scope === "push" || route.url === "/health" || route.url === "/ready") metrics.declareRoute(route.url);
    app.route({
      method: route.method,
      url: route.url,
      ...(scope !== "public" && keys.size > 0
        ? {
            onRequest: async (request: FastifyRequest) => {
              keys.authorize(presentedKey(request.headers), scope);
            },
          }
        : {}),
      handler: async (request, reply) => {
        let body: unknown;
        if (route.body) {
          if (request.body === undefined) return sendError(reply, request, requestError("INVALID_JSON", "request body is empty (expected a JSON object)", ""));
          body = route.fastBody?.(request.body);
          if (body === undefined) {
            const parsed = route.body.safeParse(request.body);
            if (!parsed.success) return sendError(reply, request, zodRequestError(parsed.error, "body"));
            body = parsed.data;
          }
        }
        let rows = 0;
        if (route.entityRows) {
          rows = route.entityRows(body);
          if (rows > maxEntityRows) {
            return sendError(
              reply,
              request,
              new LarderError("ENTITY_ROWS_LIMIT", `the request has ${rows} entity rows; this server takes at most ${maxEntityRows} per request (server.maxEntityRows): split it into several requests`, { rows, limit: maxEntityRows }),
              "entities",
            );
          }
        }
        let params: unknown;
        if (route.params) {
          const parsed = route.params.safeParse(request.params);
          if (!parsed.success) return sendError(reply, request, zodRequestError(parsed.error, "params"));
          params = parsed.data;
        }
        try {
          const result = await route.handler({ store, body, params, request, reply, metrics, predictionLog, routes });
          if (result === reply) return reply;
          // A response for more than chunkRows entity rows is serialized in slices of chunkRows
          // rows with a turn of the event loop between them, the same bytes as one JSON.stringify;
          // smaller ones take fastify's one-step path.
          if (rows > chunkRows) return reply.type("application/json; charset=utf-8").send(jsonStream(result, chunkRows));
          return reply.send(result);
        } catch (err) {
          return sendError(reply, request, err, isLarderError(err) ? (route.errorPath?.(err, body) ?? null) : null);
        }
      },
    });
  }
  if (routes.includes(docsRoute)) registerDocsUi(app, docsDocument(routes, store.project));
  return app;
}

export interface StartServerOptions extends ServerOptions {
  /** Default 127.0.0.1. Without API keys only loopback addresses are allowed. */
  host?: string;
  /** Default 6566; 0 picks a free port. */
  port?: number;
}

export interface RunningServer {
  app: FastifyInstance;
  /** `http://host:port` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Builds the server and listens. With no API keys configured the server refuses any host but a
 * loopback one (INVALID_CONFIG) and logs "no API keys configured: binding to loopback only".
 */
export async function startServer(store: FeatureStore, options: StartServerOptions = {}): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 6566;
  const keys = options.apiKeys ?? configuredApiKeys(store.repo.config);
  if (keys.length === 0) {
    if (!isLoopbackHost(host)) {
      throw new LarderError("INVALID_CONFIG", `no API keys configured: binding to loopback only, not to ${host}. Configure server.apiKeys in larder.config.ts or LARDER_API_KEYS (name:key:scope+scope) to listen on other addresses`, {
        host,
      });
    }
    options.log?.("no API keys configured: binding to loopback only");
  }
  const app = buildServer(store, { ...options, apiKeys: keys });
  try {
    await app.listen({ host, port });
  } catch (err) {
    await app.close();
    const e = err as NodeJS.ErrnoException;
    if (e.code === "EADDRINUSE") throw new LarderError("INVALID_ARGUMENT", `cannot listen on ${host}:${port}: the port is in use`, { host, port }, { cause: err });
    if (e.code === "EADDRNOTAVAIL" || e.code === "ENOTFOUND") throw new LarderError("INVALID_ARGUMENT", `cannot listen on ${host}:${port}: no such local address`, { host, port }, { cause: err });
    throw err;
  }
  const address = app.server.address();
  const bound = typeof address === "object" && address !== null ? address.port : port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return { app, url: `http://${shownHost}:${bound}`, port: bound, close: () => app.close() };
}
