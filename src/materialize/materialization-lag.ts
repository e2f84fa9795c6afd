import type { FeatureStore } from "../feature-store.js";
import { MATERIALIZE_KIND } from "./materialize-view.js";

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

/**
 * Each online view's materialization watermark and lag, by view name, read in one registry
 * session. Throws the registry's error (REGISTRY_LOCKED when the embedded registry is busy past
 * `lockTimeoutMs`, POSTGRES_UNAVAILABLE, …): callers such as `/metrics` decide how to report it.
 * @example
 * for (const { view, lagSeconds } of await materializationLag(store)) console.log(view, lagSeconds);
 */
export async function materializationLag(store: FeatureStore, options: MaterializationLagOptions = {}): Promise<MaterializationLag[]> {
  const views = [...store.repo.definitions.featureViews.values()].filter((v) => v.online).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const watermarks = await store.withRegistry(
    async (registry) => {
      const out: (Date | undefined)[] = [];
      for (const view of views) out.push(await registry.getWatermark(store.project, view.name, MATERIALIZE_KIND));
      return out;
    },
    { lockTimeoutMs: options.lockTimeoutMs ?? 5000 },
  );
  const now = options.now ?? Date.now();
  return views.map((view, i) => {
    const watermark = watermarks[i] ?? null;
    return { view: view.name, watermark, lagSeconds: watermark === null ? null : Math.max(0, (now - watermark.getTime()) / 1000) };
  });
}
