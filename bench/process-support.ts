/**
 * Process helpers shared by the server benchmarks (serving.ts, predict.ts).
 */
import { readFileSync } from "node:fs";
import { createServer } from "node:net";

/** A loopback port free right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once("error", rej);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

/**
 * A process's CPU time (user + system) in ms, from /proc; NaN where /proc is unavailable. CPU per
 * request moves much less with the machine's load than req/s and latency do.
 */
export function cpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in USER_HZ (100)
  } catch {
    return Number.NaN;
  }
}
