/**
 * The raw events an aggregated view keeps online per entity, so a push can update its windows
 * exactly as a backfill would compute them.
 *
 * Why a buffer: an aggregate over (T − w, T] cannot be updated from its value alone when a late
 * event arrives, nor when events leave the window as T advances (min, max, last, and sums that must
 * reset to exactly 0). So next to the aggregate values the online store keeps, per (entity, view),
 * the events that can still matter: those with timestamp > asOf − (longest window), plus the
 * newest event for a `last` without window, and every event when a `count` or `sum` has no window
 * (the store then grows with the entity's history: prefer windows). A push merges its events in,
 * runs the one windowed-aggregation engine (`aggregateKey`, shared with backfills) over the
 * buffer, takes the values as of `asOf = max(stored asOf, newest pushed event)`, and prunes.
 *
 * Events keep the engine's order: by timestamp, then created timestamp, then arrival (a pushed event
 * after a stored one it ties with).
 */
import type { AggregationDef } from "../definitions/definition-types.js";
import { aggregateKey, emptyAggregateValue, type AggregationSpec } from "./window-aggregator.js";
import { isEpochMs } from "../time.js";
import { rowExpiresAt } from "../ttl.js";

export interface BufferedEvent {
  ts: number;
  /** Created timestamp, −Infinity when the source has none (as the backfill sorts). */
  created: number;
  /** Values of the buffer's columns, in `EventBuffer.columns` order. */
  values: unknown[];
}

export interface EventBuffer {
  /** The columns aggregations read, in a fixed order. */
  columns: readonly string[];
  events: BufferedEvent[];
  /**
   * Idempotent pushes already merged into this buffer: [push id, when merged (epoch ms)]. A retry
   * of the same push finds its id and merges nothing again (src/serving/push-idempotency.ts).
   */
  pushes?: readonly PushMark[];
}

/** [push id, epoch ms it was merged]. */
export type PushMark = readonly [string, number];

/** The columns a view's aggregations read, in a stable order (the buffer's layout). */
export function bufferColumns(aggs: readonly AggregationSpec[]): string[] {
  return [...new Set(aggs.map((a) => a.def.column).filter((c): c is string => c !== null))].sort();
}

/**
 * JSON: `{"c":[columns],"e":[[ts, created|null, v…], …]}`, plus `"p":[[id, ms], …]` when pushes are
 * marked (no raw newlines, as the store needs); Dates as epoch ms.
 */
export function encodeBuffer(buffer: EventBuffer): string {
  const e = buffer.events.map((ev) => [ev.ts, Number.isFinite(ev.created) ? ev.created : null, ...ev.values.map(jsonSafe)]);
  return JSON.stringify(buffer.pushes !== undefined && buffer.pushes.length > 0 ? { c: buffer.columns, e, p: buffer.pushes } : { c: buffer.columns, e });
}

/** The push marks of a stored buffer (whatever its columns); empty when it has none or is unreadable. */
export function pushMarksOf(stored: string): PushMark[] {
  try {
    const p = (JSON.parse(stored) as { p?: unknown }).p;
    return Array.isArray(p) ? p.filter((m): m is PushMark => Array.isArray(m) && typeof m[0] === "string" && typeof m[1] === "number") : [];
  } catch {
    return [];
  }
}

/**
 * Decodes a stored buffer; null when it was written for other columns (the view changed since:
 * its events cannot be reused, and the caller starts from an empty buffer).
 */
export function decodeBuffer(stored: string, columns: readonly string[]): EventBuffer | null {
  let parsed: { c?: unknown; e?: unknown };
  try {
    parsed = JSON.parse(stored) as { c?: unknown; e?: unknown };
  } catch {
    return null;
  }
  if (!Array.isArray(parsed.c) || !Array.isArray(parsed.e) || JSON.stringify(parsed.c) !== JSON.stringify(columns)) return null;
  const events = (parsed.e as unknown[][])
    // An event time no Date can hold (stored before pushes were range-checked) is dropped, not aggregated.
    .filter((row) => typeof row[0] === "number" && isEpochMs(row[0]))
    .map((row) => ({ ts: row[0] as number, created: typeof row[1] === "number" && isEpochMs(row[1]) ? row[1] : Number.NEGATIVE_INFINITY, values: row.slice(2).map(fromJson) }));
  const pushes = pushMarksOf(stored);
  return pushes.length > 0 ? { columns, events, pushes } : { columns, events };
}

function compareEvents(a: BufferedEvent, b: BufferedEvent): number {
  return a.ts - b.ts || (a.created === b.created ? 0 : a.created < b.created ? -1 : 1);
}

