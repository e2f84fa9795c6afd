import type { AggregationDef } from "../definitions/definition-types.js";

/**
 * Windowed aggregation over one entity's events, exact at every instant.
 *
 * As of T, a window of length w covers events with timestamp in (T − w, T]. An aggregate only
 * changes when an event enters a window (at its timestamp e) or leaves one (at e + w), so the
 * engine emits a row at each such change point inside [start, end), plus one at `start` carrying
 * the state built up before it. A point-in-time lookup of "the latest row ≤ T" then gives the exact
 * value at any T, which is how training sets read aggregated views. Batch backfill and push share
 * this engine.
 */
export interface AggregationSpec {
  name: string;
  def: AggregationDef;
}

/** One key's events, sorted by timestamp (ties in created-timestamp order). */
export interface KeyEvents {
  ts: Float64Array;
  /** Input columns by name; numeric aggregations read numbers (or null). */
  columns: Map<string, ArrayLike<unknown>>;
  /** Index range [from, to) of this key's events in the arrays. */
  from: number;
  to: number;
}

export type EmitRow = (ts: number, values: unknown[]) => void;

class Neumaier {
  sum = 0;
  c = 0;
  add(x: number): void {
    const t = this.sum + x;
    if (Math.abs(this.sum) >= Math.abs(x)) this.c += this.sum - t + x;
    else this.c += x - t + this.sum;
    this.sum = t;
  }
  get value(): number {
    return this.sum + this.c;
  }
  reset(): void {
    this.sum = 0;
    this.c = 0;
  }
}

/** Monotonic deque of event indices giving the window's min (or max) in O(1) amortised. */
class ExtremeDeque {
  private idx: number[] = [];
  private head = 0;
  constructor(private readonly values: ArrayLike<unknown>, private readonly isMax: boolean) {}
  push(i: number): void {
    const v = this.values[i];
    if (typeof v !== "number") return;
    while (this.idx.length > this.head) {
      const back = this.values[this.idx[this.idx.length - 1]!] as number;
      if (this.isMax ? back <= v : back >= v) this.idx.pop();
      else break;
    }
    this.idx.push(i);
  }
  evict(i: number): void {
    if (this.idx.length > this.head && this.idx[this.head] === i) this.head++;
    if (this.head > 1024 && this.head * 2 > this.idx.length) {
      this.idx = this.idx.slice(this.head);
      this.head = 0;
    }
  }
  get value(): number | null {
    return this.idx.length > this.head ? (this.values[this.idx[this.head]!] as number) : null;
  }
  clear(): void {
    this.idx = [];
    this.head = 0;
  }
}

interface ColumnState {
  sum: Neumaier;
  nonNull: number;
  min: ExtremeDeque | null;
  max: ExtremeDeque | null;
}

interface WindowState {
  windowMs: number | null;
  lo: number;
  hi: number;
  columns: Map<string, ColumnState>;
}

/**
 * Emits the change rows of one key's events within [start, end). `values` passed to `emit` follow
 * the order of `aggs`. Consecutive identical rows are emitted once.
 */
