import { Counter, Gauge, type Registry } from "prom-client";
import type { FeatureStore } from "../feature-store.js";
import { predictionLogEntry } from "../serving/prediction-log-entry.js";
import { PredictionLogger, type PredictionLogStats } from "../serving/prediction-log.js";
import type { PredictResponse } from "../serving/predict.js";

/**
 * The server's prediction log: one `PredictionLogger` per server (created by the app factory,
 * flushed and closed when the server closes), fed by `POST /v1/predict/:model`.
 *
 * `record` never throws and never waits: building the row and buffering it are synchronous and
 * cheap, the Parquet write happens in the logger's background flush. A response that cannot be
 * logged (a value its column's type cannot hold) is counted as dropped and reported through `log`
 * once per distinct message, and the request is answered as usual.
 */
export class ServerPredictionLog {
  readonly logger: PredictionLogger;
  #unloggable = 0;
  readonly #reported = new Set<string>();

  constructor(
    private readonly store: FeatureStore,
    private readonly log: (line: string) => void,
  ) {
    this.logger = new PredictionLogger(store.repo.offlinePath, {
      onError: (err) => this.#report(`prediction log: write failed (rows kept for the next flush): ${err instanceof Error ? err.message : String(err)}`),
    });
  }

  /** Buffers one served response; false when it was dropped. */
  record(response: PredictResponse, request: { entities: Record<string, readonly unknown[]>; request?: Record<string, unknown> | undefined }, meta: { at: number; requestId: string }): boolean {
    try {
      return this.logger.log(predictionLogEntry(this.store.repo.definitions, response, request, meta));
    } catch (err) {
      this.#unloggable += response.results.length;
      this.#report(`prediction log: cannot log a ${response.model} response: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    }
  }

  /** The logger's counts; `dropped` includes responses that could not be turned into log rows. */
  stats(): PredictionLogStats {
    const s = this.logger.stats();
    return { ...s, dropped: s.dropped + this.#unloggable };
  }

  /** Writes what is buffered and stops accepting rows. */
  close(): Promise<void> {
    return this.logger.close();
  }

  /**
   * Adds the log's counts to a metrics registry, read at scrape time:
   * `larder_prediction_log_rows_written_total`, `…_rows_dropped_total`, `…_files_written_total`,
   * `…_write_failures_total` and the gauge `larder_prediction_log_rows_buffered`.
   */
  registerMetrics(registry: Registry): void {
    const counter = (name: string, help: string, pick: (s: PredictionLogStats) => number) => {
      const log = this;
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(pick(log.stats()));
        },
      });
    };
    counter("larder_prediction_log_rows_written_total", "Prediction-log rows written to Parquet", (s) => s.written);
    counter("larder_prediction_log_rows_dropped_total", "Prediction-log rows dropped (buffer full while writes failed, server closing, or unloggable values)", (s) => s.dropped);
    counter("larder_prediction_log_files_written_total", "Prediction-log Parquet files written", (s) => s.files);
    counter("larder_prediction_log_write_failures_total", "Failed prediction-log flushes (their rows are kept and retried)", (s) => s.failures);
    const log = this;
    new Gauge({
      name: "larder_prediction_log_rows_buffered",
      help: "Prediction-log rows waiting for the next flush",
      registers: [registry],
      collect() {
        this.set(log.stats().buffered);
      },
    });
  }

  #report(line: string): void {
    if (this.#reported.size >= 100 || this.#reported.has(line)) return;
    this.#reported.add(line);
    this.log(line);
  }
}