/** The buffer with `added` merged in, in engine order; ties keep stored events first, then arrival order. */
export function mergeEvents(buffer: EventBuffer, added: readonly BufferedEvent[]): EventBuffer {
  const sortedAdded = added
    .map((e, i) => ({ e, i }))
    .sort((x, y) => compareEvents(x.e, y.e) || x.i - y.i)
    .map((x) => x.e);
  const out: BufferedEvent[] = [];
  let i = 0;
  let j = 0;
  const stored = buffer.events;
  while (i < stored.length || j < sortedAdded.length) {
    if (j >= sortedAdded.length || (i < stored.length && compareEvents(stored[i]!, sortedAdded[j]!) <= 0)) out.push(stored[i++]!);
    else out.push(sortedAdded[j++]!);
  }
  return { ...buffer, events: out };
}

export interface AggregateAsOf {
  /** Values in `aggs` order, as the engine computes them (not yet converted to the schema's types). */
  values: unknown[];
  /** The last instant ≤ asOf at which a value changed (the row's event time), null for no events. */
  lastChange: number | null;
}

/**
 * The aggregates of the buffer's events as of `asOf` (windows (asOf − w, asOf]), through the same
 * `aggregateKey` backfills run; its change rows up to asOf are walked and the last one is the value.
 */
export function aggregateAsOf(buffer: EventBuffer, aggs: readonly AggregationSpec[], asOf: number): AggregateAsOf {
  const n = buffer.events.length;
  const ts = new Float64Array(n);
  const columns = new Map<string, unknown[]>();
  buffer.columns.forEach((c) => columns.set(c, new Array<unknown>(n)));
  buffer.events.forEach((e, i) => {
    ts[i] = e.ts;
    buffer.columns.forEach((c, k) => {
      columns.get(c)![i] = e.values[k] ?? null;
    });
  });
  let values: unknown[] = aggs.map((a) => emptyAggregateValue(a.def));
  let lastChange: number | null = null;
  aggregateKey({ ts, columns, from: 0, to: n }, aggs, { start: Number.NEGATIVE_INFINITY, end: asOf + 1 }, (t, vals) => {
    lastChange = t;
    values = [...vals];
  });
  return { values, lastChange };
}

/** The longest window of the aggregations; Infinity when one has none. */
export function longestWindow(aggs: readonly AggregationSpec[]): number {
  let max = 0;
  for (const a of aggs) max = Math.max(max, a.def.windowMs ?? Number.POSITIVE_INFINITY);
  return max;
}

/** True when every event must be kept: a count or sum without window. */
function keepsAll(defs: readonly AggregationDef[]): boolean {
  return defs.some((d) => d.windowMs === null && (d.fn === "count" || d.fn === "sum"));
}

/**
 * Drops events that can no longer affect any value as of `asOf` or later: those at or before
 * asOf − (longest bounded window), except the newest event when a `last` has no window, and none
 * at all when a count or sum has no window.
 */
export function pruneBuffer(buffer: EventBuffer, aggs: readonly AggregationSpec[], asOf: number): EventBuffer {
  const defs = aggs.map((a) => a.def);
  if (keepsAll(defs)) return buffer;
  let bounded = 0;
  for (const d of defs) if (d.windowMs !== null) bounded = Math.max(bounded, d.windowMs);
  const edge = asOf - bounded;
  const events = buffer.events;
  let first = 0;
  while (first < events.length && events[first]!.ts <= edge) first++;
  const unboundedLast = defs.some((d) => d.windowMs === null && d.fn === "last");
  if (unboundedLast && first === events.length && events.length > 0) first = events.length - 1;
  return first === 0 ? buffer : { ...buffer, events: events.slice(first) };
}

/**
 * When the buffer may be dropped (wall-clock epoch ms, as the store expires keys): with the view's
 * row, when the view has a TTL (a push after that starts a fresh row), and never without one —
 * event times may be historical, so "its events have left every window" is no wall-clock time.
 * When a window is unbounded also never.
 */
export function bufferExpiresAt(buffer: EventBuffer, aggs: readonly AggregationSpec[], eventTs: number, ttlMs: number | null): number | null {
  const longest = longestWindow(aggs);
  const rowExpiry = rowExpiresAt(eventTs, ttlMs);
  if (rowExpiry === null || !Number.isFinite(longest)) return null;
  const newest = buffer.events.length > 0 ? buffer.events[buffer.events.length - 1]!.ts : eventTs;
  return Math.max(rowExpiry, newest + longest);
}

/** JSON has no NaN or ±Infinity; they are kept (the engine treats them as numbers) as `{"$": "NaN"}`. */
function jsonSafe(v: unknown): unknown {
  if (v === undefined) return null;
  if (typeof v === "number" && !Number.isFinite(v)) return { $: String(v) };
  if (typeof v === "bigint") return Number(v);
  if (v instanceof Date) return v.getTime();
  return v;
}

function fromJson(v: unknown): unknown {
  return typeof v === "object" && v !== null && !Array.isArray(v) && typeof (v as { $?: unknown }).$ === "string" ? Number((v as { $: string }).$) : v;
}
