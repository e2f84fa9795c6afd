import { larderEnvironment } from "../environment.js";

/** Where progress goes: a writable stream (a terminal, a pipe, or a test's recorder). */
export interface ProgressStream {
  write(chunk: string): unknown;
}

export interface ProgressOptions {
  /** Redraw one line in place (a terminal) or print full lines (logs). Default: stderr is a TTY and CI is unset. */
  tty?: boolean;
  /** Default: stderr on a terminal, stdout otherwise (stderr holds nothing but a failure's one line). */
  stream?: ProgressStream;
  /** Plain mode: at most one line per this many ms (default 5000). */
  intervalMs?: number;
  /** The clock (tests pass a fake one). */
  now?: () => number;
}

/**
 * Progress of long commands. On a terminal one line redrawn in place (at most every 100 ms); in plain
 * mode (pipes, CI) a full line at most every `intervalMs`. With a known total (Parquet footers, a
 * Postgres estimate) lines show the percentage and an ETA from the average rate so far. `done()`
 * always ends with a newline, so whatever is printed next starts on a line of its own; `abort()`
 * ends a half-drawn line without a summary (before an error is printed).
 *
 * Hand-rolled rather than cli-progress: this is all we need (two modes, one line format), it writes
 * to any stream so tests record it, and it adds no dependency to the installed package.
 *
 * @example
 * const p = new Progress("backfill spend");
 * p.update(50_000, { total: 200_000 });
 * p.done();
 */
export class Progress {
  private readonly tty: boolean;
  private readonly stream: ProgressStream;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly started: number;
  private lastDraw: number;
  private rows = 0;
  private total: number | undefined;
  /** A terminal line is on screen without its newline. */
  private open = false;
  private finished = false;

  constructor(
    private readonly label: string,
    options: ProgressOptions = {},
  ) {
    this.tty = options.tty ?? (Boolean(process.stderr.isTTY) && !larderEnvironment().ci);
    this.stream = options.stream ?? (this.tty ? process.stderr : process.stdout);
    this.intervalMs = options.intervalMs ?? 5000;
    this.now = options.now ?? Date.now;
    this.started = this.now();
    this.lastDraw = this.started;
  }

  update(rows: number, options: { total?: number | undefined; detail?: string } = {}): void {
    if (this.finished) return;
    this.rows = rows;
    if (options.total !== undefined) this.total = options.total;
    const now = this.now();
    if (this.tty) {
      if (now - this.lastDraw < 100) return;
      this.lastDraw = now;
      this.stream.write(`\r\x1b[K${this.line(now, options.detail ?? "", false)}`);
      this.open = true;
    } else if (now - this.lastDraw >= this.intervalMs) {
      this.lastDraw = now;
      this.stream.write(`${this.line(now, options.detail ?? "", false)}\n`);
    }
  }

  /** Prints the final line (rows, rate, time), ending with a newline. Idempotent. */
  done(detail = ""): void {
    if (this.finished) return;
    this.finished = true;
    const line = this.line(this.now(), detail, true);
    this.stream.write(this.tty ? `\r\x1b[K${line}\n` : `${line}\n`);
    this.open = false;
  }

  /** Ends a half-drawn terminal line (nothing in plain mode), e.g. before an error is printed. */
  abort(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.open) this.stream.write("\n");
    this.open = false;
  }

  private line(now: number, detail: string, final: boolean): string {
    const secs = Math.max((now - this.started) / 1000, 1e-3);
    const rate = this.rows / secs;
    const parts = [`${this.label}: ${fmt(this.rows)}${!final && this.total !== undefined ? ` of ~${fmt(this.total)}` : ""} rows`];
    if (!final && this.total !== undefined && this.total > 0) {
      // The total is an estimate: never claim 100% before the end, nor an ETA below zero.
      const share = Math.min(this.rows / this.total, 0.99);
      parts.push(`${Math.floor(share * 100)}%`);
      if (rate > 0) parts.push(`ETA ${formatSeconds(Math.max(this.total - this.rows, 0) / rate)}`);
    }
    parts.push(`${fmt(Math.round(rate))} rows/s`, `${secs.toFixed(1)} s`);
    return `${parts.join(", ")}${detail ? ` ${detail}` : ""}`;
  }
}

/**
 * One progress line per view of a multi-view command: a view's line is finished (with its
 * newline) when the next view starts and at the end; on failure a half-drawn line is ended first,
 * so the error line stands on its own.
 */
export function viewProgress(
  verb: string,
  options: ProgressOptions = {},
): {
  update: (view: string, rows: number, total?: number) => void;
  around: <T>(fn: () => Promise<T>) => Promise<T>;
} {
  let progress: Progress | null = null;
  let current = "";
  return {
    update: (view, rows, total) => {
      if (view !== current) {
        progress?.done();
        current = view;
        progress = new Progress(`${verb} ${view}`, options);
      }
      progress?.update(rows, { total });
    },
    around: async (fn) => {
      try {
        const result = await fn();
        progress?.done();
        return result;
      } catch (err) {
        progress?.abort();
        throw err;
      }
    },
  };
}

const fmt = (n: number): string => n.toLocaleString("en-US");

function formatSeconds(s: number): string {
  if (s < 60) return `${Math.ceil(s)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}
