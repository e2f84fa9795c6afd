/**
 * Progress of long commands: an updating line with rows/s on a terminal (stderr), plain log lines
 * on stdout otherwise (at most one every few seconds), so CI logs stay readable and stderr holds
 * nothing but a failure's one `error [CODE]: …` line.
 */
export class Progress {
  private readonly started = Date.now();
  private lastLog = Date.now();
  private lastRows = 0;
  private readonly tty: boolean;

  private readonly stream: NodeJS.WriteStream;

  constructor(private readonly label: string, private readonly intervalMs = 5000) {
    this.tty = Boolean(process.stderr.isTTY) && process.env.CI === undefined;
    this.stream = this.tty ? process.stderr : process.stdout;
  }

  update(rows: number, detail = ""): void {
    this.lastRows = rows;
    const now = Date.now();
    if (this.tty) {
      if (now - this.lastLog < 100) return;
      this.lastLog = now;
      this.stream.write(`\r\x1b[K${this.line(rows, detail)}`);
    } else if (now - this.lastLog >= this.intervalMs) {
      this.lastLog = now;
      this.stream.write(`${this.line(rows, detail)}\n`);
    }
  }

  done(detail = ""): void {
    const line = this.line(this.lastRows, detail);
    this.stream.write(this.tty ? `\r\x1b[K${line}\n` : `${line}\n`);
  }

  private line(rows: number, detail: string): string {
    const secs = Math.max((Date.now() - this.started) / 1000, 1e-3);
    const rate = Math.round(rows / secs);
    return `${this.label}: ${rows.toLocaleString("en-US")} rows, ${rate.toLocaleString("en-US")} rows/s, ${secs.toFixed(1)} s${detail ? ` ${detail}` : ""}`;
  }
}
