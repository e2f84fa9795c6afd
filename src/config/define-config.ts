import { createHash } from "node:crypto";
import { z } from "zod";
import { LarderError } from "../errors.js";
import { larderEnvironment } from "../environment.js";
import { parseDurationMs } from "../time.js";
import { DEFAULT_RUN_LEASE_MS } from "../registry/registry-store.js";
import { MEMORY_LIMIT_PATTERN } from "../offline/duckdb-engine.js";

export interface LarderConfig {
  /** The project's name; registry objects are stored under it. */
  project: string;
  /** Files (relative to the repository) whose exported definitions make up the project. */
  definitions: string[];
  /** "embedded" (PGlite under .larder/) or a postgres:// URL. */
  registry: string;
  /** "embedded", "redis://…" or "redis-cluster://h:p,h:p". */
  online: string;
  /**
   * The offline store's directory and its engine (DuckDB): `memoryLimit` ("1GB"; default half the
   * machine's memory), `threads` (default every core), `tempDirectory` (where it spills).
   */
  offline: { path: string; memoryLimit?: string; threads?: number; tempDirectory?: string };
  /** Default connection of postgresSource()s that name none. */
  sources: { postgres: string | null };
  /** `larder serve`: API keys (hashed) and the request body limit. */
  server: ServerConfig;
  /** Run bookkeeping: see RunsConfig. */
  runs: RunsConfig;
}

/** How runs (backfills, materializations, scheduled ticks) prove they are alive. */
export interface RunsConfig {
  /**
   * A run's lease in ms (default 60,000, at least 500). Its process renews it every quarter of
   * this; a run whose lease expired (kill -9, a lost machine) shows as "abandoned" in `larder runs`,
   * and the next run of its view removes its temporary files.
   */
  leaseMs: number;
}

/** What an API key may do: `read` features and training sets, `push` rows, `admin` everything. */
export type ApiKeyScope = "read" | "push" | "admin";

/** An API key as the server keeps it: only the SHA-256 of the key, never the key. */
export interface ApiKeyConfig {
  name: string;
  /** Lower-case hex SHA-256 of the key. */
  keyHash: string;
  scopes: ApiKeyScope[];
}

export interface ServerConfig {
  apiKeys: ApiKeyConfig[];
  /** Largest request body in bytes (default 1 MiB). */
  bodyLimit: number;
  /**
   * Log every served prediction (keys, request fields, features used, predictions) as Parquet
   * under `<offline>/_prediction_logs/` (default true). See PredictionLogger.
   */
  predictionLog: boolean;
  /**
   * A request whose headers and body have not all arrived this long after it began is answered
   * 408 and its connection closed (ms; default 30 s; 0: no limit). Slow or stalled bodies cannot
   * hold connections open forever.
   */
  requestTimeout: number;
  /** Time allowed to receive a request's headers (ms; default 10 s; at most `requestTimeout`). */
  headersTimeout: number;
  /**
   * An idle keep-alive connection is closed after this long (ms; default 72 s, fastify's: longer
   * than the 60 s idle timeout of common load balancers, so they never reuse a connection the
   * server is closing).
   */
  keepAliveTimeout: number;
  /**
   * Most entity rows one `/get-online-features`, `/v1/predict/:model` or `/v1/training-sets`
   * request may carry (default 10,000); more is 413 ENTITY_ROWS_LIMIT.
   */
  maxEntityRows: number;
  /**
   * Entity rows a request processes before it yields to other requests (default 1,000): a large
   * batch is read, scored and its response serialized (streamed) in chunks, so small requests are
   * not stalled behind it.
   */
  chunkRows: number;
  /**
   * How often the server checks whether `larder apply` changed the registry, to reload the
   * definitions (ms; default 2000 for a Postgres registry, 500 for the embedded one, which is
   * checked through a marker file; 0: never reload).
   */
  definitionsPollInterval: number | null;
  /** How long POST /push keeps an Idempotency-Key (and its answer), ms (default 24 h; `idempotencyRetention: "24h"`). */
  idempotencyRetentionMs: number;
}

/** An API key in `larder.config.ts`: give the SHA-256 (`keyHash`, hex) or, less safely, the `key`. */
export type ApiKeyInput = { name: string; scopes: ApiKeyScope[] } & ({ keyHash: string; key?: undefined } | { key: string; keyHash?: undefined });

export interface LarderConfigInput {
  project: string;
  definitions?: string[];
  registry?: string;
  online?: string;
  offline?: { path?: string; memoryLimit?: string; threads?: number; tempDirectory?: string };
  sources?: { postgres?: string | null | undefined };
  server?: {
    apiKeys?: ApiKeyInput[];
    bodyLimit?: number;
    predictionLog?: boolean;
    requestTimeout?: number;
    headersTimeout?: number;
    keepAliveTimeout?: number;
    maxEntityRows?: number;
    chunkRows?: number;
    definitionsPollInterval?: number | null;
    /** A duration such as "24h" (default), "30m" or "7d". */
    idempotencyRetention?: string;
  };
  runs?: { leaseMs?: number };
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** The `server` section's defaults (see ServerConfig). */
export const SERVER_DEFAULTS = {
  bodyLimit: DEFAULT_BODY_LIMIT,
  predictionLog: true,
  requestTimeout: 30_000,
  headersTimeout: 10_000,
  keepAliveTimeout: 72_000,
  maxEntityRows: 10_000,
  chunkRows: 1_000,
} as const;

const ms = (what: string) => z.number({ error: `expected ${what} in milliseconds` }).int({ error: `expected ${what} as whole milliseconds` });
/** How long POST /push keeps an Idempotency-Key by default: 24 h. */
export const DEFAULT_IDEMPOTENCY_RETENTION_MS = 24 * 3_600_000;

const apiKeySchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: "expected a key name of letters, digits, _, . and -" }),
    key: z.string().min(16, { error: "an API key must have at least 16 characters" }).optional(),
    keyHash: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, { error: "expected the key's SHA-256 as 64 hex digits" })
      .optional(),
    scopes: z.array(z.enum(["read", "push", "admin"])).min(1),
  })
  .strict()
  .refine((k) => (k.key === undefined) !== (k.keyHash === undefined), { error: "give either key or keyHash" });

