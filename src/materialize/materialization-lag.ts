import { isLarderError } from "../errors.js";
import type { RepoDefinitions } from "../definitions/repo-definitions.js";
import type { RegistryStore } from "../registry/registry-store.js";
import { MATERIALIZE_KIND } from "./materialize-view.js";

/** Where the watermarks are read: the repository's registry (a FeatureStore is one). */
export interface WatermarkSource {
  readonly project: string;
  readonly repo: { readonly definitions: RepoDefinitions };
  withRegistry<T>(fn: (registry: RegistryStore) => Promise<T>, options?: { lockTimeoutMs?: number }): Promise<T>;
}

/** How far one online view's materialization is behind: what `/metrics` reports per view. */
export interface MaterializationLag {
  view: string;
  /** The view's materialization watermark (online values are complete up to it); null if never materialized. */
  watermark: Date | null;
  /** now − watermark in seconds (never negative); null if never materialized. */
  lagSeconds: number | null;
}

export interface MaterializationLagOptions {
  /** Epoch ms to measure from (default now). */
  now?: number;
  /** How long to wait for the registry (default 5 s: a metrics scrape should not hang on a busy embedded registry). */
  lockTimeoutMs?: number;
}

/** The watermarks each store last read, for when the embedded registry is busy (see below). */
const lastRead = new WeakMap<WatermarkSource, { view: string; watermark: Date | null }[]>();

/**
 * Each online view's materialization watermark and lag, by view name, read in one registry
 * session. When the registry is locked past `lockTimeoutMs` (the embedded registry is held by a
 * scheduled backfill in this process, or by a CLI command) it answers with the watermarks it last
 * read for this store, the lag measured from now; with none read yet it throws REGISTRY_LOCKED.
 * Other registry errors (POSTGRES_UNAVAILABLE, …) are thrown: callers such as `/metrics` decide
 * how to report them.
 * @example
 * for (const { view, lagSeconds } of await materializationLag(store)) console.log(view, lagSeconds);
 */
export async function materializationLag(store: WatermarkSource, options: MaterializationLagOptions = {}): Promise<MaterializationLag[]> {
  const views = [...store.repo.definitions.featureViews.values()].filter((v) => v.online).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let read: { view: string; watermark: Date | null }[];
  try {
    read = await store.withRegistry(
      async (registry) => {
        const out: { view: string; watermark: Date | null }[] = [];
        for (const view of views) out.push({ view: view.name, watermark: (await registry.getWatermark(store.project, view.name, MATERIALIZE_KIND)) ?? null });
        return out;
      },
      { lockTimeoutMs: options.lockTimeoutMs ?? 5000 },
    );
    lastRead.set(store, read);
  } catch (err) {
    const cached = lastRead.get(store);
    if (!(isLarderError(err) && err.code === "REGISTRY_LOCKED" && cached)) throw err;
    read = cached;
  }
  const now = options.now ?? Date.now();
  return read.map(({ view, watermark }) => ({ view, watermark, lagSeconds: watermark === null ? null : Math.max(0, (now - watermark.getTime()) / 1000) }));
}
