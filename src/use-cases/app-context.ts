import { resolve as resolvePath } from "node:path";
import type { FeatureRepo } from "../config/load-repo.js";
import type { RepoDefinitions } from "../definitions/repo-definitions.js";
import { OfflineStore } from "../offline/offline-store.js";
import type { OnlineStore } from "../online/online-store.js";
import { openRegistry } from "../registry/open-registry.js";
import type { RegistryStore } from "../registry/registry-store.js";
import { ModelCache } from "../serving/model-cache.js";

/**
 * What every use case in this folder works with, built once per FeatureStore: the project and
 * repository (config and the definitions being served), the offline store with its engine config,
 * the registry and the online store (each opened for an operation's duration), and the loaded
 * models. Use cases are functions taking it (`backfill(ctx, …)`, `push(ctx, …)`); FeatureStore
 * builds one and delegates to them, and nothing below this folder knows either.
 *
 * A FeatureStore has these same members, so the exported use cases (`registerModel(store, …)`,
 * `startScheduler(store, …)`) accept a store as well.
 */
export interface AppContext {
  readonly project: string;
  /** Directory, config and definitions; `definitions` is replaced as a whole (read `repo` once per operation). */
  readonly repo: FeatureRepo;
  readonly offline: OfflineStore;
  /** Loaded model versions for serving (hot swap on promotion). */
  readonly models: ModelCache;
  /** The lease of runs (`runs.leaseMs`). */
  readonly runLeaseMs: number;
  /** The Postgres connection of postgres sources without their own. */
  readonly sourcePostgresUrl: string | undefined;
  /** Opens the registry for `fn`'s duration; `lockTimeoutMs` bounds the wait for locks held elsewhere (default 60 s). */
  withRegistry<T>(fn: (registry: RegistryStore) => Promise<T>, options?: { lockTimeoutMs?: number }): Promise<T>;
  /** Opens the online store for `fn`'s duration, or shares the held one (see AppContextOptions.holdOnlineStore). */
  withOnlineStore<T>(fn: (store: OnlineStore) => Promise<T>): Promise<T>;
  /** Serves `definitions` from now on (one assignment: a running operation keeps the ones it read). */
  replaceDefinitions(definitions: RepoDefinitions): void;
  /** Closes a held online store (it reopens on next use). */
  close(): Promise<void>;
}

export interface AppContextOptions {
  /** Schema of the registry tables in Postgres. */
  registrySchema?: string;
  /** Keep one online store connection open across operations until `close()`. */
  holdOnlineStore?: boolean;
  /** How often served models re-check their stage, at most, in ms (see ModelCache). */
  modelRefreshMs?: number;
}

/** Builds the context of a loaded repository; opens nothing yet (registry and online store open per operation). */
export function createAppContext(repo: FeatureRepo, options: AppContextOptions = {}): AppContext {
  return new RepoContext(repo, options);
}

class RepoContext implements AppContext {
  readonly offline: OfflineStore;
  #repo: FeatureRepo;
  #heldOnline: Promise<OnlineStore> | undefined;
  #models: ModelCache | undefined;

  constructor(
    repo: FeatureRepo,
    private readonly options: AppContextOptions,
  ) {
    this.#repo = repo;
    const { path: _path, ...engine } = repo.config.offline;
    if (engine.tempDirectory !== undefined) engine.tempDirectory = resolvePath(repo.dir, engine.tempDirectory);
    this.offline = new OfflineStore(repo.offlinePath, { engine });
  }

  get repo(): FeatureRepo {
    return this.#repo;
  }

  get project(): string {
    return this.#repo.config.project;
  }

  get runLeaseMs(): number {
    return this.#repo.config.runs.leaseMs;
  }

  get sourcePostgresUrl(): string | undefined {
    const c = this.#repo.config;
    return c.sources.postgres ?? (/^postgres(ql)?:\/\//.test(c.registry) ? c.registry : undefined);
  }

  get models(): ModelCache {
    this.#models ??= new ModelCache(this, this.options.modelRefreshMs !== undefined ? { refreshMs: this.options.modelRefreshMs } : {});
    return this.#models;
  }

  replaceDefinitions(definitions: RepoDefinitions): void {
    this.#repo = { ...this.#repo, definitions };
  }

  async withRegistry<T>(fn: (registry: RegistryStore) => Promise<T>, options: { lockTimeoutMs?: number } = {}): Promise<T> {
    const registry = await openRegistry(this.#repo.config.registry, {
      repoDir: this.#repo.dir,
      ...(this.options.registrySchema ? { schema: this.options.registrySchema } : {}),
      ...(options.lockTimeoutMs !== undefined ? { lockTimeoutMs: options.lockTimeoutMs } : {}),
    });
    try {
      return await fn(registry);
    } finally {
      await registry.close();
    }
  }

  async withOnlineStore<T>(fn: (store: OnlineStore) => Promise<T>): Promise<T> {
    if (this.options.holdOnlineStore) {
      // A failed open is retried by the next call.
      this.#heldOnline ??= this.#openOnline().catch((err: unknown) => {
        this.#heldOnline = undefined;
        throw err;
      });
      return fn(await this.#heldOnline);
    }
    const store = await this.#openOnline();
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  async #openOnline(): Promise<OnlineStore> {
    // Loaded on first use: commands that never touch the online store do not load its drivers.
    const { openOnlineStore } = await import("../online/open-online-store.js");
    return openOnlineStore(this.#repo.config.online, { repoDir: this.#repo.dir });
  }

  async close(): Promise<void> {
    const held = this.#heldOnline;
    this.#heldOnline = undefined;
    if (held) await (await held.catch(() => undefined))?.close();
  }
}