const configSchema = z.object({
  project: z.string({ error: "expected a project name" }).regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, { error: "expected a project name of letters, digits, _ and -" }),
  definitions: z.array(z.string().min(1)).min(1).default(["./features.ts"]),
  registry: z.string().min(1).default("embedded"),
  online: z.string().min(1).default("embedded"),
  offline: z
    .object({
      path: z.string().min(1).default("./data/offline"),
      memoryLimit: z.string().regex(MEMORY_LIMIT_PATTERN, { error: 'expected a size such as "1GB" or "512MB"' }).optional(),
      threads: z.number().int().min(1, { error: "expected at least 1 thread" }).optional(),
      tempDirectory: z.string().min(1).optional(),
    })
    .strict()
    .default({ path: "./data/offline" }),
  sources: z.object({ postgres: z.string().min(1).nullable().optional() }).default({}),
  server: z
    .object({
      apiKeys: z.array(apiKeySchema).default([]),
      bodyLimit: z.number().int().min(1024).default(SERVER_DEFAULTS.bodyLimit),
      predictionLog: z.boolean({ error: "expected true or false" }).default(SERVER_DEFAULTS.predictionLog),
      requestTimeout: ms("a timeout").min(0).default(SERVER_DEFAULTS.requestTimeout),
      headersTimeout: ms("a timeout").min(1).default(SERVER_DEFAULTS.headersTimeout),
      keepAliveTimeout: ms("a timeout").min(1).default(SERVER_DEFAULTS.keepAliveTimeout),
      maxEntityRows: z.number().int().min(1, { error: "expected at least 1 entity row" }).default(SERVER_DEFAULTS.maxEntityRows),
      chunkRows: z.number().int().min(1, { error: "expected at least 1 row per chunk" }).default(SERVER_DEFAULTS.chunkRows),
      definitionsPollInterval: ms("an interval").min(0).nullable().optional(),
      idempotencyRetention: z
        .string()
        .refine((d) => parseDurationMs(d) > 0, { error: 'expected a duration such as "24h", "30m" or "7d"' })
        .optional(),
      /** As defineConfig returns it (a config made by defineConfig is validated again on load). */
      idempotencyRetentionMs: z.number().positive().optional(),
    })
    .refine((s) => s.requestTimeout === 0 || s.headersTimeout <= s.requestTimeout, {
      error: "headersTimeout must not exceed requestTimeout (the headers are part of the request)",
      path: ["headersTimeout"],
    })
    .default({ apiKeys: [], ...SERVER_DEFAULTS }),
  runs: z
    .object({ leaseMs: z.number().int().min(500, { error: "expected a lease of at least 500 ms" }).default(DEFAULT_RUN_LEASE_MS) })
    .strict()
    .default({ leaseMs: DEFAULT_RUN_LEASE_MS }),
});

/** Lower-case hex SHA-256 of an API key: what `keyHash` holds. */
export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

/**
 * The configuration of a feature repository, the default export of `larder.config.ts`.
 * @example
 * export default defineConfig({ project: "churn", definitions: ["./features.ts"],
 *   registry: process.env.LARDER_REGISTRY_URL ?? "embedded", offline: { path: "./data/offline" } });
 */
export function defineConfig(input: LarderConfigInput): LarderConfig {
  const r = configSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new LarderError("INVALID_CONFIG", `larder.config.ts ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}`, { path: issue?.path.join(".") ?? "" });
  }
  const c = r.data;
  return {
    project: c.project,
    definitions: c.definitions,
    registry: c.registry,
    online: c.online,
    offline: {
      path: c.offline.path,
      ...(c.offline.memoryLimit !== undefined ? { memoryLimit: c.offline.memoryLimit } : {}),
      ...(c.offline.threads !== undefined ? { threads: c.offline.threads } : {}),
      ...(c.offline.tempDirectory !== undefined ? { tempDirectory: c.offline.tempDirectory } : {}),
    },
    sources: { postgres: c.sources.postgres ?? larderEnvironment().sourcePostgresUrl ?? null },
    server: {
      apiKeys: c.server.apiKeys.map((k) => ({ name: k.name, keyHash: k.keyHash?.toLowerCase() ?? hashApiKey(k.key!), scopes: k.scopes })),
      bodyLimit: c.server.bodyLimit,
      predictionLog: c.server.predictionLog,
      requestTimeout: c.server.requestTimeout,
      headersTimeout: c.server.headersTimeout,
      keepAliveTimeout: c.server.keepAliveTimeout,
      maxEntityRows: c.server.maxEntityRows,
      chunkRows: c.server.chunkRows,
      definitionsPollInterval: c.server.definitionsPollInterval ?? null,
      idempotencyRetentionMs: c.server.idempotencyRetention !== undefined ? parseDurationMs(c.server.idempotencyRetention) : (c.server.idempotencyRetentionMs ?? DEFAULT_IDEMPOTENCY_RETENTION_MS),
    },
    runs: { leaseMs: c.runs.leaseMs },
  };
}
