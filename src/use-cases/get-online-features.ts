import { selectionOf } from "../definitions/feature-refs.js";
import { getOnlineFeatures as readOnlineFeatures, type OnlineFeaturesResponse } from "../serving/online-features.js";
import type { AppContext } from "./app-context.js";

export interface OnlineFeaturesOptions {
  /** `["view:feature", …]`, or use `service`. */
  features?: readonly string[];
  service?: string;
  fullFeatureNames?: boolean;
  /** Read time for the TTL check, epoch ms (default now). */
  now?: number;
  /** Entity rows read at a time before yielding to other work (default `server.chunkRows` of the config, 1,000). */
  chunkRows?: number;
}

/**
 * The online feature vectors of entity rows (columnar, join keys and request fields), in Feast's
 * response shape with a status per value; on-demand views run on the same input rows as in
 * training sets.
 */
export async function getOnlineFeatures(ctx: AppContext, entities: Record<string, readonly unknown[]>, options: OnlineFeaturesOptions): Promise<OnlineFeaturesResponse> {
  const selection = selectionOf(options);
  const { definitions, config } = ctx.repo;
  return ctx.withOnlineStore((online) =>
    readOnlineFeatures(definitions, online, ctx.project, {
      selection,
      entities,
      fullFeatureNames: options.fullFeatureNames ?? false,
      ...(options.now !== undefined ? { now: options.now } : {}),
      chunkRows: options.chunkRows ?? config.server.chunkRows,
    }),
  );
}
