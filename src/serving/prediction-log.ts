import { mkdir } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { columnFromValues, makeBatch, type Column } from "../data/columnar.js";
import { writeParquetFile } from "../offline/parquet-io.js";
import type { ValueType } from "../types.js";

/**
 * Prediction logs: the feature vectors served to a model and its predictions, appended to the
 * offline store as Parquet so they can be audited and used for retraining.
 *
 * Layout: `<offline path>/_prediction_logs/<model>/date=YYYY-MM-DD/<time>-<random>.parquet`, one
 * file per flush, model version and column set (a file never mixes schemas). Every file has
 * `event_timestamp` (when the prediction was served), `model`, `model_version` and `request_id`,
 * then the caller's columns: join keys and request fields, the feature values used, the
 * predictions. Because it has the join keys and `event_timestamp`, a log file is a valid
 * `--entities` file: a training set over it with labels joined in gives the features as they are
 * computed offline next to the ones that were served.
 *
 * `log` is synchronous and never waits for I/O: entries are buffered and written by a background
 * flush every `flushIntervalMs`, or sooner once `flushRows` rows are buffered. Writes are atomic
 * (temporary file, fsync, rename), so a reader never sees half a file. If writing fails the rows
 * stay buffered for the next flush; past `maxBufferedRows` new entries are dropped and counted
 * (`stats().dropped`), so a broken disk never grows memory without bound or slows a request.
 */
export interface PredictionLogEntry {
  model: string;
  version: number;
  /** When the predictions were served, epoch ms. */
  at: number;
  requestId?: string;
  /** Column names → their types, in output order; every column in `columns` must be listed. */
  schema: readonly (readonly [string, ValueType])[];
  /** Columnar values, one per served row. */
  columns: Record<string, readonly unknown[]>;
}

export interface PredictionLoggerOptions {
  /** Default 1000 ms. */
  flushIntervalMs?: number;
  /** Flush as soon as this many rows are buffered (default 10,000). */
  flushRows?: number;
  /** Rows kept while writes fail before new entries are dropped (default 200,000). */
  maxBufferedRows?: number;
  /** Told about every failed write (the rows are kept and retried). */
  onError?: (err: unknown) => void;
}

export interface PredictionLogStats {
  /** Rows written to Parquet. */
  written: number;
  /** Files written. */
  files: number;
  /** Rows waiting for the next flush. */
  buffered: number;
  /** Rows dropped because the buffer was full. */
  dropped: number;
  /** Failed flush attempts. */
  failures: number;
}

interface Group {
  model: string;
  version: number;
  day: string;
  schema: readonly (readonly [string, ValueType])[];
  entries: PredictionLogEntry[];
  /** Row count of each entry (counted once, in `log`). */
  counts: number[];
  rows: number;
}

const DIR = "_prediction_logs";

/** The directory of one model's prediction logs under an offline store path. */
export function predictionLogDir(offlinePath: string, model: string): string {
  return join(offlinePath, DIR, model);
}

export class PredictionLogger {
  private groups = new Map<string, Group>();
  private bufferedRows = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private closed = false;
  private readonly counts = { written: 0, files: 0, dropped: 0, failures: 0 };
  private readonly flushIntervalMs: number;
  private readonly flushRows: number;
  private readonly maxBufferedRows: number;

  constructor(
    private readonly offlinePath: string,
    private readonly options: PredictionLoggerOptions = {},
  ) {
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.flushRows = options.flushRows ?? 10_000;
    this.maxBufferedRows = options.maxBufferedRows ?? 200_000;
  }

