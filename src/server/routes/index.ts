import type { LarderRoute } from "../route.js";
import { docsRoute } from "./docs.js";
import { getOnlineFeaturesRoute } from "./get-online-features.js";
import { healthRoute } from "./health.js";
import { metricsRoute } from "./metrics.js";
import { predictRoute } from "./predict.js";
import { readyRoute } from "./ready.js";
import { pushRoute } from "./push.js";
import { trainingSetsRoute } from "./training-sets.js";

/**
 * Every route `larder serve` serves. A new route is a module in this folder built with
 * `defineRoute`, added here: auth, validation, errors, metrics and /docs follow from it.
 */
export const builtinRoutes: readonly LarderRoute[] = [getOnlineFeaturesRoute, pushRoute, healthRoute, readyRoute, trainingSetsRoute, predictRoute, metricsRoute, docsRoute];
