import type { FeatureStore, FeatureStoreOptions } from "../feature-store.js";

/**
 * `FeatureStore.open`, with the store's modules loaded on first use: commands are declared without
 * them, so `larder --help` and a usage error cost no more than commander.
 */
export async function openStore(repoDir: string, options?: FeatureStoreOptions): Promise<FeatureStore> {
  const { FeatureStore } = await import("../feature-store.js");
  return FeatureStore.open(repoDir, options);
}