  /** Buffers one served batch; returns false when it was dropped (buffer full or logger closed). */
  log(entry: PredictionLogEntry): boolean {
    const rows = rowCount(entry);
    if (this.closed || this.bufferedRows + rows > this.maxBufferedRows) {
      this.counts.dropped += rows;
      return false;
    }
    const day = utcDay(entry.at);
    const key = `${entry.model}\u0000${entry.version}\u0000${day}\u0000${schemaKey(entry.schema)}`;
    let group = this.groups.get(key);
    if (!group) {
      group = { model: entry.model, version: entry.version, day, schema: entry.schema, entries: [], counts: [], rows: 0 };
      this.groups.set(key, group);
    }
    group.entries.push(entry);
    group.counts.push(rows);
    group.rows += rows;
    this.bufferedRows += rows;
    // One size-triggered flush at a time: while a write is in flight the rows counted here include
    // the ones being written, and a flush per call would chain a promise per request.
    if (this.bufferedRows >= this.flushRows && this.flushing === undefined) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushIntervalMs).unref();
    return true;
  }

  stats(): PredictionLogStats {
    return { ...this.counts, buffered: this.bufferedRows };
  }

  /** Writes everything buffered now; resolves when written (or failed and kept for retry). */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // One flush at a time; a flush asked for during one runs right after it.
    const run = (this.flushing ?? Promise.resolve()).then(() => this.writeGroups());
    this.flushing = run;
    void run.finally(() => {
      if (this.flushing === run) this.flushing = undefined;
    });
    return run;
  }

  /** Flushes and stops accepting entries. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private async writeGroups(): Promise<void> {
    const groups = [...this.groups.values()];
    this.groups = new Map();
    for (const group of groups) {
      try {
        await this.writeGroup(group);
        this.bufferedRows -= group.rows;
        this.counts.written += group.rows;
        this.counts.files += 1;
      } catch (err) {
        this.counts.failures += 1;
        this.options.onError?.(err);
        // Keep the rows for the next flush (merged with anything logged meanwhile).
        const key = `${group.model}\u0000${group.version}\u0000${group.day}\u0000${schemaKey(group.schema)}`;
        const current = this.groups.get(key);
        if (current) {
          current.entries.unshift(...group.entries);
          current.counts.unshift(...group.counts);
          current.rows += group.rows;
        } else this.groups.set(key, group);
        if (!this.closed) this.timer ??= setTimeout(() => void this.flush(), this.flushIntervalMs).unref();
      }
    }
  }

  private async writeGroup(group: Group): Promise<void> {
    const columns = new Map<string, Column>();
    const at: number[] = [];
    const model: string[] = [];
    const version: number[] = [];
    const requestId: (string | null)[] = [];
    group.entries.forEach((e, k) => {
      const n = group.counts[k]!;
      for (let i = 0; i < n; i++) {
        at.push(e.at);
        model.push(e.model);
        version.push(e.version);
        requestId.push(e.requestId ?? null);
      }
    });
    columns.set("event_timestamp", columnFromValues("timestamp", at, "event_timestamp"));
    columns.set("model", columnFromValues("string", model, "model"));
    columns.set("model_version", columnFromValues("int64", version, "model_version"));
    columns.set("request_id", columnFromValues("string", requestId, "request_id"));
    for (const [name, type] of group.schema) {
      if (columns.has(name)) continue;
      const values: unknown[] = [];
      group.entries.forEach((e, k) => {
        const col = e.columns[name];
        const n = group.counts[k]!;
        for (let i = 0; i < n; i++) values.push(col?.[i] ?? null);
      });
      columns.set(name, columnFromValues(type, values, name));
    }
    const dir = join(predictionLogDir(this.offlinePath, group.model), `date=${group.day}`);
    await mkdir(dir, { recursive: true });
    const file = `${new Date().toISOString().replace(/[:.]/g, "")}-v${group.version}-${randomBytes(4).toString("hex")}.parquet`;
    await writeParquetFile(join(dir, file), makeBatch(columns), { metadata: { "larder.model": group.model, "larder.model_version": String(group.version) } });
  }
}

/** A schema's part of a group key, computed once per schema array (callers reuse one array per layout). */
const schemaKeys = new WeakMap<readonly (readonly [string, ValueType])[], string>();
function schemaKey(schema: readonly (readonly [string, ValueType])[]): string {
  let key = schemaKeys.get(schema);
  if (key === undefined) schemaKeys.set(schema, (key = schema.map(([n, t]) => `${n}:${t}`).join(",")));
  return key;
}

/** YYYY-MM-DD of an instant, UTC; the last day formatted is remembered (log calls come in time order). */
let dayStart = Number.NaN;
let dayText = "";
function utcDay(at: number): string {
  if (!(at >= dayStart && at < dayStart + 86_400_000)) {
    dayStart = Math.floor(at / 86_400_000) * 86_400_000;
    dayText = new Date(dayStart).toISOString().slice(0, 10);
  }
  return dayText;
}

function rowCount(entry: PredictionLogEntry): number {
  let n = 0;
  for (const values of Object.values(entry.columns)) n = Math.max(n, values.length);
  return n;
}
