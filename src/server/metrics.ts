import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { FeatureStore } from "../feature-store.js";
import { MATERIALIZE_KIND } from "../materialize/materialize-view.js";
import { ONLINE_REPAIR_KIND } from "../materialize/online-data-loss.js";

/** How long a scrape waits for the registry before it answers with the last watermarks read. */
const REGISTRY_WAIT_MS = 5_000;

/** Route label of requests that matched no route (so unknown paths cannot explode the label set). */
export const UNMATCHED_ROUTE = "(unmatched)";

/**
 * The server's Prometheus metrics, in a registry of its own (several servers in one process, as
 * in tests, do not share counters):
 *
 * - `larder_http_request_duration_seconds{method,route,status}` — histogram of request latency;
 *   `route` is the route's pattern (`/v1/predict/:model`), never the raw URL.
 * - `larder_online_store_errors_total{route}` — requests that failed because the online store was
 *   unreachable (ONLINE_STORE_UNAVAILABLE).
 * - `larder_materialization_lag_seconds{view}` — now − the view's materialization watermark,
 *   read from the registry at scrape time; absent for views never materialized.
 * - `larder_materialization_watermark_seconds{view}` — the watermark itself, Unix seconds.
 * - `larder_online_data_loss_total{view}` — times the view's online data was found lost (its
 *   marker missing from, or behind in, the online store) and refilled, by any process: the
 *   registry's runs of kind `online_repair`, read at scrape time.
 * - `larder_registry_up` — 1 if this scrape could read the registry, else 0 (lag and watermark
 *   are then those of the last successful read).
 * - Node's process metrics (`process_*`, `nodejs_*`).
 */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requestDuration: Histogram<"method" | "route" | "status">;
  readonly onlineStoreErrors: Counter<"route">;

  constructor(store: FeatureStore, opts: { onScrapeError?: (err: unknown) => void } = {}) {
    const registers = [this.registry];
    this.requestDuration = new Histogram({
      name: "larder_http_request_duration_seconds",
      help: "HTTP request latency by route pattern, method and status",
      labelNames: ["method", "route", "status"],
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.onlineStoreErrors = new Counter({
      name: "larder_online_store_errors_total",
      help: "Requests that failed because the online store was unreachable",
      labelNames: ["route"],
      registers,
    });
    // prom-client awaits each metric's collect() (in parallel); the three share one read.
    const collect = (): Promise<void> => refresh();
    const lag = new Gauge({ name: "larder_materialization_lag_seconds", help: "Now minus the view's materialization watermark", labelNames: ["view"], registers, collect });
    const watermark = new Gauge({ name: "larder_materialization_watermark_seconds", help: "The view's materialization watermark, Unix seconds", labelNames: ["view"], registers, collect });
    const dataLoss = new Counter({ name: "larder_online_data_loss_total", help: "Times the view's online data was found lost and refilled (runs of kind online_repair)", labelNames: ["view"], registers, collect });
    const registryUp = new Gauge({ name: "larder_registry_up", help: "1 if the last scrape could read watermarks from the registry", registers, collect });
    // One registry read per scrape fills all three gauges (the embedded registry is opened for
    // just this read: the server never holds it between requests). While another holder (a
    // scheduled backfill, a CLI command) keeps the registry, a scrape does not wait past
    // REGISTRY_WAIT_MS: it reports the last watermarks read, with larder_registry_up 0.
    const marks = new Map<string, number>();
    const losses = new Map<string, number>();
    let pendingRead: Promise<void> | null = null;
    const readMarks = (): Promise<void> => {
      pendingRead ??= (async () => {
        const views = [...store.repo.definitions.featureViews.values()].filter((v) => v.online).map((v) => v.name);
        const [read, repairs] = await store.withRegistry(async (r) =>
          Promise.all([Promise.all(views.map(async (v) => [v, await r.getWatermark(store.project, v, MATERIALIZE_KIND)] as const)), r.listRuns(store.project, { kind: ONLINE_REPAIR_KIND })]),
        );
        marks.clear();
        for (const [view, at] of read) if (at !== undefined) marks.set(view, at.getTime());
        losses.clear();
        for (const view of views) losses.set(view, 0);
        for (const run of repairs) losses.set(run.view, (losses.get(run.view) ?? 0) + 1);
      })().finally(() => {
        pendingRead = null;
      });
      return pendingRead;
    };
    let scrape: Promise<void> | null = null;
    function refresh(): Promise<void> {
      scrape ??= (async () => {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            readMarks(),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`the registry did not open within ${REGISTRY_WAIT_MS} ms (another process or run holds it)`)), REGISTRY_WAIT_MS);
            }),
          ]);
          registryUp.set(1);
        } catch (err) {
          registryUp.set(0);
          opts.onScrapeError?.(err);
        } finally {
          clearTimeout(timer);
        }
        lag.reset();
        watermark.reset();
        dataLoss.reset();
        for (const [view, n] of losses) dataLoss.inc({ view }, n);
        const now = Date.now();
        for (const [view, at] of marks) {
          lag.set({ view }, Math.max(0, now - at) / 1000);
          watermark.set({ view }, at / 1000);
        }
      })().finally(() => {
        scrape = null;
      });
      return scrape;
    }
    collectDefaultMetrics({ register: this.registry });
  }

  /** Starts the online-store error series of a route at 0 (so rate() sees it from the start). */
  declareRoute(route: string): void {
    this.onlineStoreErrors.labels({ route }).inc(0);
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
