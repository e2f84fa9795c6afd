import { readFile } from "node:fs/promises";
import type { FeatureRepo } from "../config/load-repo.js";
import { repoMarkerPath, writeRepoMarker } from "../config/repo-marker.js";
import { LarderError, isLarderError } from "../errors.js";
import { loadModel } from "../models/load-model.js";
import type { Model } from "../models/model.js";
import { checkModelName } from "../models/model-name.js";
import type { ModelStage, RegistryStore } from "../registry/registry-store.js";
import { checkModelFitsService } from "./model-service-fit.js";

/** A registered version, loaded and ready to score. */
export interface ServedModel {
  name: string;
  version: number;
  /** The stage it was looked up by; null when asked for by version. */
  stage: ModelStage | null;
  service: string;
  format: string;
  model: Model;
}

export type ModelSelector = { stage: ModelStage } | { version: number };

/** Where a cache finds model versions: the repository's registry (a FeatureStore is one). */
export interface ModelVersionSource {
  readonly project: string;
  /** Its definitions check a version against its service; its config says which registry. */
  readonly repo: FeatureRepo;
  withRegistry<T>(fn: (registry: RegistryStore) => Promise<T>): Promise<T>;
}

export interface ModelCacheOptions {
  /**
   * How often a stage's version is re-checked, at most (ms). Embedded registry: how often the
   * promotion marker file is read (default 500); Postgres: how often the registry is polled
   * (default 2000).
   */
  refreshMs?: number;
}

interface StageEntry {
  name: string;
  stage: ModelStage;
  current: ServedModel;
}

/** Cached lookups that found nothing, kept this long so unknown-model requests don't each open the registry. */
const NEGATIVE_TTL_MS = 1000;
const MAX_VERSIONS = 32;

/**
 * Loaded models for serving, so a request never parses a model: the version holding a stage is
 * loaded once and kept; explicit versions (immutable) are kept too (the latest 32).
 *
 * **Hot swap.** A stage's version is re-checked in the background, never on a request's path: a
 * request that finds the last check older than `refreshMs` starts one, and is answered by the
 * version it already has. When the stage moved, the new version is fetched and fully loaded
 * (parsed, compiled, checked against its service) first, and only then does the entry point to it
 * — one assignment, so a request sees the old or the new model, never a failure between them. A
 * failed reload keeps the old version and is retried at the next check.
 *
 * **Noticing promotions made by other processes.** The embedded registry admits one process at a
 * time, so a server must not keep it open, nor open it every few seconds (it would block CLI
 * commands). Instead `promoteModel` writes a marker file, `.larder/model-stages`, after its commit,
 * and the cache reads that tiny file (every `refreshMs`, default 500 ms); only when its content
 * changed does it open the registry, briefly, to look the stages up. On a Postgres registry
 * promotions may come from any machine, so the cache polls the registry itself (default every 2 s).
 * A promotion made through this process's FeatureStore reaches its cache at once.
 */
export class ModelCache {
  readonly #store: ModelVersionSource;
  readonly #embedded: boolean;
  readonly #refreshMs: number;
  readonly #stages = new Map<string, StageEntry>();
  readonly #versions = new Map<string, ServedModel>();
  readonly #loading = new Map<string, Promise<ServedModel>>();
  readonly #negative = new Map<string, { error: LarderError; until: number }>();
  #checkedAt = 0;
  #marker: string | null = null;
  #refreshing: Promise<void> | null = null;
  /** The last background refresh error, if the last refresh failed (for health checks and logs). */
  lastRefreshError: LarderError | null = null;

  constructor(store: ModelVersionSource, options: ModelCacheOptions = {}) {
    this.#store = store;
    this.#embedded = store.repo.config.registry === "embedded";
    this.#refreshMs = options.refreshMs ?? (this.#embedded ? 500 : 2000);
  }

  /**
   * The model version a request asks for (default: production). Loads it on first use; later calls
   * return the cached version at once and may start a background check for a promotion.
   * Throws UNKNOWN_MODEL for an unknown model, version, or an empty stage.
   */
  async get(name: string, selector: ModelSelector = { stage: "production" }): Promise<ServedModel> {
    checkModelName(name);
    const key = "version" in selector ? `${name}\u0000#${selector.version}` : `${name}\u0000${selector.stage}`;
    if ("version" in selector) {
      const hit = this.#versions.get(key);
      if (hit) return hit;
    } else {
      const entry = this.#stages.get(key);
      if (entry) {
        this.#maybeRefresh();
        return entry.current;
      }
    }
    const negative = this.#negative.get(key);
    if (negative && negative.until > Date.now()) throw negative.error;
    let loading = this.#loading.get(key);
    if (!loading) {
      loading = this.#loadFirst(key, name, selector).finally(() => this.#loading.delete(key));
      this.#loading.set(key, loading);
    }
    return loading;
  }

  /** Forget everything (after a promotion in this process: the next request loads afresh). */
  invalidate(): void {
    this.#stages.clear();
    this.#negative.clear();
    this.#checkedAt = 0;
  }

