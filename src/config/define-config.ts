import { z } from "zod";
import { LarderError } from "../errors.js";

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
}

export interface LarderConfigInput {
  project: string;
  definitions?: string[];
  registry?: string;
  online?: string;
  offline?: { path?: string };
  sources?: { postgres?: string | null | undefined };
}

const configSchema = z.object({
  project: z.string({ error: "expected a project name" }).regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, { error: "expected a project name of letters, digits, _ and -" }),
  definitions: z.array(z.string().min(1)).min(1).default(["./features.ts"]),
  registry: z.string().min(1).default("embedded"),
  online: z.string().min(1).default("embedded"),
  offline: z.object({ path: z.string().min(1).default("./data/offline") }).default({ path: "./data/offline" }),
  sources: z.object({ postgres: z.string().min(1).nullable().optional() }).default({}),
});

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
  };
}
