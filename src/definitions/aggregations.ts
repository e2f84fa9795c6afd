import { parseDurationMs } from "../time.js";
import type { AggFunction, AggregationDef } from "./definition-types.js";

function make(fn: AggFunction, column: string | null, window: string | undefined): AggregationDef {
  // Malformed windows are reported by featureView's validation, which knows the view and feature name.
  return Object.freeze({ fn, column, window: window ?? null, windowMs: window === undefined ? null : parseDurationMs(window) });
}

/**
 * Windowed aggregations over a view's (transformed) source rows. As of time T a window of length w
 * covers events with timestamp in (T − w, T]; without a window, all events up to T.
 * count and sum of an empty window are 0; avg, min, max and last are null.
 * @example aggregations: { spend_7d: agg.sum("amount_usd", "7d"), txn_count_30d: agg.count("30d") }
 */
export const agg = {
  count: (window?: string): AggregationDef => make("count", null, window),
  sum: (column: string, window?: string): AggregationDef => make("sum", column, window),
  avg: (column: string, window?: string): AggregationDef => make("avg", column, window),
  min: (column: string, window?: string): AggregationDef => make("min", column, window),
  max: (column: string, window?: string): AggregationDef => make("max", column, window),
  last: (column: string, window?: string): AggregationDef => make("last", column, window),
};
