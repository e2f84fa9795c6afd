import { createHash } from "node:crypto";
import { z } from "zod";
import { LarderError } from "../errors.js";
import { DEFAULT_RUN_LEASE_MS } from "../registry/registry-store.js";

export interface LarderConfig {
  /** The project's name; registry objects are stored under it. */
  project: string;
  /** Files (relative to the repository) whose exported definitions make up the project. */
  definitions: string[];
  /** "embedded" (PGlite under .larder/) or a postgres:// URL. */
  registry: string;
  /** "embedded", "redis://…" or "redis-cluster://h:p,h:p". */
  online: string;
  offline: { path: string };
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
}

/** An API key in `larder.config.ts`: give the SHA-256 (`keyHash`, hex) or, less safely, the `key`. */
export type ApiKeyInput = { name: string; scopes: ApiKeyScope[] } & ({ keyHash: string; key?: undefined } | { key: string; keyHash?: undefined });

export interface LarderConfigInput {
  project: string;
  definitions?: string[];
  registry?: string;
  online?: string;
  offline?: { path?: string };
  sources?: { postgres?: string | null | undefined };
  server?: { apiKeys?: ApiKeyInput[]; bodyLimit?: number; predictionLog?: boolean };
  runs?: { leaseMs?: number };
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;


const apiKeySchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, { error: "expected a key name of letters, digits, _, . and -" }),
    key: z.string().min(16, { error: "an API key must have at least 16 characters" }).optional(),
    keyHash: z.string().regex(/^[0-9a-fA-F]{64}$/, { error: "expected the key's SHA-256 as 64 hex digits" }).optional(),
    scopes: z.array(z.enum(["read", "push", "admin"])).min(1),
  })
  .strict()
  .refine((k) => (k.key === undefined) !== (k.keyHash === undefined), { error: "give either key or keyHash" });

const configSchema = z.object({
  project: z.string({ error: "expected a project name" }).regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, { error: "expected a project name of letters, digits, _ and -" }),
  definitions: z.array(z.string().min(1)).min(1).default(["./features.ts"]),
  registry: z.string().min(1).default("embedded"),
  online: z.string().min(1).default("embedded"),
  offline: z.object({ path: z.string().min(1).default("./data/offline") }).default({ path: "./data/offline" }),
  sources: z.object({ postgres: z.string().min(1).nullable().optional() }).default({}),
  server: z
    .object({
      apiKeys: z.array(apiKeySchema).default([]),
      bodyLimit: z.number().int().min(1024).default(DEFAULT_BODY_LIMIT),
      predictionLog: z.boolean({ error: "expected true or false" }).default(true),
    })
    .default({ apiKeys: [], bodyLimit: DEFAULT_BODY_LIMIT, predictionLog: true }),
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
    offline: { path: c.offline.path },
    sources: { postgres: c.sources.postgres ?? process.env.LARDER_SOURCE_POSTGRES_URL ?? null },
    server: {
      apiKeys: c.server.apiKeys.map((k) => ({ name: k.name, keyHash: k.keyHash?.toLowerCase() ?? hashApiKey(k.key!), scopes: k.scopes })),
      bodyLimit: c.server.bodyLimit,
      predictionLog: c.server.predictionLog,
    },
    runs: { leaseMs: c.runs.leaseMs },
  };
}
