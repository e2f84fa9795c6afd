import { DEFAULT_RUN_LEASE_MS } from "./registry-store.js";

/**
 * Keeps a running run's lease alive: renews it every quarter of the lease, so three renewals in a
 * row can fail (a slow registry, a busy event loop) before readers see the run "abandoned". The
 * timer is unref'd, so it never keeps a process alive; `stop()` ends it (call it before finishing
 * the run). A renewal that fails is retried at the next beat; one that finds the run no longer
 * running (reaped as abandoned) stops the beats.
 *
 * @example
 * const id = await registry.startRun(project, { kind: "backfill", view, leaseMs });
 * const lease = RunLease.keep((ms) => registry.renewRun(id, ms), leaseMs);
 * try { … } finally { lease.stop(); }
 */
export class RunLease {
  #timer: NodeJS.Timeout | undefined;
  #inFlight = false;

  private constructor(
    private readonly renew: (leaseMs: number) => Promise<boolean>,
    readonly leaseMs: number,
  ) {
    this.#timer = setInterval(() => this.#beat(), Math.max(1, Math.floor(leaseMs / 4)));
    this.#timer.unref();
  }

  /** Starts renewing with `renew(leaseMs)`, which answers whether the run is still running. */
  static keep(renew: (leaseMs: number) => Promise<boolean>, leaseMs: number = DEFAULT_RUN_LEASE_MS): RunLease {
    return new RunLease(renew, leaseMs);
  }

  #beat(): void {
    if (this.#inFlight) return;
    this.#inFlight = true;
    this.renew(this.leaseMs).then(
      (running) => {
        this.#inFlight = false;
        if (!running) this.stop();
      },
      () => {
        this.#inFlight = false;
      },
    );
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
