/**
 * Waiting on an observable condition instead of sleeping: tests synchronise on what happened, so a
 * loaded machine makes them slower, never red. The deadline only bounds a hang, it is no speed
 * target: keep it generous.
 *
 * @example
 * await waitFor(() => seen.length >= 10, "the loop served 10 predictions");
 */
import { setTimeout as sleep } from "node:timers/promises";

export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(opts.intervalMs ?? 10);
  }
}
