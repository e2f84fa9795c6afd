/**
 * Every environment variable Larder itself reads, in one place (the README's table "Environment
 * variables" lists the same). Everything else takes its settings from `larder.config.ts` or
 * options; a config file may of course read `process.env` itself (`larder init` writes one that
 * reads LARDER_REGISTRY_URL and LARDER_ONLINE_URL).
 */
export interface LarderEnvironment {
  /** LARDER_REGISTRY_SCHEMA: Postgres schema of the registry tables, when FeatureStore.open is given none. */
  registrySchema: string | undefined;
  /** LARDER_SOURCE_POSTGRES_URL: default connection of Postgres sources, when the config names none. */
  sourcePostgresUrl: string | undefined;
  /** LARDER_CACHE_DIR: where the embedded registry's initialised template is kept. */
  cacheDir: string | undefined;
  /** LARDER_API_KEYS: API keys of `larder serve`, `name:key:scope+scope,…`. */
  apiKeys: string | undefined;
  /** LARDER_DEBUG: print stack traces with errors. */
  debug: boolean;
  /** CI: set by CI systems; progress bars stay off there. */
  ci: boolean;
}

/** Reads the variables of `env` (default: this process's), as they are (an empty value is a value). */
export function larderEnvironment(env: NodeJS.ProcessEnv = process.env): LarderEnvironment {
  return {
    registrySchema: env.LARDER_REGISTRY_SCHEMA,
    sourcePostgresUrl: env.LARDER_SOURCE_POSTGRES_URL,
    cacheDir: env.LARDER_CACHE_DIR,
    apiKeys: env.LARDER_API_KEYS,
    debug: Boolean(env.LARDER_DEBUG),
    ci: env.CI !== undefined,
  };
}