  /** Waits for a running background refresh (tests; graceful shutdown). */
  async settled(): Promise<void> {
    await this.#refreshing;
  }

  async #loadFirst(key: string, name: string, selector: ModelSelector): Promise<ServedModel> {
    // The marker is read before the registry, so a promotion landing in between is seen next time.
    const marker = this.#embedded ? await this.#readMarker() : null;
    try {
      const served = await this.#store.withRegistry((registry) => this.#fetch(registry, name, selector));
      if ("version" in selector) {
        this.#versions.set(key, served);
        if (this.#versions.size > MAX_VERSIONS) this.#versions.delete(this.#versions.keys().next().value!);
      } else {
        if (this.#stages.size === 0) {
          this.#checkedAt = Date.now();
          this.#marker = marker;
        }
        this.#stages.set(key, { name, stage: selector.stage, current: served });
      }
      this.#negative.delete(key);
      return served;
    } catch (err) {
      if (isLarderError(err) && err.code === "UNKNOWN_MODEL") this.#negative.set(key, { error: err, until: Date.now() + NEGATIVE_TTL_MS });
      throw err;
    }
  }

  async #fetch(registry: RegistryStore, name: string, selector: ModelSelector): Promise<ServedModel> {
    const project = this.#store.project;
    const record = await registry.getModelVersion(project, name, selector);
    if (!record) {
      const versions = await registry.listModelVersions(project, { name });
      if (versions.length === 0) {
        const known = [...new Set((await registry.listModelVersions(project)).map((v) => v.name))];
        throw new LarderError("UNKNOWN_MODEL", `unknown model ${JSON.stringify(name)} (known: ${known.join(", ") || "none"})`, { model: name });
      }
      if ("version" in selector) {
        throw new LarderError("UNKNOWN_MODEL", `model ${JSON.stringify(name)} has no version ${selector.version} (versions ${versions.map((v) => v.version).join(", ")})`, { model: name, version: selector.version });
      }
      throw new LarderError(
        "UNKNOWN_MODEL",
        `model ${JSON.stringify(name)} has no ${selector.stage} version; promote one with \`larder models promote --name ${name} --version N${selector.stage === "production" ? "" : ` --stage ${selector.stage}`}\``,
        { model: name, stage: selector.stage },
      );
    }
    const model = loadModel(record.model);
    checkModelFitsService(this.#store.repo.definitions, model, record.service);
    return { name, version: record.version, stage: "stage" in selector ? selector.stage : null, service: record.service, format: record.format, model };
  }

  #maybeRefresh(): void {
    if (this.#refreshing || Date.now() - this.#checkedAt < this.#refreshMs) return;
    this.#refreshing = this.#refresh()
      .then(() => {
        this.lastRefreshError = null;
      })
      .catch((err: unknown) => {
        this.lastRefreshError = isLarderError(err) ? err : new LarderError("INTERNAL", String(err), {}, { cause: err });
      })
      .finally(() => {
        this.#checkedAt = Date.now();
        this.#refreshing = null;
      });
  }

  /** One check of every cached stage: load what moved, then swap each entry's pointer. */
  async #refresh(): Promise<void> {
    let marker: string | null = null;
    if (this.#embedded) {
      marker = await this.#readMarker();
      if (marker === this.#marker) return;
    }
    const entries = [...this.#stages.entries()];
    const swaps = await this.#store.withRegistry(async (registry) => {
      const out: { key: string; served: ServedModel | null; error?: LarderError }[] = [];
      for (const [key, entry] of entries) {
        const holder = (await registry.listModelVersions(this.#store.project, { name: entry.name })).find((v) => v.stage === entry.stage);
        if (holder?.version === entry.current.version) continue;
        try {
          out.push({ key, served: await this.#fetch(registry, entry.name, { stage: entry.stage }) });
        } catch (err) {
          // The stage was emptied: requests get UNKNOWN_MODEL. A bad new version: keep serving the old one.
          if (isLarderError(err) && err.code === "UNKNOWN_MODEL") out.push({ key, served: null, error: err });
          else throw err;
        }
      }
      return out;
    });
    for (const { key, served, error } of swaps) {
      const entry = this.#stages.get(key);
      if (!entry) continue;
      if (served) entry.current = served;
      else {
        this.#stages.delete(key);
        if (error) this.#negative.set(key, { error, until: Date.now() + NEGATIVE_TTL_MS });
      }
    }
    this.#marker = marker;
  }

  async #readMarker(): Promise<string> {
    try {
      return await readFile(stageMarkerPath(this.#store.repo.dir), "utf8");
    } catch {
      return "";
    }
  }
}

/** Path of the file whose content changes on every promotion made through Larder in this repository. */
export function stageMarkerPath(repoDir: string): string {
  return repoMarkerPath(repoDir, "model-stages");
}

/** Writes a fresh marker, unique per promotion. */
export function touchStageMarker(repoDir: string, what: string): void {
  writeRepoMarker(repoDir, "model-stages", `${new Date().toISOString()} ${process.pid} ${process.hrtime.bigint()} ${what}\n`);
}