export function aggregateKey(events: KeyEvents, aggs: readonly AggregationSpec[], range: { start: number; end: number }, emit: EmitRow): void {
  const { ts, from, to } = events;
  if (to <= from) return;
  const { start, end } = range;

  // Window states, one per distinct window, each tracking the columns its aggregations read.
  const windows = new Map<number | null, WindowState>();
  for (const a of aggs) {
    let w = windows.get(a.def.windowMs);
    if (!w) {
      w = { windowMs: a.def.windowMs, lo: from, hi: from, columns: new Map() };
      windows.set(a.def.windowMs, w);
    }
    const col = a.def.column;
    if (col !== null && (a.def.fn === "sum" || a.def.fn === "avg" || a.def.fn === "min" || a.def.fn === "max")) {
      let cs = w.columns.get(col);
      if (!cs) {
        cs = { sum: new Neumaier(), nonNull: 0, min: null, max: null };
        w.columns.set(col, cs);
      }
      const values = events.columns.get(col)!;
      if (a.def.fn === "min" && !cs.min) cs.min = new ExtremeDeque(values, false);
      if (a.def.fn === "max" && !cs.max) cs.max = new ExtremeDeque(values, true);
    }
  }

  // Change points: event times, exits (e + w), and `start` when earlier events carry state into it.
  const points: number[] = [];
  const windowLengths = [...windows.keys()].filter((w): w is number => w !== null);
  const hasUnbounded = windows.has(null);
  const maxWindow = windowLengths.length ? Math.max(...windowLengths) : 0;
  for (let i = from; i < to; i++) {
    const e = ts[i]!;
    if (e >= start && e < end) points.push(e);
    for (const w of windowLengths) {
      const x = e + w;
      if (x >= start && x < end) points.push(x);
    }
    if (e < start && (hasUnbounded || e > start - maxWindow)) points.push(start);
  }
  if (points.length === 0) return;
  const sorted = Float64Array.from(points).sort();

  const values = new Array<unknown>(aggs.length);
  let prev: unknown[] | null = null;
  let lastPoint = Number.NaN;
  for (let p = 0; p < sorted.length; p++) {
    const T = sorted[p]!;
    if (T === lastPoint) continue;
    lastPoint = T;
    for (const w of windows.values()) advance(w, events, T);
    for (let k = 0; k < aggs.length; k++) values[k] = valueOf(aggs[k]!.def, windows.get(aggs[k]!.def.windowMs)!, events);
    if (prev && sameValues(prev, values)) continue;
    prev = values.slice();
    emit(T, prev);
  }
}

function advance(w: WindowState, events: KeyEvents, T: number): void {
  const { ts, to } = events;
  while (w.hi < to && ts[w.hi]! <= T) {
    const i = w.hi++;
    for (const [col, cs] of w.columns) {
      const v = events.columns.get(col)![i];
      if (typeof v === "number") {
        cs.sum.add(v);
        cs.nonNull++;
        cs.min?.push(i);
        cs.max?.push(i);
      }
    }
  }
  if (w.windowMs === null) return;
  const edge = T - w.windowMs;
  while (w.lo < w.hi && ts[w.lo]! <= edge) {
    const i = w.lo++;
    for (const [col, cs] of w.columns) {
      const v = events.columns.get(col)![i];
      if (typeof v === "number") {
        cs.nonNull--;
        // Reset instead of subtracting the last value: an empty window sums to exactly 0.
        if (cs.nonNull === 0) cs.sum.reset();
        else cs.sum.add(-v);
        cs.min?.evict(i);
        cs.max?.evict(i);
      }
    }
  }
}

function valueOf(def: AggregationDef, w: WindowState, events: KeyEvents): unknown {
  const count = w.hi - w.lo;
  switch (def.fn) {
    case "count":
      return count;
    case "last":
      return count > 0 ? (events.columns.get(def.column!)![w.hi - 1] ?? null) : null;
    case "sum": {
      const cs = w.columns.get(def.column!)!;
      return cs.nonNull > 0 ? cs.sum.value : 0;
    }
    case "avg": {
      const cs = w.columns.get(def.column!)!;
      return cs.nonNull > 0 ? cs.sum.value / cs.nonNull : null;
    }
    case "min":
      return w.columns.get(def.column!)!.min!.value;
    case "max":
      return w.columns.get(def.column!)!.max!.value;
  }
}

function sameValues(a: unknown[], b: unknown[]): boolean {
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i]) && !(a[i] instanceof Date && b[i] instanceof Date && a[i] === b[i])) return false;
  return true;
}

/** The value an aggregation has for an entity with no events at all (count and sum 0, others null). */
export function emptyAggregateValue(def: AggregationDef): number | null {
  return def.fn === "count" || def.fn === "sum" ? 0 : null;
}

/**
 * How far before `start` a backfill must read so the windows at `start` are complete;
 * Infinity when an aggregation has no window (it needs all history).
 */
export function lookbackMs(aggs: readonly AggregationSpec[]): number {
  let max = 0;
  for (const a of aggs) {
    if (a.def.windowMs === null) return Number.POSITIVE_INFINITY;
    max = Math.max(max, a.def.windowMs);
  }
  return max;
}
